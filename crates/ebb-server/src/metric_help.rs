//! The HELP text of every metric ebb-server and its parts record (the HTTP request metrics
//! describe themselves in `ebb-metrics`'s exporter; process metrics come with theirs).
//! `promtool check metrics` reports a metric without one, and a person reading `/metrics`
//! needs it. Described to the installed recorder once, when `serve.rs` starts serving:
//! the exporter shows a description only for metrics that have samples, so a part that is
//! off adds nothing.

use ebb_core::names::{
    OFFLOAD_BYTES_TOTAL, OFFLOAD_OPERATIONS_TOTAL, RATELIMIT_DECISIONS_TOTAL, RATELIMIT_TABLE_FULL_TOTAL,
    SESSION_RENEW_FAILURES_TOTAL,
};

use crate::{
    BUILD_INFO, HTTP_CLIENT_SHARE_EXCEEDED_TOTAL, HTTP_CONNECTION_TIMEOUTS_TOTAL, HTTP_REQUESTS_SHED_TOTAL,
    LOG_LINES_DROPPED_TOTAL,
};

/// Counters by name, with their help text.
const COUNTERS: &[(&str, &str)] = &[
    (HTTP_REQUESTS_SHED_TOTAL, "Requests answered 503 at once because the in-flight cap was reached."),
    (
        HTTP_CLIENT_SHARE_EXCEEDED_TOTAL,
        "What was refused because one client held its share, by resource (requests, probes, connections).",
    ),
    (HTTP_CONNECTION_TIMEOUTS_TOTAL, "Connections closed by a timeout, by kind (header, idle, send)."),
    (LOG_LINES_DROPPED_TOTAL, "Log lines dropped because stderr was not drained fast enough."),
    (RATELIMIT_DECISIONS_TOTAL, "Rate-limit decisions, by policy and outcome (allowed, limited, error)."),
    (
        RATELIMIT_TABLE_FULL_TOTAL,
        "New keys the in-process limiter refused because its table held only keys over their limit, by policy.",
    ),
    (SESSION_RENEW_FAILURES_TOTAL, "Session renewals the session store did not take (the request was answered)."),
    (OFFLOAD_OPERATIONS_TOTAL, "Object-store operations through the service, by operation and outcome."),
    (OFFLOAD_BYTES_TOTAL, "Bytes that went through the service to or from the object store, by direction."),
];

/// Gauges by name, with their help text.
const GAUGES: &[(&str, &str)] =
    &[(BUILD_INFO, "Always 1; the application's name, version, git revision and compiler as labels.")];

/// A metric the application itself records, with its help text, for
/// [`Server::with_metric_help`](crate::Server::with_metric_help): `(name, help)`.
#[derive(Clone, Copy, Debug)]
pub enum MetricHelp {
    /// A counter (`metrics::counter!`).
    Counter(&'static str, &'static str),
    /// A gauge (`metrics::gauge!`).
    Gauge(&'static str, &'static str),
    /// A histogram (`metrics::histogram!`).
    Histogram(&'static str, &'static str),
}

/// Describes every metric of [`COUNTERS`] and [`GAUGES`], then the application's, to the
/// installed recorder.
pub(crate) fn describe(application: &[MetricHelp]) {
    for (name, help) in COUNTERS {
        metrics::describe_counter!(*name, *help);
    }
    for (name, help) in GAUGES {
        metrics::describe_gauge!(*name, *help);
    }
    for metric in application {
        match *metric {
            MetricHelp::Counter(name, help) => metrics::describe_counter!(name, help),
            MetricHelp::Gauge(name, help) => metrics::describe_gauge!(name, help),
            MetricHelp::Histogram(name, help) => metrics::describe_histogram!(name, help),
        }
    }
}
