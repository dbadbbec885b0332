//! Distributed rate limiting: one limit shared by every replica, decided by Redis in one
//! round trip, as a tower layer and as a plain [`Limiter`] for workers.
//!
//! - **Algorithm**: GCRA (a smooth token bucket with a burst) in one Lua script, run
//!   atomically by `EVALSHA` (reloaded on `NOSCRIPT`), on Redis' own clock — never the
//!   replicas'. Over any window of length `t` a key gets at most `burst + rate x t`.
//! - **Keys**: `ebb:rl:{<policy>:<key>}`; the braces are a hash tag, so the script works on
//!   Redis Cluster. Keys expire when their bucket is full again.
//! - **Failure**: Redis down or slower than the timeout (50 ms): the policy's
//!   [`FailureMode`] decides — open (default), closed (503) or local (in-process GCRA).
//!   Each such decision counts as `ratelimit_decisions_total{policy,outcome="error"}` and is
//!   logged at most once per 10 s; [`Limiter::ping`] is the readiness check. When Redis
//!   comes back, or a connection that stopped answering is replaced (about a second; see
//!   [`ebb_redis::Redis`]), limiting resumes by itself.
//! - **Local refusals**: once Redis refuses a key, this replica refuses it until Redis would
//!   allow it again, without asking (bounded memory). A client flooding over its limit costs
//!   Redis about one command per retry period; the exactness bound is unchanged.
//! - **Exactness**: a policy whose `burst x interval` would leave the exact integers of
//!   Redis' Lua numbers is refused when it is built ([`BurstError::TooLarge`]).
//! - **HTTP**: 429 with `Retry-After` and the IETF `RateLimit-Policy` / `RateLimit` fields;
//!   allowed responses carry `RateLimit` too. Shadow policies decide and count but never
//!   reject.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use ebb_ratelimit::{Limiter, Policy, RateLimitLayer};
//!
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let redis = ebb_redis::Redis::new(&ebb_redis::RedisConfig::from_url("redis://127.0.0.1/")?)?;
//! let layer = RateLimitLayer::new(Limiter::redis(redis))
//!     .with_default_policy(Policy::new("default", "100/1m".parse()?).with_burst(20)?);
//! let app: Router = Router::new().route("/", get(|| async { "hi" })).layer(layer);
//! # Ok(())
//! # }
//! ```
//!
//! Without Redis, [`Limiter::in_process`] applies the same algorithm in this process: exact
//! for one replica, and with N replicas each enforces the limit alone.

mod config;
mod decision;
mod error;
mod headers;
mod key;
pub mod layer;
mod limiter;
mod names;
mod policy;
mod rate;
mod response;
mod text;

pub use config::{
    DEFAULT_POLICY_NAME, ENV_BURST, ENV_FAILURE_MODE, ENV_KEY, ENV_LEGACY_HEADERS, ENV_RATE, ENV_SHADOW, ENV_TIMEOUT,
    ENV_TRUSTED_PROXIES, KeyConfig, RateLimitConfig,
};
pub use decision::Decision;
pub use error::{ConfigError, LimiterError};
pub use key::{BadNetwork, ClientAddr, Key, KeyError, PeerAddr, RequestHead, TrustedProxies};
pub use layer::{RateLimit, RateLimitLayer, Selected};
pub use limiter::{DEFAULT_NAMESPACE, DEFAULT_TIMEOUT, Limiter, Verdict};
pub use names::{RATELIMIT_DECISIONS_TOTAL, RATELIMIT_TABLE_FULL_TOTAL};
pub use policy::{BurstError, FailureMode, MAX_CAPACITY, Policy};
pub use rate::{MAX_PERIOD, Rate, RateParseError};

/// The Redis handle the limiter takes (re-exported so that versions always match).
pub use ebb_redis;

// The README is compiled as doc tests too, so that a stale example in it fails `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
