use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::{DrainBody, DrainLayer, ResponseFuture};
use crate::Shutdown;

/// Counts each request as in flight until its response body ends; cuts it at the deadline.
/// See the [module docs](crate::drain).
#[derive(Clone, Debug)]
pub struct Drain<S> {
    inner: S,
    shutdown: Shutdown,
}

impl<S> Drain<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, shutdown: Shutdown) -> Self {
        Self { inner, shutdown }
    }

    /// A layer for this middleware.
    pub fn layer(shutdown: Shutdown) -> DrainLayer {
        DrainLayer::new(shutdown)
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Drain<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
    ResBody::Data: From<&'static str>,
{
    type Response = Response<DrainBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let guard = self.shutdown.enter();
        let http1 = req.version() <= http::Version::HTTP_11;
        ResponseFuture::new(self.inner.call(req), guard, http1)
    }
}
