//! Session cookies and token verification from the environment (`EBB_SESSION_*`,
//! `EBB_JWT_*`). Secrets are read here and never printed: `Debug` shows only what is set.

use std::fmt;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time::Duration as CookieDuration;
use tower_sessions::{Expiry, SessionManagerLayer, SessionStore};

use crate::jwt::JwtVerifier;

/// Session lifetime, renewed by every request that uses the session.
pub const ENV_SESSION_TTL: &str = "EBB_SESSION_TTL";
/// The cookie's name.
pub const ENV_SESSION_COOKIE: &str = "EBB_SESSION_COOKIE";
/// `false` only for local use over plain HTTP.
pub const ENV_SESSION_COOKIE_SECURE: &str = "EBB_SESSION_COOKIE_SECURE";
/// HS256 shared secret (at least 32 bytes).
pub const ENV_JWT_SECRET: &str = "EBB_JWT_SECRET";
/// A file holding the HS256 secret.
pub const ENV_JWT_SECRET_FILE: &str = "EBB_JWT_SECRET_FILE";
/// A PEM public key (RS256, ES256 or EdDSA), inline.
pub const ENV_JWT_PUBLIC_KEY: &str = "EBB_JWT_PUBLIC_KEY";
/// A file holding the PEM public key.
pub const ENV_JWT_PUBLIC_KEY_FILE: &str = "EBB_JWT_PUBLIC_KEY_FILE";
/// `HS256` (with a secret), `RS256` (default with a public key), `ES256` or `EdDSA`.
pub const ENV_JWT_ALGORITHM: &str = "EBB_JWT_ALGORITHM";
/// The required `iss`.
pub const ENV_JWT_ISSUER: &str = "EBB_JWT_ISSUER";
/// The required `aud`.
pub const ENV_JWT_AUDIENCE: &str = "EBB_JWT_AUDIENCE";
/// Clock skew allowed on `exp` and `nbf`.
pub const ENV_JWT_LEEWAY: &str = "EBB_JWT_LEEWAY";

/// Default session lifetime: 12 hours of inactivity.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Default cookie name.
pub const DEFAULT_SESSION_COOKIE: &str = "ebb_session";
/// Default clock skew: 30 s.
pub const DEFAULT_JWT_LEEWAY: Duration = Duration::from_secs(30);
/// Shortest HS256 secret accepted (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_LEN: usize = 32;

/// A setting from the environment that cannot work. Secret values are never repeated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable holds a value that could not be used.
    #[error("{variable}={value:?} is invalid: expected {expected}")]
    InvalidEnv {
        /// The variable's name.
        variable: &'static str,
        /// The value found.
        value: String,
        /// What a valid value looks like.
        expected: String,
    },
    /// A secret or key is unusable; its value is not shown.
    #[error("{variable} is invalid (value not shown): {reason}")]
    InvalidSecret {
        /// The variable's name.
        variable: &'static str,
        /// Why.
        reason: String,
    },
}

/// The session cookie and its lifetime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Sliding lifetime. Default 12 h.
    pub ttl: Duration,
    /// Cookie name. Default `ebb_session`.
    pub cookie_name: String,
    /// `Secure` attribute. Default `true`; turn off only for plain-HTTP local use.
    pub secure: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self { ttl: DEFAULT_SESSION_TTL, cookie_name: DEFAULT_SESSION_COOKIE.to_owned(), secure: true }
    }
}

impl SessionConfig {
    /// The `tower-sessions` layer over `store`: `HttpOnly`, `SameSite=Lax`, `Path=/`,
    /// `Secure` unless turned off, expiring after `ttl` without use (every request whose
    /// handler takes a [`Session`](crate::Session) renews it, in the store too).
    ///
    /// Nothing is saved for a request that did not put data in its session, so made-up
    /// cookies never create records.
    pub fn layer<S: SessionStore + Clone>(&self, store: S) -> SessionManagerLayer<S> {
        let ttl = CookieDuration::seconds(i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX));
        SessionManagerLayer::new(store)
            .with_name(self.cookie_name.clone())
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_path("/")
            .with_secure(self.secure)
            .with_expiry(Expiry::OnInactivity(ttl))
    }
}

/// How bearer tokens are verified, without the key itself (see [`JwtVerifier`]).
#[derive(Clone, PartialEq, Eq)]
pub struct JwtConfig {
    pub(crate) key: JwtKey,
    pub(crate) algorithm: Algorithm,
    /// Required `iss`, if any.
    pub issuer: Option<String>,
    /// Required `aud`, if any.
    pub audience: Option<String>,
    /// Clock skew allowed on `exp`/`nbf`.
    pub leeway: Duration,
}

#[derive(Clone, PartialEq, Eq)]
pub(crate) enum JwtKey {
    Secret(Vec<u8>),
    PublicPem(Vec<u8>),
}

impl fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = match self.key {
            JwtKey::Secret(_) => "secret (hidden)",
            JwtKey::PublicPem(_) => "public key",
        };
        f.debug_struct("JwtConfig")
            .field("key", &key)
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .finish()
    }
}

impl JwtConfig {
    /// An HS256 configuration with `secret` (at least 32 bytes).
    ///
    /// # Errors
    /// A shorter secret.
    pub fn hs256(secret: impl Into<Vec<u8>>) -> Result<Self, ConfigError> {
        let secret = secret.into();
        if secret.len() < MIN_SECRET_LEN {
            return Err(ConfigError::InvalidSecret {
                variable: ENV_JWT_SECRET,
                reason: format!("an HS256 secret needs at least {MIN_SECRET_LEN} bytes, it has {}", secret.len()),
            });
        }
        Ok(Self::with_key(JwtKey::Secret(secret), Algorithm::HS256))
    }

    fn with_key(key: JwtKey, algorithm: Algorithm) -> Self {
        Self { key, algorithm, issuer: None, audience: None, leeway: DEFAULT_JWT_LEEWAY }
    }

    /// The verifier these settings describe.
    ///
    /// # Errors
    /// A PEM key that does not parse for the algorithm.
    pub fn verifier(&self) -> Result<JwtVerifier, ConfigError> {
        JwtVerifier::new(self)
    }
}

/// Everything `ebb-session` reads from the environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// The session cookie.
    pub session: SessionConfig,
    /// Bearer tokens; `None` when no secret or key is set (tokens are then refused).
    pub jwt: Option<JwtConfig>,
}

impl AuthConfig {
    /// Reads the process environment.
    ///
    /// # Errors
    /// Every bad value at once (secrets by name only).
    pub fn from_env() -> Result<Self, Vec<ConfigError>> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), with variables looked up through `lookup`.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut config = Self::default();
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut invalid = |variable: &'static str, value: String, expected: &str| {
            errors.push(ConfigError::InvalidEnv { variable, value, expected: expected.to_owned() });
        };
        if let Some(value) = get(ENV_SESSION_TTL) {
            match humantime::parse_duration(value.trim()) {
                Ok(ttl) if ttl >= Duration::from_secs(1) && ttl <= Duration::from_secs(365 * 24 * 3600) => {
                    config.session.ttl = ttl;
                }
                _ => invalid(ENV_SESSION_TTL, value, "a duration from `1s` to `365d`, such as `12h`"),
            }
        }
        if let Some(value) = get(ENV_SESSION_COOKIE) {
            if value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                config.session.cookie_name = value;
            } else {
                invalid(ENV_SESSION_COOKIE, value, "a cookie name of letters, digits, `_` and `-`");
            }
        }
        if let Some(value) = get(ENV_SESSION_COOKIE_SECURE) {
            match value.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => config.session.secure = true,
                "false" | "0" | "no" => config.session.secure = false,
                _ => invalid(ENV_SESSION_COOKIE_SECURE, value, "true or false"),
            }
        }
        let algorithm = match get(ENV_JWT_ALGORITHM) {
            None => None,
            Some(value) => match value.trim() {
                "HS256" => Some(Algorithm::HS256),
                "RS256" => Some(Algorithm::RS256),
                "ES256" => Some(Algorithm::ES256),
                "EdDSA" => Some(Algorithm::EdDSA),
                _ => {
                    invalid(ENV_JWT_ALGORITHM, value, "HS256, RS256, ES256 or EdDSA");
                    None
                }
            },
        };
        let mut leeway = DEFAULT_JWT_LEEWAY;
        if let Some(value) = get(ENV_JWT_LEEWAY) {
            match humantime::parse_duration(value.trim()) {
                Ok(skew) if skew <= Duration::from_secs(300) => leeway = skew,
                _ => invalid(ENV_JWT_LEEWAY, value, "a duration up to `5m`, such as `30s`"),
            }
        }
        let mut secret_error = |variable: &'static str, reason: String| {
            errors.push(ConfigError::InvalidSecret { variable, reason });
        };
        let secret = match (get(ENV_JWT_SECRET), get(ENV_JWT_SECRET_FILE)) {
            (Some(secret), _) => Some((ENV_JWT_SECRET, secret.into_bytes())),
            (None, Some(path)) => match std::fs::read(path.trim()) {
                Ok(bytes) => Some((ENV_JWT_SECRET_FILE, trim_newline(bytes))),
                Err(error) => {
                    secret_error(ENV_JWT_SECRET_FILE, format!("cannot read the file: {error}"));
                    None
                }
            },
            (None, None) => None,
        };
        let public = match (get(ENV_JWT_PUBLIC_KEY), get(ENV_JWT_PUBLIC_KEY_FILE)) {
            (Some(pem), _) => Some((ENV_JWT_PUBLIC_KEY, pem.into_bytes())),
            (None, Some(path)) => match std::fs::read(path.trim()) {
                Ok(bytes) => Some((ENV_JWT_PUBLIC_KEY_FILE, bytes)),
                Err(error) => {
                    secret_error(ENV_JWT_PUBLIC_KEY_FILE, format!("cannot read the file: {error}"));
                    None
                }
            },
            (None, None) => None,
        };
        let jwt = match (secret, public) {
            (Some(_), Some(_)) => {
                secret_error(ENV_JWT_SECRET, format!("set either a secret or {ENV_JWT_PUBLIC_KEY}(_FILE), not both"));
                None
            }
            (Some((variable, secret)), None) => match algorithm.unwrap_or(Algorithm::HS256) {
                Algorithm::HS256 => match JwtConfig::hs256(secret) {
                    Ok(jwt) => Some(jwt),
                    Err(ConfigError::InvalidSecret { reason, .. }) => {
                        secret_error(variable, reason);
                        None
                    }
                    Err(other) => {
                        errors.push(other);
                        None
                    }
                },
                other => {
                    secret_error(variable, format!("a secret is for HS256, not {other:?}"));
                    None
                }
            },
            (None, Some((variable, pem))) => match algorithm.unwrap_or(Algorithm::RS256) {
                Algorithm::HS256 => {
                    secret_error(variable, "HS256 takes EBB_JWT_SECRET, not a public key".to_owned());
                    None
                }
                algorithm => Some(JwtConfig::with_key(JwtKey::PublicPem(pem), algorithm)),
            },
            (None, None) => None,
        };
        if let Some(mut jwt) = jwt {
            jwt.issuer = get(ENV_JWT_ISSUER);
            jwt.audience = get(ENV_JWT_AUDIENCE);
            jwt.leeway = leeway;
            if let Err(error) = jwt.verifier() {
                errors.push(error);
            }
            config.jwt = Some(jwt);
        }
        if errors.is_empty() { Ok(config) } else { Err(errors) }
    }
}

fn trim_newline(mut bytes: Vec<u8>) -> Vec<u8> {
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    bytes
}

#[cfg(test)]
mod tests {
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
