//! The drain layer as a tower service, in process: the inner service's backpressure passes
//! through it, and the bodies it wraps keep their size and their end (what hyper reads to
//! write `Content-Length` and to end a response without a chunk). Each test was written
//! against a mutant cargo-mutants found alive (`cargo xtask mutants drain`).

use std::convert::Infallible;
use std::future::Ready;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use ebb_shutdown::{Shutdown, ShutdownConfig};
use http::{Request, Response};
use http_body::Body as _;
use http_body_util::Full;
use tower::{Layer, Service, ServiceExt};

/// An inner service that is never ready (a concurrency limit at its cap).
struct NeverReady;

impl Service<Request<()>> for NeverReady {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Pending
    }

    fn call(&mut self, _req: Request<()>) -> Self::Future {
        std::future::ready(Ok(Response::new(Full::new(Bytes::new()))))
    }
}

#[test]
fn an_inner_service_that_is_not_ready_keeps_the_layer_not_ready() {
    let shutdown = Shutdown::new(ShutdownConfig::new());
    let mut service = shutdown.layer().layer(NeverReady);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_pending(), "the layer must not admit what its inner service cannot take");
}

async fn through_the_layer(body: &'static [u8]) -> Response<impl http_body::Body> {
    let shutdown = Shutdown::new(ShutdownConfig::new());
    let handler = tower::service_fn(move |_req: Request<()>| async move {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(body))))
    });
    shutdown.layer().layer(handler).oneshot(Request::new(())).await.expect("response")
}

#[tokio::test]
async fn a_wrapped_body_keeps_its_exact_size_and_its_end() {
    let hello = through_the_layer(b"hello").await;
    assert_eq!(hello.body().size_hint().exact(), Some(5), "Content-Length comes from here");
    assert!(!hello.body().is_end_stream(), "five bytes are still to come");
    let empty = through_the_layer(b"").await;
    assert_eq!(empty.body().size_hint().exact(), Some(0));
    assert!(empty.body().is_end_stream(), "an empty body ends at once");
}
