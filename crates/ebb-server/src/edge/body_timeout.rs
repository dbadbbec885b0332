//! The body-progress timeout: a request body that sends nothing for the configured time is
//! abandoned, and the request is answered 408 whatever the handler made of the error.
//!
//! The timer is tower-http's `TimeoutBody` (reset by every frame, so a large upload that
//! keeps moving is never cut); [`ProgressBody`] only remembers that it fired, so that the
//! answer says what happened instead of the handler's generic 400 or 500.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{Request, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_http::timeout::{TimeoutBody, TimeoutError};

/// Whether a request's body stalled; `None` for requests without a body.
pub(crate) type Stalled = Option<Arc<AtomicBool>>;

/// Puts the timer on `req`'s body. A request without a body (most GETs) has nothing to
/// time out: no timer, no flag, no allocation.
pub(crate) fn watch_body(req: Request<axum::body::Body>, timeout: Duration) -> (Request<axum::body::Body>, Stalled) {
    if req.body().is_end_stream() {
        return (req, None);
    }
    let stalled = Arc::new(AtomicBool::new(false));
    let flag = stalled.clone();
    let req =
        req.map(|body| axum::body::Body::new(ProgressBody { inner: TimeoutBody::new(timeout, body), stalled: flag }));
    (req, Some(stalled))
}

/// Whether `status` is a failure caused by a body that stalled: then the answer is 408.
pub(crate) fn stalled_failure(stalled: &Stalled, status: StatusCode) -> bool {
    (status.is_client_error() || status.is_server_error())
        && stalled.as_ref().is_some_and(|stalled| stalled.load(Ordering::Acquire))
}

pin_project! {
    /// A request body under the progress timer.
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
