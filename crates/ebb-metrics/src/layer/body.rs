use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::StatusCode;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::tracker::Tracker;
use crate::labels::{GRPC_UNKNOWN, grpc_code};

pin_project! {
    /// Response body of [`HttpMetrics`](super::HttpMetrics): the inner body, unchanged. A
    /// gRPC response whose status comes in the trailers is recorded when they pass (or when
    /// the body ends or fails without them: `UNKNOWN`; dropped before: `CANCELLED`).
    pub struct MetricsBody<B> {
        #[pin]
        inner: B,
        stream: Option<(Tracker, StatusCode)>,
    }
}

impl<B> MetricsBody<B> {
    pub(crate) fn plain(inner: B) -> Self {
        Self { inner, stream: None }
    }

    pub(crate) fn grpc(inner: B, tracker: Tracker, status: StatusCode) -> Self {
        Self { inner, stream: Some((tracker, status)) }
    }
}

impl<B: Body> Body for MetricsBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if this.stream.is_some() {
            let code = match &frame {
                Some(Ok(frame)) => frame.trailers_ref().map(|trailers| grpc_code(trailers).unwrap_or(GRPC_UNKNOWN)),
                Some(Err(_)) | None => Some(GRPC_UNKNOWN),
            };
            if let Some(code) = code {
                if let Some((tracker, status)) = this.stream.take() {
                    tracker.finish(status, None, code);
                }
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
