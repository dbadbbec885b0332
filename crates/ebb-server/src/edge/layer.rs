//! [`EdgeLayer`] -> [`Edge`]: what happens to a request before the application sees it, in
//! the order of the [module docs](super).

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ebb_metrics::RequestMetrics;
use ebb_probes::{Probe, Probes};
use ebb_shutdown::Shutdown;
use http::{Request, Response};
use tower::{Layer, Service};

use super::access::AccessLine;
use super::answers::{Answer, HTTP_REQUESTS_SHED_TOTAL};
use super::body_timeout::watch_body;
use super::context::RequestContext;
use super::future::EdgeFuture;

/// What every request of one listener shares: built once, at start.
#[derive(Debug)]
pub(crate) struct EdgeShared {
    pub(crate) shutdown: Shutdown,
    pub(crate) probes: Probes,
    pub(crate) metrics: RequestMetrics,
    pub(crate) max_in_flight: usize,
    pub(crate) body_timeout: Duration,
    pub(crate) access_log: bool,
    pub(crate) id_in_request: bool,
}

/// Applies [`Edge`]. Clones share one [`EdgeShared`]: one in-flight count, one label cache.
#[derive(Clone, Debug)]
pub(crate) struct EdgeLayer {
    shared: Arc<EdgeShared>,
    request_timeout: Option<Duration>,
}

impl EdgeLayer {
    pub(crate) fn new(shared: EdgeShared) -> Self {
        Self { shared: Arc::new(shared), request_timeout: None }
    }

    /// The same edge with a request timeout: 503 when no response head is ready by then.
    /// Streaming routes have none.
    pub(crate) fn with_request_timeout(&self, timeout: Duration) -> Self {
        Self { shared: self.shared.clone(), request_timeout: Some(timeout) }
    }

    pub(crate) fn request_timeout(&self) -> Option<Duration> {
        self.request_timeout
    }

    /// Whether a request that began before the signal must also watch the shutdown
    /// deadline: not when its own timeout is no longer than the shutdown budget, since it
    /// then meets that first, and the one timer is enough (no waiter on the token).
    pub(crate) fn watches_cut(&self) -> bool {
        self.request_timeout.is_none_or(|timeout| timeout > self.shared.shutdown.config().timeout())
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Edge { inner, layer: self.clone() }
    }
}

/// The edge around one route (or the fallback). See the [module docs](super).
#[derive(Clone, Debug)]
pub(crate) struct Edge<S> {
    inner: S,
    layer: EdgeLayer,
}

impl<S, ResBody> Service<Request<axum::body::Body>> for Edge<S>
where
    S: Service<Request<axum::body::Body>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<axum::body::Body>;
    type Error = S::Error;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<axum::body::Body>) -> Self::Future {
        let shared = &*self.layer.shared;
        let mut context = RequestContext::read(&mut req, shared.id_in_request);
        if let Some(probe) = Probe::from_path(req.uri().path()) {
            let answer = shared.probes.answer(probe, &req, false);
            return EdgeFuture::probe(answer, context, &shared.shutdown, req.version());
        }
        let record = shared.metrics.start_known(&req, context.grpc);
        let version = req.version();
        let access = shared.access_log.then(|| AccessLine::new(&req));
        let Some(in_flight) = shared.shutdown.admit(shared.max_in_flight) else {
            metrics::counter!(HTTP_REQUESTS_SHED_TOTAL).increment(1);
            return EdgeFuture::answered(Answer::Overloaded, context, record, access, version, &shared.shutdown);
        };
        let (req, stalled) = watch_body(req, shared.body_timeout);
        let inner = context.enter(|| self.inner.call(req));
        EdgeFuture::new(inner, context, record, access, version, in_flight, stalled, &self.layer)
    }
}
