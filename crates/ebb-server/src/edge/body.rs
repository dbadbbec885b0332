//! [`EdgeBody`]: the one response body wrapper of the edge. It holds the request's
//! in-flight count until the body ends, records a gRPC call when its trailers pass, and
//! aborts a body still streaming at the shutdown deadline (the client sees a broken
//! transfer, never a truncated one that looks complete).

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use ebb_metrics::StreamRecord;
use ebb_shutdown::drain::BodyCut;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio_util::sync::WaitForCancellationFutureOwned;

use super::layer::Held;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project! {
    /// Response body of the edge, for a body still to be produced (a stream, a large or
    /// unknown length, a gRPC response waiting for its trailers).
    pub(crate) struct EdgeBody<B> {
        #[pin]
        inner: B,
        in_flight: Option<Held>,
        stream: Option<StreamRecord>,
        // Registered only once the body is pending: a body sent at once never touches the
        // deadline's waiter list.
        #[pin]
        cut: Option<WaitForCancellationFutureOwned>,
    }
}

impl<B> EdgeBody<B> {
    /// `inner`, holding `in_flight` until it ends and recording `stream` when its trailers
    /// pass.
    pub(crate) fn new(inner: B, in_flight: Option<Held>, stream: Option<StreamRecord>) -> Self {
        Self { inner, in_flight, stream, cut: None }
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
        let polled = this.inner.poll_frame(cx).map(|frame| frame.map(|frame| frame.map_err(Into::into)));
        let Poll::Ready(frame) = polled else {
            let Some(in_flight) = this.in_flight.as_ref() else { return Poll::Pending };
            if this.cut.is_none() {
                this.cut.set(Some(in_flight.in_flight.deadline().clone().cancelled_owned()));
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
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{Empty, Full};

    use super::*;

    #[test]
    fn the_wrapper_tells_what_its_body_tells() {
        let full = EdgeBody::new(Full::new(Bytes::from_static(b"abc")), None, None);
        assert_eq!(full.size_hint().exact(), Some(3));
        assert!(!full.is_end_stream());
        let empty = EdgeBody::new(Empty::<Bytes>::new(), None, None);
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));
    }
}
