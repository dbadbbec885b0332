//! The default policy and the layer's settings from the environment (`EBB_RATELIMIT_*`).

use std::str::FromStr;
use std::time::Duration;

use ebb_core::env::{DurationBounds, Env, EnvError, Errors};
use http::HeaderName;

use crate::limiter::DEFAULT_TIMEOUT;
use crate::{ConfigError, FailureMode, Key, Limiter, Policy, Rate, RateLimitLayer, TrustedProxies};

/// `<count>/<period>` of the default policy, or `off` (the default: no limit).
pub const ENV_RATE: &str = ebb_core::names::ENV_RATELIMIT_RATE;
/// Burst of the default policy; default: the rate's count.
pub const ENV_BURST: &str = "EBB_RATELIMIT_BURST";
/// `open` (default), `closed` or `local`.
pub const ENV_FAILURE_MODE: &str = "EBB_RATELIMIT_FAILURE_MODE";
/// How long a Redis decision may take; default 50ms.
pub const ENV_TIMEOUT: &str = "EBB_RATELIMIT_TIMEOUT";
/// `true` to decide and count without rejecting; default `false`.
pub const ENV_SHADOW: &str = "EBB_RATELIMIT_SHADOW";
/// `ip` (default) or `header:<name>`.
pub const ENV_KEY: &str = ebb_core::names::ENV_RATELIMIT_KEY;
/// Comma-separated CIDRs of proxies whose `X-Forwarded-For` is believed; default none.
pub const ENV_TRUSTED_PROXIES: &str = ebb_core::names::ENV_TRUSTED_PROXIES;
/// `true` to add the `X-RateLimit-*` headers; default `false`.
pub const ENV_LEGACY_HEADERS: &str = "EBB_RATELIMIT_LEGACY_HEADERS";

/// What `EBB_RATELIMIT_TIMEOUT` accepts: every request may wait this long for a decision, so
/// longer than 10 s is a mistake.
const TIMEOUT_BOUNDS: DurationBounds = DurationBounds::new(Duration::from_millis(1), Duration::from_secs(10));

/// Name of the policy built from the environment.
pub const DEFAULT_POLICY_NAME: &str = "default";

/// How requests are keyed, as configured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyConfig {
    /// The client IP (behind the trusted proxies, if any).
    #[default]
    Ip,
    /// A header's value.
    Header(HeaderName),
}

/// Everything `EBB_RATELIMIT_*` configures. Only binaries (and `ebb-server`) read the
/// environment; libraries take this struct.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// The default rate; `None` when unset or `off`.
    pub rate: Option<Rate>,
    /// Whether `off` was set explicitly (an application's own default then stays off too).
    pub disabled: bool,
    /// The default burst; `None` is the rate's count.
    pub burst: Option<u32>,
    /// What decisions do when Redis fails.
    pub failure_mode: FailureMode,
    /// How long a Redis decision may take.
    pub timeout: Duration,
    /// Decide and count, never reject.
    pub shadow: bool,
    /// How requests are keyed.
    pub key: KeyConfig,
    /// Proxies allowed to set `X-Forwarded-For`.
    pub trusted_proxies: TrustedProxies,
    /// Whether to add the legacy headers.
    pub legacy_headers: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            rate: None,
            disabled: false,
            burst: None,
            failure_mode: FailureMode::Open,
            timeout: DEFAULT_TIMEOUT,
            shadow: false,
            key: KeyConfig::Ip,
            trusted_proxies: TrustedProxies::default(),
            legacy_headers: false,
        }
    }
}

impl RateLimitConfig {
    /// Reads the process environment.
    ///
    /// # Errors
    /// Every bad value at once, each naming the variable, the value and what was expected.
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
        let mut config = Self::default();
        let mut parse = |variable: &'static str, expected: &str, f: &mut dyn FnMut(&str) -> Result<(), String>| {
            let read = env.parse(variable, |value| {
                f(value.trim()).map_err(|reason| {
                    if reason.is_empty() { expected.to_owned() } else { format!("{expected} ({reason})") }
                })
            });
            errors.take(read);
        };
        parse(ENV_RATE, "`off` or <count>/<period> such as `100/1m`", &mut |v| {
            if v.eq_ignore_ascii_case("off") {
                config.disabled = true;
            } else {
                config.rate = Some(v.parse::<Rate>().map_err(|e| e.to_string())?);
            }
            Ok(())
        });
        parse(ENV_BURST, "a whole number of at least 1", &mut |v| {
            config.burst = Some(v.parse::<u32>().ok().filter(|b| *b > 0).ok_or_else(String::new)?);
            Ok(())
        });
        parse(ENV_FAILURE_MODE, "open, closed or local", &mut |v| {
            config.failure_mode = FailureMode::from_str(v)?;
            Ok(())
        });
        parse(ENV_KEY, "`ip` or `header:<name>` such as `header:x-api-key`", &mut |v| {
            config.key = match v.split_once(':') {
                None if v.eq_ignore_ascii_case("ip") => KeyConfig::Ip,
                Some((kind, name)) if kind.eq_ignore_ascii_case("header") => {
                    KeyConfig::Header(HeaderName::from_str(name.trim()).map_err(|e| e.to_string())?)
                }
                _ => return Err(String::new()),
            };
            Ok(())
        });
        parse(ENV_TRUSTED_PROXIES, "comma-separated CIDRs such as `10.0.0.0/8,192.168.0.0/16`", &mut |v| {
            config.trusted_proxies = v.parse::<TrustedProxies>().map_err(|e| e.to_string())?;
            Ok(())
        });
        if let Some(timeout) = errors.take(env.duration(ENV_TIMEOUT, TIMEOUT_BOUNDS)) {
            config.timeout = timeout;
        }
        if let Some(shadow) = errors.take(env.bool(ENV_SHADOW)) {
            config.shadow = shadow;
        }
        if let Some(legacy) = errors.take(env.bool(ENV_LEGACY_HEADERS)) {
            config.legacy_headers = legacy;
        }
        let burst = || config.burst.map(|b| b.to_string()).unwrap_or_default();
        if config.rate.is_none() && config.burst.is_some() && errors.is_empty() {
            errors.push(EnvError::new(
                ENV_BURST,
                burst(),
                format!("{ENV_RATE} to be set as well (a burst needs a rate)"),
            ));
        }
        let fits = |rate, burst| Policy::new(DEFAULT_POLICY_NAME, rate).with_burst(burst).err();
        if let Some(reason) = config.rate.zip(config.burst).and_then(|(rate, burst)| fits(rate, burst)) {
            errors.push(EnvError::new(ENV_BURST, burst(), format!("a burst that fits {ENV_RATE}: {reason}")));
        }
        errors.finish(config)
    }

    /// The policy named `default` these settings describe; `None` when the rate is off.
    pub fn default_policy(&self) -> Option<Policy> {
        let rate = self.rate?;
        let policy =
            Policy::new(DEFAULT_POLICY_NAME, rate).with_failure_mode(self.failure_mode).with_shadow(self.shadow);
        // A configured burst was checked against the rate.
        Some(match self.burst {
            Some(burst) => policy.clone().with_burst(burst).unwrap_or(policy),
            None => policy,
        })
    }

    /// The key these settings describe.
    pub fn key(&self) -> Key {
        match &self.key {
            KeyConfig::Ip => Key::client_ip(self.trusted_proxies.clone()),
            KeyConfig::Header(name) => Key::header(name.clone()),
        }
    }

    /// A layer with these settings over `limiter` (whose timeout is set from them); `None`
    /// when the rate is off.
    pub fn layer(&self, limiter: Limiter) -> Option<RateLimitLayer> {
        let policy = self.default_policy()?;
        Some(
            RateLimitLayer::new(limiter.with_timeout(self.timeout))
                .with_default_policy(policy)
                .with_key(self.key())
                .with_legacy_headers(self.legacy_headers),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<RateLimitConfig, Vec<ConfigError>> {
        RateLimitConfig::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    /// The README's values, as literals: a changed constant must fail here, not pass.
    #[test]
    fn defaults_are_pinned() {
        let config = from(&[]).expect("valid");
        assert_eq!((config.rate, config.disabled, config.burst), (None, false, None));
        assert_eq!(config.failure_mode, FailureMode::Open);
        assert_eq!(config.timeout, Duration::from_millis(50));
        assert_eq!(config.key, KeyConfig::Ip);
        assert!(!config.shadow);
        assert!(!config.legacy_headers);
        assert_eq!(config.trusted_proxies.to_string(), "", "no proxy trusted");

        let policy = from(&[(ENV_RATE, "100/1m")]).expect("valid").default_policy().expect("a policy");
        assert_eq!(policy.name(), "default");
        assert_eq!(policy.burst(), 100, "the burst defaults to the rate's count");
        assert_eq!((policy.failure_mode(), policy.is_shadow()), (FailureMode::Open, false));
    }

    #[test]
    fn off_by_default() {
        let config = from(&[]).expect("valid");
        assert!(config.default_policy().is_none());
        assert!(from(&[(ENV_RATE, "off")]).expect("valid").default_policy().is_none());
    }

    #[test]
    fn a_full_policy() {
        let config = from(&[
            (ENV_RATE, "100/1m"),
            (ENV_BURST, "20"),
            (ENV_FAILURE_MODE, "closed"),
            (ENV_TIMEOUT, "20ms"),
            (ENV_SHADOW, "true"),
            (ENV_KEY, "header:X-Api-Key"),
        ])
        .expect("valid");
        let policy = config.default_policy().expect("a policy");
        assert_eq!((policy.burst(), policy.failure_mode(), policy.is_shadow()), (20, FailureMode::Closed, true));
        assert_eq!(config.timeout, Duration::from_millis(20));
        assert_eq!(config.key, KeyConfig::Header(HeaderName::from_static("x-api-key")));
    }

    #[test]
    fn every_bad_value_is_named_at_once() {
        let errors = from(&[
            (ENV_RATE, "100/banana"),
            (ENV_BURST, "0"),
            (ENV_FAILURE_MODE, "sometimes"),
            (ENV_TIMEOUT, "soon"),
            (ENV_KEY, "cookie:sid"),
            (ENV_TRUSTED_PROXIES, "10.0.0.0/8,banana"),
        ])
        .expect_err("invalid");
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 6, "{text:#?}");
        assert!(text[0].contains("EBB_RATELIMIT_RATE=\"100/banana\"") && text[0].contains("<count>/<period>"));
        assert!(text[1].contains("EBB_RATELIMIT_BURST=\"0\""));
    }

    #[test]
    fn a_burst_needs_a_rate() {
        let errors = from(&[(ENV_BURST, "5")]).expect_err("invalid");
        assert!(errors[0].to_string().contains("EBB_RATELIMIT_RATE"), "{}", errors[0]);
    }
}
