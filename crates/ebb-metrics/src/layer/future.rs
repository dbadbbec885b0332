use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Response, StatusCode};
use pin_project_lite::pin_project;

use super::body::MetricsBody;
use super::tracker::Tracker;
use crate::labels::{NOT_GRPC, grpc_code, is_grpc};

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
    type Output = Result<Response<MetricsBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let Some(tracker) = this.tracker.take() else { return Poll::Ready(result.map(|r| r.map(MetricsBody::plain))) };
        Poll::Ready(match result {
            Ok(response) => {
                let headers = response.headers();
                if !is_grpc(headers) {
                    tracker.finish(response.status(), Some(headers), NOT_GRPC);
                    Ok(response.map(MetricsBody::plain))
                } else if let Some(code) = grpc_code(headers) {
                    // A trailers-only answer (tonic's errors): the status is in the head.
                    tracker.finish(response.status(), Some(headers), code);
                    Ok(response.map(MetricsBody::plain))
                } else {
                    // The status comes in the trailers: recorded when the stream ends, so
                    // that an error is not counted as success and a stream's duration is
                    // its whole length.
                    let status = response.status();
                    let tracker = tracker.streaming(headers);
                    Ok(response.map(|body| MetricsBody::grpc(body, tracker, status)))
                }
            }
            // An error drops the connection without a response: count it as a 500.
            Err(error) => {
                tracker.finish(StatusCode::INTERNAL_SERVER_ERROR, None, NOT_GRPC);
                Err(error)
            }
        })
    }
}
