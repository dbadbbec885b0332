//! Request ids, trace context and the access log: the outermost layer of the request path,
//! so that a request that is shed, times out or panics still has its id, its trace id and
//! its access log line.
//!
//! For every request it:
//! - keeps the request's `x-request-id` when usable (1 to 128 visible ASCII characters) and
//!   makes one otherwise, sends it back in the response's `x-request-id`, and puts it into
//!   every log line of the request (a handler's own lines included, through the span). The
//!   request's headers are left as sent: inserting into a parsed header map often regrows
//!   it, which cost more than the rest of this layer together;
//! - reads a W3C `traceparent` (HTTP header or gRPC metadata) into [`TraceContext`] and the
//!   span's `trace_id`;
//! - marks `authorization`, `proxy-authorization`, `cookie` and `set-cookie` sensitive, so
//!   that no `Debug` of the headers shows them;
//! - runs the request in a `request` span with `request_id` and `trace_id`, which every log
//!   line of the request carries (text: `request{request_id=..}:`, JSON: `span`);
//! - with `EBB_ACCESS_LOG=true`, logs one `access` line per request (probes excepted):
//!   method, route template, status, latency and the response's length when known.
//!
//! tower-http's request-id layers keep whatever a client sends, 8 KiB or a forged log line
//! included, and would add three layers; this one validates, marks, spans and propagates
//! in one pass over the headers (about 850 instructions a request in `cargo xtask bench
//! callgrind`, with no log subscriber).

mod future;
mod request_id;
mod traceparent;

use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderMap, Request, Response, header};
use tower::{Layer, Service};

pub use request_id::{RequestId, X_REQUEST_ID};
pub use traceparent::{TRACEPARENT, TraceContext};

use future::{AccessLine, TracedFuture};

/// Switches the access log on (`true`) or off (`false`, the default).
pub const ENV_ACCESS_LOG: &str = "EBB_ACCESS_LOG";

/// See the [module docs](self).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestTraceLayer {
    access_log: bool,
    id_in_request: bool,
}

impl RequestTraceLayer {
    pub(crate) fn new(access_log: bool) -> Self {
        Self { access_log, id_in_request: false }
    }

    /// Also puts the id into the request's `x-request-id` when it was made here (or the
    /// client's was unusable), so that calls made for the request (the object store's)
    /// can forward it. Off unless a part forwards it: inserting a header may regrow the map.
    pub(crate) fn with_id_in_request(mut self, on: bool) -> Self {
        self.id_in_request = on;
        self
    }
}

impl<S> Layer<S> for RequestTraceLayer {
    type Service = RequestTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestTrace { inner, access_log: self.access_log, id_in_request: self.id_in_request }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct RequestTrace<S> {
    inner: S,
    access_log: bool,
    id_in_request: bool,
}

impl<S, B, ResBody> Service<Request<B>> for RequestTrace<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TracedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // One pass over the request's few headers, comparing names: no hashing.
        let (mut sent_id, mut traceparent) = (None, None);
        for (name, value) in req.headers_mut().iter_mut() {
            if name == X_REQUEST_ID {
                sent_id = Some(value.clone());
            } else if name == TRACEPARENT {
                traceparent = TraceContext::parse(value);
            } else if SENSITIVE_REQUEST_HEADERS.contains(name) {
                value.set_sensitive(true);
            }
        }
        let sent = self.id_in_request.then(|| sent_id.clone());
        let id = RequestId::from_sent(sent_id);
        if let Some(sent) = sent {
            if sent.as_ref() != Some(id.header_value()) {
                req.headers_mut().insert(X_REQUEST_ID, id.header_value().clone());
            }
        }
        let trace = traceparent;
        let span = tracing::info_span!("request", request_id = %id, trace_id = tracing::field::Empty);
        if let Some(trace) = &trace {
            span.record("trace_id", trace.trace_id.as_str());
            #[cfg(feature = "otlp")]
            crate::logging::otlp::set_parent(&span, trace);
        }
        let access = (self.access_log && ebb_probes::Probe::from_path(req.uri().path()).is_none())
            .then(|| Box::new(AccessLine { method: req.method().clone(), route: route(&req), start: Instant::now() }));
        if let Some(trace) = trace {
            req.extensions_mut().insert(trace);
        }
        let inner = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        TracedFuture::new(inner, span, id, access)
    }
}

/// Request headers whose values no log may show.
const SENSITIVE_REQUEST_HEADERS: [header::HeaderName; 3] =
    [header::AUTHORIZATION, header::PROXY_AUTHORIZATION, header::COOKIE];

/// One pass over the headers, comparing names (no hashing): cheaper than a lookup per name
/// for the few headers a message has, and it catches repeated ones (HTTP/2 splits cookies).
pub(crate) fn mark_sensitive(headers: &mut HeaderMap, names: &[header::HeaderName]) {
    for (name, value) in headers.iter_mut() {
        if names.contains(name) {
            value.set_sensitive(true);
        }
    }
}

/// The route template (axum's `MatchedPath`), or `unmatched`: never the raw path, which
/// may carry ids, tokens or personal data.
fn route<B>(req: &Request<B>) -> String {
    req.extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| ebb_metrics::names::ROUTE_UNMATCHED.to_owned(), |matched| matched.as_str().to_owned())
}
