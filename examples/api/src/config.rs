//! The example's configuration: the server's (addresses, shutdown, Redis, rate limit) and
//! the object store's, every bad value of both reported at once.

use std::fmt;
use std::time::Duration;

use ebb_offload::OffloadConfig;
use ebb_server::ebb_ratelimit::{Policy, Rate};
use ebb_server::{ConfigErrors, ServerConfig};
use ebb_session::AuthConfig;

/// The example's own default limit, used when `EBB_RATELIMIT_RATE` is unset.
const DEFAULT_RATE_PER_SECOND: u32 = 100;
const DEFAULT_BURST: u32 = 50;

/// Demo login, used when `EBB_DEMO_USERNAME` / `EBB_DEMO_PASSWORD` are unset.
const DEFAULT_DEMO_USERNAME: &str = "demo";
const DEFAULT_DEMO_PASSWORD: &str = "demo-password";

pub(crate) struct Config {
    pub(crate) server: ServerConfig,
    pub(crate) offload: OffloadConfig,
    pub(crate) auth: AuthConfig,
    pub(crate) demo_user: crate::auth::DemoUser,
    /// Whether the demo credentials are the built-in ones.
    pub(crate) default_demo_user: bool,
}

pub(crate) struct Errors {
    server: Option<ConfigErrors>,
    offload: Vec<ebb_offload::ConfigError>,
    auth: Vec<ebb_session::ConfigError>,
    demo: Option<String>,
}

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.server.as_ref().map_or(0, |e| e.0.len())
            + self.offload.len()
            + self.auth.len()
            + usize::from(self.demo.is_some());
        writeln!(f, "invalid configuration ({count} problem(s)):")?;
        for error in self.server.iter().flat_map(|errors| errors.0.iter()) {
            writeln!(f, "  - {error}")?;
        }
        for error in &self.offload {
            writeln!(f, "  - {error}")?;
        }
        for error in &self.auth {
            writeln!(f, "  - {error}")?;
        }
        if let Some(error) = &self.demo {
            writeln!(f, "  - {error}")?;
        }
        Ok(())
    }
}

impl Config {
    pub(crate) fn from_env() -> Result<Self, Errors> {
        let username = std::env::var("EBB_DEMO_USERNAME").ok().filter(|v| !v.is_empty());
        let password = std::env::var("EBB_DEMO_PASSWORD").ok().filter(|v| !v.is_empty());
        let default_demo_user = username.is_none() && password.is_none();
        // One without the other would silently keep the built-in half: refuse it.
        let demo = match (&username, &password) {
            (Some(_), None) => Some("EBB_DEMO_USERNAME is set but EBB_DEMO_PASSWORD is empty or unset: set both, or neither for the built-in demo user".to_owned()),
            (None, Some(_)) => Some("EBB_DEMO_PASSWORD is set but EBB_DEMO_USERNAME is empty or unset: set both, or neither for the built-in demo user".to_owned()),
            _ => None,
        };
        let demo_user = crate::auth::DemoUser {
            username: username.unwrap_or_else(|| DEFAULT_DEMO_USERNAME.to_owned()),
            password: password.unwrap_or_else(|| DEFAULT_DEMO_PASSWORD.to_owned()),
        };
        match (ServerConfig::from_env(), OffloadConfig::from_env(), AuthConfig::from_env()) {
            (Ok(server), Ok(offload), Ok(auth)) if demo.is_none() => {
                Ok(Self { server, offload, auth, demo_user, default_demo_user })
            }
            (server, offload, auth) => Err(Errors {
                server: server.err(),
                offload: offload.err().unwrap_or_default(),
                auth: auth.err().unwrap_or_default(),
                demo,
            }),
        }
    }
}

pub(crate) fn default_rate_limit() -> Policy {
    let one_second = Duration::from_secs(1);
    let rate = Rate::new(DEFAULT_RATE_PER_SECOND, one_second).expect("a positive count per second is a valid rate");
    let policy = Policy::new("default", rate);
    policy.clone().with_burst(DEFAULT_BURST).unwrap_or(policy)
}
