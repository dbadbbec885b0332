//! Objects (`AWS_*`, `EBB_OFFLOAD_*`, feature `offload`): one store for the process, with
//! its metadata in the process' Redis, an advisory `s3` readiness check, and the fallbacks
//! (a local directory without `AWS_BUCKET`, metadata in memory without `REDIS_URL`).

use std::sync::Arc;

use ebb_offload::{MemoryMetadata, MetadataStore, Offload, OffloadConfig, RedisMetadata, StoreConfig};
use ebb_probes::ProbesBuilder;
use ebb_redis::Redis;

use super::Fallback;
use crate::config::ConfigError;

#[derive(Clone)]
pub(crate) struct ObjectsPart {
    pub(crate) offload: Offload,
    metadata_in_process: bool,
}

impl ObjectsPart {
    pub(crate) fn new(config: &OffloadConfig, redis: Option<&Redis>) -> Result<Self, Vec<ConfigError>> {
        let metadata: Arc<dyn MetadataStore> = match redis {
            Some(redis) => Arc::new(RedisMetadata::new(redis.clone())),
            None => Arc::new(MemoryMetadata::new()),
        };
        let offload = Offload::from_config(config, metadata)
            .map_err(|error| vec![ConfigError::Part { part: "objects", reason: error.to_string() }])?;
        Ok(Self { offload, metadata_in_process: redis.is_none() })
    }

    pub(crate) fn in_process(&self) -> Vec<Fallback> {
        let mut fallbacks = Vec::new();
        if self.metadata_in_process {
            fallbacks.push(Fallback { what: "object metadata".to_owned(), unless: ebb_redis::ENV_REDIS_URL });
        }
        if let StoreConfig::Local(dir) = &self.offload.limits().store {
            fallbacks.push(Fallback { what: format!("objects (in {})", dir.display()), unless: "AWS_BUCKET" });
        }
        fallbacks
    }

    /// Advisory, like Redis: every replica shares the store, so failing readiness everywhere
    /// would only add an outage of the other routes to an outage of the objects.
    pub(crate) fn readiness(&self, probes: ProbesBuilder) -> ProbesBuilder {
        let offload = self.offload.clone();
        probes.with_advisory_readiness_check("s3", move || {
            let offload = offload.clone();
            async move { offload.check().await }
        })
    }
}
