//! The drain layer: counts requests in flight and cuts them at the shutdown deadline.
//!
//! Put it outside every layer that can hold a request (rate limits, sessions, timeouts), so
//! that it counts what they hold. From the signal on,
//! every HTTP/1 response it passes carries `Connection: close`, so that keep-alive clients
//! (and L4 balancers such as kube-proxy, which never move a connection) open their next
//! connection to another replica during the delay. A request counts
//! as in flight from the call until its response body ends, so a download or an SSE
//! stream holds the drain as long as it runs — but never past the deadline: then a
//! response not yet produced becomes `503 Service Unavailable` with `Connection: close`,
//! and a body still streaming is aborted (the client sees a broken transfer, never a
//! truncated one that looks complete).
//!
//! # Example
//! ```
//! use ebb_shutdown::{Shutdown, ShutdownConfig};
//! use tower::ServiceBuilder;
//!
//! let shutdown = Shutdown::new(ShutdownConfig::new());
//! let service = ServiceBuilder::new()
//!     .layer(shutdown.layer())
//!     .service_fn(|_req: http::Request<()>| async {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
//!     });
//! # drop(service);
//! ```
//!
//! It is a thin wrapper over [`Shutdown::enter`] and
//! [`InFlight::close_connection_if_draining`]: ebb-server's edge keeps the same count and
//! makes the same decision without this layer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio_util::sync::WaitForCancellationFutureOwned;
use tower_layer::Layer;
use tower_service::Service;

use crate::{InFlight, Shutdown};

/// The text of the 503 answered for a request the deadline cut before it answered.
pub const CUT_MESSAGE: &str = "shutdown deadline reached; request cut\n";

/// Applies [`Drain`] to a service. Made by [`Shutdown::layer`].
#[derive(Clone, Debug)]
pub struct DrainLayer {
    shutdown: Shutdown,
}

impl DrainLayer {
    /// A layer that counts requests against `shutdown`.
    #[must_use]
    pub fn new(shutdown: Shutdown) -> Self {
        Self { shutdown }
    }
}

impl<S> Layer<S> for DrainLayer {
    type Service = Drain<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Drain::new(inner, self.shutdown.clone())
    }
}

/// Counts each request as in flight until its response body ends; cuts it at the deadline.
/// See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Drain<S> {
    inner: S,
    shutdown: Shutdown,
}

impl<S> Drain<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, shutdown: Shutdown) -> Self {
        Self { inner, shutdown }
    }

    /// A layer for this middleware.
    pub fn layer(shutdown: Shutdown) -> DrainLayer {
        DrainLayer::new(shutdown)
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Drain<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
    ResBody::Data: From<&'static str>,
{
    type Response = Response<DrainBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let in_flight = self.shutdown.enter();
        let version = req.version();
        ResponseFuture { inner: self.inner.call(req), in_flight: Some(in_flight), version, deadline: None }
    }
}

pin_project! {
    /// Response future of [`Drain`].
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        in_flight: Option<InFlight>,
        version: http::Version,
        // Registered only once the inner future is pending, so that a request answered on
        // its first poll never touches the deadline's waiter list.
        #[pin]
        deadline: Option<WaitForCancellationFutureOwned>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    B::Data: From<&'static str>,
{
    type Output = Result<Response<DrainBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            let in_flight = this.in_flight.take();
            return Poll::Ready(result.map(|mut response| {
                if let Some(in_flight) = &in_flight {
                    in_flight.close_connection_if_draining(*this.version, &mut response);
                }
                response.map(|body| DrainBody::new(body, in_flight))
            }));
        }
        if this.deadline.is_none() {
            let Some(in_flight) = this.in_flight.as_ref() else { return Poll::Pending };
            this.deadline.set(Some(in_flight.deadline().clone().cancelled_owned()));
        }
        if let Some(deadline) = this.deadline.as_pin_mut() {
            ready!(deadline.poll(cx));
        }
        // The deadline passed before the handler answered: answer for it.
        drop(this.in_flight.take());
        let mut response = Response::new(DrainBody::cut_message(CUT_MESSAGE));
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        Poll::Ready(Ok(response))
    }
}

/// The error a [`DrainBody`] ends with when the shutdown deadline cuts it mid-stream.
#[derive(Debug, thiserror::Error)]
#[error("response body cut by the shutdown deadline")]
pub struct BodyCut;

pin_project! {
    /// Response body of [`Drain`]: the inner body, counted as in flight until it ends, and
    /// aborted with [`BodyCut`] if it is still streaming at the deadline.
    pub struct DrainBody<B> {
        #[pin]
        inner: Option<B>,
        message: Option<&'static str>,
        in_flight: Option<InFlight>,
        #[pin]
        deadline: Option<WaitForCancellationFutureOwned>,
    }
}

impl<B> DrainBody<B> {
    fn new(inner: B, in_flight: Option<InFlight>) -> Self {
        Self { inner: Some(inner), message: None, in_flight, deadline: None }
    }

    fn cut_message(message: &'static str) -> Self {
        Self { inner: None, message: Some(message), in_flight: None, deadline: None }
    }
}

impl<B> Body for DrainBody<B>
where
    B: Body,
    B::Data: From<&'static str>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            return Poll::Ready(this.message.take().map(|message| Ok(Frame::data(message.into()))));
        };
        match inner.poll_frame(cx) {
            Poll::Ready(None) => {
                drop(this.in_flight.take());
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => Poll::Ready(Some(frame.map_err(Into::into))),
            Poll::Pending => {
                let Some(in_flight) = this.in_flight.as_ref() else { return Poll::Pending };
                if this.deadline.is_none() {
                    this.deadline.set(Some(in_flight.deadline().clone().cancelled_owned()));
                }
                let Some(deadline) = this.deadline.as_pin_mut() else { return Poll::Pending };
                if deadline.poll(cx).is_pending() {
                    return Poll::Pending;
                }
                drop(this.in_flight.take());
                this.inner.set(None);
                Poll::Ready(Some(Err(BodyCut.into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Some(inner) => inner.is_end_stream(),
            None => self.message.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.inner, self.message) {
            (Some(inner), _) => inner.size_hint(),
            (None, Some(message)) => SizeHint::with_exact(message.len() as u64),
            (None, None) => SizeHint::with_exact(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use tower::ServiceExt;

    use super::*;
    use crate::ShutdownConfig;

    fn hello(
        shutdown: &Shutdown,
    ) -> impl Service<Request<()>, Response = Response<DrainBody<Full<Bytes>>>, Error = Infallible> {
        let handler = tower::service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
        });
        shutdown.layer().layer(handler)
    }

    fn request(version: http::Version) -> Request<()> {
        Request::builder().version(version).body(()).expect("request")
    }

    #[tokio::test]
    async fn http1_responses_say_close_from_the_signal_on_and_not_before() {
        let shutdown = Shutdown::new(ShutdownConfig::new());
        let before = hello(&shutdown).oneshot(request(http::Version::HTTP_11)).await.expect("response");
        assert_eq!(before.headers().get(header::CONNECTION), None, "serving: keep-alive stays");
        shutdown.trigger();
        let after = hello(&shutdown).oneshot(request(http::Version::HTTP_11)).await.expect("response");
        assert_eq!(after.headers().get(header::CONNECTION).map(HeaderValue::as_bytes), Some(&b"close"[..]));
        let h2 = hello(&shutdown).oneshot(request(http::Version::HTTP_2)).await.expect("response");
        assert_eq!(h2.headers().get(header::CONNECTION), None, "HTTP/2 learns it from GOAWAY");
    }

    #[tokio::test]
    async fn a_request_counts_until_its_body_ends() {
        let shutdown = Shutdown::new(ShutdownConfig::new());
        let response = hello(&shutdown).oneshot(request(http::Version::HTTP_11)).await.expect("response");
        assert_eq!(shutdown.in_flight(), 1, "the body still counts");
        let body = response.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(&body[..], b"hello");
        assert_eq!(shutdown.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pending_request_is_answered_503_at_the_deadline() {
        let shutdown = Shutdown::new(ShutdownConfig::new());
        let slow = tower::service_fn(|_req: Request<()>| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"late"))))
        });
        let call = tokio::spawn(shutdown.layer().layer(slow).oneshot(request(http::Version::HTTP_11)));
        tokio::task::yield_now().await;
        assert_eq!(shutdown.in_flight(), 1);
        shutdown.begin_cut();
        let response = call.await.expect("task").expect("response");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(shutdown.in_flight(), 0, "a cut request no longer counts");
        let size = response.body().size_hint().exact();
        assert_eq!(size, Some(CUT_MESSAGE.len() as u64), "its Content-Length");
        assert!(!response.body().is_end_stream(), "the message is still to be sent");
        let body = response.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(&body[..], CUT_MESSAGE.as_bytes());
    }

    #[test]
    fn admission_over_the_cap_counts_nothing() {
        let shutdown = Shutdown::new(ShutdownConfig::new());
        let first = shutdown.admit(1).expect("under the cap");
        assert!(shutdown.admit(1).is_none(), "at the cap");
        assert_eq!(shutdown.in_flight(), 1);
        drop(first);
        assert_eq!(shutdown.in_flight(), 0);
    }
}
