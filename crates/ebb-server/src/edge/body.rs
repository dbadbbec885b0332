//! [`EdgeBody`]: the one response body wrapper of the edge. It holds the request's
//! in-flight count until the body ends, records a gRPC call when its trailers pass, and
//! aborts a body still streaming at the shutdown deadline (the client sees a broken
//! transfer, never a truncated one that looks complete).

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use ebb_metrics::StreamRecord;
use ebb_shutdown::InFlight;
use ebb_shutdown::drain::BodyCut;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use pin_project_lite::pin_project;
use tokio_util::sync::WaitForCancellationFutureOwned;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project! {
    /// Response body of the edge.
    pub(crate) struct EdgeBody<B> {
        #[pin]
        inner: Inner<B>,
        in_flight: Option<InFlight>,
        stream: Option<StreamRecord>,
        // Registered only once the body is pending: a body sent at once never touches the
        // deadline's waiter list.
        #[pin]
        cut: Option<WaitForCancellationFutureOwned>,
    }
}

pin_project! {
    #[project = InnerProj]
    enum Inner<B> {
        App { #[pin] body: B },
        Full { #[pin] body: Full<Bytes> },
    }
}

impl<B> EdgeBody<B> {
    pub(crate) fn new(body: B) -> Self {
        Self::with(Inner::App { body })
    }

    /// An answer of the edge's own.
    pub(crate) fn canned(text: Bytes) -> Self {
        Self::full(Full::new(text))
    }

    pub(crate) fn full(body: Full<Bytes>) -> Self {
        Self::with(Inner::Full { body })
    }

    fn with(inner: Inner<B>) -> Self {
        Self { inner, in_flight: None, stream: None, cut: None }
    }

    /// Holds `in_flight` until the body ends, and records `stream` when its trailers pass.
    pub(crate) fn attach(&mut self, in_flight: Option<InFlight>, stream: Option<StreamRecord>) {
        self.in_flight = in_flight;
        self.stream = stream;
    }
}

impl<B> Body for EdgeBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let polled = match this.inner.project() {
            InnerProj::App { body } => body.poll_frame(cx).map(|frame| frame.map(|frame| frame.map_err(Into::into))),
            InnerProj::Full { body } => body.poll_frame(cx).map(|frame| frame.map(|frame| frame.map_err(Into::into))),
        };
        let Poll::Ready(frame) = polled else {
            let Some(in_flight) = this.in_flight.as_ref() else { return Poll::Pending };
            if this.cut.is_none() {
                this.cut.set(Some(in_flight.deadline().clone().cancelled_owned()));
            }
            if let Some(cut) = this.cut.as_pin_mut() {
                ready!(cut.poll(cx));
            }
            drop(this.in_flight.take());
            StreamRecord::observe(this.stream, None::<&Result<Frame<Bytes>, BoxError>>);
            return Poll::Ready(Some(Err(BodyCut.into())));
        };
        StreamRecord::observe(this.stream, frame.as_ref());
        if frame.is_none() {
            drop(this.in_flight.take());
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::App { body } => body.is_end_stream(),
            Inner::Full { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::App { body } => body.size_hint(),
            Inner::Full { body } => body.size_hint(),
        }
    }
}
