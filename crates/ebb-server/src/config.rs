//! The server's environment: addresses and shutdown timing, every bad value reported at once.

use std::fmt;
use std::net::SocketAddr;

use ebb_shutdown::ShutdownConfig;

/// Address of the application listener (`EBB_HTTP_ADDR`).
pub const ENV_HTTP_ADDR: &str = "EBB_HTTP_ADDR";
/// Address of the `/metrics` listener (`EBB_METRICS_ADDR`).
pub const ENV_METRICS_ADDR: &str = "EBB_METRICS_ADDR";
/// Default application port.
pub const DEFAULT_HTTP_PORT: u16 = 8080;
/// Default metrics port.
pub const DEFAULT_METRICS_PORT: u16 = 9090;

/// Everything [`Server`](crate::Server) reads from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Where the application listens. Default `0.0.0.0:8080`.
    pub http_addr: SocketAddr,
    /// Where `/metrics` listens. Default `0.0.0.0:9090`.
    pub metrics_addr: SocketAddr,
    /// Shutdown delay and deadline (`EBB_SHUTDOWN_DELAY`, `EBB_SHUTDOWN_TIMEOUT`).
    pub shutdown: ShutdownConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http_addr: SocketAddr::from(([0, 0, 0, 0], DEFAULT_HTTP_PORT)),
            metrics_addr: SocketAddr::from(([0, 0, 0, 0], DEFAULT_METRICS_PORT)),
            shutdown: ShutdownConfig::new(),
        }
    }
}

/// One bad setting.
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
        expected: &'static str,
    },
    /// The two listeners would share one address.
    #[error("EBB_HTTP_ADDR and EBB_METRICS_ADDR are both {0}: /metrics needs a listener of its own")]
    SameAddress(SocketAddr),
    /// A shutdown setting is wrong.
    #[error(transparent)]
    Shutdown(#[from] ebb_shutdown::ConfigError),
}

/// Every bad setting found, in the order of the README's table.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

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
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), with variables looked up through `lookup`.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let mut errors = Vec::new();
        let mut config = Self::default();
        if let Some(addr) = parse_addr(&lookup, ENV_HTTP_ADDR, &mut errors) {
            config.http_addr = addr;
        }
        if let Some(addr) = parse_addr(&lookup, ENV_METRICS_ADDR, &mut errors) {
            config.metrics_addr = addr;
        }
        if config.http_addr == config.metrics_addr && config.http_addr.port() != 0 {
            errors.push(ConfigError::SameAddress(config.http_addr));
        }
        match ShutdownConfig::from_lookup(&lookup) {
            Ok(shutdown) => config.shutdown = shutdown,
            Err(shutdown_errors) => errors.extend(shutdown_errors.into_iter().map(ConfigError::Shutdown)),
        }
        if errors.is_empty() { Ok(config) } else { Err(ConfigErrors(errors)) }
    }
}

fn parse_addr(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    errors: &mut Vec<ConfigError>,
) -> Option<SocketAddr> {
    let value = lookup(variable)?;
    match value.trim().parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            errors.push(ConfigError::InvalidEnv {
                variable,
                value,
                expected: "a socket address such as `0.0.0.0:8080` or `[::]:8080`",
            });
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let vars = [
            ("EBB_HTTP_ADDR", "banana"),
            ("EBB_METRICS_ADDR", "localhost"),
            ("EBB_SHUTDOWN_DELAY", "soon"),
            ("EBB_SHUTDOWN_TIMEOUT", "never"),
        ];
        let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
        let errors = ServerConfig::from_lookup(lookup).expect_err("invalid");
        assert_eq!(errors.0.len(), 4, "{errors}");
        let text = errors.to_string();
        for (name, value) in vars {
            assert!(text.contains(&format!("{name}=\"{value}\"")), "{text}");
        }
    }

    #[test]
    fn listeners_must_differ() {
        let lookup = |name: &str| (name.ends_with("_ADDR")).then(|| "127.0.0.1:9000".to_owned());
        let errors = ServerConfig::from_lookup(lookup).expect_err("invalid");
        assert!(matches!(errors.0[..], [ConfigError::SameAddress(_)]));
    }
}
