//! Trace export over OTLP/HTTP with protobuf (feature `otlp`), on when
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (plus
//! `/v1/traces`) is set. The `request` span of every request is exported, as a child of the
//! caller's `traceparent` when it sent one, so the trace id in the logs is the exported one.
//! Spans leave in batches from a thread of the exporter's; [`shutdown`] flushes them when the
//! server stops. `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` name the service.

use std::sync::OnceLock;

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::trace::TraceContext;

/// The collector's base URL; `/v1/traces` is appended.
pub const ENV_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The traces URL, used as is.
pub const ENV_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The traces URL the environment names, if any.
pub(crate) fn endpoint(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    let set = |name| lookup(name).filter(|value: &String| !value.trim().is_empty());
    set(ENV_OTLP_TRACES_ENDPOINT)
        .or_else(|| set(ENV_OTLP_ENDPOINT).map(|base| format!("{}/v1/traces", base.trim_end_matches('/'))))
}

/// A tracer exporting to `endpoint`; `None` (said on stderr: no subscriber is set yet) when
/// the exporter cannot be made.
pub(crate) fn tracer(endpoint: &str) -> Option<Tracer> {
    let exporter = match SpanExporter::builder().with_http().with_endpoint(endpoint).build() {
        Ok(exporter) => exporter,
        Err(error) => {
            eprintln!("error: cannot export traces over OTLP ({error}); running without");
            return None;
        }
    };
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).build();
    let tracer = provider.tracer("ebb-server");
    let _ = PROVIDER.set(provider);
    Some(tracer)
}

/// Whether spans are exported: then the edge makes a `request` span per request.
pub(crate) fn is_exporting() -> bool {
    PROVIDER.get().is_some()
}

/// Makes `span` a child of the caller's span.
pub(crate) fn set_parent(span: &tracing::Span, caller: &TraceContext) {
    let (Ok(trace_id), Ok(span_id)) = (TraceId::from_hex(&caller.trace_id), SpanId::from_hex(&caller.parent_id)) else {
        return;
    };
    let flags = TraceFlags::new(caller.flags);
    let remote = SpanContext::new(trace_id, span_id, flags, true, TraceState::default());
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
}

/// Exports what is left; called when the server stops.
pub(crate) fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        if let Err(error) = provider.shutdown() {
            tracing::warn!(%error, "could not flush the last traces");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Request line and body of each POST a collector got.
    type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

    /// What an OTLP/HTTP collector is sent.
    fn receiver() -> (String, Received) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let record = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(16).flatten() {
                let mut reader = BufReader::new(stream);
                let (mut request_line, mut length) = (String::new(), 0);
                let _ = reader.read_line(&mut request_line);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                record.lock().expect("lock").push((request_line.trim().to_owned(), body));
                let _ =
                    reader.get_mut().write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            }
        });
        (url, received)
    }

    #[test]
    fn the_endpoint_follows_the_otel_variables() {
        let base = |name: &str| (name == ENV_OTLP_ENDPOINT).then(|| "http://collector:4318/".to_owned());
        assert_eq!(endpoint(base).as_deref(), Some("http://collector:4318/v1/traces"));
        let both = |name: &str| Some(format!("http://{name}"));
        assert_eq!(endpoint(both), Some(format!("http://{ENV_OTLP_TRACES_ENDPOINT}")));
        assert_eq!(endpoint(|_| None), None, "off without a variable");
    }

    /// Against this test's own receiver: no collector can be installed here.
    #[test]
    fn a_request_span_is_exported_as_the_child_of_the_callers_span() {
        let (url, received) = receiver();
        let tracer = tracer(&format!("{url}/v1/traces")).expect("an exporter");
        let subscriber = tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        let caller = TraceContext {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
            parent_id: "00f067aa0ba902b7".to_owned(),
            flags: 1,
        };
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "r-1");
            set_parent(&span, &caller);
            span.in_scope(|| tracing::info!("handled"));
        });
        let provider = PROVIDER.get().expect("a provider");
        provider.force_flush().expect("flushed");
        let received = received.lock().expect("lock");
        let (request_line, body) = received.first().expect("one export");
        assert_eq!(request_line, "POST /v1/traces HTTP/1.1");
        let has = |bytes: &[u8]| body.windows(bytes.len()).any(|window| window == bytes);
        let trace_id = TraceId::from_hex(&caller.trace_id).expect("hex").to_bytes();
        let parent_id = SpanId::from_hex(&caller.parent_id).expect("hex").to_bytes();
        assert!(has(&trace_id) && has(&parent_id), "the span is in the caller's trace, under the caller's span");
        assert!(has(b"request") && has(b"r-1"), "the span and its request id are exported");
    }
}
