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
    /// `iss` must be one string (RFC 7519 §4.1.1); jsonwebtoken also takes an array.
    issuer_required: bool,
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

/// The reason for an `iss` that is absent, `null`, a number or an array.
const ISSUER_NOT_A_STRING: &str = "the token's issuer (`iss`) is missing or not a string";

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
        // jsonwebtoken checks `iss` and `aud` only when the token carries them (and skips a
        // value it cannot parse): a configured issuer or audience is required, or a token
        // that leaves it out would pass.
        let mut required = vec!["exp", "sub"];
        if let Some(issuer) = &config.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &config.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Ok(Self { key, validation, issuer_required: config.issuer.is_some() })
    }

    /// The claims of `token`, if it passes every check.
    ///
    /// # Errors
    /// [`InvalidToken`] with a short reason.
    pub fn verify(&self, token: &str) -> Result<Claims, InvalidToken> {
        use jsonwebtoken::errors::ErrorKind;
        match jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, &self.key, &self.validation) {
            Ok(data) => {
                if self.issuer_required && !data.claims.get("iss").is_some_and(serde_json::Value::is_string) {
                    return Err(InvalidToken(ISSUER_NOT_A_STRING.to_owned()));
                }
                match data.claims.get("sub").and_then(serde_json::Value::as_str) {
                    Some(subject) if !subject.trim().is_empty() => Ok(Claims(data.claims)),
                    _ => Err(InvalidToken("the token's subject (`sub`) is missing or empty".to_owned())),
                }
            }
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
                    ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
                        "iss" => ISSUER_NOT_A_STRING,
                        "aud" => "the token's audience (`aud`) is missing or not a string or list of strings",
                        "exp" => "the token's expiry (`exp`) is missing or not a number",
                        "sub" => "the token's subject (`sub`) is missing or not a string",
                        _ => "the token lacks a required claim",
                    },
                    _ => "the token is malformed",
                }
                .to_owned(),
            )),
        }
    }
}
