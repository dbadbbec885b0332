//! Stateless bearer tokens: [`JwtVerifier`] checks signature, algorithm, `exp`/`nbf` (with
//! a small leeway), issuer and audience; [`JwtLayer`] runs it on every request that carries
//! `Authorization: Bearer`; [`Claims`] hands the result to handlers.
//!
//! A request without a token passes through (handlers that need one take [`Claims`], which
//! answers 401 when it is missing). A request with a bad token — forged, expired, malformed,
//! `alg: none`, another algorithm than the configured one — is answered 401 with
//! `WWW-Authenticate: Bearer error="invalid_token"` before it reaches a handler.

mod claims;
mod layer;

use jsonwebtoken::{DecodingKey, Validation};

pub use self::claims::Claims;
pub use self::layer::{JwtAuth, JwtLayer, ResponseFuture};
use crate::config::{ConfigError, ENV_JWT_PUBLIC_KEY, JwtConfig, JwtKey};

/// Checks tokens against one key and algorithm. Cheap to clone behind an `Arc`.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier").field("algorithms", &self.validation.algorithms).finish_non_exhaustive()
    }
}

/// Why a token was refused; the text goes into `error_description` (it never echoes the
/// token).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidToken(pub String);

impl JwtVerifier {
    /// A verifier for `config`.
    ///
    /// # Errors
    /// A PEM key that does not parse for the configured algorithm.
    pub fn new(config: &JwtConfig) -> Result<Self, ConfigError> {
        use jsonwebtoken::Algorithm;
        let key = match (&config.key, config.algorithm) {
            (JwtKey::Secret(secret), _) => DecodingKey::from_secret(secret),
            (JwtKey::PublicPem(pem), algorithm) => {
                let parsed = match algorithm {
                    Algorithm::ES256 => DecodingKey::from_ec_pem(pem),
                    Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
                    _ => DecodingKey::from_rsa_pem(pem),
                };
                parsed.map_err(|error| ConfigError::InvalidSecret {
                    variable: ENV_JWT_PUBLIC_KEY,
                    reason: format!("not a {algorithm:?} public key in PEM: {error}"),
                })?
            }
        };
        let mut validation = Validation::new(config.algorithm);
        validation.leeway = config.leeway.as_secs();
        // jsonwebtoken checks `nbf` only when asked; a token valid from next year is no
        // token today. `sub` is who the caller is: a token without one identifies nobody.
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        if let Some(issuer) = &config.issuer {
            validation.set_issuer(&[issuer]);
        }
        match &config.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        Ok(Self { key, validation })
    }

    /// The claims of `token`, if it passes every check.
    ///
    /// # Errors
    /// [`InvalidToken`] with a short reason.
    pub fn verify(&self, token: &str) -> Result<Claims, InvalidToken> {
        use jsonwebtoken::errors::ErrorKind;
        match jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, &self.key, &self.validation) {
            Ok(data) => match data.claims.get("sub").and_then(serde_json::Value::as_str) {
                Some(subject) if !subject.trim().is_empty() => Ok(Claims(data.claims)),
                _ => Err(InvalidToken("the token's subject (`sub`) is missing or empty".to_owned())),
            },
            Err(error) => Err(InvalidToken(
                match error.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired",
                    ErrorKind::ImmatureSignature => "the token is not valid yet",
                    ErrorKind::InvalidSignature => "the signature does not match",
                    ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                        "the token's algorithm is not accepted"
                    }
                    ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
                    ErrorKind::InvalidAudience => "the token's audience is not accepted",
                    ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                    _ => "the token is malformed",
                }
                .to_owned(),
            )),
        }
    }
}
