use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, Request, StatusCode};
use metrics::Gauge;

use super::layer::LazyState;
use crate::labels::{LabelCache, Route, method_index, route_of};
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
        }
    }

    /// Records the answer: its status, and its headers when there was a response.
    pub(crate) fn finish(mut self, status: StatusCode, headers: Option<&HeaderMap>) {
        self.record(status, headers);
    }

    fn record(&mut self, status: StatusCode, headers: Option<&HeaderMap>) {
        self.finished = true;
        let state = self.state.get();
        let seconds = self.start.elapsed().as_secs_f64();
        let route = self.route.settle(headers, &state.labels.unmatched);
        let grpc = self.route.is_grpc() && route != ROUTE_UNMATCHED;
        state.labels.with_handles(self.method, route, grpc, status, |handles| {
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
            self.record(status, None);
        }
    }
}
