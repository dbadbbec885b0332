//! Trace export over OTLP/HTTP, as a process: the request's span leaves when the server
//! stops, decoded as an OTLP export request and in the caller's trace (control: without an
//! endpoint nothing arrives); the caller's `traceparent` cannot switch it off; a collector
//! that never answers cannot turn a clean stop into the watchdog's exit 1; and an endpoint
//! that is not a URL stops the start. The collector is ebb-testkit's `OtlpCollector`, a real
//! HTTP endpoint on loopback recording what the exporter sends.

use std::time::Duration;

use ebb_testkit::{OtlpCollector, ServiceProcess, TempDir};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

const BIN: &str = env!("CARGO_BIN_EXE_example-api");
/// The shutdown deadline of these tests; the watchdog ends a process one second later.
const TIMEOUT: Duration = Duration::from_secs(2);

fn start(collector: &str, objects: &TempDir) -> ServiceProcess {
    start_with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", collector.to_owned())], objects)
}

fn start_with(extra: &[(&str, String)], objects: &TempDir) -> ServiceProcess {
    let mut env = vec![
        ("EBB_SHUTDOWN_DELAY", "0s".to_owned()),
        ("EBB_SHUTDOWN_TIMEOUT", "2s".to_owned()),
        ("EBB_OFFLOAD_DIR", objects.path().display().to_string()),
    ];
    env.extend_from_slice(extra);
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

/// Every span of every export the collector received, each body decoded as OTLP/HTTP's
/// protobuf `ExportTraceServiceRequest`.
fn spans(collector: &OtlpCollector) -> Vec<Span> {
    let requests = collector.exports().into_iter().map(|(line, body)| {
        assert_eq!(line, "POST /v1/traces HTTP/1.1");
        ExportTraceServiceRequest::decode(body.as_slice()).expect("an OTLP export request")
    });
    requests.flat_map(|request| request.resource_spans).flat_map(|r| r.scope_spans).flat_map(|s| s.spans).collect()
}

/// The string value of `span`'s attribute `key`.
fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    let value = span.attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?.value.as_ref()?;
    if let Value::StringValue(text) = value { Some(text) } else { None }
}

/// A real server's `request` span leaves when it stops: with batches due only every ten
/// minutes nothing has left before SIGTERM, and after the stop the collector holds one
/// `request` span in the caller's trace, child of the caller's span, with the request id.
/// Control: the same run without an endpoint sends the collector nothing.
#[test]
fn the_request_span_is_flushed_when_the_server_stops_and_not_without_an_endpoint() {
    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    let batches_every_ten_minutes = ("OTEL_BSP_SCHEDULE_DELAY", "600000".to_owned());
    for exporting in [true, false] {
        let collector = OtlpCollector::start();
        let objects = TempDir::new("otlp-flush");
        let mut env = vec![batches_every_ten_minutes.clone()];
        if exporting {
            env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.clone()));
        }
        let mut service = start_with(&env, &objects);
        let response = reqwest::blocking::Client::new()
            .get(service.url("/"))
            .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
            .header("x-request-id", "otlp-flush-1")
            .send()
            .expect("request");
        assert_eq!(response.status(), 200);
        assert!(collector.exports().is_empty(), "nothing leaves before the stop: {:?}", spans(&collector));
        service.signal("TERM");
        let exit = service.wait_exit(Duration::from_secs(10));
        assert_eq!(exit.code, Some(0), "{exit:?}\n{}", service.log());
        let spans = spans(&collector);
        if !exporting {
            assert!(
                spans.is_empty() && collector.exports().is_empty(),
                "control: exported without an endpoint: {spans:?}"
            );
            continue;
        }
        let requests: Vec<&Span> = spans.iter().filter(|span| span.name == "request").collect();
        assert_eq!(requests.len(), 1, "one request span after the stop: {spans:?}\n{}", service.log());
        let span = requests[0];
        assert_eq!(span.trace_id, bytes(TRACE_ID), "in the caller's trace: {span:?}");
        assert_eq!(span.parent_span_id, bytes("00f067aa0ba902b7"), "under the caller's span: {span:?}");
        assert_eq!(attribute(span, "request_id"), Some("otlp-flush-1"), "{span:?}");
    }
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
