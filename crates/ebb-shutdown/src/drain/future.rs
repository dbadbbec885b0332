use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderValue, Response, StatusCode, header};
use pin_project_lite::pin_project;
use tokio_util::sync::WaitForCancellationFutureOwned;

use super::DrainBody;
use crate::shutdown::InFlightGuard;

pin_project! {
    /// Response future of [`Drain`](super::Drain).
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        guard: Option<InFlightGuard>,
        http1: bool,
        // Registered only once the inner future is pending, so that a request answered on
        // its first poll never touches the deadline's waiter list.
        #[pin]
        deadline: Option<WaitForCancellationFutureOwned>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, guard: InFlightGuard, http1: bool) -> Self {
        Self { inner, guard: Some(guard), http1, deadline: None }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
    B::Data: From<&'static str>,
{
    type Output = Result<Response<DrainBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            let guard = this.guard.take();
            // Once shutdown began, HTTP/1 clients are told to take their next request
            // elsewhere: behind an L4 balancer (kube-proxy) nothing else moves them.
            let close = *this.http1 && guard.as_ref().is_some_and(InFlightGuard::is_shutting_down);
            return Poll::Ready(result.map(|mut response| {
                // Not on a protocol switch: `Connection: upgrade` must stay.
                if close && response.status() != StatusCode::SWITCHING_PROTOCOLS {
                    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                response.map(|body| DrainBody::new(body, guard))
            }));
        }
        if this.deadline.is_none() {
            let Some(guard) = this.guard.as_ref() else { return Poll::Pending };
            this.deadline.set(Some(guard.deadline().clone().cancelled_owned()));
        }
        if let Some(deadline) = this.deadline.as_pin_mut() {
            ready!(deadline.poll(cx));
        }
        // The deadline passed before the handler answered: answer for it.
        drop(this.guard.take());
        let mut response = Response::new(DrainBody::cut_message("shutdown deadline reached; request cut\n"));
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        Poll::Ready(Ok(response))
    }
}
