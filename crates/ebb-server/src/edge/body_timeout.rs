//! The body-progress timeout: a request body that sends nothing for the configured time is
//! abandoned, and the request is answered 408 whatever the handler made of the error.
//!
//! The timer is tower-http's `TimeoutBody` (reset by every frame, so a large upload that
//! keeps moving is never cut); this layer only remembers that it fired, so that the answer
//! says what happened instead of the handler's generic 400 or 500.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{Either, Full};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tower_http::timeout::{TimeoutBody, TimeoutError};

/// Applies [`BodyTimeout`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyTimeoutLayer {
    timeout: Duration,
}

impl BodyTimeoutLayer {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for BodyTimeoutLayer {
    type Service = BodyTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BodyTimeout { inner, timeout: self.timeout }
    }
}

/// Times out stalled request bodies; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct BodyTimeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for BodyTimeout<S>
where
    S: Service<Request<ProgressBody<ReqBody>>, Response = Response<ResBody>>,
    ReqBody: Body,
{
    type Response = Response<Either<Full<Bytes>, ResBody>>;
    type Error = S::Error;
    type Future = BodyTimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let stalled = Arc::new(AtomicBool::new(false));
        let timeout = self.timeout;
        let flag = stalled.clone();
        let req = req.map(|body| ProgressBody { inner: TimeoutBody::new(timeout, body), stalled: flag });
        BodyTimeoutFuture { inner: self.inner.call(req), stalled }
    }
}

pin_project! {
    /// Request body of [`BodyTimeout`].
    pub(crate) struct ProgressBody<B> {
        #[pin]
        inner: TimeoutBody<B>,
        stalled: Arc<AtomicBool>,
    }
}

impl<B> Body for ProgressBody<B>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(Err(error)) = &frame {
            if error.is::<TimeoutError>() {
                this.stalled.store(true, Ordering::Release);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// Response future of [`BodyTimeout`].
    pub(crate) struct BodyTimeoutFuture<F> {
        #[pin]
        inner: F,
        stalled: Arc<AtomicBool>,
    }
}

impl<F, B, E> Future for BodyTimeoutFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<Either<Full<Bytes>, B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        // A handler that still succeeded did not need the rest of its body: keep its answer.
        let failed = response.status().is_client_error() || response.status().is_server_error();
        if failed && this.stalled.load(Ordering::Acquire) {
            return Poll::Ready(Ok(request_timeout()));
        }
        Poll::Ready(Ok(response.map(Either::Right)))
    }
}

fn request_timeout<B>() -> Response<Either<Full<Bytes>, B>> {
    let body = Full::new(Bytes::from_static(b"the request body stopped arriving; send it again\n"));
    let mut response = Response::new(Either::Left(body));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
