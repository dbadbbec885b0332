//! Shutdown timing: how long to keep serving after the signal, and when to cut.

use std::time::Duration;

use ebb_core::env::{DurationBounds, Env, Errors};
use ebb_core::names;

use crate::ConfigError;

/// Default time to keep serving after the signal, so that the platform can take the
/// instance out of its endpoints before the listener closes (`EBB_SHUTDOWN_DELAY`): 5 s.
pub const DEFAULT_DELAY: Duration = names::DEFAULT_SHUTDOWN_DELAY;

/// Default hard deadline, counted from the signal (`EBB_SHUTDOWN_TIMEOUT`): 30 s.
pub const DEFAULT_TIMEOUT: Duration = names::DEFAULT_SHUTDOWN_TIMEOUT;

/// The longest delay accepted by [`ShutdownConfig::validate`]: 10 minutes.
pub const MAX_DELAY: Duration = names::MAX_SHUTDOWN_DELAY;

/// The longest timeout accepted by [`ShutdownConfig::validate`]: 1 hour. Longer budgets
/// are a mistake in practice (and must never overflow the clock arithmetic).
pub const MAX_TIMEOUT: Duration = names::MAX_SHUTDOWN_TIMEOUT;

/// Environment variable for [`ShutdownConfig::with_delay`].
pub const ENV_DELAY: &str = names::ENV_SHUTDOWN_DELAY;

/// Environment variable for [`ShutdownConfig::with_timeout`].
pub const ENV_TIMEOUT: &str = names::ENV_SHUTDOWN_TIMEOUT;

/// The timing of the phased shutdown.
///
/// Invariant checked by [`validate`](Self::validate): `delay < timeout`, so that some of the
/// budget is left to drain in-flight work after the listener closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownConfig {
    delay: Duration,
    timeout: Duration,
    exit_on_second_signal: bool,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl ShutdownConfig {
    /// The defaults: 5 s delay, 30 s timeout, a second signal exits at once.
    #[must_use]
    pub const fn new() -> Self {
        Self { delay: DEFAULT_DELAY, timeout: DEFAULT_TIMEOUT, exit_on_second_signal: true }
    }

    /// Time to keep serving (and accepting) after the signal while readiness fails.
    /// Default: [`DEFAULT_DELAY`] (5 s). Zero is allowed (for tests and local use).
    #[must_use]
    pub const fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Hard deadline counted from the signal; what still runs then is cut and counted.
    /// Default: [`DEFAULT_TIMEOUT`] (30 s).
    #[must_use]
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether a second SIGTERM/SIGINT during shutdown exits the process at once
    /// (exit code 128 + signal number). Default: `true`.
    #[must_use]
    pub const fn with_exit_on_second_signal(mut self, exit: bool) -> Self {
        self.exit_on_second_signal = exit;
        self
    }

    /// The delay before the listener closes.
    pub const fn delay(&self) -> Duration {
        self.delay
    }

    /// The hard deadline, counted from the signal.
    pub const fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether a second signal exits at once.
    pub const fn exit_on_second_signal(&self) -> bool {
        self.exit_on_second_signal
    }

    /// Checks the bounds (`delay <= MAX_DELAY`, `timeout <= MAX_TIMEOUT`) and the invariant
    /// `delay < timeout`.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] for a value beyond its bound;
    /// [`ConfigError::DelayNotBeforeTimeout`] when the delay uses up the whole budget.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.delay > MAX_DELAY {
            return Err(ConfigError::OutOfRange { variable: ENV_DELAY, value: self.delay, max: MAX_DELAY });
        }
        if self.timeout > MAX_TIMEOUT {
            return Err(ConfigError::OutOfRange { variable: ENV_TIMEOUT, value: self.timeout, max: MAX_TIMEOUT });
        }
        if self.delay >= self.timeout {
            return Err(ConfigError::DelayNotBeforeTimeout { delay: self.delay, timeout: self.timeout });
        }
        Ok(())
    }

    /// Reads [`ENV_DELAY`] (up to [`MAX_DELAY`]) and [`ENV_TIMEOUT`] (up to
    /// [`MAX_TIMEOUT`]), durations such as `5s` or `1500ms` (`ebb_core::env`'s grammar);
    /// unset variables keep their defaults.
    ///
    /// # Errors
    /// Every bad value at once: each names the variable, the value and what was expected.
    pub fn from_env() -> Result<Self, Vec<ConfigError>> {
        Self::from_vars(&Env::process())
    }

    /// Like [`from_env`](Self::from_env), with variables looked up through `lookup`.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<ConfigError>> {
        Self::from_vars(&Env::from_fn(&lookup))
    }

    /// Like [`from_env`](Self::from_env), with variables read from `env`.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_vars(env: &Env<'_>) -> Result<Self, Vec<ConfigError>> {
        let mut errors: Errors<ConfigError> = Errors::new();
        let mut config = Self::new();
        let delay = env.duration(ENV_DELAY, DurationBounds::new(Duration::ZERO, MAX_DELAY));
        if let Some(delay) = errors.take(delay) {
            config.delay = delay;
        }
        let timeout = env.duration(ENV_TIMEOUT, DurationBounds::new(Duration::ZERO, MAX_TIMEOUT));
        if let Some(timeout) = errors.take(timeout) {
            config.timeout = timeout;
        }
        if errors.is_empty()
            && let Err(error) = config.validate()
        {
            errors.push(error);
        }
        errors.finish(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    /// The README's values, as literals: a changed constant must fail here, not pass.
    #[test]
    fn defaults_are_pinned() {
        let config = ShutdownConfig::from_lookup(|_| None).expect("defaults are valid");
        assert_eq!(config.delay(), Duration::from_secs(5));
        assert_eq!(config.timeout(), Duration::from_secs(30));
        assert!(config.exit_on_second_signal());
        assert_eq!(config, ShutdownConfig::new());
        assert_eq!((MAX_DELAY, MAX_TIMEOUT), (Duration::from_secs(600), Duration::from_secs(3600)));
    }

    #[test]
    fn parses_humantime() {
        let vars = [(ENV_DELAY, "250ms"), (ENV_TIMEOUT, "2s")];
        let config = ShutdownConfig::from_lookup(lookup(&vars)).expect("valid");
        assert_eq!(config.delay(), Duration::from_millis(250));
        assert_eq!(config.timeout(), Duration::from_secs(2));
    }

    #[test]
    fn reports_every_bad_value_at_once() {
        let vars = [(ENV_DELAY, "soon"), (ENV_TIMEOUT, "-3")];
        let errors = ShutdownConfig::from_lookup(lookup(&vars)).expect_err("invalid");
        assert_eq!(errors.len(), 2);
        let text = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        assert!(text.contains("EBB_SHUTDOWN_DELAY") && text.contains("soon"), "{text}");
        assert!(text.contains("EBB_SHUTDOWN_TIMEOUT") && text.contains("-3"), "{text}");
    }

    #[test]
    fn huge_durations_are_refused_naming_the_variable() {
        let vars = [(ENV_DELAY, "500000000000y"), (ENV_TIMEOUT, "2h")];
        let errors = ShutdownConfig::from_lookup(lookup(&vars)).expect_err("out of range");
        let text = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        assert_eq!(errors.len(), 2, "{text}");
        assert!(text.contains("EBB_SHUTDOWN_DELAY") && text.contains("EBB_SHUTDOWN_TIMEOUT"), "{text}");
        let far = ShutdownConfig::new().with_timeout(Duration::MAX);
        assert!(matches!(far.validate(), Err(ConfigError::OutOfRange { variable: ENV_TIMEOUT, .. })));
    }

    #[test]
    fn delay_must_leave_time_to_drain() {
        let vars = [(ENV_DELAY, "30s"), (ENV_TIMEOUT, "10s")];
        let errors = ShutdownConfig::from_lookup(lookup(&vars)).expect_err("invalid");
        assert!(matches!(errors[..], [ConfigError::DelayNotBeforeTimeout { .. }]));
    }
}
