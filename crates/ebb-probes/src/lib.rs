//! Kubernetes-style health probes for any tower service: `/livez`, `/readyz`, `/startupz`
//! and `/healthz` (an alias of `/livez`).
//!
//! - **Liveness** never depends on an external service: a failing liveness probe restarts the
//!   container, and restarting every replica because Redis blinked makes an outage worse.
//! - **Readiness** fails while the service has not started, once shutdown has begun
//!   ([`ProbesBuilder::with_shutdown_signal`]), and while a registered dependency check fails.
//! - **Startup** fails until [`Probes::mark_started`].
//!
//! Checks run concurrently, each with a timeout (default 1 s), and their results are cached
//! briefly (default 1 s) so that a probe storm does not become a dependency storm.
//!
//! Responses follow the Kubernetes API server: `ok` when passing; with `?verbose` (or when
//! failing) a line per check such as `[+]redis ok` or `[-]s3 failed: <reason>`;
//! `?exclude=name` skips a check; `Accept: application/json` gives JSON. Status is 200 or 503.
//!
//! # Example
//! ```
//! use std::time::Duration;
//! use ebb_probes::{CheckExt, Probes};
//!
//! let probes = Probes::builder()
//!     .with_readiness_check("cache", (|| async { Ok::<_, String>(()) }).with_timeout(Duration::from_millis(200)))
//!     .build();
//! let app: axum::Router = axum::Router::new()
//!     .route("/", axum::routing::get(|| async { "hello" }))
//!     .layer(probes.layer());
//! probes.mark_started();
//! # drop(app);
//! ```

mod answer;
mod builder;
pub mod check;
#[cfg(feature = "grpc")]
pub mod grpc;
mod layer;
mod probe;
mod probes;
mod query;
mod report;

pub use answer::{Details, ProbeAnswer};
pub use builder::{DEFAULT_CACHE_TTL, ProbesBuilder};
pub use check::{Check, CheckError, CheckExt};
pub use layer::{ProbesLayer, ProbesService, ResponseFuture};
pub use probe::{HEALTHZ_PATH, LIVEZ_PATH, Probe, READYZ_PATH, STARTUPZ_PATH};
pub use probes::Probes;
pub use report::{CheckResult, ProbeReport};
/// Re-exported: the token type of [`ProbesBuilder::with_shutdown_signal`].
pub use tokio_util::sync::CancellationToken;

// The README is compiled as doc tests too, so that a stale example in it fails `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
