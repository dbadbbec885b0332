//! Metric names other parts rely on: manifests, prometheus-adapter rules, KEDA queries,
//! dashboards and docs use these exact strings.

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
/// The query behind [`REQUESTS_PER_SECOND`], per pod (a rate of [`HTTP_REQUESTS_TOTAL`]).
pub const REQUESTS_PER_SECOND_QUERY: &str = "sum(rate(http_requests_total[1m])) by (namespace, pod)";

/// Counter of rate-limit decisions: `ratelimit_decisions_total{policy,outcome}`, `outcome`
/// one of `allowed`, `limited`, `error` (the store failed; the failure mode decided).
pub const RATELIMIT_DECISIONS_TOTAL: &str = "ratelimit_decisions_total";
/// Counter: `ratelimit_table_full_total{policy}`, new keys the in-process limiter refused
/// because its table held only keys over their limit (it never forgets those).
pub const RATELIMIT_TABLE_FULL_TOTAL: &str = "ratelimit_table_full_total";

/// Counter: `session_renew_failures_total`, renewals of a session's lifetime (after a
/// request that used it) that the session store did not take; the request was answered.
pub const SESSION_RENEW_FAILURES_TOTAL: &str = "session_renew_failures_total";

/// Counter: `offload_operations_total{operation,outcome}`; `operation` is `upload`,
/// `download`, `head`, `delete` or `presign`; `outcome` is `ok`, `client_error` (4xx) or
/// `error` (the store failed).
pub const OFFLOAD_OPERATIONS_TOTAL: &str = "offload_operations_total";
/// Counter: `offload_bytes_total{direction}`, `direction` is `upload` or `download`: bytes
/// that went through the service (not through presigned URLs).
pub const OFFLOAD_BYTES_TOTAL: &str = "offload_bytes_total";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_counts_the_request_counter() {
        assert!(REQUESTS_PER_SECOND_QUERY.contains(&format!("rate({HTTP_REQUESTS_TOTAL}[")));
        assert!(REQUESTS_PER_SECOND_QUERY.ends_with("by (namespace, pod)"));
    }
}
