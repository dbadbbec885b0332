//! Which parts a server uses, declared before the environment is read.
//!
//! A cargo feature only makes a part available: cargo unifies features across a workspace,
//! so a service must never change behaviour because a sibling crate enabled one. The
//! parts that act on requests or on the disk (sessions, bearer tokens, objects) are used
//! only when asked for here; the rate limit follows `EBB_RATELIMIT_RATE` or
//! [`Server::with_default_rate_limit`], as it always did.

use ebb_core::env::Env;

use crate::config::{ConfigError, ConfigErrors, ServerConfig};
use crate::server::Server;

/// The optional parts a server was asked to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub(crate) sessions: bool,
    pub(crate) bearer_tokens: bool,
    pub(crate) objects: bool,
}

impl Wanted {
    /// Every part compiled in: what [`ServerConfig::from_lookup`] checks.
    pub(crate) const ALL: Self = Self { sessions: true, bearer_tokens: true, objects: true };
}

/// Builds a [`Server`] with the parts it uses; see [`Server::builder`].
///
/// ```no_run
/// # #[cfg(all(feature = "session", feature = "jwt", feature = "offload"))]
/// # fn main() -> std::process::ExitCode {
/// let server = match ebb_server::Server::builder().sessions().bearer_tokens().objects().from_env() {
///     Ok(server) => server,
///     Err(errors) => return errors.report(),
/// };
/// # drop(server); std::process::ExitCode::SUCCESS }
/// # #[cfg(not(all(feature = "session", feature = "jwt", feature = "offload")))]
/// # fn main() {}
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[must_use]
pub struct ServerBuilder {
    wanted: Wanted,
}

impl ServerBuilder {
    /// Server-side sessions on every application route (`EBB_SESSION_*`): in Redis with
    /// `REDIS_URL`, in this process without. Handlers take `ebb_session::Session`.
    #[cfg(feature = "session")]
    pub fn sessions(mut self) -> Self {
        self.wanted.sessions = true;
        self
    }

    /// Bearer tokens verified on every application route (`EBB_JWT_*`); without a key,
    /// every token is refused (401), never ignored. Handlers take `ebb_session::Claims`.
    #[cfg(feature = "jwt")]
    pub fn bearer_tokens(mut self) -> Self {
        self.wanted.bearer_tokens = true;
        self
    }

    /// The object store (`AWS_*`, `EBB_OFFLOAD_*`) as [`Server::offload`], with an
    /// advisory `s3` readiness check.
    #[cfg(feature = "offload")]
    pub fn objects(mut self) -> Self {
        self.wanted.objects = true;
        self
    }

    /// The server for `config` (made by hand; its parts' settings are used as they are).
    ///
    /// # Errors
    /// What only building can check (the object store's directory or S3 client).
    pub fn build(self, config: ServerConfig) -> Result<Server, ConfigErrors> {
        Server::with_parts(config, self.wanted)
    }

    /// The server configured from the environment.
    ///
    /// # Errors
    /// Every bad variable of the server and of the parts asked for, at once.
    pub fn from_env(self) -> Result<Server, ConfigErrors> {
        self.from_env_with(|_| Ok(())).map(|(server, ())| server)
    }

    /// The server configured from the environment, with the application's own settings
    /// read by `app` from the same environment: a bad value of the application's joins
    /// the server's and its parts' in one report, so an operator fixes them all at once.
    ///
    /// # Errors
    /// Every bad variable, of the server, its parts and the application, at once.
    pub fn from_env_with<T>(
        self,
        app: impl FnOnce(&dyn Fn(&str) -> Option<String>) -> Result<T, Vec<ConfigError>>,
    ) -> Result<(Server, T), ConfigErrors> {
        // The application reads through a plain lookup: a value that is not UTF-8 is noted
        // there and reported with the rest, never read as unset.
        let unreadable = std::cell::RefCell::new(Vec::new());
        let lookup = |name: &str| match std::env::var(name) {
            Ok(value) => Some(value),
            Err(std::env::VarError::NotUnicode(_)) => {
                unreadable.borrow_mut().push(name.to_owned());
                None
            }
            Err(std::env::VarError::NotPresent) => None,
        };
        let read = self.read_with(&Env::process(), &lookup, app);
        let unreadable = unreadable.into_inner();
        if unreadable.is_empty() {
            return read;
        }
        let mut errors = read.err().map(|errors| errors.0).unwrap_or_default();
        for variable in unreadable {
            // The server's own variables are reported by its reader already.
            let reported = errors.iter().any(|error| error.to_string().starts_with(&format!("{variable} ")));
            if !reported {
                errors.push(ConfigError::NotUtf8 { variable });
            }
        }
        Err(ConfigErrors(errors))
    }

    /// Like [`from_env_with`](Self::from_env_with), with variables looked up through
    /// `lookup`.
    ///
    /// # Errors
    /// As [`from_env_with`](Self::from_env_with).
    pub fn from_lookup_with<T>(
        self,
        lookup: impl Fn(&str) -> Option<String>,
        app: impl FnOnce(&dyn Fn(&str) -> Option<String>) -> Result<T, Vec<ConfigError>>,
    ) -> Result<(Server, T), ConfigErrors> {
        self.read_with(&Env::from_fn(&lookup), &lookup, app)
    }

    fn read_with<T>(
        self,
        env: &Env<'_>,
        lookup: &dyn Fn(&str) -> Option<String>,
        app: impl FnOnce(&dyn Fn(&str) -> Option<String>) -> Result<T, Vec<ConfigError>>,
    ) -> Result<(Server, T), ConfigErrors> {
        let server = ServerConfig::read(env, self.wanted);
        let app = app(lookup);
        match (server, app) {
            (Ok(config), Ok(app)) => self.build(config).map(|server| (server, app)),
            // Parts are built only from a valid configuration: their own errors (a
            // directory that cannot be made) come once the variables are fixed.
            (server, app) => {
                let mut errors = server.err().map(|e| e.0).unwrap_or_default();
                errors.extend(app.err().unwrap_or_default());
                Err(ConfigErrors(errors))
            }
        }
    }
}

#[cfg(all(test, feature = "full"))]
mod tests {
    use super::*;
    use crate::Server;

    fn lookup(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    fn app(env: &dyn Fn(&str) -> Option<String>) -> Result<String, Vec<ConfigError>> {
        match env("APP_GREETING") {
            Some(text) if text.len() > 5 => {
                Err(vec![ConfigError::App { variable: "APP_GREETING", reason: "at most 5 bytes".to_owned() }])
            }
            other => Ok(other.unwrap_or_default()),
        }
    }

    const WRONG: &[(&str, &str)] = &[
        ("EBB_HTTP_ADDR", "banana"),
        ("EBB_RATELIMIT_BURST", "0"),
        ("EBB_SESSION_TTL", "forever"),
        ("EBB_JWT_LEEWAY", "1y"),
        ("EBB_OFFLOAD_PART_SIZE", "1"),
        ("APP_GREETING", "far too long"),
    ];

    #[test]
    fn the_server_its_parts_and_the_application_report_together() {
        let all = Server::builder().sessions().bearer_tokens().objects();
        let errors = all.from_lookup_with(lookup(WRONG), app).expect_err("invalid").to_string();
        assert!(errors.starts_with("invalid configuration (6 problem(s))"), "{errors}");
        for (name, _) in WRONG {
            assert!(errors.contains(name), "{name} missing: {errors}");
        }
    }

    #[test]
    fn a_part_not_asked_for_is_not_read() {
        let errors = Server::builder().from_lookup_with(lookup(WRONG), app).expect_err("invalid").to_string();
        assert!(errors.starts_with("invalid configuration (3 problem(s))"), "{errors}");
        for absent in ["EBB_SESSION_TTL", "EBB_JWT_LEEWAY", "EBB_OFFLOAD_PART_SIZE"] {
            assert!(!errors.contains(absent), "{absent} was read: {errors}");
        }
    }

    #[test]
    fn a_part_is_built_only_when_asked_for() {
        let dir = std::env::temp_dir().join(format!("ebb-builder-{}", std::process::id()));
        let objects = dir.join("objects");
        let config = ServerConfig {
            offload: ebb_offload::OffloadConfig {
                store: ebb_offload::StoreConfig::Local(objects.clone()),
                ..ebb_offload::OffloadConfig::default()
            },
            ..ServerConfig::default()
        };
        drop(Server::builder().build(config.clone()).expect("valid"));
        assert!(!objects.exists(), "a server without objects made their directory");
        let server = Server::builder().objects().build(config).expect("valid");
        assert!(objects.is_dir());
        assert!(server.offload().is_local());
        drop(std::fs::remove_dir_all(dir));
    }

    #[test]
    #[should_panic(expected = "Server::builder().objects()")]
    fn asking_for_objects_not_built_says_how() {
        let server = Server::new(ServerConfig::default()).expect("valid");
        let _ = server.offload();
    }
}
