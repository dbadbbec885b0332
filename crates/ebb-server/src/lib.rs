//! The batteries of ebb: one call serves an axum `Router` the way an orchestrator needs it.
//!
//! [`serve`] reads the environment (`EBB_HTTP_ADDR`, `EBB_METRICS_ADDR`,
//! `EBB_SHUTDOWN_DELAY`, `EBB_SHUTDOWN_TIMEOUT`, the [`Limits`] variables, `REDIS_URL`,
//! `EBB_RATELIMIT_*`), reports every bad value at once, rate limits by the default policy
//! when one is set, binds the application and metrics listeners, answers the probes (on
//! both), records RED metrics, sheds load over the in-flight cap, turns panics into 500s,
//! and on SIGTERM runs the phased shutdown: readiness fails and responses carry
//! `Connection: close` (HTTP/2: GOAWAY), serving goes on for the delay, the listener closes,
//! requests drain, background tasks stop, and whatever is left at the deadline is cut,
//! counted and turned into a non-zero exit code. The request path is documented on
//! [`Server`].
//!
//! # Example
//! ```no_run
//! use axum::{Router, routing::get};
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     ebb_server::init_tracing();
//!     ebb_server::serve(Router::new().route("/", get(|| async { "hello" }))).await
//! }
//! ```
//! For dependency checks and background tasks, use [`Server`].
//!
//! # Parts
//! Cargo features make the optional parts available: `ratelimit` (default), `session`,
//! `jwt`, `offload`, and `full` for all. A service asks for the ones it uses with
//! [`Server::builder`] (features unify across a workspace; a service must not change
//! because a sibling enabled one). Every part asked for is read from the same environment,
//! reported with everything else, shares the one Redis handle, and takes its place in the
//! request path documented on [`Server`]:
//!
//! ```no_run
//! # #[cfg(feature = "full")]
//! # #[tokio::main]
//! # async fn main() -> std::process::ExitCode {
//! use axum::{Router, routing::get};
//! use ebb_server::Server;
//!
//! ebb_server::init_tracing();
//! let server = match Server::builder().sessions().bearer_tokens().objects().from_env() {
//!     Ok(server) => server,
//!     Err(errors) => return errors.report(), // every bad variable of every part; exit 78
//! };
//! let files = ebb_server::ebb_offload::http::routes(server.offload().clone());
//! let server = server.with_streaming_routes(Router::new().nest("/files", files));
//! ebb_server::run(server, Router::new().route("/", get(|| async { "hello" }))).await
//! # }
//! # #[cfg(not(feature = "full"))]
//! # fn main() {}
//! ```

mod build_info;
mod builder;
mod client_share;
mod config;
mod edge;
mod limits;
mod listener;
mod logging;
mod metric_help;
mod parts;
#[cfg(feature = "redis")]
mod redis;
mod serve;
mod server;
pub mod trace;

use std::process::ExitCode;
use std::time::{Duration, Instant};

pub use build_info::{BUILD_INFO, BuildInfo, ENV_GIT_REVISION};
pub use builder::ServerBuilder;
pub(crate) use builder::Wanted;
pub use config::{
    ConfigError, ConfigErrors, DEFAULT_HTTP_PORT, DEFAULT_METRICS_PORT, ENV_HTTP_ADDR, ENV_METRICS_ADDR, ServerConfig,
};
pub use ebb_core::names::ENV_REDIS_URL;
#[cfg(feature = "offload")]
pub use ebb_offload;
#[cfg(feature = "ratelimit")]
pub use ebb_ratelimit;
#[cfg(feature = "redis")]
pub use ebb_redis;
#[cfg(feature = "redis")]
pub use ebb_redis::{Redis, RedisConfig};
#[cfg(any(feature = "session", feature = "jwt"))]
pub use ebb_session;
pub use edge::{HTTP_CLIENT_SHARE_EXCEEDED_TOTAL, HTTP_REQUESTS_SHED_TOTAL};
pub use limits::{
    BODY_RATE_WINDOW, ENV_BODY_DEADLINE, ENV_BODY_MIN_RATE, ENV_BODY_TIMEOUT, ENV_HEADER_READ_TIMEOUT,
    ENV_HTTP2_KEEPALIVE, ENV_IDLE_TIMEOUT, ENV_MAX_BODY_SIZE, ENV_MAX_CONNECTIONS, ENV_MAX_CONNECTIONS_PER_CLIENT,
    ENV_MAX_IN_FLIGHT, ENV_MAX_IN_FLIGHT_PER_CLIENT, ENV_REQUEST_TIMEOUT, Limits, PROBES_IN_FLIGHT_PER_CLIENT,
};
pub use listener::HTTP_CONNECTION_TIMEOUTS_TOTAL;
pub use logging::format::{JsonFormat, TextFormat};
pub use logging::level::LOG_LEVEL_PATH;
#[cfg(feature = "otlp")]
pub use logging::otlp::{ENV_OTLP_ENDPOINT, ENV_OTLP_TRACES_ENDPOINT};
pub use logging::writer::LOG_LINES_DROPPED_TOTAL;
pub use logging::{ENV_LOG_FORMAT, ENV_RUST_LOG, LogFormat, init_tracing};
pub use metric_help::MetricHelp;
pub use server::{ServeError, Server};
pub use {ebb_metrics, ebb_probes, ebb_shutdown};

/// Exit code for a configuration that cannot work (as sysexits' `EX_CONFIG`).
pub const EXIT_CONFIG: u8 = 78;

/// Serves `router` with the configuration from the environment and returns the exit code:
/// `0` after a clean shutdown, `1` when the deadline cut something or the server failed,
/// [`EXIT_CONFIG`] (78) when the configuration is invalid — every problem is printed at once.
pub async fn serve(router: axum::Router) -> ExitCode {
    let server = match Server::from_env() {
        Ok(server) => server,
        Err(errors) => return errors.report(),
    };
    run(server, router).await
}

/// Serves `router` on an already configured [`Server`] and turns the outcome into an exit
/// code, as [`serve`] does.
///
/// A process serving through `run` (or [`serve`]) never outlives `EBB_SHUTDOWN_TIMEOUT`
/// by more than a second: from the signal on, a watchdog thread exits it (code 1) even when
/// every runtime thread is stuck in blocking code or the runtime waits for a blocking task
/// ([`Shutdown::arm_exit_watchdog`](ebb_shutdown::Shutdown::arm_exit_watchdog)). The last
/// traces and log lines are flushed within that budget, never past it.
pub async fn run(server: Server, router: axum::Router) -> ExitCode {
    let shutdown = server.shutdown().clone();
    if let Err(error) = shutdown.arm_exit_watchdog(WATCHDOG_GRACE) {
        tracing::warn!(%error, "no exit watchdog: a stuck runtime could outlive the shutdown deadline");
    }
    // A second signal or the watchdog ends the process at once: the lines still buffered
    // (the one saying why, say) get a moment to reach stderr.
    shutdown.before_forced_exit(|| logging::writer::flush(Instant::now() + FORCED_EXIT_FLUSH));
    let served = server.serve(router).await;
    #[cfg(feature = "otlp")]
    {
        // Before the watchdog, leaving time for the log lines after.
        let exit_by = shutdown.exit_deadline().unwrap_or_else(|| Instant::now() + WATCHDOG_GRACE);
        logging::otlp::shutdown(exit_by.checked_sub(LOG_FLUSH_RESERVE).unwrap_or(exit_by));
    }
    let code = match served {
        Ok(report) => report.exit_code(),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    };
    logging::writer::flush_before(shutdown.exit_deadline());
    code
}

/// How long past the shutdown deadline the watchdog lets a process live.
const WATCHDOG_GRACE: Duration = Duration::from_secs(1);
/// Kept for the log lines after the last traces are flushed.
#[cfg(feature = "otlp")]
const LOG_FLUSH_RESERVE: Duration = Duration::from_millis(250);
/// How long the log lines get before a forced exit (a second signal, the watchdog).
const FORCED_EXIT_FLUSH: Duration = Duration::from_millis(100);

// The README is compiled as doc tests too, so that a stale example in it fails `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
