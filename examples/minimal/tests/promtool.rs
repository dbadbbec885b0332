//! The exposition passes `promtool check metrics` (Prometheus' own linter: names, types,
//! a HELP line per metric, counters ending in `_total`). `/metrics` is served on the metrics
//! port only (ARCHITECTURE.md): the application port must not expose it, and the metrics
//! port's answer is linted after traffic that makes every family of a minimal service with
//! its in-process rate limit appear — requests answered and refused, an unmatched route, a
//! connection closed by its header timeout. The negative control feeds promtool expositions
//! known to be bad and requires it to complain, so that a promtool that accepts anything
//! cannot pass the first test.

use std::net::TcpStream;
use std::time::Duration;

use ebb_testkit::{ServiceProcess, poll_until, promtool_check};

const BIN: &str = env!("CARGO_BIN_EXE_example-minimal");

fn get(url: &str) -> (u16, String) {
    let response = reqwest::blocking::get(url).unwrap_or_else(|error| panic!("GET {url}: {error}"));
    (response.status().as_u16(), response.text().expect("a body"))
}

/// The metric families of an exposition (the names of its sample lines, without suffixes
/// of histograms).
fn has_family(text: &str, family: &str) -> bool {
    text.lines().any(|line| !line.starts_with('#') && line.starts_with(family))
}

#[test]
fn the_exposition_passes_promtool_and_only_the_metrics_port_serves_it() {
    let env = [
        ("EBB_SHUTDOWN_DELAY", "0s".to_owned()),
        ("EBB_RATELIMIT_RATE", "2/1m".to_owned()),
        ("EBB_HEADER_READ_TIMEOUT", "200ms".to_owned()),
    ];
    let service = ServiceProcess::start(BIN, &env);
    // An unmatched route on the application port (and the first of two allowed requests).
    let (status, _) = get(&service.url("/metrics"));
    assert_eq!(status, 404, "the application port must not expose /metrics");
    let statuses: Vec<u16> = (0..3).map(|_| get(&service.url("/")).0).collect();
    assert_eq!(statuses, [200, 429, 429], "the rate limit decided");
    // A connection that never sends its request head: closed by the header timeout.
    let silent = TcpStream::connect(service.app).expect("connect");
    poll_until("the header timeout to be counted", Duration::from_secs(10), || {
        let (_, text) = get(&service.metrics_url());
        has_family(&text, "http_connection_timeouts_total").then_some(())
    });
    drop(silent);

    let (status, text) = get(&service.metrics_url());
    assert_eq!(status, 200);
    for family in [
        "build_info",
        "log_lines_dropped_total",
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_requests_in_flight",
        "http_connection_timeouts_total",
        "ratelimit_decisions_total",
        "process_resident_memory_bytes",
    ] {
        assert!(has_family(&text, family), "{family} is not in the exposition, so promtool did not lint it:\n{text}");
    }
    if let Err(said) = promtool_check(&text) {
        panic!("promtool check metrics on the metrics port:\n{said}\n--- exposition ---\n{text}");
    }
}

/// The negative control: expositions with a known fault each make promtool complain.
#[test]
fn promtool_complains_about_known_bad_expositions() {
    let good = "# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total 3\n";
    assert_eq!(promtool_check(good), Ok(()), "a clean exposition passes");
    let without_help = "# TYPE jobs_total counter\njobs_total 3\n";
    let said = promtool_check(without_help).expect_err("a metric without HELP");
    assert!(said.contains("no help text"), "{said}");
    let bad_name = "# HELP 1jobs Jobs done.\n# TYPE 1jobs counter\n1jobs 3\n";
    assert!(promtool_check(bad_name).is_err(), "a name that starts with a digit");
    let counter_without_total = "# HELP jobs Jobs done.\n# TYPE jobs counter\njobs 3\n";
    let said = promtool_check(counter_without_total).expect_err("a counter not ending in _total");
    assert!(said.contains("_total"), "{said}");
}
