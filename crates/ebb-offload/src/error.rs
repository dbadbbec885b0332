//! What can go wrong with an object, and the HTTP status each answer gets.
//!
//! The text of an error is what the client reads: our own words, never a store's message,
//! a file path or an endpoint. Those go to the log where the error is made.

use http::StatusCode;

use crate::KeyError;
use crate::metadata::MetadataError;

/// Why an operation failed. [`status`](Self::status) maps it to the answer; the text is the
/// reason sent with it (never a secret, a path, an endpoint or a stack trace).
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
    #[error("the upload was interrupted before its end; nothing was stored")]
    Interrupted(String),
    /// The request cannot be served as asked (400), with the reason.
    #[error("{0}")]
    BadRequest(String),
    /// The request conflicts with the object's state (409), with the reason.
    #[error("{0}")]
    Conflict(String),
    /// The store does not sign URLs (local directories) (501).
    #[error("presigned URLs need an S3 store; this service keeps objects in a local directory")]
    PresignUnsupported,
    /// Uploads in progress hold the whole memory budget (`EBB_OFFLOAD_MEMORY_BUDGET`) (503,
    /// with `Retry-After`; the upload was aborted).
    #[error("too many uploads in progress for the upload memory budget; retry shortly")]
    Busy,
    /// The object store failed or cannot be reached (503). The detail is logged, not sent.
    #[error("the object store is unavailable; retry shortly")]
    Unavailable(String),
    /// The metadata store failed before anything changed (503): the key is as it was.
    #[error("the metadata store is unavailable; nothing was changed, retry shortly")]
    Metadata(#[from] MetadataError),
    /// A write was sent and not confirmed (503): it may or may not have been applied. The
    /// key holds the old object or the new one, whole, never a mix.
    #[error(
        "outcome unknown: the write was not confirmed in time and may or may not have been applied; \
         the key holds either the old or the new object, whole — read it to find out"
    )]
    OutcomeUnknown,
}

impl OffloadError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadKey(_) | Self::Interrupted(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::PresignUnsupported => StatusCode::NOT_IMPLEMENTED,
            Self::Unavailable(_) | Self::Metadata(_) | Self::Busy | Self::OutcomeUnknown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// From an object_store error about `key`: the detail is logged here.
    pub(crate) fn from_store(key: &str, error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } => Self::NotFound(key.to_owned()),
            other => {
                tracing::warn!(key, error = %other, "object store request failed");
                Self::Unavailable(other.to_string())
            }
        }
    }

    /// From a metadata store error: logged here; a write that may have been applied is
    /// [`OutcomeUnknown`](Self::OutcomeUnknown).
    pub(crate) fn from_metadata(key: &str, error: MetadataError) -> Self {
        tracing::warn!(key, %error, "metadata store request failed");
        if error.is_outcome_unknown() { Self::OutcomeUnknown } else { Self::Metadata(error) }
    }
}
