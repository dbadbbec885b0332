//! Large objects in S3-compatible storage; the service keeps only metadata, so any replica
//! can serve any object and a replica can be replaced without losing a byte.
//!
//! - **Store** from the environment ([`OffloadConfig::from_env`]): object_store's own
//!   `AWS_*` variables (MinIO: `AWS_ENDPOINT` + `AWS_ALLOW_HTTP=true`), else a local
//!   directory (`EBB_OFFLOAD_DIR`) for one replica.
//! - **Uploads** stream into a multipart upload, memory bounded by part size x parts in
//!   flight, with a size limit, the content type kept and SHA-256 computed on the way; any
//!   failure midway aborts the upload, so no partial object becomes visible.
//! - **Downloads** stream with `Range`, `ETag` and `If-None-Match`.
//! - **Presigned URLs** let big transfers bypass the service (and its drain).
//! - **Metadata** ([`MetadataStore`]) lives in Redis ([`RedisMetadata`], feature `redis`) or
//!   in memory ([`MemoryMetadata`]).
//! - **Keys** are checked ([`ObjectKey`]): nothing can escape the store's prefix.
//! - **Metrics**: `offload_operations_total{operation,outcome}`,
//!   `offload_bytes_total{direction}`; [`Offload::check`] is the readiness check.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use ebb_offload::{MemoryMetadata, Offload, OffloadConfig};
//!
//! let config = OffloadConfig::from_env().map_err(|errors| format!("{errors:?}"))?;
//! let offload = Offload::from_config(&config, Arc::new(MemoryMetadata::new()))?;
//! let app: axum::Router = axum::Router::new().nest("/files", ebb_offload::http::routes(offload));
//! # Ok(())
//! # }
//! ```

mod commit;
mod config;
mod download;
mod error;
#[cfg(feature = "axum")]
pub mod http;
mod key;
pub mod metadata;
mod multipart;
mod names;
mod offload;
mod presign;
mod range;
mod serving;
mod upload;
mod verify;

pub use config::{
    AWS_VARIABLES, ConfigError, DEFAULT_DIR, DEFAULT_MAX_SIZE, DEFAULT_MEMORY_BUDGET, DEFAULT_PART_SIZE,
    DEFAULT_PARTS_IN_FLIGHT, DEFAULT_URL_EXPIRY, ENV_DIR, ENV_INLINE_TYPES, ENV_MAX_SIZE, ENV_MEMORY_BUDGET,
    ENV_PART_SIZE, ENV_PARTS_IN_FLIGHT, ENV_URL_EXPIRY, MAX_OBJECT_SIZE, MAX_PART_SIZE, OffloadConfig, StoreConfig,
};
pub use download::{Download, Fetched};
pub use error::OffloadError;
pub use key::{KeyError, MAX_KEY_LEN, MAX_SEGMENT_LEN, ObjectKey};
#[cfg(feature = "redis")]
pub use metadata::RedisMetadata;
pub use metadata::{MemoryMetadata, Metadata, MetadataError, MetadataStore};
pub use multipart::{MAX_PARTS, MultipartUpload};
pub use names::{OFFLOAD_BYTES_TOTAL, OFFLOAD_OPERATIONS_TOTAL};
pub use offload::{BuildError, Offload};
pub use presign::{PresignedUpload, PresignedUrl};
pub use serving::DEFAULT_INLINE_TYPES;
pub use upload::DEFAULT_CONTENT_TYPE;

pub use object_store;
