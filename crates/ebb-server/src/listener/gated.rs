//! [`Gated`]: a future that a `select!` loop may poll on every wake of its task, but that
//! polls what it wraps only when that woke it.
//!
//! A connection's task wakes several times per request (bytes in, room to write) and its
//! `select!` polls every branch each time. The shutdown phases it waits for are
//! `CancellationToken` waits, and polling one takes the token's lock: two locks per wake
//! for a moment that comes once per process. Behind the gate, a wake costs one atomic
//! load; the lock is taken only when the phase's own wake fires.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use pin_project_lite::pin_project;

pin_project! {
    /// See the [module docs](self).
    pub(crate) struct Gated<F> {
        #[pin]
        inner: F,
        gate: Arc<Gate>,
        // The task waker last handed to the gate: compared without the lock.
        task: Option<Waker>,
        started: bool,
    }
}

/// What the wrapped future wakes: it records the wake, then wakes the task.
#[derive(Default)]
struct Gate {
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Wake for Gate {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        let task = self.task.lock().map(|task| task.clone()).unwrap_or_default();
        if let Some(task) = task {
            task.wake();
        }
    }
}

impl<F> Gated<F> {
    pub(crate) fn new(inner: F) -> Self {
        Self { inner, gate: Arc::new(Gate::default()), task: None, started: false }
    }
}

impl<F: Future> Future for Gated<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if !this.task.as_ref().is_some_and(|task| task.will_wake(cx.waker())) {
            if let Ok(mut task) = this.gate.task.lock() {
                *task = Some(cx.waker().clone());
            }
            *this.task = Some(cx.waker().clone());
        }
        // The first poll registers the inner future; later ones only after its wake.
        if *this.started && !this.gate.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        *this.started = true;
        let waker = Waker::from(this.gate.clone());
        this.inner.poll(&mut Context::from_waker(&waker))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// Counts its polls; ready once `open` is set (and it was woken).
    struct Door {
        open: Arc<AtomicBool>,
        polls: Arc<AtomicUsize>,
        waker: Arc<Mutex<Option<Waker>>>,
    }

    impl Future for Door {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            if self.open.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            *self.waker.lock().expect("lock") = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn the_inner_future_is_polled_only_after_its_own_wake() {
        let (open, polls, waker) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)), Arc::default());
        let door = Door { open: open.clone(), polls: polls.clone(), waker: Arc::clone(&waker) };
        let mut gated = std::pin::pin!(Gated::new(door));
        let noop = Waker::noop();
        let mut cx = Context::from_waker(noop);
        for _ in 0..100 {
            assert!(gated.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(polls.load(Ordering::Relaxed), 1, "registered once, not polled on every wake");
        open.store(true, Ordering::Release);
        assert!(gated.as_mut().poll(&mut cx).is_pending(), "not woken yet: not polled");
        let inner_waker = waker.lock().expect("lock").take().expect("registered");
        inner_waker.wake();
        assert!(gated.as_mut().poll(&mut cx).is_ready(), "its wake lets the next poll through");
        assert_eq!(polls.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn a_cancellation_reaches_the_task() {
        let token = tokio_util::sync::CancellationToken::new();
        let gated = Gated::new(token.clone().cancelled_owned());
        let canceller = tokio::spawn(async move { token.cancel() });
        tokio::time::timeout(std::time::Duration::from_secs(5), gated).await.expect("woken by the cancellation");
        canceller.await.expect("task");
    }
}
