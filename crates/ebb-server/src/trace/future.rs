use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::{Method, Response, header};
use pin_project_lite::pin_project;
use tracing::Span;

use super::{RequestId, X_REQUEST_ID, mark_sensitive};

/// What the access log line needs from the request.
pub(crate) struct AccessLine {
    pub(crate) method: Method,
    pub(crate) route: String,
    pub(crate) start: Instant,
}

pin_project! {
    /// Polls the inner future in the request's span; adds `x-request-id` to the response
    /// and writes the access log line.
    pub(crate) struct TracedFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        id: Option<RequestId>,
        access: Option<Box<AccessLine>>,
    }
}

impl<F> TracedFuture<F> {
    pub(crate) fn new(inner: F, span: Span, id: RequestId, access: Option<Box<AccessLine>>) -> Self {
        Self { inner, span, id: Some(id), access }
    }
}

impl<F, B, E> Future for TracedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let mut result = ready!(this.inner.poll(cx));
        if let Ok(response) = &mut result {
            if let Some(id) = this.id.take() {
                response.headers_mut().insert(X_REQUEST_ID, id.into_header_value());
            }
            mark_sensitive(response.headers_mut(), &[header::SET_COOKIE]);
            if let Some(access) = this.access.take() {
                let bytes = response
                    .headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
                tracing::info!(
                    target: "access",
                    method = %access.method,
                    route = %access.route,
                    status = response.status().as_u16(),
                    latency_ms = access.start.elapsed().as_secs_f64() * 1000.0,
                    bytes,
                    "request"
                );
            }
        } else if let Some(access) = this.access.take() {
            tracing::info!(
                target: "access",
                method = %access.method,
                route = %access.route,
                latency_ms = access.start.elapsed().as_secs_f64() * 1000.0,
                "request failed without a response"
            );
        }
        Poll::Ready(result)
    }
}
