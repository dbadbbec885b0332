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
        self.redis.run(self.redis.timeout(), op).await.map_err(|e| MetadataError(e.to_string()))
    }
}

impl MetadataStore for RedisMetadata {
    fn put<'a>(&'a self, meta: &'a Metadata) -> BoxFuture<'a, Result<(), MetadataError>> {
        async move {
            let json = serde_json::to_string(meta).map_err(|e| MetadataError(e.to_string()))?;
            let key = self.redis_key(&meta.key);
            self.run(async |c| c.set::<_, _, ()>(&key, &json).await).await
        }
        .boxed()
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Metadata>, MetadataError>> {
        async move {
            let key = self.redis_key(key);
            let json: Option<String> = self.run(async |c| c.get(&key).await).await?;
            json.map(|json| serde_json::from_str(&json).map_err(|e| MetadataError(format!("corrupt entry: {e}"))))
                .transpose()
        }
        .boxed()
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), MetadataError>> {
        async move {
            let key = self.redis_key(key);
            self.run(async |c| c.del::<_, ()>(&key).await).await
        }
        .boxed()
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
