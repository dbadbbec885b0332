//! Load shedding: one in-flight cap for the whole service; over it, 503 with `Retry-After`
//! at once. Nothing waits in a queue: a queue only turns overload into latency for every
//! client and memory for the server.
//!
//! tower's `LoadShed` + `GlobalConcurrencyLimit` do the same but answer with an error that
//! axum needs a boxed `HandleError` to turn back into a response; this is one atomic counter.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{Either, Full};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// Counter of requests answered 503 because the in-flight cap was reached.
pub const HTTP_REQUESTS_SHED_TOTAL: &str = "http_requests_shed_total";

/// Applies [`Shed`]: at most `max` requests in flight across every clone.
#[derive(Clone, Debug)]
pub(crate) struct ShedLayer {
    in_flight: Arc<AtomicUsize>,
    max: usize,
}

impl ShedLayer {
    pub(crate) fn new(max: usize) -> Self {
        Self { in_flight: Arc::new(AtomicUsize::new(0)), max }
    }
}

impl<S> Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Shed { inner, layer: self.clone() }
    }
}

/// Sheds requests over the cap of its [`ShedLayer`].
#[derive(Clone, Debug)]
pub(crate) struct Shed<S> {
    inner: S,
    layer: ShedLayer,
}

/// One request counted against the cap until its response head is ready (or it is dropped).
#[derive(Debug)]
pub(crate) struct Admitted(Arc<AtomicUsize>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Shed<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<Either<Full<Bytes>, ResBody>>;
    type Error = S::Error;
    type Future = ShedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let counter = &self.layer.in_flight;
        if counter.fetch_add(1, Ordering::AcqRel) >= self.layer.max {
            counter.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!(HTTP_REQUESTS_SHED_TOTAL).increment(1);
            return ShedFuture { inner: None, admitted: None };
        }
        ShedFuture { inner: Some(self.inner.call(req)), admitted: Some(Admitted(counter.clone())) }
    }
}

pin_project! {
    /// Response future of [`Shed`].
    pub(crate) struct ShedFuture<F> {
        #[pin]
        inner: Option<F>,
        admitted: Option<Admitted>,
    }
}

impl<F, B, E> Future for ShedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<Either<Full<Bytes>, B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else { return Poll::Ready(Ok(overloaded())) };
        let result = ready!(inner.poll(cx));
        drop(this.admitted.take());
        Poll::Ready(result.map(|response| response.map(Either::Right)))
    }
}

fn overloaded<B>() -> Response<Either<Full<Bytes>, B>> {
    let body = Full::new(Bytes::from_static(b"the service is overloaded; retry shortly\n"));
    let mut response = Response::new(Either::Left(body));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
