//! Redis for every ebb part: one configuration, one shared connection, one reconnect policy.
//!
//! The rate limiter, sessions, object metadata and queue workers all keep their shared state
//! in Redis. They all take a [`Redis`] handle from here, so a service has one connection
//! (per node), one set of timeouts and one place that notices a broken or frozen
//! connection.
//!
//! # Configuration
//!
//! | Variable | Meaning |
//! |---|---|
//! | `REDIS_URL` | `redis://[user:password@]host[:port][/db]`, `rediss://…` for TLS, `unix:///path` |
//! | `REDIS_CLUSTER_URLS` | a Redis Cluster: comma-separated seed nodes (instead of `REDIS_URL`) |
//! | `EBB_REDIS_CA_FILE` | PEM CA certificates for `rediss://` (default: the system's trust store) |
//! | `EBB_REDIS_CLIENT_CERT_FILE`, `EBB_REDIS_CLIENT_KEY_FILE` | a client certificate (mutual TLS) |
//! | `EBB_REDIS_TIMEOUT` | bound on a connect and on a command unless the caller sets its own (2 s) |
//!
//! ACL users go in the URL (`rediss://app:secret@redis:6380/0`). A bad value is reported
//! with the variable's name and never with the URL (it may hold a password).
//!
//! # Redis Cluster
//!
//! redis-rs routes each command by its key's slot and follows `MOVED`, `ASK` and failovers.
//! Callers keep every key of a multi-key script or transaction in one slot with a hash tag
//! (`ebb:rl:{policy:key}`, `ebb:queue:{jobs}`, ...).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ebb_redis::{Redis, RedisConfig};
//!
//! let Some(config) = RedisConfig::from_env().map_err(|errors| format!("{errors:?}"))? else {
//!     return Ok(()); // no REDIS_URL: run in process
//! };
//! let redis = Redis::new(&config)?;
//! let visits: i64 = redis.query(ebb_redis::redis::cmd("INCR").arg("visits")).await?;
//! # let _ = visits;
//! # Ok(())
//! # }
//! ```

mod client;
mod config;
mod connection;
mod error;

pub use client::{MAX_RECONNECT_BACKOFF, RECONNECT_BACKOFF, REPLACE_AFTER_SILENCE, Redis};
pub use config::{
    ConfigError, DEFAULT_TIMEOUT, ENV_REDIS_CA_FILE, ENV_REDIS_CLIENT_CERT_FILE, ENV_REDIS_CLIENT_KEY_FILE,
    ENV_REDIS_CLUSTER_URLS, ENV_REDIS_TIMEOUT, ENV_REDIS_URL, MAX_TIMEOUT, RedisConfig,
};
pub use connection::Connection;
pub use error::Error;
pub use redis;

// The README is compiled as doc tests too, so that a stale example in it fails `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
