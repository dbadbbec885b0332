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

    /// Logs the answer: its status and headers, or `None` when the request failed without
    /// a response.
    pub(crate) fn log(self, route: &str, answer: Option<(u16, &HeaderMap)>) {
        let (method, start) = *self.0;
        let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
        match answer {
            Some((status, headers)) => {
                let bytes =
                    headers.get(header::CONTENT_LENGTH).and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
                tracing::info!(target: "access", %method, route, status, latency_ms, bytes, "request");
            }
            None => tracing::info!(target: "access", %method, route, latency_ms, "request failed without a response"),
        }
    }
}
