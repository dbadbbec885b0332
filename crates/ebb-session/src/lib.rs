//! Sessions with no state in the process: server-side sessions in Redis, or stateless
//! bearer tokens (JWT). Any replica serves any request; a replica that dies takes no user
//! state with it.
//!
//! - **Sessions**: `tower-sessions` with [`RedisSessionStore`] on the process' shared
//!   [`ebb_redis::Redis`] connection. The id is 128 random bits from a CSPRNG, in an
//!   `HttpOnly`, `SameSite=Lax`, `Secure` (unless turned off for local HTTP) cookie; data in
//!   Redis with a sliding TTL. Handlers take [`Session`], which is loaded before the handler
//!   runs (store down: 503, no side effects). Unknown or malformed ids are no session and
//!   are never written; only sessions holding data are saved. Rotate the id at login with
//!   `session.cycle_id()`; `session.flush()` logs out. Without Redis,
//!   `tower_sessions::MemoryStore` — one replica only.
//! - **Tokens**: [`JwtLayer`] verifies `Authorization: Bearer` with HS256 or RS256 / ES256 /
//!   EdDSA public keys, checking `exp`/`nbf` with a small leeway, issuer and audience;
//!   handlers take [`Claims`]. Failures are 401 with `WWW-Authenticate`; nothing panics on
//!   malformed input, and `alg: none` never verifies.
//!
//! Cargo features: `jwt` (default) brings the token half and its crypto (`jsonwebtoken`
//! with aws-lc); without it the crate is sessions only.
//!
//! ```no_run
//! # #[cfg(feature = "jwt")]
//! # fn demo(redis: ebb_redis::Redis) -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Router, routing::get};
//! use ebb_session::{AuthConfig, Claims, JwtLayer, RedisSessionStore};
//!
//! let config = AuthConfig::from_env().map_err(|errors| format!("{errors:?}"))?;
//! let jwt = match &config.jwt {
//!     Some(jwt) => JwtLayer::new(jwt.verifier()?),
//!     None => JwtLayer::refuse_all(),
//! };
//! let app: Router = Router::new()
//!     .route("/whoami", get(|claims: Claims| async move { claims.subject().unwrap_or("?").to_owned() }))
//!     .layer(jwt)
//!     .layer(config.session.layer(RedisSessionStore::new(redis)));
//! # Ok(())
//! # }
//! ```

mod config;
#[cfg(feature = "jwt")]
pub mod jwt;
pub mod manager;
mod names;
mod session;
mod shared_store;
mod store;

pub use config::{
    AuthConfig, ConfigError, DEFAULT_SESSION_COOKIE, DEFAULT_SESSION_TTL, ENV_SESSION_COOKIE,
    ENV_SESSION_COOKIE_SECURE, ENV_SESSION_TTL, SessionConfig,
};
#[cfg(feature = "jwt")]
pub use config::{
    DEFAULT_JWT_LEEWAY, ENV_JWT_ALGORITHM, ENV_JWT_AUDIENCE, ENV_JWT_ISSUER, ENV_JWT_LEEWAY, ENV_JWT_PUBLIC_KEY,
    ENV_JWT_PUBLIC_KEY_FILE, ENV_JWT_SECRET, ENV_JWT_SECRET_FILE, JwtConfig, MIN_SECRET_LEN,
};
#[cfg(feature = "jwt")]
pub use jsonwebtoken;
#[cfg(feature = "jwt")]
pub use jwt::{Claims, InvalidToken, JwtLayer, JwtVerifier};
pub use manager::{SessionLayer, SessionManager};
pub use names::SESSION_RENEW_FAILURES_TOTAL;
pub use session::{Session, SessionRejection};
pub use shared_store::SharedStore;
pub use store::RedisSessionStore;
pub use tower_sessions::MemoryStore;
pub use {ebb_redis, tower_sessions};

// The README is compiled as doc tests too, so that a stale example in it fails `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
