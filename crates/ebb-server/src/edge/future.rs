use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::MatchedPath;
use bytes::Bytes;
use http::Response;
use http_body_util::{Either, Full};
use pin_project_lite::pin_project;

use std::time::Duration;

use tokio::time::{Instant, Sleep};

use super::body_timeout::{Stalled, request_timeout, stalled_failure};
use super::panic::{catch, panic_response};
use super::shed::{Admitted, overloaded};

pin_project! {
    /// Response future of [`Guard`](super::service::Guard).
    pub(crate) struct ResponseFuture<F> {
        // `None`: the request was shed.
        #[pin]
        inner: Option<F>,
        admitted: Option<Admitted>,
        route: Option<MatchedPath>,
        stalled: Stalled,
        timeout: Option<Duration>,
        // Armed only once the handler is pending: a request answered on its first poll
        // never touches the timer wheel (tower-http's `Timeout` registers a timer for every
        // request, which measurably costs throughput).
        #[pin]
        deadline: Option<Sleep>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        inner: F,
        admitted: Admitted,
        route: Option<MatchedPath>,
        stalled: Stalled,
        timeout: Option<Duration>,
    ) -> Self {
        Self { inner: Some(inner), admitted: Some(admitted), route, stalled, timeout, deadline: None }
    }

    pub(crate) fn shed() -> Self {
        Self { inner: None, admitted: None, route: None, stalled: None, timeout: None, deadline: None }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<Either<Full<Bytes>, B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(inner) = this.inner.as_mut().as_pin_mut() else { return Poll::Ready(Ok(overloaded())) };
        let polled = catch(this.route.as_ref(), || inner.poll(cx));
        let result = match polled {
            Ok(Poll::Pending) => {
                let Some(timeout) = *this.timeout else { return Poll::Pending };
                if this.deadline.is_none() {
                    this.deadline.set(Some(tokio::time::sleep_until(Instant::now() + timeout)));
                }
                let Some(deadline) = this.deadline.as_pin_mut() else { return Poll::Pending };
                if deadline.poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.inner.set(None);
                drop(this.admitted.take());
                return Poll::Ready(Ok(too_slow()));
            }
            Ok(Poll::Ready(result)) => result,
            Err(()) => {
                // The handler's future is unusable after a panic: drop it now.
                this.inner.set(None);
                drop(this.admitted.take());
                return Poll::Ready(Ok(panic_response()));
            }
        };
        drop(this.admitted.take());
        Poll::Ready(result.map(|response| {
            if stalled_failure(this.stalled, response.status()) {
                request_timeout()
            } else {
                response.map(Either::Right)
            }
        }))
    }
}

/// The answer when the handler did not produce a response head within the request timeout.
fn too_slow<B>() -> Response<Either<Full<Bytes>, B>> {
    super::text_response(http::StatusCode::SERVICE_UNAVAILABLE, "the request took too long and was abandoned\n")
}
