use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{Either, Full};
use tower_service::Service;

use ebb_core::response::text_response;

use crate::future::ResponseFuture;
use crate::query::ProbeQuery;
use crate::{Probe, Probes, ProbesLayer};

/// Answers `GET`/`HEAD` on `/livez`, `/readyz`, `/startupz` and `/healthz` itself and passes
/// every other request to the inner service untouched. Probe requests never reach the
/// inner service, so layers inside it (metrics, rate limits) never see them.
#[derive(Clone, Debug)]
pub struct ProbesService<S> {
    inner: S,
    probes: Probes,
    details: bool,
}

impl<S> ProbesService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, probes: Probes) -> Self {
        Self { inner, probes, details: false }
    }

    /// See [`ProbesLayer::with_details`].
    #[must_use]
    pub fn with_details(mut self, details: bool) -> Self {
        self.details = details;
        self
    }

    /// A layer for this middleware.
    pub fn layer(probes: Probes) -> ProbesLayer {
        ProbesLayer::new(probes)
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ProbesService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<Either<Full<Bytes>, ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let Some(probe) = Probe::from_path(req.uri().path()) else {
            return ResponseFuture::inner(self.inner.call(req));
        };
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut response = text_response(StatusCode::METHOD_NOT_ALLOWED, "probes answer GET and HEAD only\n");
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return ResponseFuture::ready(response);
        }
        let query = ProbeQuery::parse(req.uri().query(), req.headers());
        let verbose = query.verbose || self.details;
        let probes = self.probes.clone();
        ResponseFuture::probe(Box::pin(async move {
            let report = probes.evaluate(probe, &query.exclude).await;
            let status = if report.ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            let mut response = if query.json {
                let mut response = text_response(status, report.to_json(verbose));
                response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                response
            } else {
                text_response(status, report.to_text(verbose))
            };
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }))
    }
}
