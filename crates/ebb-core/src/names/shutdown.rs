//! The shutdown budget: its variables, defaults and bounds. The manifests derive
//! `terminationGracePeriodSeconds` from the same numbers.

use std::time::Duration;

/// Time to keep serving after the signal, a duration such as `5s`.
pub const ENV_SHUTDOWN_DELAY: &str = "EBB_SHUTDOWN_DELAY";
/// Hard deadline counted from the signal, a duration such as `30s`.
pub const ENV_SHUTDOWN_TIMEOUT: &str = "EBB_SHUTDOWN_TIMEOUT";
/// Default delay: 5 s, for the platform to take the instance out of its endpoints.
pub const DEFAULT_SHUTDOWN_DELAY: Duration = Duration::from_secs(5);
/// Default deadline: 30 s from the signal.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest delay accepted: 10 minutes.
pub const MAX_SHUTDOWN_DELAY: Duration = Duration::from_secs(10 * 60);
/// Longest deadline accepted: 1 hour (longer budgets are mistakes, and must never
/// overflow clock arithmetic).
pub const MAX_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60 * 60);

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's values, as literals: a changed constant must fail here, not pass.
    #[test]
    fn pinned() {
        assert_eq!(
            (DEFAULT_SHUTDOWN_DELAY, DEFAULT_SHUTDOWN_TIMEOUT),
            (Duration::from_secs(5), Duration::from_secs(30))
        );
        assert_eq!((MAX_SHUTDOWN_DELAY, MAX_SHUTDOWN_TIMEOUT), (Duration::from_secs(600), Duration::from_secs(3600)));
        assert!(DEFAULT_SHUTDOWN_DELAY < DEFAULT_SHUTDOWN_TIMEOUT);
    }
}
