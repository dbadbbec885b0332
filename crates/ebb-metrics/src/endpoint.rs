//! `GET /metrics` as a tower service, to mount on its own listener (never the app port).

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use tower_service::Service;

use crate::MetricsHandle;

/// Path served by [`MetricsService`].
pub const METRICS_PATH: &str = ebb_core::names::METRICS_PATH;

/// Content type of the Prometheus text exposition format.
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Answers `GET /metrics` (and `HEAD`) with the rendered metrics; 404 elsewhere, 405 for
/// other methods.
///
/// # Example
/// ```no_run
/// # async fn demo(handle: ebb_metrics::MetricsHandle) -> std::io::Result<()> {
/// let app = axum::Router::new().fallback_service(ebb_metrics::MetricsService::new(handle));
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:9090").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct MetricsService {
    handle: MetricsHandle,
}

impl MetricsService {
    /// Serves what `handle` renders.
    pub fn new(handle: MetricsHandle) -> Self {
        Self { handle }
    }
}

impl<B> Service<Request<B>> for MetricsService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (status, content_type, body) = if req.uri().path() != METRICS_PATH {
            (StatusCode::NOT_FOUND, "text/plain; charset=utf-8", Bytes::from_static(b"only /metrics is served here\n"))
        } else if req.method() != Method::GET && req.method() != Method::HEAD {
            (StatusCode::METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", Bytes::from_static(b"GET /metrics\n"))
        } else {
            (StatusCode::OK, TEXT_FORMAT, Bytes::from(self.handle.render()))
        };
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = status;
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        ready(Ok(response))
    }
}
