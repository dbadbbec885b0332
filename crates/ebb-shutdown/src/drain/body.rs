use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::shutdown::InFlightGuard;

/// The error a [`DrainBody`] ends with when the shutdown deadline cuts it mid-stream.
#[derive(Debug, thiserror::Error)]
#[error("response body cut by the shutdown deadline")]
pub struct BodyCut;

pin_project! {
    /// Response body of [`Drain`](super::Drain): the inner body, counted as in flight until
    /// it ends, and aborted with [`BodyCut`] if it is still streaming at the deadline.
    pub struct DrainBody<B> {
        #[pin]
        inner: Option<B>,
        message: Option<&'static str>,
        guard: Option<InFlightGuard>,
        #[pin]
        deadline: Option<WaitForCancellationFutureOwned>,
    }
}

impl<B> DrainBody<B> {
    pub(crate) fn new(inner: B, guard: Option<InFlightGuard>) -> Self {
        Self { inner: Some(inner), message: None, guard, deadline: None }
    }

    pub(crate) fn cut_message(message: &'static str) -> Self {
        Self { inner: None, message: Some(message), guard: None, deadline: None }
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
                drop(this.guard.take());
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => Poll::Ready(Some(frame.map_err(Into::into))),
            Poll::Pending => {
                let Some(guard) = this.guard.as_ref() else { return Poll::Pending };
                if this.deadline.is_none() {
                    this.deadline.set(Some(guard.deadline().clone().cancelled_owned()));
                }
                let Some(deadline) = this.deadline.as_pin_mut() else { return Poll::Pending };
                if deadline.poll(cx).is_pending() {
                    return Poll::Pending;
                }
                drop(this.guard.take());
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
