//! [`ProbesLayer`] -> [`ProbesService`] -> [`ResponseFuture`]: the probes in front of any
//! tower service, over [`Probes::answer`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{Either, Full};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::answer::{Details, ProbeAnswer};
use crate::{Probe, Probes};

/// Answers the probe paths in front of a service. Made by [`Probes::layer`].
#[derive(Clone, Debug)]
pub struct ProbesLayer {
    probes: Probes,
    details: Details,
}

impl ProbesLayer {
    /// A layer answering for `probes`.
    #[must_use]
    pub fn new(probes: Probes) -> Self {
        Self { probes, details: Details::OnRequest }
    }

    /// Whether every answer lists its checks and the process' facts, as `?verbose` asks.
    /// Default: `false`, answers list them only for `?verbose`; `true` for a listener only
    /// operators reach, such as the metrics port. On a port the public reaches, use
    /// [`without_details`](Self::without_details).
    #[must_use]
    pub fn with_details(mut self, details: bool) -> Self {
        self.details = if details { Details::Always } else { Details::OnRequest };
        self
    }

    /// Answers never list checks or the process' facts, `?verbose` or not: for a port the
    /// public reaches (check names and reasons can name internal hosts; versions tell the
    /// exact build). ebb-server's application port answers this way.
    #[must_use]
    pub fn without_details(mut self) -> Self {
        self.details = Details::Never;
        self
    }
}

impl<S> Layer<S> for ProbesLayer {
    type Service = ProbesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ProbesService { inner, probes: self.probes.clone(), details: self.details }
    }
}

/// Answers `GET`/`HEAD` on `/livez`, `/readyz`, `/startupz` and `/healthz` itself and passes
/// every other request to the inner service untouched. Probe requests never reach the
/// inner service, so layers inside it (metrics, rate limits) never see them.
#[derive(Clone, Debug)]
pub struct ProbesService<S> {
    inner: S,
    probes: Probes,
    details: Details,
}

impl<S> ProbesService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, probes: Probes) -> Self {
        Self { inner, probes, details: Details::OnRequest }
    }

    /// See [`ProbesLayer::with_details`].
    #[must_use]
    pub fn with_details(mut self, details: bool) -> Self {
        self.details = if details { Details::Always } else { Details::OnRequest };
        self
    }

    /// See [`ProbesLayer::without_details`].
    #[must_use]
    pub fn without_details(mut self) -> Self {
        self.details = Details::Never;
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
        match Probe::from_path(req.uri().path()) {
            Some(probe) => {
                ResponseFuture { kind: Kind::Probe { answer: self.probes.answer(probe, &req, self.details) } }
            }
            None => ResponseFuture { kind: Kind::Inner { future: self.inner.call(req) } },
        }
    }
}

pin_project! {
    /// Response future of [`ProbesService`].
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = Projected]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Probe { #[pin] answer: ProbeAnswer },
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<Either<Full<Bytes>, B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            Projected::Inner { future } => Poll::Ready(Ok(ready!(future.poll(cx))?.map(Either::Right))),
            Projected::Probe { answer } => Poll::Ready(Ok(ready!(answer.poll(cx)).map(Either::Left))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http::{Method, StatusCode};
    use tower::ServiceExt;

    use super::*;

    fn app(
        probes: &Probes,
    ) -> ProbesService<impl Service<Request<()>, Response = Response<Full<Bytes>>, Error = Infallible> + Clone> {
        let inner =
            tower::service_fn(|_req: Request<()>| async { Ok(Response::new(Full::new(Bytes::from_static(b"app")))) });
        ProbesService::new(inner, probes.clone())
    }

    fn get(path: &str) -> Request<()> {
        Request::builder().uri(path).body(()).expect("request")
    }

    #[tokio::test]
    async fn probes_are_answered_here_and_other_paths_pass() {
        let probes = Probes::builder().build();
        let startup = app(&probes).oneshot(get("/startupz")).await.expect("response");
        assert_eq!(startup.status(), StatusCode::SERVICE_UNAVAILABLE, "not started yet");
        probes.mark_started();
        for path in ["/livez", "/readyz", "/startupz", "/healthz"] {
            let response = app(&probes).oneshot(get(path)).await.expect("response");
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert!(matches!(response.body(), Either::Left(_)), "{path} never reaches the app");
        }
        let other = app(&probes).oneshot(get("/livez/x")).await.expect("response");
        assert!(matches!(other.body(), Either::Right(_)), "only the probe paths themselves");
    }

    #[tokio::test]
    async fn other_methods_get_405() {
        let probes = Probes::builder().build();
        let post = Request::builder().method(Method::POST).uri("/livez").body(()).expect("request");
        let response = app(&probes).oneshot(post).await.expect("response");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers().get(http::header::ALLOW).map(|v| v.as_bytes()), Some(&b"GET, HEAD"[..]));
    }
}
