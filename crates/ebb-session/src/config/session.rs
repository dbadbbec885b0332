//! The session cookie: `EBB_SESSION_TTL`, `EBB_SESSION_COOKIE`, `EBB_SESSION_COOKIE_SECURE`.

use std::time::Duration;

use tower_sessions::SessionStore;
use tower_sessions::cookie::time::Duration as CookieDuration;

use ebb_core::env::{BOOL_EXPECTED, DurationBounds, Env, EnvError, parse_bool};

use super::{ConfigError, Vars};

/// Session lifetime, renewed by every request that uses the session.
pub const ENV_SESSION_TTL: &str = "EBB_SESSION_TTL";
/// The cookie's name.
pub const ENV_SESSION_COOKIE: &str = "EBB_SESSION_COOKIE";
/// `false` only for local use over plain HTTP.
pub const ENV_SESSION_COOKIE_SECURE: &str = "EBB_SESSION_COOKIE_SECURE";

/// Default session lifetime: 12 hours of inactivity.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// What `EBB_SESSION_TTL` accepts: 1 s to 365 days.
const TTL_BOUNDS: DurationBounds = DurationBounds::new(Duration::from_secs(1), Duration::from_secs(365 * 24 * 3600));
/// Default cookie name.
pub const DEFAULT_SESSION_COOKIE: &str = "ebb_session";

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
    /// Reads `EBB_SESSION_*` through `lookup` (empty values count as unset).
    ///
    /// # Errors
    /// Every bad value at once.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<ConfigError>> {
        Self::from_vars(&Env::from_fn(&lookup))
    }

    /// Like [`from_lookup`](Self::from_lookup), with variables read from `env`.
    ///
    /// # Errors
    /// Every bad value at once.
    pub fn from_vars(env: &Env<'_>) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut config = Self::default();
        let vars = Vars::read(env, &[ENV_SESSION_TTL, ENV_SESSION_COOKIE, ENV_SESSION_COOKIE_SECURE], &mut errors);
        let get = |name: &str| vars.get(name);
        let mut invalid = |variable: &'static str, value: String, expected: &str| {
            errors.push(EnvError::new(variable, value, expected).into());
        };
        if let Some(value) = get(ENV_SESSION_TTL) {
            match TTL_BOUNDS.parse(&value) {
                Ok(ttl) => config.ttl = ttl,
                Err(expected) => invalid(ENV_SESSION_TTL, value, &expected),
            }
        }
        if let Some(value) = get(ENV_SESSION_COOKIE) {
            if value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                config.cookie_name = value;
            } else {
                invalid(ENV_SESSION_COOKIE, value, "a cookie name of letters, digits, `_` and `-`");
            }
        }
        if let Some(value) = get(ENV_SESSION_COOKIE_SECURE) {
            match parse_bool(&value) {
                Some(secure) => config.secure = secure,
                None => invalid(ENV_SESSION_COOKIE_SECURE, value, BOOL_EXPECTED),
            }
        }
        if errors.is_empty() { Ok(config) } else { Err(errors) }
    }

    /// The session layer over `store`: cookie `HttpOnly`, `SameSite=Lax`, `Path=/`,
    /// `Secure` unless turned off, expiring after `ttl` without use (every request whose
    /// handler takes a [`Session`](crate::Session) renews it, in the store too, best
    /// effort; see [`SessionLayer`](crate::SessionLayer)).
    ///
    /// Nothing is saved for a request that did not put data in its session, so made-up
    /// cookies never create records.
    pub fn layer<S: SessionStore>(&self, store: S) -> crate::SessionLayer<S> {
        let ttl = CookieDuration::seconds(i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX));
        let cookie = crate::manager::CookieSpec { name: self.cookie_name.clone(), secure: self.secure, ttl };
        crate::SessionLayer::new(store, cookie)
    }
}
