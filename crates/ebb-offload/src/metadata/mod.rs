//! The record of each object: which version of the key is current, and what the service
//! knows about it. The bytes live in the object store; the record lives outside the process:
//! in Redis with `REDIS_URL`, or in memory for one replica. A small trait, so that other
//! stores (a database table) can be added.
//!
//! The record is the commit point of an upload: [`MetadataStore::swap`] replaces it
//! atomically, so a key always names exactly one complete version.

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
    /// The version whose bytes the key names (its store path is derived from it); `None`
    /// for an object found at the key itself in the store (written around the service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
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

/// A metadata store failed. The message is for logs, not for clients.
#[derive(Debug, thiserror::Error)]
#[error("metadata store: {message}")]
pub struct MetadataError {
    message: String,
    outcome_unknown: bool,
}

impl MetadataError {
    /// The store refused or was not reached: nothing was changed.
    pub fn failed(message: impl Into<String>) -> Self {
        Self { message: message.into(), outcome_unknown: false }
    }

    /// The request may or may not have been applied (a timeout after it was sent).
    pub fn unknown(message: impl Into<String>) -> Self {
        Self { message: message.into(), outcome_unknown: true }
    }

    /// Whether the change may have been applied although it failed.
    pub fn is_outcome_unknown(&self) -> bool {
        self.outcome_unknown
    }
}

/// Where [`Metadata`] is kept. Implementations must be safe to share between replicas if
/// the service has more than one, and [`swap`](Self::swap) must be atomic.
pub trait MetadataStore: Send + Sync + 'static {
    /// Makes `meta` the record of `meta.key`, atomically, and returns the record it replaced.
    fn swap<'a>(&'a self, meta: &'a Metadata) -> BoxFuture<'a, Result<Option<Metadata>, MetadataError>>;
    /// The record of `key`, if any.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Metadata>, MetadataError>>;
    /// Removes the record of `key` and returns it, atomically (`None` when unknown).
    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Metadata>, MetadataError>>;
    /// `"redis"`, `"memory"`, …: for logs.
    fn kind(&self) -> &'static str;
}
