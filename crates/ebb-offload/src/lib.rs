//! Large objects in S3-compatible storage; the service keeps only a record per key, so any
//! replica can serve any object and a replica can be replaced without losing a byte.
//!
//! - **Store** from the environment ([`OffloadConfig::from_env`]): object_store's own
//!   `AWS_*` variables (MinIO: `AWS_ENDPOINT` + `AWS_ALLOW_HTTP=true`), else a local
//!   directory (`EBB_OFFLOAD_DIR`) for one replica.
//! - **Uploads** stream into a multipart upload, memory bounded by part size x parts in
//!   flight, with a size limit, the content type kept and SHA-256 computed on the way; any
//!   failure midway aborts the upload.
//! - **Downloads** stream with `Range`, `ETag` and `If-None-Match`, checked on the way.
//! - **Presigned URLs** let big transfers bypass the service (and its drain): single `PUT`s
//!   completed through the service, and multipart uploads.
//! - **Records** ([`MetadataStore`]) live in Redis ([`RedisMetadata`], feature `redis`) or in
//!   memory ([`MemoryMetadata`]).
//! - **Keys** are checked ([`ObjectKey`]): nothing can escape the store's prefix.
//! - **Metrics**: `offload_operations_total{operation,outcome}`,
//!   `offload_bytes_total{direction}`; [`Offload::check`] is the readiness check.
//!
//! # Objects never lie
//!
//! The design, and the invariants it keeps (each tested against a real S3 server whose
//! concurrent `PUT`s to one key are not atomic, and a real Redis):
//!
//! 1. **A response never announces a length, `ETag` or checksum that differs from the bytes
//!    it sends.** The store is the source of truth for bytes, size and `ETag`: a download
//!    asks it (`HEAD`), reads exactly that object (`GET` with `If-Match`), and announces the
//!    record's SHA-256 and content type only when the record describes those very bytes.
//!    The body is checked on the way — the length always, the SHA-256 on whole-object reads
//!    with the last chunk held back — so a mismatch found mid-way ends the response short
//!    (an error, a cut connection), never cleanly.
//! 2. **After concurrent `PUT`s to a key finish, object and record agree; the last writer
//!    wins, the same writer for both.** Every upload writes a version of its own
//!    (`.ebb/v/<digest of the key>/<version>`; two uploads never write one path), then swaps
//!    the key's record to it atomically ([`MetadataStore::swap`], Redis `SET … GET`), then
//!    deletes the version it replaced.
//! 3. **A `PUT` answered 201 is durable and consistent; one answered with an error leaves the
//!    key as it was.** A record write the store refused: the new bytes are deleted, 503
//!    "nothing was changed". A record write that may have been applied (a timeout after it was
//!    sent): 503 "outcome unknown" — the key names the old version or the new one, each whole.
//! 4. **Objects written through the service's presigned URLs are served with their true size
//!    and `ETag` once completed** ([`Offload::complete_upload`],
//!    [`Offload::complete_multipart`]), which also enforces the size limit. A completed
//!    single `PUT` is copied out of the URL's reach, so the URL used again changes nothing.
//!
//! Writes that bypass the service are outside the contract, but never make it lie: an
//! object at the key itself with no record is served as the store has it; bytes written
//! around a record are served only if they match it, else as the store has them, without the
//! record's checksum.
//!
//! **Lifecycle**: versions replaced or deleted through the service are deleted with them.
//! Presigned `PUT`s land in `.ebb/p/` and are copied to a version when completed: what is
//! left there is never served, and a bucket lifecycle rule on `.ebb/p/` expires it. A write
//! whose outcome was unknown and not applied leaves a version no record names; the service
//! does not sweep those yet (a sweep would list `.ebb/v/` against the records). Incomplete
//! multipart uploads: the bucket rule `AbortIncompleteMultipartUpload`.
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
pub mod forward;
#[cfg(feature = "axum")]
pub mod http;
mod key;
mod media_type;
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

// The README is compiled as doc tests too, so that a stale example in it fails `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
