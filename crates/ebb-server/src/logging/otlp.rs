//! Trace export over OTLP/HTTP with protobuf (feature `otlp`), on when
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (plus
//! `/v1/traces`) is set; either must be an `http` or `https` URL with a host, checked with
//! the rest of the configuration. The `request` span of every request is exported, as a
//! child of the caller's `traceparent` when it sent one, so the trace id in the logs is the
//! exported one. Whether a span is exported is decided here, never by the caller: a
//! `traceparent` whose sampled flag is off keeps its trace id and is exported all the same
//! (a client must not be able to switch our traces off). Spans leave in batches from a
//! thread of the exporter's; [`shutdown`] flushes them when the server stops, within the
//! shutdown's budget. `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` name the service.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ebb_core::env::{Env, EnvError};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, Tracer};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::trace::TraceContext;

/// The collector's base URL; `/v1/traces` is appended.
pub const ENV_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The traces URL, used as is.
pub const ENV_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";

/// The longest the last flush waits for a collector, however much of the shutdown budget
/// is left (the SDK's own default).
const FLUSH_AT_MOST: Duration = Duration::from_secs(5);

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The traces URL the environment names, if any.
pub(crate) fn endpoint(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    let set = |name| lookup(name).filter(|value: &String| !value.trim().is_empty());
    set(ENV_OTLP_TRACES_ENDPOINT)
        .or_else(|| set(ENV_OTLP_ENDPOINT).map(|base| format!("{}/v1/traces", base.trim_end_matches('/'))))
}

/// Checks both endpoint variables, for the configuration's report.
pub(crate) fn check_endpoints(env: &Env<'_>) -> Vec<EnvError> {
    [ENV_OTLP_TRACES_ENDPOINT, ENV_OTLP_ENDPOINT]
        .into_iter()
        .filter_map(|variable| env.parse(variable, check_endpoint).err())
        .collect()
}

fn check_endpoint(value: &str) -> Result<(), String> {
    const EXPECTED: &str = "an http:// or https:// URL with a host, such as `http://collector:4318`";
    if value.trim().is_empty() {
        return Ok(());
    }
    let uri: http::Uri = value.trim().parse().map_err(|_| EXPECTED.to_owned())?;
    let http = matches!(uri.scheme_str(), Some("http" | "https"));
    let host = uri.host().is_some_and(|host| !host.is_empty());
    if http && host { Ok(()) } else { Err(EXPECTED.to_owned()) }
}

/// A tracer exporting to `endpoint`; `None` (said on stderr: no subscriber is set yet) when
/// the exporter cannot be made.
pub(crate) fn tracer(endpoint: &str) -> Option<Tracer> {
    let provider = match provider(endpoint, sampler()) {
        Ok(provider) => provider,
        Err(error) => {
            eprintln!("error: cannot export traces over OTLP ({error}); running without");
            return None;
        }
    };
    let tracer = provider.tracer("ebb-server");
    let _ = PROVIDER.set(provider);
    Some(tracer)
}

/// Every request span, whatever the caller's sampled flag says: the SDK's default,
/// `ParentBased`, would obey it. (This also overrides the SDK's sampler variables.)
fn sampler() -> Sampler {
    Sampler::AlwaysOn
}

fn provider(endpoint: &str, sampler: Sampler) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let exporter = SpanExporter::builder().with_http().with_endpoint(endpoint).build()?;
    Ok(SdkTracerProvider::builder().with_sampler(sampler).with_batch_exporter(exporter).build())
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

/// Exports what is left; called when the server stops. Gives up at `until` (or after
/// [`FLUSH_AT_MOST`]): a collector that does not answer must not turn a clean stop into
/// the watchdog's exit 1. Giving up is logged once.
pub(crate) fn shutdown(until: Instant) {
    let Some(provider) = PROVIDER.get() else { return };
    let bound = until.saturating_duration_since(Instant::now()).min(FLUSH_AT_MOST);
    if let Err(error) = provider.shutdown_with_timeout(bound) {
        tracing::warn!(%error, ?bound, "could not flush the last traces; they are lost");
    }
}

#[cfg(test)]
mod tests {
    use ebb_testkit::{Export, OtlpCollector};
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn the_endpoint_follows_the_otel_variables() {
        let base = |name: &str| (name == ENV_OTLP_ENDPOINT).then(|| "http://collector:4318/".to_owned());
        assert_eq!(endpoint(base).as_deref(), Some("http://collector:4318/v1/traces"));
        let both = |name: &str| Some(format!("http://{name}"));
        assert_eq!(endpoint(both), Some(format!("http://{ENV_OTLP_TRACES_ENDPOINT}")));
        assert_eq!(endpoint(|_| None), None, "off without a variable");
    }

    /// A trace context as a caller's `traceparent` carries it.
    fn caller(flags: u8) -> TraceContext {
        TraceContext {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
            parent_id: "00f067aa0ba902b7".to_owned(),
            flags,
        }
    }

    /// One request span under `caller`, through a provider with `sampler`; what the
    /// collector received.
    fn export_one(caller: &TraceContext, sampler: Sampler) -> Vec<Export> {
        let collector = OtlpCollector::start();
        let provider = provider(&format!("{}/v1/traces", collector.url), sampler).expect("an exporter");
        let tracer = provider.tracer("test");
        let subscriber = tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "r-1");
            set_parent(&span, caller);
            span.in_scope(|| tracing::info!("handled"));
        });
        provider.force_flush().expect("flushed");
        collector.exports()
    }

    fn contains(body: &[u8], bytes: &[u8]) -> bool {
        body.windows(bytes.len()).any(|window| window == bytes)
    }

    #[test]
    fn a_request_span_is_exported_as_the_child_of_the_callers_span() {
        let caller = caller(1);
        let received = export_one(&caller, sampler());
        let (request_line, body) = received.first().expect("one export");
        assert_eq!(request_line, "POST /v1/traces HTTP/1.1");
        let trace_id = TraceId::from_hex(&caller.trace_id).expect("hex").to_bytes();
        let parent_id = SpanId::from_hex(&caller.parent_id).expect("hex").to_bytes();
        assert!(
            contains(body, &trace_id) && contains(body, &parent_id),
            "the span is in the caller's trace, under the caller's span"
        );
        assert!(contains(body, b"request") && contains(body, b"r-1"), "the span and its request id are exported");
    }

    /// A caller's `traceparent` with the sampled flag off does not switch export off, and
    /// keeps its trace id; control: the SDK's default sampler obeys the flag, and exports
    /// nothing.
    #[test]
    fn a_caller_that_says_not_sampled_is_exported_all_the_same() {
        let unsampled = caller(0);
        let trace_id = TraceId::from_hex(&unsampled.trace_id).expect("hex").to_bytes();
        let received = export_one(&unsampled, sampler());
        let (_, body) = received.first().expect("exported although the caller said not sampled");
        assert!(contains(body, &trace_id), "the caller's trace id is kept");

        let parent_based = Sampler::ParentBased(Box::new(Sampler::AlwaysOn));
        assert!(export_one(&unsampled, parent_based).is_empty(), "the default sampler obeys the caller");
    }
}
