//! The metric names other parts rely on (manifests, adapter rules, dashboards, docs).

/// Counter of finished requests, by `method`, `route`, `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
/// Histogram of request durations in seconds (until the response head), same labels.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";
/// Gauge of requests being handled now.
pub const HTTP_REQUESTS_IN_FLIGHT: &str = "http_requests_in_flight";
/// Counter of requests whose label set was folded into `route="overflow"` because the cap
/// on distinct label sets was reached.
pub const HTTP_LABEL_OVERFLOW_TOTAL: &str = "http_requests_label_overflow_total";

/// `route` of requests that matched no route.
pub const ROUTE_UNMATCHED: &str = "unmatched";
/// `route` of requests counted after the label-set cap was reached.
pub const ROUTE_OVERFLOW: &str = "overflow";

/// The custom metric the HorizontalPodAutoscaler scales on, made by prometheus-adapter.
pub const REQUESTS_PER_SECOND: &str = "requests_per_second";
/// The query behind [`REQUESTS_PER_SECOND`], per pod.
pub const REQUESTS_PER_SECOND_QUERY: &str = "sum(rate(http_requests_total[1m])) by (namespace, pod)";

/// Histogram buckets of [`HTTP_REQUEST_DURATION_SECONDS`], in seconds: Prometheus' defaults
/// with finer steps below 5 ms (a Rust service answers most requests there) and 30 s at the
/// top (the default shutdown deadline).
pub const DURATION_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Default cap on distinct `{method, route, status}` label sets.
pub const DEFAULT_MAX_LABEL_SETS: usize = 1000;
