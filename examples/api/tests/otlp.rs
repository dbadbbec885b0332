//! Trace export over OTLP/HTTP, as a process: the caller's `traceparent` cannot switch it
//! off, a collector that never answers cannot turn a clean stop into the watchdog's exit 1,
//! and an endpoint that is not a URL stops the start. The collector is ebb-testkit's
//! `OtlpCollector`, a real HTTP endpoint on loopback recording what the exporter sends.

use std::time::Duration;

use ebb_testkit::{OtlpCollector, ServiceProcess, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_example-api");
/// The shutdown deadline of these tests; the watchdog ends a process one second later.
const TIMEOUT: Duration = Duration::from_secs(2);

fn start(collector: &str, objects: &TempDir) -> ServiceProcess {
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.to_owned()),
        ("EBB_SHUTDOWN_DELAY", "0s".to_owned()),
        ("EBB_SHUTDOWN_TIMEOUT", "2s".to_owned()),
        ("EBB_OFFLOAD_DIR", objects.path().display().to_string()),
    ];
    ServiceProcess::start(BIN, &env)
}

/// `GET /` with a caller's `traceparent`.
fn traced_request(service: &ServiceProcess, trace_id: &str, flags: &str) {
    let response = reqwest::blocking::Client::new()
        .get(service.url("/"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-{flags}"))
        .send()
        .expect("request");
    assert_eq!(response.status(), 200);
}

fn bytes(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect()
}

/// A caller that says "not sampled" (`-00`) is exported all the same, with its trace id;
/// control: a sampled caller (`-01`) is exported too. The spans leave at the last flush:
/// a responsive collector lets the process exit at once, cleanly.
#[test]
fn an_unsampled_caller_is_exported_and_keeps_its_trace_id() {
    let collector = OtlpCollector::start();
    let objects = TempDir::new("otlp-sampling");
    let mut service = start(&collector.url, &objects);
    let (unsampled, sampled) = ("4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c");
    traced_request(&service, unsampled, "00");
    traced_request(&service, sampled, "01");
    service.signal("TERM");
    let exit = service.wait_exit(Duration::from_secs(10));
    assert_eq!(exit.code, Some(0), "{exit:?}\n{}", service.log());
    assert!(exit.elapsed < TIMEOUT, "a responsive collector does not hold the stop: {exit:?}");
    assert!(collector.exports().iter().all(|(line, _)| line == "POST /v1/traces HTTP/1.1"));
    assert!(collector.received(&bytes(sampled)), "control: the sampled caller's trace is exported");
    assert!(collector.received(&bytes(unsampled)), "the unsampled caller's trace is exported, with its id");
}

/// A collector that accepts and never answers holds the last flush until the shutdown's
/// budget runs out, not longer: exit 0 before the watchdog (deadline + 1 s), and the
/// give-up is logged. That the flush really waited on it shows in the time taken (the
/// responsive collector above lets the process exit at once).
#[test]
fn a_hung_collector_cannot_turn_a_clean_stop_into_exit_1() {
    let collector = OtlpCollector::hung();
    let objects = TempDir::new("otlp-hung");
    let mut service = start(&collector.url, &objects);
    traced_request(&service, "4bf92f3577b34da6a3ce929d0e0e4736", "01");
    service.signal("TERM");
    let exit = service.wait_exit(Duration::from_secs(10));
    assert_eq!(exit.code, Some(0), "{exit:?}\n{}", service.log());
    assert!(exit.elapsed >= TIMEOUT, "the flush waited on the collector: {exit:?}");
    assert!(exit.elapsed < TIMEOUT + Duration::from_secs(1), "before the watchdog: {exit:?}");
    assert!(service.log().contains("could not flush the last traces"), "{}", service.log());
}

/// An endpoint that is not an http(s) URL with a host is refused at start, with the
/// other variables (exit 78), instead of failing every export later.
#[test]
fn an_endpoint_that_is_not_a_url_stops_the_start() {
    for variable in ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] {
        let env = [(variable, "collector:4318".to_owned()), ("EBB_SHUTDOWN_TIMEOUT", "soon".to_owned())];
        let (exit, log) = ServiceProcess::run_to_exit(BIN, &env, Duration::from_secs(10));
        assert_eq!(exit.code, Some(78), "{log}");
        assert!(log.contains(&format!("{variable}=\"collector:4318\" is invalid: expected an http://")), "{log}");
        assert!(log.contains("EBB_SHUTDOWN_TIMEOUT=\"soon\""), "reported with the others: {log}");
    }
}
