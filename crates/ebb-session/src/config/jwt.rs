//! Bearer-token verification: `EBB_JWT_*`. Secrets are read here and never printed.

use std::fmt;
use std::time::Duration;

use jsonwebtoken::Algorithm;

use ebb_core::env::{DurationBounds, Env, EnvError};

use super::{ConfigError, Vars};
use crate::jwt::JwtVerifier;

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

/// Default clock skew: 30 s.
pub const DEFAULT_JWT_LEEWAY: Duration = Duration::from_secs(30);
/// What `EBB_JWT_LEEWAY` accepts: up to 5 minutes.
const LEEWAY_BOUNDS: DurationBounds = DurationBounds::new(Duration::ZERO, Duration::from_secs(300));
/// Shortest HS256 secret accepted (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_LEN: usize = 32;

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

    /// Reads `EBB_JWT_*` through `lookup` (empty values count as unset): `None` when no
    /// secret or key is set.
    ///
    /// # Errors
    /// Every bad value at once; secrets by name only.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, Vec<ConfigError>> {
        Self::from_vars(&Env::from_fn(&lookup))
    }

    /// Like [`from_lookup`](Self::from_lookup), with variables read from `env`.
    ///
    /// # Errors
    /// Every bad value at once; secrets by name only.
    pub fn from_vars(env: &Env<'_>) -> Result<Option<Self>, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let names = [
            ENV_JWT_SECRET,
            ENV_JWT_SECRET_FILE,
            ENV_JWT_PUBLIC_KEY,
            ENV_JWT_PUBLIC_KEY_FILE,
            ENV_JWT_ALGORITHM,
            ENV_JWT_ISSUER,
            ENV_JWT_AUDIENCE,
            ENV_JWT_LEEWAY,
        ];
        let vars = Vars::read(env, &names, &mut errors);
        let get = |name: &str| vars.get(name);
        let mut invalid = |variable: &'static str, value: String, expected: &str| {
            errors.push(EnvError::new(variable, value, expected).into());
        };
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
            match LEEWAY_BOUNDS.parse(&value) {
                Ok(skew) => leeway = skew,
                Err(expected) => invalid(ENV_JWT_LEEWAY, value, &expected),
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
        let jwt = jwt.map(|mut jwt| {
            jwt.issuer = get(ENV_JWT_ISSUER);
            jwt.audience = get(ENV_JWT_AUDIENCE);
            jwt.leeway = leeway;
            jwt
        });
        if let Some(Err(error)) = jwt.as_ref().map(JwtConfig::verifier) {
            errors.push(error);
        }
        if errors.is_empty() { Ok(jwt) } else { Err(errors) }
    }

    /// The verifier these settings describe.
    ///
    /// # Errors
    /// A PEM key that does not parse for the algorithm.
    pub fn verifier(&self) -> Result<JwtVerifier, ConfigError> {
        JwtVerifier::new(self)
    }
}

fn trim_newline(mut bytes: Vec<u8>) -> Vec<u8> {
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    bytes
}
