use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::MatchedPath;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{Either, Full};
use tower::Service;

use super::body_timeout::watch_body;
use super::future::ResponseFuture;
use super::shed::Shedder;

/// Sheds, catches panics and watches request bodies; see the [module docs](super).
#[derive(Clone, Debug)]
pub(crate) struct Guard<S> {
    inner: S,
    shedder: Shedder,
    body_timeout: Duration,
    request_timeout: Option<Duration>,
}

impl<S> Guard<S> {
    pub(crate) fn new(inner: S, shedder: Shedder, body_timeout: Duration, request_timeout: Option<Duration>) -> Self {
        Self { inner, shedder, body_timeout, request_timeout }
    }
}

impl<S, ResBody> Service<Request<axum::body::Body>> for Guard<S>
where
    S: Service<Request<axum::body::Body>, Response = Response<ResBody>>,
{
    type Response = Response<Either<Full<Bytes>, ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<axum::body::Body>) -> Self::Future {
        let Some(admitted) = self.shedder.admit() else { return ResponseFuture::shed() };
        let route = req.extensions().get::<MatchedPath>().cloned();
        let (req, stalled) = watch_body(req, self.body_timeout);
        ResponseFuture::new(self.inner.call(req), admitted, route, stalled, self.request_timeout)
    }
}
