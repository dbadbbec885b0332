//! Load shedding: one in-flight cap for the whole service; over it, 503 with `Retry-After`
//! at once. Nothing waits in a queue: a queue only turns overload into latency for every
//! client and memory for the server.
//!
//! tower's `LoadShed` + `GlobalConcurrencyLimit` do the same but answer with an error that
//! axum needs a boxed `HandleError` to turn back into a response; this is one atomic counter.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{Either, Full};

/// Counter of requests answered 503 because the in-flight cap was reached.
pub const HTTP_REQUESTS_SHED_TOTAL: &str = "http_requests_shed_total";

/// The in-flight cap, shared by every clone.
#[derive(Clone, Debug)]
pub(crate) struct Shedder {
    in_flight: Arc<AtomicUsize>,
    max: usize,
}

impl Shedder {
    pub(crate) fn new(max: usize) -> Self {
        Self { in_flight: Arc::new(AtomicUsize::new(0)), max }
    }

    /// Admits one more request, or `None` (counted) when the cap is reached.
    pub(crate) fn admit(&self) -> Option<Admitted> {
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!(HTTP_REQUESTS_SHED_TOTAL).increment(1);
            return None;
        }
        Some(Admitted(self.in_flight.clone()))
    }
}

/// One request counted against the cap until its response head is ready (or it is dropped).
#[derive(Debug)]
pub(crate) struct Admitted(Arc<AtomicUsize>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The answer to a shed request.
pub(crate) fn overloaded<B>() -> Response<Either<Full<Bytes>, B>> {
    let mut response =
        super::text_response(StatusCode::SERVICE_UNAVAILABLE, "the service is overloaded; retry shortly\n");
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
