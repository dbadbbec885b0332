//! The access log (`EBB_ACCESS_LOG=true`): one `access` line per request, probes excepted:
//! method, route template (never the raw path, which may carry ids or tokens), status,
//! latency and the response's length when known.

use std::time::Instant;

use http::{HeaderMap, Method, Request, header};

/// What the access line needs from the request; boxed, as it is off by default.
#[derive(Debug)]
pub(crate) struct AccessLine(Box<(Method, Instant)>);

impl AccessLine {
    pub(crate) fn new<B>(req: &Request<B>) -> Self {
        Self(Box::new((req.method().clone(), Instant::now())))
    }

    /// Logs the answer: its status, headers and the body's exact length when its size hint
    /// has one, or `None` when the request failed without a response. The length is the
    /// `Content-Length` header's, else the body's: a handler's `String` has no header yet
    /// (hyper writes it later), but its length is known.
    pub(crate) fn log(self, route: &str, answer: Option<(u16, &HeaderMap, Option<u64>)>) {
        let (method, start) = *self.0;
        let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
        match answer {
            Some((status, headers, exact_length)) => {
                let bytes = headers
                    .get(header::CONTENT_LENGTH)
                    .and_then(|value| value.to_str().ok()?.parse::<u64>().ok())
                    .or(exact_length);
                tracing::info!(target: "access", %method, route, status, latency_ms, bytes, "request");
            }
            None => tracing::info!(target: "access", %method, route, latency_ms, "request failed without a response"),
        }
    }
}
