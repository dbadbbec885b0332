//! The demo login: `EBB_DEMO_USERNAME` and `EBB_DEMO_PASSWORD`, both or neither. Neither is
//! the built-in `demo` / `demo-password`, which may write and delete every object: only when
//! both listeners are on loopback, or with `EBB_DEMO_ALLOW_BUILTIN=true`; else a start-up
//! error.

use std::net::SocketAddr;

use ebb_core::env::Env;
use ebb_server::{ConfigError, ENV_HTTP_ADDR, ENV_METRICS_ADDR, ServerConfig};

const USERNAME: &str = "EBB_DEMO_USERNAME";
const PASSWORD: &str = "EBB_DEMO_PASSWORD";
const ALLOW_BUILTIN: &str = "EBB_DEMO_ALLOW_BUILTIN";
const DEFAULT_USERNAME: &str = "demo";
const DEFAULT_PASSWORD: &str = "demo-password";

/// The one account `POST /login` accepts.
#[derive(Clone)]
pub(crate) struct DemoUser {
    pub(crate) username: String,
    pub(crate) password: String,
}

impl DemoUser {
    /// Reads both variables; one without the other would silently keep the built-in half,
    /// so it is refused, naming the missing one.
    pub(crate) fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, Vec<ConfigError>> {
        let get = |name: &str| env(name).filter(|value| !value.is_empty());
        match (get(USERNAME), get(PASSWORD)) {
            (Some(username), Some(password)) => Ok(Self { username, password }),
            (None, None) => Self::builtin(&Env::from_fn(env)),
            (set, _) => {
                let (variable, other) = if set.is_some() { (PASSWORD, USERNAME) } else { (USERNAME, PASSWORD) };
                let reason =
                    format!("is empty or unset while {other} is set: set both, or neither for the built-in demo user");
                Err(vec![ConfigError::App { variable, reason }])
            }
        }
    }

    /// The built-in pair, where nobody else can reach it: both listeners on loopback, or
    /// the operator said so.
    fn builtin(env: &Env<'_>) -> Result<Self, Vec<ConfigError>> {
        let allowed = env.bool(ALLOW_BUILTIN).map_err(|error| vec![ConfigError::from(error)])?.unwrap_or(false);
        let defaults = ServerConfig::default();
        let listeners = [(ENV_HTTP_ADDR, defaults.http_addr), (ENV_METRICS_ADDR, defaults.metrics_addr)];
        let exposed = listeners.into_iter().find_map(|(variable, default)| {
            // ebb-server reports an address it cannot parse; until it is fixed, the
            // listener is unknown and this says nothing of it.
            let addr = env.parse(variable, |value| value.trim().parse::<SocketAddr>().map_err(|_| String::new()));
            let addr = addr.ok()?.unwrap_or(default);
            (!addr.ip().is_loopback()).then_some((variable, addr))
        });
        if let (Some((variable, addr)), false) = (exposed, allowed) {
            let reason = format!(
                "is unset while {variable} ({addr}) is not on loopback: POST /login would accept the built-in demo login, which may write and delete every object; set {USERNAME} and {PASSWORD}, or {ALLOW_BUILTIN}=true for a throwaway deployment"
            );
            return Err(vec![ConfigError::App { variable: USERNAME, reason }]);
        }
        tracing::warn!("{USERNAME}/{PASSWORD} are not set: POST /login accepts the built-in demo user");
        Ok(Self { username: DEFAULT_USERNAME.to_owned(), password: DEFAULT_PASSWORD.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo(vars: &[(&str, &str)]) -> Result<DemoUser, Vec<ConfigError>> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        DemoUser::from_lookup(&|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    fn refusal(vars: &[(&str, &str)]) -> String {
        let errors = demo(vars).err().unwrap_or_else(|| panic!("{vars:?} started with the built-in login"));
        errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    }

    const LOOPBACK: [(&str, &str); 2] = [("EBB_HTTP_ADDR", "127.0.0.1:8080"), ("EBB_METRICS_ADDR", "[::1]:9090")];

    #[test]
    fn the_built_in_pair_is_refused_beyond_loopback() {
        // The defaults listen on 0.0.0.0.
        let error = refusal(&[]);
        assert!(
            error.starts_with("EBB_DEMO_USERNAME: is unset while EBB_HTTP_ADDR (0.0.0.0:8080) is not on loopback"),
            "{error}"
        );
        assert!(!error.contains(DEFAULT_PASSWORD), "{error}");
        let error = refusal(&[LOOPBACK[0], ("EBB_METRICS_ADDR", "0.0.0.0:9090")]);
        assert!(error.contains("EBB_METRICS_ADDR (0.0.0.0:9090)"), "one listener beyond loopback is enough: {error}");
        let error = refusal(&[("EBB_DEMO_ALLOW_BUILTIN", "maybe")]);
        assert!(error.contains("EBB_DEMO_ALLOW_BUILTIN"), "{error}");
    }

    #[test]
    fn the_built_in_pair_on_loopback_or_when_allowed() {
        // Negative controls: the same defaults, with the listeners on loopback or the pair allowed.
        let Ok(user) = demo(&LOOPBACK) else { panic!("refused on loopback") };
        assert_eq!((user.username.as_str(), user.password.as_str()), (DEFAULT_USERNAME, DEFAULT_PASSWORD));
        assert!(demo(&[("EBB_DEMO_ALLOW_BUILTIN", "true")]).is_ok());
        assert!(demo(&[("EBB_DEMO_ALLOW_BUILTIN", "false")]).is_err());
        // Credentials of one's own are fine anywhere.
        let Ok(user) = demo(&[("EBB_DEMO_USERNAME", "ada"), ("EBB_DEMO_PASSWORD", "s3cret-pass")]) else {
            panic!("refused credentials of its own")
        };
        assert_eq!(user.username, "ada");
    }

    #[test]
    fn a_bad_listener_address_is_left_to_the_server() {
        assert!(demo(&[("EBB_HTTP_ADDR", "banana"), LOOPBACK[1]]).is_ok());
    }
}
