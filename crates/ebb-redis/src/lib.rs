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
//! | `REDIS_SENTINEL_URLS` | Redis Sentinel: comma-separated sentinels, with the master's scheme, user, password and `/db` (instead of `REDIS_URL`) |
//! | `REDIS_SENTINEL_MASTER` | the master set the sentinels watch (`mymaster`) |
//! | `REDIS_SENTINEL_USERNAME`, `REDIS_SENTINEL_PASSWORD` | the sentinels' own credentials, when they require any |
//! | `EBB_REDIS_CA_FILE` | PEM CA certificates for `rediss://` (default: the system's trust store) |
//! | `EBB_REDIS_CLIENT_CERT_FILE`, `EBB_REDIS_CLIENT_KEY_FILE` | a client certificate (mutual TLS) |
//! | `EBB_REDIS_TIMEOUT` | bound on a connect and on a command unless the caller sets its own (2 s) |
//! | `EBB_REDIS_EXCLUSIVE_CONNECTIONS` | most connections held by one caller each, for blocking reads (64) |
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
#[cfg(feature = "exclusive")]
mod exclusive;
mod sentinel;

pub use client::{MAX_RECONNECT_BACKOFF, RECONNECT_BACKOFF, REPLACE_AFTER_SILENCE, Redis};
pub use config::{
    ConfigError, DEFAULT_EXCLUSIVE_CONNECTIONS, DEFAULT_TIMEOUT, ENV_REDIS_CA_FILE, ENV_REDIS_CLIENT_CERT_FILE,
    ENV_REDIS_CLIENT_KEY_FILE, ENV_REDIS_CLUSTER_URLS, ENV_REDIS_EXCLUSIVE_CONNECTIONS, ENV_REDIS_TIMEOUT,
    ENV_REDIS_URL, MAX_TIMEOUT, RedisConfig,
};
pub use connection::Connection;
pub use error::Error;
#[cfg(feature = "exclusive")]
pub use exclusive::Exclusive;
pub use redis;
pub use sentinel::{
    ENV_REDIS_SENTINEL_MASTER, ENV_REDIS_SENTINEL_PASSWORD, ENV_REDIS_SENTINEL_URLS, ENV_REDIS_SENTINEL_USERNAME,
};

// The README is compiled as doc tests too, so that a stale example in it fails `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
