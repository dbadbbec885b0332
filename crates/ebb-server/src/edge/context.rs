//! The request's context, read in one pass over its headers: its id (`x-request-id`), the
//! caller's trace context (`traceparent`), and the sensitive headers marked so that no
//! `Debug` of them shows a secret. No hashing: comparing names over a request's few
//! headers is cheaper than a lookup per name, and it catches repeated ones (HTTP/2 splits
//! cookies).

use http::{HeaderMap, Request, header};

use crate::logging::context::{LogContext, scoped};
use crate::trace::{RequestId, TRACEPARENT, TraceContext, X_REQUEST_ID};

/// Request headers whose values no log may show.
const SENSITIVE_REQUEST_HEADERS: [header::HeaderName; 3] =
    [header::AUTHORIZATION, header::PROXY_AUTHORIZATION, header::COOKIE];

/// What the edge read from the request's headers: the request's log context (moved into
/// the thread's slot while the request is polled) and, when traces are exported, its span.
#[derive(Debug)]
pub(crate) struct RequestContext {
    log: Option<LogContext>,
    /// Whether the request's `content-type` is gRPC's (for the metrics' route label).
    pub(crate) grpc: bool,
    #[cfg(feature = "otlp")]
    span: Option<tracing::Span>,
}

impl RequestContext {
    /// Reads `req`'s headers once. With `id_in_request`, an id made here also goes into the
    /// request's `x-request-id` (for parts that forward it on their own calls); otherwise
    /// the headers stay as sent: inserting may regrow the map.
    pub(crate) fn read<B>(req: &mut Request<B>, id_in_request: bool) -> Self {
        let (mut sent_id, mut traceparent, mut grpc) = (None, None, false);
        for (name, value) in req.headers_mut().iter_mut() {
            if name == header::CONTENT_TYPE {
                grpc = value.as_bytes().starts_with(b"application/grpc");
            } else if name == X_REQUEST_ID {
                sent_id = Some(value.clone());
            } else if name == TRACEPARENT {
                traceparent = TraceContext::parse(value);
            } else if SENSITIVE_REQUEST_HEADERS.contains(name) {
                value.set_sensitive(true);
            }
        }
        let sent = id_in_request.then(|| sent_id.clone());
        let id = RequestId::from_sent(sent_id);
        if let Some(sent) = sent
            && sent.as_ref() != Some(id.header_value())
        {
            req.headers_mut().insert(X_REQUEST_ID, id.header_value().clone());
        }
        #[cfg(feature = "otlp")]
        let span = crate::logging::otlp::is_exporting().then(|| {
            let span = tracing::info_span!(
                target: crate::logging::format::EDGE_SPAN_TARGET,
                "request",
                request_id = %id,
                trace_id = tracing::field::Empty
            );
            if let Some(trace) = &traceparent {
                span.record("trace_id", trace.trace_id.as_str());
                crate::logging::otlp::set_parent(&span, trace);
            }
            span
        });
        let trace_id = traceparent.map(|trace| {
            let trace_id = Box::from(trace.trace_id.as_str());
            req.extensions_mut().insert(trace);
            trace_id
        });
        Self {
            log: Some(LogContext { request_id: id, trace_id }),
            grpc,
            #[cfg(feature = "otlp")]
            span,
        }
    }

    /// Runs `f` in the request's log context: every line logged meanwhile carries the
    /// request id and the trace id.
    pub(crate) fn enter<T>(&mut self, f: impl FnOnce() -> T) -> T {
        #[cfg(feature = "otlp")]
        let _entered = self.span.as_ref().map(tracing::Span::enter);
        scoped(&mut self.log, f)
    }

    /// The request's id, for the response's `x-request-id`.
    pub(crate) fn into_id(self) -> Option<RequestId> {
        self.log.map(|log| log.request_id)
    }
}

/// Marks `set-cookie` in a response sensitive (one pass, as for the request).
pub(crate) fn mark_sensitive_response(headers: &mut HeaderMap) {
    for (name, value) in headers.iter_mut() {
        if name == header::SET_COOKIE {
            value.set_sensitive(true);
        }
    }
}
