//! The RED layer: rate, errors and duration of every request, by route template.
//!
//! Place it inside the probes layer (probes are not traffic) and outside everything that
//! can answer on its own (rate limits, the shutdown drain), so that their 429s and 503s are
//! counted as sent.
//!
//! Per request it records, with labels `{method, route, status}`, and `grpc_status` for gRPC
//! answers:
//! - `http_requests_total` (counter),
//! - `http_request_duration_seconds` (histogram with explicit buckets; time to the response
//!   head, so a long download counts as fast as its first byte; for gRPC, time to the end
//!   of the response stream),
//! - `http_requests_in_flight` (gauge, no labels; a gRPC stream until its end).
//!
//! A request whose future is dropped before it answered (the client went away) is counted
//! with `status="499"`, as nginx does.
//!
//! gRPC: `grpc_status` is the code's name (`OK`, `NOT_FOUND`, `INTERNAL`, ...) from
//! `grpc-status` in the response head (trailers-only answers, tonic's errors) or in the
//! trailers, so a failed call is not counted as a success because its HTTP status is 200.
//! A stream that ends without a status is `UNKNOWN`; one the client drops is `CANCELLED`
//! with `status="499"`. The route is the method path only for methods the service serves
//! (an `UNIMPLEMENTED` answer is `unmatched`).
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

mod body;
mod future;
#[allow(clippy::module_inception)]
mod layer;
mod service;
mod tracker;

pub use body::MetricsBody;
pub use future::ResponseFuture;
pub use layer::HttpMetricsLayer;
pub use service::HttpMetrics;
