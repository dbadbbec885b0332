//! Graceful, phased shutdown for HTTP and gRPC services, so that an orchestrator can remove a
//! replica without dropping a request.
//!
//! What SIGTERM does (see [`Shutdown::run`]):
//!
//! 1. Readiness fails at once ([`Shutdown::shutting_down_token`]); liveness stays up.
//! 2. The service keeps serving for the delay (default 5 s), while the platform takes it
//!    out of its endpoints.
//! 3. The listener stops accepting ([`Shutdown::stop_accepting`]); in-flight requests
//!    finish; keep-alive connections close.
//! 4. Background tasks ([`Shutdown::spawn_task`]) are cancelled and awaited.
//! 5. At the deadline (default 30 s from the signal) what is left is cut by the
//!    [`DrainLayer`] and counted in the [`ShutdownReport`]; exit non-zero then.
//! 6. A second signal exits at once.
//!
//! It needs nothing but Tokio and works with axum, hyper and tonic alike: the drain layer is
//! a plain `tower::Layer`, and the server only has to stop accepting when told.
//!
//! # Example
//! ```no_run
//! use std::process::ExitCode;
//! use ebb_shutdown::{Shutdown, ShutdownConfig};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<ExitCode> {
//!     let shutdown = Shutdown::new(ShutdownConfig::new());
//!     shutdown.spawn_task(|stop| async move {
//!         // A background loop that ends when asked to.
//!         stop.cancelled().await;
//!     });
//!     let app = axum::Router::new()
//!         .route("/", axum::routing::get(|| async { "hello" }))
//!         .layer(shutdown.layer());
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.stop_accepting());
//!     let report = shutdown.run(server).await?;
//!     Ok(report.exit_code())
//! }
//! ```

mod config;
pub mod drain;
mod error;
mod report;
mod run;
mod shutdown;
mod signal;
mod watchdog;

pub use config::{DEFAULT_DELAY, DEFAULT_TIMEOUT, ENV_DELAY, ENV_TIMEOUT, MAX_DELAY, MAX_TIMEOUT, ShutdownConfig};
pub use drain::DrainLayer;
pub use error::ConfigError;
pub use report::{ShutdownCause, ShutdownReport};
pub use shutdown::{ConnectionGuard, InFlight, Shutdown};
pub use signal::Signals;
/// Re-exported so that callers need not depend on tokio-util to hold the tokens.
pub use tokio_util::sync::CancellationToken;

// The README is compiled as doc tests too, so that a stale example in it fails `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
