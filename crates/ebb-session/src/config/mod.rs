//! Session cookies and token verification from the environment (`EBB_SESSION_*`,
//! `EBB_JWT_*`). Secrets are read here and never printed: `Debug` shows only what is set.

use ebb_core::env::{Env, EnvError};

#[cfg(feature = "jwt")]
mod jwt;
mod session;

#[cfg(feature = "jwt")]
pub(crate) use self::jwt::JwtKey;
#[cfg(feature = "jwt")]
pub use self::jwt::*;
pub use self::session::*;

/// A setting from the environment that cannot work. Secret values are never repeated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable holds a value that could not be used (ebb's environment grammar,
    /// `ebb_core::env`; a value that is not UTF-8 is not shown).
    #[error(transparent)]
    Env(#[from] EnvError),
    /// A secret or key is unusable; its value is not shown.
    #[error("{variable} is invalid (value not shown): {reason}")]
    InvalidSecret {
        /// The variable's name.
        variable: &'static str,
        /// Why.
        reason: String,
    },
}

/// Everything `ebb-session` reads from the environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// The session cookie.
    pub session: SessionConfig,
    /// Bearer tokens; `None` when no secret or key is set (tokens are then refused).
    #[cfg(feature = "jwt")]
    pub jwt: Option<JwtConfig>,
}

impl AuthConfig {
    /// Reads the process environment.
    ///
    /// # Errors
    /// Every bad value at once (secrets by name only).
    pub fn from_env() -> Result<Self, Vec<ConfigError>> {
        Self::from_vars(&Env::process())
    }

    /// Like [`from_env`](Self::from_env), with variables looked up through `lookup`:
    /// [`SessionConfig::from_lookup`] and `JwtConfig::from_lookup`, their errors together.
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
        let mut errors = Vec::new();
        let session = SessionConfig::from_vars(env).unwrap_or_else(|e| {
            errors.extend(e);
            SessionConfig::default()
        });
        #[cfg(feature = "jwt")]
        let jwt = JwtConfig::from_vars(env).unwrap_or_else(|e| {
            errors.extend(e);
            None
        });
        let config = Self {
            session,
            #[cfg(feature = "jwt")]
            jwt,
        };
        if errors.is_empty() { Ok(config) } else { Err(errors) }
    }
}

/// The variables a config reads, each read once; empty (or blank) values count as unset.
struct Vars(Vec<(&'static str, String)>);

impl Vars {
    /// Reads `names` from `env`; a value that cannot be read (not UTF-8) joins `errors`.
    fn read(env: &Env<'_>, names: &[&'static str], errors: &mut Vec<ConfigError>) -> Self {
        let mut values = Vec::new();
        for name in names {
            match env.get(name) {
                Ok(Some(value)) if !value.trim().is_empty() => values.push((*name, value)),
                Ok(_) => {}
                Err(error) => errors.push(error.into()),
            }
        }
        Self(values)
    }

    fn get(&self, name: &str) -> Option<String> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone())
    }
}

#[cfg(all(test, feature = "jwt"))]
mod tests {
    use std::time::Duration;

    use jsonwebtoken::Algorithm;

    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<AuthConfig, Vec<ConfigError>> {
        AuthConfig::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    /// The README's values, as literals: a changed constant must fail here, not pass.
    #[test]
    fn defaults_are_pinned() {
        let config = from(&[]).expect("valid");
        assert_eq!(config.session.ttl, Duration::from_secs(12 * 60 * 60));
        assert_eq!(config.session.cookie_name, "ebb_session");
        assert!(config.session.secure);
        assert_eq!(config.session, SessionConfig::default());
        assert!(config.jwt.is_none(), "no key: no verifier");

        let secret = "s".repeat(32);
        let jwt = from(&[(ENV_JWT_SECRET, &secret)]).expect("valid").jwt.expect("a verifier");
        assert_eq!(jwt.leeway, Duration::from_secs(30));
        assert_eq!(jwt.algorithm, Algorithm::HS256, "a secret defaults to HS256");
        assert_eq!((jwt.issuer, jwt.audience), (None, None));
        assert_eq!(MIN_SECRET_LEN, 32);
    }

    #[test]
    fn secrets_are_checked_and_never_printed() {
        let errors = from(&[(ENV_JWT_SECRET, "short-secret")]).expect_err("too short");
        let text = errors[0].to_string();
        assert!(
            text.contains("EBB_JWT_SECRET") && text.contains("32 bytes") && !text.contains("short-secret"),
            "{text}"
        );
        let secret = "s".repeat(40);
        let config = from(&[(ENV_JWT_SECRET, &secret), (ENV_JWT_ISSUER, "ebb")]).expect("valid");
        assert!(!format!("{config:?}").contains(&secret));
    }

    #[test]
    fn every_bad_value_at_once() {
        let errors = from(&[
            (ENV_SESSION_TTL, "forever"),
            (ENV_SESSION_COOKIE, "bad name;"),
            (ENV_SESSION_COOKIE_SECURE, "maybe"),
            (ENV_JWT_ALGORITHM, "none"),
            (ENV_JWT_PUBLIC_KEY, "not a pem"),
        ])
        .expect_err("invalid");
        assert_eq!(errors.len(), 5, "{errors:?}");
    }
}
