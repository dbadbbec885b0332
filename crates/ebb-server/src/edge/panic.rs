//! Panics in handlers become 500 responses (tower-http's `CatchPanicLayer`), counted by the
//! metrics layer outside, and logged once, with the route, by a panic hook that replaces the
//! default stderr message for panics inside requests.

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};

use axum::extract::MatchedPath;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

thread_local! {
    /// The route of the request being polled on this thread, for the panic hook.
    static ROUTE: RefCell<Option<MatchedPath>> = const { RefCell::new(None) };
}

/// Installs the hook once per process; panics outside requests go to the previous hook.
pub(crate) fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let route = ROUTE.with(|route| route.borrow().as_ref().map(|route| route.as_str().to_owned()));
            match route {
                Some(route) => {
                    let location = info.location().map(ToString::to_string).unwrap_or_default();
                    let message = payload_text(info.payload());
                    tracing::error!(%route, %location, panic = %message, "handler panicked; answered 500");
                }
                None => previous(info),
            }
        }));
    });
}

/// The 500 answered for a caught panic. The panic's text goes to the log, never to the client.
pub(crate) fn panic_response(_payload: Box<dyn Any + Send + 'static>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"internal server error\n")));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

fn payload_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Makes the request's route known to the panic hook while its handler runs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PanicRouteLayer;

impl<S> Layer<S> for PanicRouteLayer {
    type Service = PanicRoute<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PanicRoute { inner }
    }
}

/// See [`PanicRouteLayer`].
#[derive(Clone, Debug)]
pub(crate) struct PanicRoute<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for PanicRoute<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = PanicRouteFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let route = req.extensions().get::<MatchedPath>().cloned();
        let inner = with_route(route.as_ref(), || self.inner.call(req));
        PanicRouteFuture { inner, route }
    }
}

pin_project! {
    /// Response future of [`PanicRoute`].
    pub(crate) struct PanicRouteFuture<F> {
        #[pin]
        inner: F,
        route: Option<MatchedPath>,
    }
}

impl<F: Future> Future for PanicRouteFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        with_route(this.route.as_ref(), || inner.poll(cx))
    }
}

fn with_route<T>(route: Option<&MatchedPath>, run: impl FnOnce() -> T) -> T {
    let Some(route) = route else { return run() };
    let previous = ROUTE.with(|slot| slot.replace(Some(route.clone())));
    // Restored also when `run` unwinds, so a caught panic leaves no stale route behind.
    struct Restore(Option<MatchedPath>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            ROUTE.with(|slot| *slot.borrow_mut() = previous);
        }
    }
    let _restore = Restore(previous);
    run()
}
