use std::time::Duration;

/// Why the shared store could not decide. The layer turns these into the policy's
/// [`FailureMode`](crate::FailureMode); [`Limiter::check`](crate::Limiter::check) returns them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LimiterError {
    /// Redis could not be reached, broke, or answered with an error.
    #[error(transparent)]
    Store(ebb_redis::Error),
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

impl From<ebb_redis::Error> for LimiterError {
    fn from(error: ebb_redis::Error) -> Self {
        match error {
            ebb_redis::Error::Timeout(timeout) => Self::Timeout(timeout),
            error => Self::Store(error),
        }
    }
}

/// A rate-limit setting from the environment that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable holds a value that could not be parsed, or one that does not fit the
    /// others (a burst without a rate), in ebb's environment grammar (`ebb_core::env`).
    #[error(transparent)]
    Env(#[from] ebb_core::env::EnvError),
}
