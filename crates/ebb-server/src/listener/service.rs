//! The per-connection service between hyper and the application: the peer address for
//! `ConnectInfo`, and the connection's in-flight count (response bodies included) for its
//! timers. `Connection: close` is the edge's decision (`crate::edge`), made once.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::response::Response;
use bytes::Bytes;
use http::{Request, Version};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;

use super::state::ConnState;

/// What hyper calls for each request of one connection.
#[derive(Clone, Debug)]
pub(crate) struct ConnService {
    app: Router,
    remote: SocketAddr,
    state: Arc<ConnState>,
}

impl ConnService {
    pub(crate) fn new(app: Router, remote: SocketAddr, state: Arc<ConnState>) -> Self {
        Self { app, remote, state }
    }
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<ConnBody>;
    type Error = Infallible;
    type Future = ConnFuture;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        self.state.on_request();
        if req.version() > Version::HTTP_11 {
            self.state.mark_h2();
        }
        req.extensions_mut().insert(ConnectInfo(self.remote));
        let mut app = self.app.clone();
        let inner = tower::Service::call(&mut app, req);
        ConnFuture { inner, guard: Some(ResponseGuard(self.state.clone())) }
    }
}

/// Counts a request as in flight on its connection until its response body ends.
#[derive(Debug)]
pub(crate) struct ResponseGuard(Arc<ConnState>);

impl Drop for ResponseGuard {
    fn drop(&mut self) {
        self.0.on_response_end();
    }
}

pin_project! {
    /// Response future of [`ConnService`].
    pub(crate) struct ConnFuture {
        #[pin]
        inner: axum::routing::future::RouteFuture<Infallible>,
        guard: Option<ResponseGuard>,
    }
}

impl Future for ConnFuture {
    type Output = Result<Response<ConnBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = ready!(this.inner.poll(cx));
        let guard = this.guard.take();
        Poll::Ready(Ok(response.map(|inner| ConnBody { inner, guard })))
    }
}

pin_project! {
    /// Response body of [`ConnService`]: releases the connection's in-flight count at its end.
    pub(crate) struct ConnBody {
        #[pin]
        inner: axum::body::Body,
        guard: Option<ResponseGuard>,
    }
}

impl Body for ConnBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if frame.is_none() {
            drop(this.guard.take());
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
