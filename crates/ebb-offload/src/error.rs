//! What can go wrong with an object, and the HTTP status each answer gets.

use http::StatusCode;

use crate::KeyError;
use crate::metadata::MetadataError;

/// Why an operation failed. [`status`](Self::status) maps it to the answer; the text is the
/// reason sent with it (never a secret, never a stack trace).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OffloadError {
    /// The key breaks a rule (400).
    #[error(transparent)]
    BadKey(#[from] KeyError),
    /// No such object (404).
    #[error("no object with key `{0}`")]
    NotFound(String),
    /// The object is larger than the limit (413).
    #[error("the object is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The range asked for lies outside the object (416).
    #[error("the range is outside the object ({size} bytes)")]
    RangeNotSatisfiable {
        /// The object's size.
        size: u64,
    },
    /// The request body ended with an error: the client went away or sent a broken body
    /// (400; the upload was aborted).
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    /// The store does not sign URLs (local directories) (501).
    #[error("presigned URLs need an S3 store; this service keeps objects in a local directory")]
    PresignUnsupported,
    /// Uploads in progress hold the whole memory budget (`EBB_OFFLOAD_MEMORY_BUDGET`) (503,
    /// with `Retry-After`; the upload was aborted).
    #[error("too many uploads in progress for the upload memory budget; retry shortly")]
    Busy,
    /// The object store failed or cannot be reached (503).
    #[error("object store unavailable: {0}")]
    Unavailable(String),
    /// The metadata store failed (503).
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

impl OffloadError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadKey(_) | Self::Interrupted(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::PresignUnsupported => StatusCode::NOT_IMPLEMENTED,
            Self::Unavailable(_) | Self::Metadata(_) | Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// From an object_store error about `key`.
    pub(crate) fn from_store(key: &str, error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } => Self::NotFound(key.to_owned()),
            other => Self::Unavailable(other.to_string()),
        }
    }
}
