use std::time::Duration;

/// Why the shared store could not decide. The layer turns these into the policy's
/// [`FailureMode`](crate::FailureMode); [`Limiter::check`](crate::Limiter::check) returns them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LimiterError {
    /// No connection could be had from the pool (Redis down, refused, pool exhausted).
    #[error("no Redis connection: {0}")]
    Pool(#[from] deadpool_redis::PoolError),
    /// The last attempt to connect failed moments ago; the next one waits a little.
    #[error("Redis is unavailable (reconnecting)")]
    Unavailable,
    /// Redis answered with an error.
    #[error("Redis error: {0}")]
    Redis(#[from] deadpool_redis::redis::RedisError),
    /// Redis did not answer within the limiter's timeout.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis answered something the script never returns.
    #[error("unexpected reply from the rate-limit script: {0}")]
    Reply(String),
    /// A cost above the burst can never be allowed.
    #[error("a cost of {cost} can never fit a burst of {burst}")]
    CostExceedsBurst {
        /// The cost asked for.
        cost: u32,
        /// The policy's burst.
        burst: u32,
    },
}

/// A rate-limit setting from the environment that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable holds a value that could not be parsed.
    #[error("{variable}={value:?} is invalid: expected {expected}")]
    InvalidEnv {
        /// The variable's name.
        variable: &'static str,
        /// The value found.
        value: String,
        /// What a valid value looks like.
        expected: String,
    },
}
