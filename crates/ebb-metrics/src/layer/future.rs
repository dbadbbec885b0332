use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Response, StatusCode};
use pin_project_lite::pin_project;

use super::tracker::Tracker;

pin_project! {
    /// Response future of [`HttpMetrics`](super::HttpMetrics).
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        tracker: Option<Tracker>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, tracker: Tracker) -> Self {
        Self { inner, tracker: Some(tracker) }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some(tracker) = this.tracker.take() {
            // An error drops the connection without a response: count it as a 500.
            match &result {
                Ok(response) => tracker.finish(response.status(), Some(response.headers())),
                Err(_) => tracker.finish(StatusCode::INTERNAL_SERVER_ERROR, None),
            }
        }
        Poll::Ready(result)
    }
}
