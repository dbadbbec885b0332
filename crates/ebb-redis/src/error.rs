use std::time::Duration;

/// Why a Redis command did not answer. The text never holds a URL or a secret; it is meant
/// for logs, not for clients (answer them with a 503 of your own words).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No connection: Redis is down or unreachable, or the last connect failed moments ago.
    #[error("Redis is unavailable: {0}")]
    Unavailable(String),
    /// Redis did not answer in time. A connection that keeps timing out is replaced.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis answered with an error, or the connection broke during the command.
    #[error("Redis error: {0}")]
    Redis(#[from] redis::RedisError),
}

impl Error {
    /// Whether Redis could not be reached or did not answer (rather than answering with an
    /// error): the failure modes of callers apply to these.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable(_) | Self::Timeout(_) => true,
            Self::Redis(error) => error.is_io_error() || error.is_connection_dropped() || error.is_timeout(),
        }
    }
}
