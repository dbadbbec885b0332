use std::time::Duration;

use deadpool_redis::Pool;
use deadpool_redis::redis::AsyncCommands;
use futures_util::future::{BoxFuture, FutureExt};

use super::{Metadata, MetadataError, MetadataStore};

/// How long one metadata operation may take.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Metadata as JSON under `<namespace>:<key>` in Redis, shared by every replica.
pub struct RedisMetadata {
    pool: Pool,
    namespace: String,
}

impl std::fmt::Debug for RedisMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisMetadata").field("namespace", &self.namespace).finish_non_exhaustive()
    }
}

impl RedisMetadata {
    /// Metadata in `pool`'s Redis under `ebb:offload:`.
    pub fn new(pool: Pool) -> Self {
        Self { pool, namespace: "ebb:offload".to_owned() }
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
        op: impl AsyncFnOnce(&mut deadpool_redis::Connection) -> Result<T, deadpool_redis::redis::RedisError>,
    ) -> Result<T, MetadataError> {
        let work = async {
            let mut connection = self.pool.get().await.map_err(|e| MetadataError(e.to_string()))?;
            op(&mut connection).await.map_err(|e| MetadataError(e.to_string()))
        };
        tokio::time::timeout(TIMEOUT, work)
            .await
            .map_err(|_| MetadataError(format!("Redis did not answer within {TIMEOUT:?}")))?
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
