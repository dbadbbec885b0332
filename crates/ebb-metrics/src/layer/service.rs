use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::layer::LazyState;
use super::tracker::Tracker;
use super::{HttpMetricsLayer, MetricsBody, ResponseFuture};

/// Records RED metrics for every request. See the [module docs](crate::layer).
#[derive(Clone, Debug)]
pub struct HttpMetrics<S> {
    inner: S,
    state: Arc<LazyState>,
}

impl<S> HttpMetrics<S> {
    /// Wraps `inner` with the default settings of [`HttpMetricsLayer::new`].
    pub fn new(inner: S) -> Self {
        tower_layer::Layer::layer(&HttpMetricsLayer::new(), inner)
    }

    pub(crate) fn from_parts(inner: S, state: Arc<LazyState>) -> Self {
        Self { inner, state }
    }

    /// A layer for this middleware.
    pub fn layer() -> HttpMetricsLayer {
        HttpMetricsLayer::new()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpMetrics<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<MetricsBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let tracker = Tracker::start(&self.state, &req);
        ResponseFuture::new(self.inner.call(req), tracker)
    }
}
