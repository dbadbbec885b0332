//! The per-request bookkeeping under [`HttpMetricsLayer`](crate::HttpMetricsLayer) and any
//! edge that records RED metrics itself (ebb-server's): one [`RequestMetrics`] per service
//! (the label cache and its cap), one [`RequestRecord`] per request, and a
//! [`StreamRecord`] for a gRPC response whose status comes in the trailers.
//!
//! A record counts its request exactly once: when the response head is known
//! ([`RequestRecord::respond`]), when the trailers pass ([`StreamRecord::observe`]), or, if
//! it is dropped before either, as `499` (the client went away), as nginx does.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Frame;
use metrics::Gauge;

use crate::labels::{
    GRPC_CANCELLED, GRPC_UNKNOWN, LabelCache, NOT_GRPC, Route, grpc_code, is_grpc, method_index, route_of_known,
};
use crate::names::{DEFAULT_MAX_LABEL_SETS, HTTP_REQUESTS_IN_FLIGHT, ROUTE_UNMATCHED};

/// Status recorded for requests whose future was dropped before answering.
const CLIENT_CLOSED_REQUEST: u16 = 499;

/// The RED metrics of one service: cheap to clone, shared by every request.
///
/// The metric handles are taken from the recorder on the first request, not when this is
/// built, so that one built before the exporter is installed still records.
#[derive(Clone)]
pub struct RequestMetrics {
    shared: Arc<Shared>,
}

struct Shared {
    max_label_sets: usize,
    in_flight_gauge: bool,
    state: OnceLock<State>,
}

struct State {
    labels: LabelCache,
    in_flight: Gauge,
}

impl Shared {
    fn state(&self) -> &State {
        self.state.get_or_init(|| State {
            labels: LabelCache::new(self.max_label_sets),
            in_flight: metrics::gauge!(HTTP_REQUESTS_IN_FLIGHT),
        })
    }
}

impl std::fmt::Debug for RequestMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestMetrics")
            .field("max_label_sets", &self.shared.max_label_sets)
            .field("in_flight_gauge", &self.shared.in_flight_gauge)
            .finish_non_exhaustive()
    }
}

impl Default for RequestMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestMetrics {
    /// Metrics with the default cap of 1000 distinct label sets, moving the
    /// `http_requests_in_flight` gauge.
    #[must_use]
    pub fn new() -> Self {
        Self::with_max_label_sets(DEFAULT_MAX_LABEL_SETS)
    }

    /// Keeps at most `max` distinct `{method, route, status}` label sets; past that, new
    /// combinations are counted under `route="overflow"` and in
    /// `http_requests_label_overflow_total`. Default: 1000.
    #[must_use]
    pub fn with_max_label_sets(max: usize) -> Self {
        Self { shared: Arc::new(Shared { max_label_sets: max, in_flight_gauge: true, state: OnceLock::new() }) }
    }

    /// Leaves `http_requests_in_flight` alone: for a caller that keeps its own in-flight
    /// count and sets the gauge from it (ebb-server sets it from its one count when
    /// `/metrics` is scraped). Default: records move the gauge.
    #[must_use]
    pub fn without_in_flight_gauge(self) -> Self {
        let shared =
            Shared { max_label_sets: self.shared.max_label_sets, in_flight_gauge: false, state: OnceLock::new() };
        Self { shared: Arc::new(shared) }
    }

    /// Starts recording `req`: reads its method and route template (axum's `MatchedPath`,
    /// or a gRPC method path the response must confirm).
    pub fn start<B>(&self, req: &Request<B>) -> RequestRecord {
        self.start_known(req, is_grpc(req.headers()))
    }

    /// [`start`](Self::start) for a caller that already read the request's
    /// `content-type` (ebb-server's edge reads every header once): `grpc` is whether it
    /// starts with `application/grpc`.
    pub fn start_known<B>(&self, req: &Request<B>, grpc: bool) -> RequestRecord {
        let state = self.shared.state();
        if self.shared.in_flight_gauge {
            state.in_flight.increment(1.0);
        }
        RequestRecord {
            shared: self.shared.clone(),
            method: method_index(req.method()),
            route: route_of_known(req, grpc, &state.labels.unmatched),
            start: Instant::now(),
            finished: false,
            grpc_on_drop: NOT_GRPC,
        }
    }
}

/// One request being recorded; see the [module docs](self).
#[must_use = "a record dropped unfinished counts its request as 499"]
pub struct RequestRecord {
    shared: Arc<Shared>,
    method: u8,
    route: Route,
    start: Instant,
    finished: bool,
    /// The gRPC code recorded if dropped unfinished: `CANCELLED` once a gRPC response has
    /// started streaming, else none.
    grpc_on_drop: u8,
}

impl std::fmt::Debug for RequestRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestRecord").field("finished", &self.finished).finish_non_exhaustive()
    }
}

impl RequestRecord {
    /// Records the response head. A gRPC response whose status comes in its trailers is
    /// not recorded yet: the returned [`StreamRecord`] records it when they pass, so that an
    /// error is not counted as a success and a stream's duration is its whole length.
    pub fn respond<B>(self, response: &Response<B>) -> Option<StreamRecord> {
        let headers = response.headers();
        if !is_grpc(headers) {
            self.finish(response.status(), Some(headers), NOT_GRPC);
            None
        } else if let Some(code) = grpc_code(headers) {
            // A trailers-only answer (tonic's errors): the status is in the head.
            self.finish(response.status(), Some(headers), code);
            None
        } else {
            Some(StreamRecord { record: self.streaming(headers), status: response.status() })
        }
    }

    /// The route label as known now: the route template, or `unmatched` (a gRPC method
    /// path becomes its label only once the response confirms it).
    pub fn route(&self) -> &str {
        self.route.settle(None, &self.shared.state().labels.unmatched)
    }

    /// Records a request that failed without a response (the connection is dropped): as a
    /// `500`.
    pub fn fail(self) {
        self.finish(StatusCode::INTERNAL_SERVER_ERROR, None, NOT_GRPC);
    }

    fn finish(mut self, status: StatusCode, headers: Option<&HeaderMap>, grpc_code: u8) {
        self.record(status, headers, grpc_code);
    }

    /// The route is decided by the head now, the rest when the body ends, or as
    /// `CANCELLED` if it is dropped before.
    fn streaming(mut self, head: &HeaderMap) -> Self {
        let unmatched = &self.shared.state().labels.unmatched;
        self.route = std::mem::replace(&mut self.route, unmatched.clone()).settled(head, unmatched);
        self.grpc_on_drop = GRPC_CANCELLED;
        self
    }

    fn record(&mut self, status: StatusCode, headers: Option<&HeaderMap>, grpc_code: u8) {
        self.finished = true;
        let state = self.shared.state();
        let seconds = self.start.elapsed().as_secs_f64();
        let route = self.route.settle(headers, &state.labels.unmatched);
        let grpc = self.route.is_grpc() && route != ROUTE_UNMATCHED;
        state.labels.with_handles(self.method, route, grpc, status, grpc_code, |handles| {
            handles.requests.increment(1);
            handles.duration.record(seconds);
        });
        if self.shared.in_flight_gauge {
            state.in_flight.decrement(1.0);
        }
    }
}

impl Drop for RequestRecord {
    fn drop(&mut self) {
        if !self.finished {
            let status = StatusCode::from_u16(CLIENT_CLOSED_REQUEST).unwrap_or(StatusCode::BAD_REQUEST);
            self.record(status, None, self.grpc_on_drop);
        }
    }
}

/// A gRPC response streaming towards its trailers; recorded by [`observe`](Self::observe).
#[must_use = "a stream record dropped unfinished counts its call as CANCELLED"]
#[derive(Debug)]
pub struct StreamRecord {
    record: RequestRecord,
    status: StatusCode,
}

impl StreamRecord {
    /// Looks at one polled frame of the response body; records the call (and empties
    /// `slot`) when the trailers pass, or when the body ends or fails without them
    /// (`UNKNOWN`). Call it with every `Poll::Ready` result of `poll_frame`.
    pub fn observe<D, E>(slot: &mut Option<Self>, frame: Option<&Result<Frame<D>, E>>) {
        if slot.is_none() {
            return;
        }
        let code = match frame {
            Some(Ok(frame)) => frame.trailers_ref().map(|trailers| grpc_code(trailers).unwrap_or(GRPC_UNKNOWN)),
            Some(Err(_)) | None => Some(GRPC_UNKNOWN),
        };
        if let (Some(code), Some(stream)) = (code, code.and_then(|_| slot.take())) {
            stream.record.finish(stream.status, None, code);
        }
    }
}
