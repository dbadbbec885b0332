//! The answer to one probe request: the mechanism under [`ProbesService`](crate::ProbesService)
//! and any edge that answers probes itself (ebb-server's).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;

use ebb_core::response::text_response;

use crate::query::ProbeQuery;
use crate::{Probe, Probes};

/// Whether probe answers list their checks and the process' facts (version, revision,
/// dependencies' states), which can name internal hosts and the exact build.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Details {
    /// Never, whatever the request asks (`?verbose` is ignored): for a port the public
    /// reaches ([`ProbesLayer::without_details`](crate::ProbesLayer::without_details)).
    /// `Details::default()`.
    #[default]
    Never,
    /// When the request asks with `?verbose`: what [`ProbesLayer`](crate::ProbesLayer)
    /// does unless told otherwise.
    OnRequest,
    /// Always: for a listener only operators reach, such as the metrics port.
    Always,
}

impl Probes {
    /// The answer to `req`, a request for `probe` (see [`Probe::from_path`]): `GET` and
    /// `HEAD` evaluate the probe (its cached checks run concurrently); other methods get
    /// `405`. `details` says whether the answer lists its checks ([`Details`]).
    pub fn answer<B>(&self, probe: Probe, req: &Request<B>, details: Details) -> ProbeAnswer {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut response = text_response(StatusCode::METHOD_NOT_ALLOWED, "probes answer GET and HEAD only\n");
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return ProbeAnswer(Box::pin(std::future::ready(response)));
        }
        let query = ProbeQuery::parse(req.uri().query(), req.headers());
        let verbose = match details {
            Details::Never => false,
            Details::OnRequest => query.verbose,
            Details::Always => true,
        };
        let probes = self.clone();
        // Probes are rare next to traffic, so their future may be boxed: then this type is
        // one pointer in the response future of every request that might have been a probe.
        ProbeAnswer(Box::pin(async move {
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

/// The future of [`Probes::answer`].
#[must_use = "futures do nothing unless polled"]
pub struct ProbeAnswer(Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>>);

impl std::fmt::Debug for ProbeAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeAnswer").finish_non_exhaustive()
    }
}

impl Future for ProbeAnswer {
    type Output = Response<Full<Bytes>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}
