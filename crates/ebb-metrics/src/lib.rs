//! RED metrics for HTTP and gRPC services, exported for Prometheus, so that a
//! HorizontalPodAutoscaler (through prometheus-adapter) or KEDA can scale on real load.
//!
//! - [`HttpMetricsLayer`]: `http_requests_total`, `http_request_duration_seconds` (a real
//!   histogram with [`DURATION_BUCKETS`](names::DURATION_BUCKETS)) and
//!   `http_requests_in_flight`, labelled by `method`, route *template* and `status`. Labels
//!   are bounded by construction: unmatched requests are `route="unmatched"`, unknown
//!   methods `OTHER`, and a cap on distinct label sets folds the rest into
//!   `route="overflow"`.
//! - [`Exporter`]: installs the `metrics` recorder; returns a [`MetricsHandle`] and an upkeep
//!   future for the caller to spawn.
//! - [`MetricsService`]: `GET /metrics` for a separate listener, with client_golang-style
//!   process metrics (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...).
//!
//! Other crates record through the `metrics` facade (`ratelimit_decisions_total`, ...); the
//! exporter renders them all.
//!
//! # Example
//! ```no_run
//! use ebb_metrics::{Exporter, HttpMetricsLayer, MetricsService};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let (handle, upkeep) = Exporter::new().install()?;
//!     tokio::spawn(upkeep);
//!     let app = axum::Router::new()
//!         .route("/users/{id}", axum::routing::get(|| async { "user" }))
//!         .layer(HttpMetricsLayer::new());
//!     let metrics = axum::Router::new().fallback_service(MetricsService::new(handle));
//!     let app_listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//!     let metrics_listener = tokio::net::TcpListener::bind("0.0.0.0:9090").await?;
//!     tokio::spawn(async move { axum::serve(metrics_listener, metrics).await });
//!     axum::serve(app_listener, app).await?;
//!     Ok(())
//! }
//! ```

mod endpoint;
mod exporter;
mod labels;
pub mod layer;
pub mod names;
mod process;
pub mod record;

pub use endpoint::{METRICS_PATH, MetricsService, TEXT_FORMAT};
pub use exporter::{DEFAULT_UPKEEP_INTERVAL, Exporter, ExporterError, MetricsHandle};
pub use layer::{HttpMetrics, HttpMetricsLayer, MetricsBody};
pub use record::{RequestMetrics, RequestRecord, StreamRecord};

// The README is compiled as doc tests too, so that a stale example in it fails `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
