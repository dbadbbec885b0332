//! What the service keeps about an object (the bytes live in the object store), outside the
//! process: in Redis with `REDIS_URL`, or in memory for one replica. A small trait, so that
//! other stores (a database table) can be added.

mod memory;
#[cfg(feature = "redis")]
mod redis;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

pub use self::memory::MemoryMetadata;
#[cfg(feature = "redis")]
pub use self::redis::RedisMetadata;

/// What is known about one stored object. Serialized as the JSON the HTTP API answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The object key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// The store's entity tag, quoted as in HTTP (`"…"`), when the store gives one.
    pub etag: Option<String>,
    /// SHA-256 of the content, lowercase hex (computed while uploading through the service;
    /// absent for objects uploaded straight to the store with a presigned URL).
    pub sha256: Option<String>,
    /// The content type given at upload.
    pub content_type: String,
    /// When it was stored, RFC 3339 (UTC, seconds).
    pub created: String,
}

/// A metadata store failed.
#[derive(Debug, thiserror::Error)]
#[error("metadata store: {0}")]
pub struct MetadataError(pub String);

/// Where [`Metadata`] is kept. Implementations must be safe to share between replicas if
/// the service has more than one.
pub trait MetadataStore: Send + Sync + 'static {
    /// Stores (or replaces) the metadata of `meta.key`.
    fn put<'a>(&'a self, meta: &'a Metadata) -> BoxFuture<'a, Result<(), MetadataError>>;
    /// The metadata of `key`, if any.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Metadata>, MetadataError>>;
    /// Forgets `key` (no error when unknown).
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), MetadataError>>;
    /// `"redis"`, `"memory"`, …: for logs.
    fn kind(&self) -> &'static str;
}
