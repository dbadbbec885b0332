//! The process' environment: addresses, shutdown timing, limits, logs, Redis, and the
//! settings of every part compiled in (rate limit, sessions, tokens, objects), every bad
//! value of every part reported at once.

use std::fmt;
use std::net::SocketAddr;

use ebb_core::env::{Env, EnvError, Errors};
#[cfg(feature = "ratelimit")]
use ebb_ratelimit::RateLimitConfig;
#[cfg(feature = "redis")]
use ebb_redis::RedisConfig;
use ebb_shutdown::ShutdownConfig;

use crate::Limits;

/// Address of the application listener (`EBB_HTTP_ADDR`).
pub const ENV_HTTP_ADDR: &str = ebb_core::names::ENV_HTTP_ADDR;
/// Address of the `/metrics` listener (`EBB_METRICS_ADDR`).
pub const ENV_METRICS_ADDR: &str = ebb_core::names::ENV_METRICS_ADDR;
/// Default application port: 8080.
pub const DEFAULT_HTTP_PORT: u16 = ebb_core::names::DEFAULT_HTTP_PORT;
/// Default metrics port: 9090.
pub const DEFAULT_METRICS_PORT: u16 = ebb_core::names::DEFAULT_METRICS_PORT;

/// Everything [`Server`](crate::Server) reads from the environment.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where the application listens. Default `0.0.0.0:8080`.
    pub http_addr: SocketAddr,
    /// Where `/metrics` listens. Default `0.0.0.0:9090`.
    pub metrics_addr: SocketAddr,
    /// Shutdown delay and deadline (`EBB_SHUTDOWN_DELAY`, `EBB_SHUTDOWN_TIMEOUT`).
    pub shutdown: ShutdownConfig,
    /// Redis shared by the replicas (`REDIS_URL` or `REDIS_CLUSTER_URLS`, `EBB_REDIS_*`);
    /// `None`: in-process fallbacks.
    #[cfg(feature = "redis")]
    pub redis: Option<RedisConfig>,
    /// The default rate limit (`EBB_RATELIMIT_*`); off unless `EBB_RATELIMIT_RATE` is set.
    #[cfg(feature = "ratelimit")]
    pub rate_limit: RateLimitConfig,
    /// The session cookie (`EBB_SESSION_*`).
    #[cfg(feature = "session")]
    pub session: ebb_session::SessionConfig,
    /// Bearer-token verification (`EBB_JWT_*`); `None` without a key: tokens are refused.
    #[cfg(feature = "jwt")]
    pub jwt: Option<ebb_session::JwtConfig>,
    /// The object store and its limits (`AWS_*`, `EBB_OFFLOAD_*`).
    #[cfg(feature = "offload")]
    pub offload: ebb_offload::OffloadConfig,
    /// Timeouts and caps of the listener and the request path (`EBB_HEADER_READ_TIMEOUT`,
    /// `EBB_IDLE_TIMEOUT`, `EBB_REQUEST_TIMEOUT`, `EBB_BODY_TIMEOUT`, `EBB_MAX_BODY_SIZE`,
    /// `EBB_MAX_CONNECTIONS`, `EBB_MAX_IN_FLIGHT`, `EBB_HTTP2_KEEPALIVE`).
    pub limits: Limits,
    /// The log format (`EBB_LOG_FORMAT`: `text` or `json`), which
    /// [`init_tracing`](crate::init_tracing) reads; checked here with everything else.
    pub log_format: crate::LogFormat,
    /// One `access` log line per request (`EBB_ACCESS_LOG`, default `false`).
    pub access_log: bool,
    /// The proxies whose `X-Forwarded-For` names the client (`EBB_RATELIMIT_TRUSTED_PROXIES`,
    /// default none): the rate limit's key and the edge's per-client shares follow it, and
    /// these peers are exempt from the per-client connection cap.
    pub trusted_proxies: ebb_core::client::TrustedProxies,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http_addr: SocketAddr::from(([0, 0, 0, 0], DEFAULT_HTTP_PORT)),
            metrics_addr: SocketAddr::from(([0, 0, 0, 0], DEFAULT_METRICS_PORT)),
            shutdown: ShutdownConfig::new(),
            #[cfg(feature = "redis")]
            redis: None,
            #[cfg(feature = "ratelimit")]
            rate_limit: RateLimitConfig::default(),
            #[cfg(feature = "session")]
            session: ebb_session::SessionConfig::default(),
            #[cfg(feature = "jwt")]
            jwt: None,
            #[cfg(feature = "offload")]
            offload: ebb_offload::OffloadConfig::default(),
            log_format: crate::LogFormat::default(),
            access_log: false,
            limits: Limits::default(),
            trusted_proxies: ebb_core::client::TrustedProxies::default(),
        }
    }
}

/// One bad setting.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable holds a value that could not be parsed (ebb's environment grammar,
    /// `ebb_core::env`: the same durations, sizes and booleans in every part).
    #[error(transparent)]
    Env(#[from] EnvError),
    /// The two listeners would share one address.
    #[error("EBB_HTTP_ADDR and EBB_METRICS_ADDR are both {0}: /metrics needs a listener of its own")]
    SameAddress(SocketAddr),
    /// A shutdown setting is wrong.
    #[error(transparent)]
    Shutdown(#[from] ebb_shutdown::ConfigError),
    /// A Redis setting is wrong. URLs are not repeated: they may hold a password.
    #[error(transparent)]
    #[cfg(feature = "redis")]
    Redis(#[from] ebb_redis::ConfigError),
    /// A rate-limit setting is wrong.
    #[cfg(feature = "ratelimit")]
    #[error(transparent)]
    RateLimit(#[from] ebb_ratelimit::ConfigError),
    /// A session or token setting is wrong (secrets are named, never shown).
    #[cfg(any(feature = "session", feature = "jwt"))]
    #[error(transparent)]
    Session(#[from] ebb_session::ConfigError),
    /// An object-store setting is wrong.
    #[cfg(feature = "offload")]
    #[error(transparent)]
    Offload(#[from] ebb_offload::ConfigError),
    /// A part could not be built from settings that each looked valid (the object store's
    /// directory cannot be created, object_store refuses the S3 settings, ...).
    #[error("{part}: {reason}")]
    Part {
        /// What could not be built, in the operator's words (`objects`, ...).
        part: &'static str,
        /// Why.
        reason: String,
    },
    /// A variable the application reads holds bytes that are not UTF-8 (not shown).
    #[error("{variable} is invalid (value not shown): expected UTF-8 text")]
    NotUtf8 {
        /// The variable's name.
        variable: String,
    },
    /// A setting of the application's own (see [`ServerBuilder::from_env_with`](crate::ServerBuilder::from_env_with)).
    #[error("{variable}: {reason}")]
    App {
        /// The variable's name.
        variable: &'static str,
        /// What is wrong, and what would be right.
        reason: String,
    },
}

/// Every bad setting found, in the order of the README's table.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Prints every problem to stderr and returns [`EXIT_CONFIG`](crate::EXIT_CONFIG) (78),
    /// for `main` to return. Printed directly, not logged: it must be seen even when no log
    /// subscriber is set. With `EBB_LOG_FORMAT=json` it is one JSON line (level `ERROR`,
    /// the message, and each problem in `errors`), as a log pipeline expects.
    pub fn report(&self) -> std::process::ExitCode {
        // Lines logged before (by `init_tracing`'s writer) come first, and are not lost
        // when `main` returns next.
        crate::logging::writer::flush_before(None);
        let json = Env::process().get(crate::ENV_LOG_FORMAT).ok().flatten().and_then(|v| v.parse().ok())
            == Some(crate::LogFormat::Json);
        if json {
            let errors: Vec<String> = self.0.iter().map(ToString::to_string).collect();
            let line = serde_json::json!({
                "timestamp": humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
                "level": "ERROR",
                "target": "ebb_server::config",
                "fields": { "message": "invalid configuration", "errors": errors },
            });
            eprintln!("{line}");
        } else {
            eprint!("{self}");
        }
        std::process::ExitCode::from(crate::EXIT_CONFIG)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({} problem(s)):", self.0.len())?;
        for error in &self.0 {
            writeln!(f, "  - {error}")?;
        }
        Ok(())
    }
}

impl ServerConfig {
    /// Reads the process environment.
    ///
    /// # Errors
    /// Every bad value at once, each naming the variable, the value and what was expected.
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::read(&Env::process(), crate::Wanted::ALL)
    }

    /// Like [`from_env`](Self::from_env), with variables looked up through `lookup`.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        Self::read(&Env::from_fn(&lookup), crate::Wanted::ALL)
    }

    /// Reads the server's settings and those of the `wanted` parts; the others keep their
    /// defaults, so a part compiled in (cargo unifies features across a workspace) but not
    /// used never fails a start-up.
    pub(crate) fn read(env: &Env<'_>, wanted: crate::Wanted) -> Result<Self, ConfigErrors> {
        #[cfg(not(any(feature = "session", feature = "jwt", feature = "offload")))]
        let _ = wanted;
        let mut errors: Errors<ConfigError> = Errors::new();
        let mut config = Self::default();
        if let Some(addr) = errors.take(env.parse(ENV_HTTP_ADDR, parse_addr)) {
            config.http_addr = addr;
        }
        if let Some(addr) = errors.take(env.parse(ENV_METRICS_ADDR, parse_addr)) {
            config.metrics_addr = addr;
        }
        let log_format =
            env.parse(crate::ENV_LOG_FORMAT, |value| value.parse().map_err(|()| "`text` or `json`".to_owned()));
        if let Some(format) = errors.take(log_format) {
            config.log_format = format;
        }
        // Read by `BuildInfo` for a label; checked here so that bytes that are not UTF-8 are
        // an error, not an `unknown` revision.
        errors.take(env.get(crate::ENV_GIT_REVISION));
        if let Some(access_log) = errors.take(env.bool(crate::trace::ENV_ACCESS_LOG)) {
            config.access_log = access_log;
        }
        // Read by `init_tracing`, which cannot refuse it; refused here.
        errors.take(env.parse(crate::ENV_RUST_LOG, |value| crate::logging::level::parse_filter(value).map(drop)));
        #[cfg(feature = "otlp")]
        errors.extend(crate::logging::otlp::check_endpoints(env));
        if config.http_addr == config.metrics_addr && config.http_addr.port() != 0 {
            errors.push(ConfigError::SameAddress(config.http_addr));
        }
        match ShutdownConfig::from_vars(env) {
            Ok(shutdown) => config.shutdown = shutdown,
            Err(shutdown_errors) => errors.extend(shutdown_errors.into_iter().map(ConfigError::Shutdown)),
        }
        #[cfg(feature = "redis")]
        {
            config.redis = crate::redis::config_from(env, &mut errors);
        }
        match Limits::from_vars(env) {
            Ok(limits) => config.limits = limits,
            Err(limit_errors) => errors.extend(limit_errors),
        }
        #[cfg(feature = "ratelimit")]
        match RateLimitConfig::from_vars(env) {
            Ok(rate_limit) => {
                config.trusted_proxies = rate_limit.trusted_proxies.clone();
                config.rate_limit = rate_limit;
            }
            Err(rate_limit_errors) => errors.extend(rate_limit_errors.into_iter().map(ConfigError::RateLimit)),
        }
        // Without the rate limit, the edge still needs to know who the client is.
        #[cfg(not(feature = "ratelimit"))]
        if let Some(trusted) = errors.take(env.parse(ebb_core::names::ENV_TRUSTED_PROXIES, |value| {
            value.parse::<ebb_core::client::TrustedProxies>().map_err(|error| error.to_string())
        })) {
            config.trusted_proxies = trusted;
        }
        #[cfg(feature = "session")]
        if wanted.sessions {
            match ebb_session::SessionConfig::from_vars(env) {
                Ok(session) => config.session = session,
                Err(session_errors) => errors.extend(session_errors.into_iter().map(ConfigError::Session)),
            }
        }
        #[cfg(feature = "jwt")]
        if wanted.bearer_tokens {
            match ebb_session::JwtConfig::from_vars(env) {
                Ok(jwt) => config.jwt = jwt,
                Err(jwt_errors) => errors.extend(jwt_errors.into_iter().map(ConfigError::Session)),
            }
        }
        #[cfg(feature = "offload")]
        if wanted.objects {
            match ebb_offload::OffloadConfig::from_vars(env) {
                Ok(offload) => config.offload = offload,
                Err(offload_errors) => errors.extend(offload_errors.into_iter().map(ConfigError::Offload)),
            }
        }
        errors.finish(config).map_err(ConfigErrors)
    }
}

fn parse_addr(value: &str) -> Result<SocketAddr, String> {
    value.trim().parse().map_err(|_| "a socket address such as `0.0.0.0:8080` or `[::]:8080`".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's values, as literals: a changed constant must fail here, not pass.
    #[test]
    fn defaults_are_pinned() {
        let config = ServerConfig::from_lookup(|_| None).expect("defaults are valid");
        assert_eq!(config.http_addr, "0.0.0.0:8080".parse::<SocketAddr>().expect("addr"));
        assert_eq!(config.metrics_addr, "0.0.0.0:9090".parse::<SocketAddr>().expect("addr"));
        assert_eq!(config.shutdown.delay(), std::time::Duration::from_secs(5));
        assert_eq!(config.shutdown.timeout(), std::time::Duration::from_secs(30));
        assert!(config.redis.is_none(), "no REDIS_URL: in-process fallbacks");
        assert!(config.rate_limit.rate.is_none(), "no default rate limit");
        assert_eq!(config.log_format, crate::LogFormat::Text);
        assert!(!config.access_log, "the access log is off unless asked for");
        let json = ServerConfig::from_lookup(|name| (name == "EBB_LOG_FORMAT").then(|| "JSON".to_owned()));
        assert_eq!(json.expect("valid").log_format, crate::LogFormat::Json);
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let vars = [
            ("EBB_HTTP_ADDR", "banana"),
            ("EBB_METRICS_ADDR", "localhost"),
            ("EBB_SHUTDOWN_DELAY", "soon"),
            ("EBB_SHUTDOWN_TIMEOUT", "never"),
            ("EBB_LOG_FORMAT", "xml"),
            ("EBB_ACCESS_LOG", "sometimes"),
        ];
        let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
        let errors = ServerConfig::from_lookup(lookup).expect_err("invalid");
        assert_eq!(errors.0.len(), 6, "{errors}");
        let text = errors.to_string();
        for (name, value) in vars {
            assert!(text.contains(&format!("{name}=\"{value}\"")), "{text}");
        }
    }

    #[test]
    fn a_bad_redis_url_is_reported_without_its_password() {
        let lookup = |name: &str| (name == "REDIS_URL").then(|| "http://user:hunter2@redis:6379".to_owned());
        let errors = ServerConfig::from_lookup(lookup).expect_err("invalid");
        let text = errors.to_string();
        assert!(text.contains("REDIS_URL is invalid") && !text.contains("hunter2"), "{text}");
        let lookup = |name: &str| (name == "REDIS_URL").then(|| "redis://user:hunter2@127.0.0.1:6379/0".to_owned());
        let config = ServerConfig::from_lookup(lookup).expect("valid");
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn rate_limit_errors_join_the_others() {
        let vars = [("EBB_HTTP_ADDR", "banana"), ("EBB_RATELIMIT_RATE", "100/banana"), ("EBB_RATELIMIT_BURST", "0")];
        let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
        let errors = ServerConfig::from_lookup(lookup).expect_err("invalid");
        assert_eq!(errors.0.len(), 3, "{errors}");
    }

    #[test]
    fn limit_errors_join_the_others() {
        let vars = [("EBB_SHUTDOWN_TIMEOUT", "500000000000y"), ("EBB_MAX_IN_FLIGHT", "0"), ("EBB_IDLE_TIMEOUT", "9h")];
        let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
        let errors = ServerConfig::from_lookup(lookup).expect_err("invalid").to_string();
        for (name, _) in vars {
            assert!(errors.contains(name), "{name} missing: {errors}");
        }
    }

    /// `RUST_LOG` is read by `init_tracing`, which falls back to `info` on a bad value: the
    /// configuration is where it is refused.
    #[test]
    fn a_bad_rust_log_is_reported_with_the_others() {
        let vars = [("RUST_LOG", "info,ebb_server=[{"), ("EBB_HTTP_ADDR", "banana")];
        let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
        let errors = ServerConfig::from_lookup(lookup).expect_err("invalid");
        assert_eq!(errors.0.len(), 2, "{errors}");
        let text = errors.to_string();
        assert!(
            text.contains("RUST_LOG=\"info,ebb_server=[{\" is invalid: expected comma-separated directives"),
            "{text}"
        );
        for good in ["debug", "info,ebb_server=debug,hyper=warn", "", "  ", "off"] {
            let lookup = |name: &str| (name == "RUST_LOG").then(|| good.to_owned());
            assert!(ServerConfig::from_lookup(lookup).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn otlp_endpoints_must_be_http_urls_with_a_host() {
        for bad in ["collector:4318", "grpc://collector:4317", "http://", "not a url", "/v1/traces"] {
            for variable in ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] {
                let lookup = |name: &str| (name == variable).then(|| bad.to_owned());
                let text = ServerConfig::from_lookup(lookup).expect_err(bad).to_string();
                assert!(text.contains(&format!("{variable}={bad:?} is invalid: expected an http://")), "{text}");
            }
        }
        for good in ["http://collector:4318", "https://otel.example.com/", "http://127.0.0.1:4318/v1/traces", ""] {
            let lookup = |name: &str| (name == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| good.to_owned());
            assert!(ServerConfig::from_lookup(lookup).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn listeners_must_differ() {
        let lookup = |name: &str| (name.ends_with("_ADDR")).then(|| "127.0.0.1:9000".to_owned());
        let errors = ServerConfig::from_lookup(lookup).expect_err("invalid");
        assert!(matches!(errors.0[..], [ConfigError::SameAddress(_)]));
    }
}
