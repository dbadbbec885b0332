use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, Request, StatusCode};
use metrics::Gauge;

use super::layer::LazyState;
use crate::labels::{GRPC_CANCELLED, LabelCache, NOT_GRPC, Route, method_index, route_of};
use crate::names::{HTTP_REQUESTS_IN_FLIGHT, ROUTE_UNMATCHED};

/// Status recorded for requests whose future was dropped before answering.
const CLIENT_CLOSED_REQUEST: u16 = 499;

pub(crate) struct State {
    labels: LabelCache,
    in_flight: Gauge,
}

impl State {
    pub(crate) fn new(max_label_sets: usize) -> Self {
        Self { labels: LabelCache::new(max_label_sets), in_flight: metrics::gauge!(HTTP_REQUESTS_IN_FLIGHT) }
    }
}

/// One request in flight: records itself when finished, or as 499 when dropped unfinished.
pub(crate) struct Tracker {
    state: Arc<LazyState>,
    method: u8,
    route: Route,
    start: Instant,
    finished: bool,
    /// The gRPC code recorded if dropped unfinished: `CANCELLED` once a gRPC response has
    /// started streaming, else none.
    grpc_on_drop: u8,
}

impl Tracker {
    pub(crate) fn start<B>(state: &Arc<LazyState>, req: &Request<B>) -> Self {
        let inner = state.get();
        inner.in_flight.increment(1.0);
        Self {
            state: state.clone(),
            method: method_index(req.method()),
            route: route_of(req, &inner.labels.unmatched),
            start: Instant::now(),
            finished: false,
            grpc_on_drop: NOT_GRPC,
        }
    }

    /// Records the answer: its status, its headers when there was a response, and its gRPC
    /// code (or `NOT_GRPC`).
    pub(crate) fn finish(mut self, status: StatusCode, headers: Option<&HeaderMap>, grpc_code: u8) {
        self.record(status, headers, grpc_code);
    }

    /// For a gRPC response whose status comes in the trailers: the route is decided by the
    /// head now, the rest is recorded when the body ends ([`finish`](Self::finish) with no
    /// headers), or as `CANCELLED` if it is dropped before.
    pub(crate) fn streaming(mut self, head: &HeaderMap) -> Self {
        let unmatched = &self.state.get().labels.unmatched;
        self.route = std::mem::replace(&mut self.route, unmatched.clone()).settled(head, unmatched);
        self.grpc_on_drop = GRPC_CANCELLED;
        self
    }

    fn record(&mut self, status: StatusCode, headers: Option<&HeaderMap>, grpc_code: u8) {
        self.finished = true;
        let state = self.state.get();
        let seconds = self.start.elapsed().as_secs_f64();
        let route = self.route.settle(headers, &state.labels.unmatched);
        let grpc = self.route.is_grpc() && route != ROUTE_UNMATCHED;
        state.labels.with_handles(self.method, route, grpc, status, grpc_code, |handles| {
            handles.requests.increment(1);
            handles.duration.record(seconds);
        });
        state.in_flight.decrement(1.0);
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if !self.finished {
            let status = StatusCode::from_u16(CLIENT_CLOSED_REQUEST).unwrap_or(StatusCode::BAD_REQUEST);
            self.record(status, None, self.grpc_on_drop);
        }
    }
}
