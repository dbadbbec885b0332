//! The RED layer: rate, errors and duration of every request, by route template.
//!
//! Place it inside the probes layer (probes are not traffic) and outside everything that
//! can answer on its own (rate limits, the shutdown drain), so that their 429s and 503s are
//! counted as sent.
//!
//! Per request it records, with labels `{method, route, status}`:
//! - `http_requests_total` (counter),
//! - `http_request_duration_seconds` (histogram with explicit buckets; time to the response
//!   head, so a long download counts as fast as its first byte),
//! - `http_requests_in_flight` (gauge, no labels).
//!
//! A request whose future is dropped before it answered (the client went away) is counted
//! with `status="499"`, as nginx does.
//!
//! # Example
//! ```
//! use ebb_metrics::HttpMetricsLayer;
//!
//! let app: axum::Router = axum::Router::new()
//!     .route("/users/{id}", axum::routing::get(|| async { "user" }))
//!     .layer(HttpMetricsLayer::new());
//! # drop(app);
//! ```

mod future;
#[allow(clippy::module_inception)]
mod layer;
mod service;
mod tracker;

pub use future::ResponseFuture;
pub use layer::HttpMetricsLayer;
pub use service::HttpMetrics;
