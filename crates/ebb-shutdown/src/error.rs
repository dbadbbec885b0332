use std::time::Duration;

/// A shutdown configuration that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// An environment variable holds a value that could not be parsed, or one beyond its
    /// bound (the grammar of every ebb crate, `ebb_core::env`).
    #[error(transparent)]
    Env(#[from] ebb_core::env::EnvError),
    /// A duration beyond its bound (such values are mistakes, and must never overflow the
    /// clock arithmetic later).
    #[error(
        "{variable}={} is out of range: at most {}",
        humantime::format_duration(*value),
        humantime::format_duration(*max)
    )]
    OutOfRange {
        /// The variable's name.
        variable: &'static str,
        /// The value found.
        value: Duration,
        /// The largest value accepted.
        max: Duration,
    },
    /// The delay is not shorter than the timeout, which would leave no time to drain.
    #[error(
        "EBB_SHUTDOWN_DELAY ({}) must be shorter than EBB_SHUTDOWN_TIMEOUT ({}): \
         the timeout is counted from the signal and must leave time to drain",
        humantime::format_duration(*delay),
        humantime::format_duration(*timeout)
    )]
    DelayNotBeforeTimeout {
        /// The configured delay.
        delay: Duration,
        /// The configured timeout.
        timeout: Duration,
    },
}
