//! Request bodies too slow to keep: a body that pauses longer than the progress timeout
//! (every route), or, on a non-streaming route, brings less than the minimum rate in a
//! window or has not ended by the body deadline, is abandoned, and the request is answered
//! 408 whatever the handler made of the error.
//!
//! Without the rate and the deadline, a client could hold a slot for the whole request
//! timeout by sending one byte just inside every progress timeout. Streaming routes (the
//! routes given to `Server::with_streaming_routes`: uploads of any size) keep the progress
//! timeout only, so that a large upload that keeps moving is never cut.
//!
//! Only the time the handler waits for the body counts (from a read that found nothing to
//! the next read): time the handler spends before it reads the body, or between reads on
//! work of its own, is not the client's.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use http::{Request, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::limits::BODY_RATE_WINDOW;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Whether a request's body was abandoned as too slow; `None` for requests without a body.
pub(crate) type Stalled = Option<Arc<AtomicBool>>;

/// How slow a request body may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BodyPace {
    /// The longest pause between two pieces (`EBB_BODY_TIMEOUT`).
    pub(crate) progress: Duration,
    /// Bytes per second, judged over [`BODY_RATE_WINDOW`]; `0`: not judged
    /// (`EBB_BODY_MIN_RATE`; streaming routes).
    pub(crate) min_rate: u64,
    /// The longest the whole body may take (`EBB_BODY_DEADLINE`; `None` on streaming routes).
    pub(crate) deadline: Option<Duration>,
}

impl BodyPace {
    /// The pace of a streaming route: the progress timeout only.
    pub(crate) fn streaming(self) -> Self {
        Self { min_rate: 0, deadline: None, ..self }
    }
}

/// Puts `pace` on `req`'s body. A request without a body (most GETs) has nothing to time
/// out: no timer, no flag, no allocation.
pub(crate) fn watch_body(req: Request<axum::body::Body>, pace: BodyPace) -> (Request<axum::body::Body>, Stalled) {
    if req.body().is_end_stream() {
        return (req, None);
    }
    let stalled = Arc::new(AtomicBool::new(false));
    let flag = stalled.clone();
    let req = req.map(|inner| {
        axum::body::Body::new(SlowBody { inner, timer: None, pace, clock: WaitClock::default(), stalled: flag })
    });
    (req, Some(stalled))
}

/// Whether `status` is a failure caused by a body that was too slow: then the answer is 408.
pub(crate) fn stalled_failure(stalled: &Stalled, status: StatusCode) -> bool {
    (status.is_client_error() || status.is_server_error())
        && stalled.as_ref().is_some_and(|stalled| stalled.load(Ordering::Acquire))
}

/// The error the handler's body read sees when the body was abandoned.
#[derive(Debug)]
pub(crate) struct TooSlow;

impl std::fmt::Display for TooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body arrived too slowly")
    }
}

impl std::error::Error for TooSlow {}

pin_project! {
    /// A request body under its [`BodyPace`].
    pub(crate) struct SlowBody<B> {
        #[pin]
        inner: B,
        // One timer, set to the next moment a rule must be judged; made on the first wait.
        #[pin]
        timer: Option<Sleep>,
        pace: BodyPace,
        clock: WaitClock,
        stalled: Arc<AtomicBool>,
    }
}

/// The time a body has kept its reader waiting: only from a poll that found nothing to
/// the next poll, never the time the handler spends between reads (hyper reads one piece
/// ahead, so a handler that works on each piece is never charged for its own work).
#[derive(Debug, Default)]
struct WaitClock {
    /// When the last poll found nothing, if it did.
    pending_since: Option<Instant>,
    /// Waited in all, since the last piece, and in the current rate window.
    total: Duration,
    since_piece: Duration,
    in_window: Duration,
    /// Bytes that came in the current rate window.
    window_bytes: u64,
}

impl WaitClock {
    /// Charges the wait that ended now.
    fn resume(&mut self, now: Instant) {
        if let Some(since) = self.pending_since.take() {
            let waited = now.saturating_duration_since(since);
            self.total += waited;
            self.since_piece += waited;
            self.in_window += waited;
        }
    }

    fn piece(&mut self, bytes: u64) {
        self.since_piece = Duration::ZERO;
        self.window_bytes += bytes;
    }

    /// Whether the body is too slow by `pace`; if not, how much more waiting the next
    /// judgement is due after. Closes a rate window that is over.
    fn judge(&mut self, pace: BodyPace) -> Result<Duration, TooSlow> {
        if self.since_piece >= pace.progress || pace.deadline.is_some_and(|deadline| self.total >= deadline) {
            return Err(TooSlow);
        }
        let mut next = pace.progress - self.since_piece;
        if let Some(deadline) = pace.deadline {
            next = next.min(deadline - self.total);
        }
        if pace.min_rate > 0 {
            if self.in_window >= BODY_RATE_WINDOW {
                if self.window_bytes < pace.min_rate.saturating_mul(BODY_RATE_WINDOW.as_secs()) {
                    return Err(TooSlow);
                }
                (self.in_window, self.window_bytes) = (Duration::ZERO, 0);
            }
            next = next.min(BODY_RATE_WINDOW - self.in_window);
        }
        Ok(next)
    }
}

impl<B> Body for SlowBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        this.clock.resume(Instant::now());
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            if let Some(Ok(frame)) = &frame {
                this.clock.piece(frame.data_ref().map_or(0, |data| data.remaining() as u64));
            }
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        loop {
            let now = Instant::now();
            this.clock.resume(now);
            let next = match this.clock.judge(*this.pace) {
                Ok(next) => now + next,
                Err(too_slow) => {
                    this.stalled.store(true, Ordering::Release);
                    return Poll::Ready(Some(Err(too_slow.into())));
                }
            };
            this.clock.pending_since = Some(now);
            match this.timer.as_mut().as_pin_mut() {
                Some(timer) if timer.deadline() == next => {}
                Some(timer) => timer.reset(next),
                None => this.timer.set(Some(tokio::time::sleep_until(next))),
            }
            let Some(timer) = this.timer.as_mut().as_pin_mut() else { return Poll::Pending };
            if timer.poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
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
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use tokio::sync::mpsc;

    use super::*;

    /// A body fed from a channel: the test is the client.
    struct Fed(mpsc::Receiver<Bytes>);

    impl Body for Fed {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            self.0.poll_recv(cx).map(|piece| piece.map(|piece| Ok(Frame::data(piece))))
        }
    }

    const PACE: BodyPace =
        BodyPace { progress: Duration::from_secs(30), min_rate: 1024, deadline: Some(Duration::from_secs(20)) };

    fn fed(pace: BodyPace) -> (mpsc::Sender<Bytes>, axum::body::Body, Stalled) {
        let (tx, rx) = mpsc::channel(16);
        let req = Request::new(axum::body::Body::new(Fed(rx)));
        let (req, stalled) = watch_body(req, pace);
        (tx, req.into_body(), stalled)
    }

    /// Sends `bytes` every `every` until the body gives up (or `count` pieces); returns how
    /// long the body lasted and whether it was abandoned.
    async fn trickle(pace: BodyPace, bytes: usize, every: Duration, count: usize) -> (Duration, bool) {
        let (tx, mut body, stalled) = fed(pace);
        let began = Instant::now();
        let client = tokio::spawn(async move {
            for _ in 0..count {
                if tx.send(Bytes::from(vec![b'x'; bytes])).await.is_err() {
                    return;
                }
                tokio::time::sleep(every).await;
            }
        });
        let mut abandoned = false;
        while let Some(frame) = body.frame().await {
            if frame.is_err() {
                abandoned = true;
                break;
            }
        }
        client.abort();
        assert_eq!(abandoned, stalled.is_some_and(|s| s.load(Ordering::Acquire)));
        (began.elapsed(), abandoned)
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_under_the_minimum_rate_is_abandoned_after_one_window() {
        // One byte a second: each piece keeps the progress timer happy.
        let (lasted, abandoned) = trickle(PACE, 1, Duration::from_secs(1), 1000).await;
        assert!(abandoned);
        assert!(lasted >= BODY_RATE_WINDOW && lasted < BODY_RATE_WINDOW + Duration::from_secs(2), "{lasted:?}");
        // Control: the same trickle with the rate off lasts until the deadline...
        let (lasted, abandoned) = trickle(BodyPace { min_rate: 0, ..PACE }, 1, Duration::from_secs(1), 1000).await;
        assert!(abandoned && lasted >= Duration::from_secs(20), "{lasted:?}");
        // ...and with neither, it is never abandoned (what a streaming route allows).
        let (_, abandoned) = trickle(PACE.streaming(), 1, Duration::from_secs(1), 100).await;
        assert!(!abandoned, "a streaming route keeps the progress timeout only");
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_at_the_minimum_rate_goes_on_until_the_deadline() {
        let (lasted, abandoned) = trickle(PACE, 2048, Duration::from_secs(1), 15).await;
        assert!(!abandoned, "15 s at twice the minimum rate is fine ({lasted:?})");
        let (lasted, abandoned) = trickle(PACE, 2048, Duration::from_secs(1), 1000).await;
        assert!(abandoned && lasted >= Duration::from_secs(20) && lasted < Duration::from_secs(21), "{lasted:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn time_the_handler_spends_between_reads_is_not_the_clients() {
        // A piece every 8 s; the handler works 7.5 s on each, so it waits 0.5 s per read:
        // 48 s in all, past the 20 s deadline, but only 3 s of it the client's.
        let (tx, mut body, _) = fed(PACE);
        let began = Instant::now();
        tokio::spawn(async move {
            for piece in 0..6 {
                tokio::time::sleep_until(began + Duration::from_secs(1 + 8 * piece)).await;
                tx.send(Bytes::from(vec![b'x'; 1000])).await.expect("send");
            }
        });
        let mut pieces = 0;
        while let Some(frame) = body.frame().await {
            assert!(frame.is_ok(), "the handler's own work was charged to the client ({:?})", began.elapsed());
            pieces += 1;
            tokio::time::sleep(Duration::from_millis(7500)).await;
        }
        assert_eq!(pieces, 6);
        assert!(began.elapsed() > Duration::from_secs(40));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_longer_than_the_progress_timeout_is_abandoned_on_every_route() {
        let pace = BodyPace { progress: Duration::from_secs(3), ..PACE.streaming() };
        let (lasted, abandoned) = trickle(pace, 1, Duration::from_secs(5), 10).await;
        assert!(abandoned && lasted >= Duration::from_secs(3) && lasted < Duration::from_secs(4), "{lasted:?}");
    }

    #[test]
    fn only_failures_of_a_stalled_body_become_408() {
        let stalled: Stalled = Some(Arc::new(AtomicBool::new(true)));
        assert!(stalled_failure(&stalled, StatusCode::BAD_REQUEST));
        assert!(!stalled_failure(&stalled, StatusCode::OK));
        assert!(!stalled_failure(&None, StatusCode::BAD_REQUEST));
    }
}
