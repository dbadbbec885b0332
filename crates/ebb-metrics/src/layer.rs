//! The RED layer: rate, errors and duration of every request, by route template.
//!
//! Place it inside the probes layer (probes are not traffic) and outside everything that
//! can answer on its own (rate limits, the shutdown drain), so that their 429s and 503s are
//! counted as sent.
//!
//! Per request it records, with labels `{method, route, status}`, and `grpc_status` for gRPC
//! answers:
//! - `http_requests_total` (counter),
//! - `http_request_duration_seconds` (histogram with explicit buckets; time to the response
//!   head, so a long download counts as fast as its first byte; for gRPC, time to the end
//!   of the response stream),
//! - `http_requests_in_flight` (gauge, no labels; a gRPC stream until its end).
//!
//! A request whose future is dropped before it answered (the client went away) is counted
//! with `status="499"`, as nginx does.
//!
//! gRPC: `grpc_status` is the code's name (`OK`, `NOT_FOUND`, `INTERNAL`, ...) from
//! `grpc-status` in the response head (trailers-only answers, tonic's errors) or in the
//! trailers, so a failed call is not counted as a success because its HTTP status is 200.
//! A stream that ends without a status is `UNKNOWN`; one the client drops is `CANCELLED`
//! with `status="499"`. The route is the method path only for methods the service serves
//! (an `UNIMPLEMENTED` answer is `unmatched`).
//!
//! # Example
//! ```
//! use ebb_metrics::HttpMetricsLayer;
//!
//! let app: axum::Router = axum::Router::new()
//!     .route("/users/{id}", axum::routing::get(|| async { "user" }))
//!     .layer(HttpMetricsLayer::new());
//! # drop(app);
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::record::{RequestMetrics, RequestRecord, StreamRecord};

/// Applies [`HttpMetrics`] to a service. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct HttpMetricsLayer {
    metrics: RequestMetrics,
}

impl HttpMetricsLayer {
    /// A layer with the default cap of 1000 distinct label sets.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A layer that keeps at most `max` distinct `{method, route, status}` label sets; past
    /// that, new combinations are counted under `route="overflow"` and in
    /// `http_requests_label_overflow_total`. Default: 1000.
    #[must_use]
    pub fn with_max_label_sets(max: usize) -> Self {
        Self { metrics: RequestMetrics::with_max_label_sets(max) }
    }
}

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = HttpMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetrics { inner, metrics: self.metrics.clone() }
    }
}

/// Records RED metrics for every request. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct HttpMetrics<S> {
    inner: S,
    metrics: RequestMetrics,
}

impl<S> HttpMetrics<S> {
    /// Wraps `inner` with the default settings of [`HttpMetricsLayer::new`].
    pub fn new(inner: S) -> Self {
        HttpMetricsLayer::new().layer(inner)
    }

    /// A layer for this middleware.
    pub fn layer() -> HttpMetricsLayer {
        HttpMetricsLayer::new()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpMetrics<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<MetricsBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let record = self.metrics.start(&req);
        ResponseFuture { inner: self.inner.call(req), record: Some(record) }
    }
}

pin_project! {
    /// Response future of [`HttpMetrics`].
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        record: Option<RequestRecord>,
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
        let Some(record) = this.record.take() else {
            return Poll::Ready(result.map(|response| response.map(|inner| MetricsBody { inner, stream: None })));
        };
        Poll::Ready(match result {
            Ok(response) => {
                let stream = record.respond(&response);
                Ok(response.map(|inner| MetricsBody { inner, stream }))
            }
            // An error drops the connection without a response: count it as a 500.
            Err(error) => {
                record.fail();
                Err(error)
            }
        })
    }
}

pin_project! {
    /// Response body of [`HttpMetrics`]: the inner body, unchanged. A gRPC response whose
    /// status comes in the trailers is recorded when they pass (or when the body ends or
    /// fails without them: `UNKNOWN`; dropped before: `CANCELLED`).
    pub struct MetricsBody<B> {
        #[pin]
        inner: B,
        stream: Option<StreamRecord>,
    }
}

impl<B: Body> Body for MetricsBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        StreamRecord::observe(this.stream, frame.as_ref());
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
