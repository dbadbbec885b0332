//! What one connection is doing, shared by its socket, its service and its task, and the
//! timeouts that follow from it.
//!
//! hyper's own HTTP/1 `header_read_timeout` also runs while a keep-alive connection waits
//! for its next request, so it cannot tell a slow head (seconds) from an idle connection
//! (longer than the load balancer's idle timeout). This state tells them apart.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const NONE: u64 = u64::MAX;

/// One connection's activity. Times are milliseconds since the connection was accepted.
#[derive(Debug)]
pub(crate) struct ConnState {
    opened: Instant,
    in_flight: AtomicUsize,
    served: AtomicBool,
    fresh: AtomicBool,
    head_started_ms: AtomicU64,
    idle_since_ms: AtomicU64,
    h2: AtomicBool,
    detached: AtomicBool,
}

/// What the connection's timer should do now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing yet; look again after this long.
    Wait(Duration),
    /// Idle too long (or never sent a byte): close gracefully; nothing is lost.
    CloseIdle,
    /// A request head has been arriving for longer than the header read timeout.
    CutSlowHead,
}

impl ConnState {
    pub(crate) fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            fresh: AtomicBool::new(true),
            head_started_ms: AtomicU64::new(NONE),
            idle_since_ms: AtomicU64::new(0),
            h2: AtomicBool::new(false),
            detached: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    /// Bytes arrived. While no request is in flight, they begin the next request head.
    pub(crate) fn on_bytes(&self) {
        self.fresh.store(false, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0 && self.head_started_ms.load(Ordering::Relaxed) == NONE {
            self.head_started_ms.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    /// hyper parsed a request head and called the service.
    pub(crate) fn on_request(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.served.store(true, Ordering::Relaxed);
        self.head_started_ms.store(NONE, Ordering::Relaxed);
    }

    /// A response body ended (or was dropped).
    pub(crate) fn on_response_end(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle_since_ms.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    pub(crate) fn mark_h2(&self) {
        self.h2.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_h2(&self) -> bool {
        self.h2.load(Ordering::Relaxed)
    }

    pub(crate) fn is_fresh(&self) -> bool {
        self.fresh.load(Ordering::Relaxed)
    }

    /// hyper let go of the socket (an upgrade): from now on the socket watches the deadline.
    pub(crate) fn detach(&self) {
        self.detached.store(true, Ordering::Release);
    }

    pub(crate) fn is_detached(&self) -> bool {
        self.detached.load(Ordering::Acquire)
    }

    /// Part of a request head arrived and no request is being handled: closing now loses
    /// a request the client began to send.
    pub(crate) fn has_partial_head(&self) -> bool {
        !self.is_h2()
            && self.in_flight.load(Ordering::Acquire) == 0
            && self.head_started_ms.load(Ordering::Relaxed) != NONE
    }

    /// The timer's verdict. The wait is capped at `header_timeout`, so that a head that
    /// starts while the timer sleeps for the idle timeout is still cut on time.
    pub(crate) fn verdict(&self, header_timeout: Duration, idle_timeout: Duration) -> Verdict {
        let header_ms = millis(header_timeout);
        let cap = |due: u64, now: u64| Duration::from_millis(due.saturating_sub(now).min(header_ms).max(1));
        let now = self.now_ms();
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Verdict::Wait(header_timeout);
        }
        if !self.is_h2() {
            let head = self.head_started_ms.load(Ordering::Relaxed);
            if head != NONE {
                let due = head.saturating_add(header_ms);
                return if now >= due { Verdict::CutSlowHead } else { Verdict::Wait(cap(due, now)) };
            }
            if !self.served.load(Ordering::Relaxed) {
                // A new connection must send its first request promptly.
                return if now >= header_ms { Verdict::CloseIdle } else { Verdict::Wait(cap(header_ms, now)) };
            }
        }
        let due = self.idle_since_ms.load(Ordering::Relaxed).saturating_add(millis(idle_timeout));
        if now >= due { Verdict::CloseIdle } else { Verdict::Wait(cap(due, now)) }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(NONE - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: Duration = Duration::from_millis(40);
    const IDLE: Duration = Duration::from_millis(200);

    fn wait_out(state: &ConnState) -> Verdict {
        loop {
            match state.verdict(HEADER, IDLE) {
                Verdict::Wait(after) => std::thread::sleep(after),
                other => return other,
            }
        }
    }

    #[test]
    fn a_silent_new_connection_closes_after_the_header_timeout() {
        let state = ConnState::new();
        let started = Instant::now();
        assert_eq!(wait_out(&state), Verdict::CloseIdle);
        assert!(started.elapsed() < IDLE, "closed by the idle timeout instead");
    }

    #[test]
    fn a_trickling_head_is_cut_and_counts_as_partial() {
        let state = ConnState::new();
        state.on_bytes();
        assert!(state.has_partial_head());
        assert_eq!(wait_out(&state), Verdict::CutSlowHead);
    }

    #[test]
    fn a_busy_connection_never_times_out_here_and_idles_by_the_idle_timeout() {
        let state = ConnState::new();
        state.on_bytes();
        state.on_request();
        assert!(!state.has_partial_head());
        std::thread::sleep(HEADER * 2);
        assert_eq!(state.verdict(HEADER, IDLE), Verdict::Wait(HEADER));
        state.on_bytes(); // body bytes: not a head
        state.on_response_end();
        let idle_from = Instant::now();
        assert_eq!(wait_out(&state), Verdict::CloseIdle);
        assert!(idle_from.elapsed() >= IDLE - Duration::from_millis(5));
    }

    #[test]
    fn http2_has_no_head_timer() {
        let state = ConnState::new();
        state.mark_h2();
        state.on_bytes();
        assert!(!state.has_partial_head());
        assert!(matches!(state.verdict(HEADER, IDLE), Verdict::Wait(_)));
    }
}
