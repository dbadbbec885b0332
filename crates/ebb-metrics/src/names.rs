//! The metric names other parts rely on (manifests, adapter rules, dashboards, docs).
//!
//! The names are written once, in `ebb_core::names`, and re-exported here.

pub use ebb_core::names::{
    HTTP_LABEL_OVERFLOW_TOTAL, HTTP_REQUEST_DURATION_SECONDS, HTTP_REQUESTS_IN_FLIGHT, HTTP_REQUESTS_TOTAL,
    REQUESTS_PER_SECOND, REQUESTS_PER_SECOND_QUERY, ROUTE_OVERFLOW, ROUTE_UNMATCHED,
};

/// Histogram buckets of [`HTTP_REQUEST_DURATION_SECONDS`], in seconds: Prometheus' defaults
/// with finer steps below 5 ms (a Rust service answers most requests there) and 30 s at the
/// top (the default shutdown deadline).
pub const DURATION_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Default cap on distinct `{method, route, status}` label sets.
pub const DEFAULT_MAX_LABEL_SETS: usize = 1000;
