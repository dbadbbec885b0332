//! Sessions in Redis: one key per session, expiring with it, shared by every replica.

use async_trait::async_trait;
use ebb_redis::Redis;
use ebb_redis::redis::{self, AsyncCommands};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

/// A `tower-sessions` store on the process' shared Redis connection: the record as JSON
/// under `<namespace>:<id>`, expiring at the session's expiry (so Redis forgets abandoned
/// sessions by itself). Each operation is bounded by the Redis handle's timeout.
#[derive(Clone)]
pub struct RedisSessionStore {
    redis: Redis,
    namespace: String,
}

impl std::fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionStore").field("namespace", &self.namespace).finish_non_exhaustive()
    }
}

impl RedisSessionStore {
    /// Sessions in `redis` under `ebb:session:`.
    pub fn new(redis: Redis) -> Self {
        Self { redis, namespace: "ebb:session".to_owned() }
    }

    /// Another key prefix. Default: `ebb:session`.
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    fn key(&self, id: &Id) -> String {
        format!("{}:{id}", self.namespace)
    }

    async fn run<T>(
        &self,
        op: impl AsyncFnOnce(&mut ebb_redis::Connection) -> redis::RedisResult<T>,
    ) -> session_store::Result<T> {
        self.redis.run(self.redis.timeout(), op).await.map_err(|e| session_store::Error::Backend(e.to_string()))
    }

    /// `SET key json EXAT expiry NX|XX`: create only a new session, save only one that still
    /// exists (so a save racing a logout cannot bring the session back); whether it was
    /// written.
    async fn write(&self, record: &Record, only_if_new: bool) -> session_store::Result<bool> {
        let json = serde_json::to_string(record).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let key = self.key(&record.id);
        let expires_at = record.expiry_date.unix_timestamp().max(1);
        self.run(async |c| {
            let mut set = redis::cmd("SET");
            set.arg(&key).arg(&json).arg("EXAT").arg(expires_at);
            set.arg(if only_if_new { "NX" } else { "XX" });
            let reply: Option<String> = set.query_async(c).await?;
            Ok(reply.is_some())
        })
        .await
    }
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A fresh 128-bit id collides with vanishing odds; NX makes even that harmless.
        while !self.write(record, true).await? {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.write(record, false).await.map(|_| ())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let key = self.key(id);
        let json: Option<String> = self.run(async |c| c.get(&key).await).await?;
        json.map(|json| serde_json::from_str(&json).map_err(|e| session_store::Error::Decode(e.to_string())))
            .transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let key = self.key(id);
        self.run(async |c| c.del::<_, ()>(&key).await).await
    }
}
