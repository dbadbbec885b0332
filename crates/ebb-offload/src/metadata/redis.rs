use ebb_redis::Redis;
use ebb_redis::redis::AsyncCommands;
use futures_util::future::{BoxFuture, FutureExt};

use super::{Metadata, MetadataError, MetadataStore};

/// Metadata as JSON under `<namespace>:<key>` in Redis, shared by every replica, on the
/// process' shared connection (each operation bounded by its timeout).
pub struct RedisMetadata {
    redis: Redis,
    namespace: String,
}

impl std::fmt::Debug for RedisMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisMetadata").field("namespace", &self.namespace).finish_non_exhaustive()
    }
}

impl RedisMetadata {
    /// Metadata in `redis` under `ebb:offload:`.
    pub fn new(redis: Redis) -> Self {
        Self { redis, namespace: "ebb:offload".to_owned() }
    }

    /// Another key prefix. Default: `ebb:offload`.
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    fn redis_key(&self, key: &str) -> String {
        format!("{}:{key}", self.namespace)
    }

    async fn run<T>(
        &self,
        op: impl AsyncFnOnce(&mut ebb_redis::Connection) -> ebb_redis::redis::RedisResult<T>,
    ) -> Result<T, MetadataError> {
        self.redis.run(self.redis.timeout(), op).await.map_err(|error| {
            // A command that was sent and then timed out, or whose connection broke, may
            // have been applied; one refused by Redis, or never sent, was not.
            let maybe_applied = match &error {
                ebb_redis::Error::Timeout(_) => true,
                ebb_redis::Error::Redis(error) => {
                    error.is_io_error() || error.is_connection_dropped() || error.is_timeout()
                }
                _ => false,
            };
            if maybe_applied {
                MetadataError::unknown(error.to_string())
            } else {
                MetadataError::failed(error.to_string())
            }
        })
    }

    fn decode(key: &str, json: Option<String>) -> Result<Option<Metadata>, MetadataError> {
        json.map(|json| {
            serde_json::from_str(&json).map_err(|e| MetadataError::failed(format!("corrupt entry for {key:?}: {e}")))
        })
        .transpose()
    }
}

impl MetadataStore for RedisMetadata {
    /// `SET key json GET`: one atomic command (Redis >= 6.2).
    fn swap<'a>(&'a self, meta: &'a Metadata) -> BoxFuture<'a, Result<Option<Metadata>, MetadataError>> {
        async move {
            let json = serde_json::to_string(meta).map_err(|e| MetadataError::failed(e.to_string()))?;
            let key = self.redis_key(&meta.key);
            let old: Option<String> = self
                .run(async |c| ebb_redis::redis::cmd("SET").arg(&key).arg(&json).arg("GET").query_async(c).await)
                .await?;
            // The swap happened whatever the old value was: an unreadable one is logged and
            // forgotten (its bytes stay, unreferenced), never reported as a failed swap.
            Ok(Self::decode(&meta.key, old).unwrap_or_else(|error| {
                tracing::warn!(key = %meta.key, %error, "replaced an unreadable record");
                None
            }))
        }
        .boxed()
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Metadata>, MetadataError>> {
        async move {
            let redis_key = self.redis_key(key);
            let json: Option<String> = self.run(async |c| c.get(&redis_key).await).await?;
            Self::decode(key, json)
        }
        .boxed()
    }

    /// `GETDEL key` (Redis >= 6.2).
    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Metadata>, MetadataError>> {
        async move {
            let redis_key = self.redis_key(key);
            let json: Option<String> =
                self.run(async |c| ebb_redis::redis::cmd("GETDEL").arg(&redis_key).query_async(c).await).await?;
            Self::decode(key, json)
        }
        .boxed()
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
