//! The demo login: `EBB_DEMO_USERNAME` and `EBB_DEMO_PASSWORD`, both or neither (the
//! built-in `demo` / `demo-password`, said at start-up).

use ebb_server::ConfigError;

const USERNAME: &str = "EBB_DEMO_USERNAME";
const PASSWORD: &str = "EBB_DEMO_PASSWORD";
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
            (None, None) => {
                tracing::warn!("{USERNAME}/{PASSWORD} are not set: POST /login accepts the built-in demo user");
                Ok(Self { username: DEFAULT_USERNAME.to_owned(), password: DEFAULT_PASSWORD.to_owned() })
            }
            (set, _) => {
                let (variable, other) = if set.is_some() { (PASSWORD, USERNAME) } else { (USERNAME, PASSWORD) };
                let reason =
                    format!("is empty or unset while {other} is set: set both, or neither for the built-in demo user");
                Err(vec![ConfigError::App { variable, reason }])
            }
        }
    }
}
