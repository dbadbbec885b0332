//! What one connection is doing, shared by its socket, its service and its task, and the
//! timeouts that follow from it.
//!
//! hyper's own HTTP/1 `header_read_timeout` also runs while a keep-alive connection waits
//! for its next request, so it cannot tell a slow head (seconds) from an idle connection
//! (longer than the load balancer's idle timeout). This state tells them apart.
//!
//! The hot path (bytes, requests, response ends) only touches atomics, never the clock:
//! the connection's timer reads the clock when it wakes, and notices how long a state has
//! lasted by seeing it unchanged across wakes ([`Watch`]). So a timeout fires between its
//! value and its value plus one timer period (half the header read timeout).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One connection's activity.
#[derive(Debug)]
pub(crate) struct ConnState {
    in_flight: AtomicUsize,
    /// Requests (and response ends) so far: any change means the connection was not idle.
    events: AtomicU64,
    /// Bytes arrived since the last request began.
    head_bytes: AtomicBool,
    /// Successful writes so far, and whether the last write found the socket full: a
    /// client that stops reading its response shows as writes that stop moving.
    writes: AtomicU64,
    write_blocked: AtomicBool,
    fresh: AtomicBool,
    h2: AtomicBool,
    /// HTTP/2: a header block began and has not ended (see `h2_heads`).
    h2_head_open: AtomicBool,
    detached: AtomicBool,
}

/// What the connection's timer should do now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing yet; look again after this long.
    Wait(Duration),
    /// Idle too long (or never sent a byte): close gracefully; nothing is lost.
    CloseIdle,
    /// The first request head has been arriving for longer than the header read timeout.
    CutSlowHead,
    /// The client has not read any of its response for longer than the body timeout.
    CutSlowReader,
}

/// The timer's memory: since when the connection has been in the state it is in now.
#[derive(Debug)]
pub(crate) struct Watch {
    seen: (u64, bool, u64, bool),
    since: Instant,
}

impl Watch {
    pub(crate) fn new() -> Self {
        Self { seen: (0, false, 0, false), since: Instant::now() }
    }
}

impl ConnState {
    pub(crate) fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            events: AtomicU64::new(0),
            head_bytes: AtomicBool::new(false),
            writes: AtomicU64::new(0),
            write_blocked: AtomicBool::new(false),
            fresh: AtomicBool::new(true),
            h2: AtomicBool::new(false),
            h2_head_open: AtomicBool::new(false),
            detached: AtomicBool::new(false),
        }
    }

    /// Bytes arrived. While no request is in flight, they begin the next request head.
    pub(crate) fn on_bytes(&self) {
        if self.fresh.load(Ordering::Relaxed) {
            self.fresh.store(false, Ordering::Relaxed);
        }
        if self.in_flight.load(Ordering::Acquire) == 0 && !self.head_bytes.load(Ordering::Relaxed) {
            self.head_bytes.store(true, Ordering::Relaxed);
        }
    }

    /// hyper parsed a request head and called the service.
    pub(crate) fn on_request(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.bump_events();
        self.head_bytes.store(false, Ordering::Relaxed);
    }

    /// A response body ended (or was dropped).
    pub(crate) fn on_response_end(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.bump_events();
    }

    /// `events` only tells the timer that something happened: a load and a store (no
    /// locked read-modify-write) suffice, even if two HTTP/2 streams race and one is lost.
    fn bump_events(&self) {
        self.events.store(self.events.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }

    /// The socket took `written` bytes, or (`0`) was full.
    pub(crate) fn on_write(&self, written: usize) {
        if written > 0 {
            // Only the connection's task writes: no locked read-modify-write needed.
            self.writes.store(self.writes.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
            if self.write_blocked.load(Ordering::Relaxed) {
                self.write_blocked.store(false, Ordering::Relaxed);
            }
        } else if !self.write_blocked.load(Ordering::Relaxed) {
            self.write_blocked.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the connection has served a request: bytes that arrive after one may be the
    /// rest of a body hyper drains, not a new head.
    pub(crate) fn has_served(&self) -> bool {
        self.events.load(Ordering::Relaxed) > 0
    }

    /// Whether a request is being handled (its response not yet sent).
    pub(crate) fn is_busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    pub(crate) fn mark_h2(&self) {
        self.h2.store(true, Ordering::Relaxed);
    }

    /// Whether an HTTP/2 header block is open, as the socket reads it.
    pub(crate) fn set_h2_head_open(&self, open: bool) {
        if self.h2_head_open.load(Ordering::Relaxed) != open {
            self.h2_head_open.store(open, Ordering::Relaxed);
        }
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

    /// Part of a request head arrived: closing now loses a request the client began to
    /// send. HTTP/1: bytes while no request is being handled; HTTP/2: an open header block
    /// (which stalls the whole connection while it lasts, whatever streams are open).
    pub(crate) fn has_partial_head(&self) -> bool {
        if self.is_h2() {
            return self.h2_head_open.load(Ordering::Relaxed);
        }
        self.in_flight.load(Ordering::Acquire) == 0 && self.head_bytes.load(Ordering::Relaxed)
    }

    /// The timer's verdict; `watch` carries what the previous wakes saw. The timer wakes
    /// again after at most half the header read timeout.
    pub(crate) fn verdict(&self, watch: &mut Watch, timeouts: Timeouts) -> Verdict {
        let Timeouts { header, idle, send } = timeouts;
        let now = Instant::now();
        let period = timeouts.period();
        let events = self.events.load(Ordering::Relaxed);
        let head_bytes = self.has_partial_head();
        let busy = self.is_busy();
        // Writes matter only while a response is being written: the server's own HTTP/2
        // pings (and their acks) are no activity, so they never keep an idle connection.
        let blocked = busy && self.write_blocked.load(Ordering::Relaxed);
        let writes = if busy { self.writes.load(Ordering::Relaxed) } else { 0 };
        let seen = (events, head_bytes, writes, blocked);
        if seen != watch.seen {
            *watch = Watch { seen, since: now };
            return Verdict::Wait(period);
        }
        let lasted = now.duration_since(watch.since);
        let (limit, verdict) = if head_bytes && self.is_h2() {
            // A header block open that long, on any connection state: a slow head.
            (header, Verdict::CutSlowHead)
        } else if busy {
            // A busy connection is the request timeouts' business, unless its client stopped
            // reading: a response that cannot be written holds the connection for nothing.
            if !blocked {
                return Verdict::Wait(period);
            }
            (send, Verdict::CutSlowReader)
        } else if head_bytes && events == 0 {
            (header, Verdict::CutSlowHead)
        } else if head_bytes || events == 0 {
            // A new connection must send its first request promptly; after a request, bytes
            // may be a body hyper drains, so a stalled "head" there is closed gracefully.
            (header, Verdict::CloseIdle)
        } else {
            (idle, Verdict::CloseIdle)
        };
        if lasted >= limit { verdict } else { Verdict::Wait(period.min(limit - lasted).max(Duration::from_millis(1))) }
    }
}

/// The timeouts the timer applies.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    /// From the first byte (or accept) to a complete head.
    pub(crate) header: Duration,
    /// Between requests.
    pub(crate) idle: Duration,
    /// Without any progress writing a response.
    pub(crate) send: Duration,
}

impl Timeouts {
    /// How often the timer looks, at most: half the header read timeout.
    pub(crate) fn period(self) -> Duration {
        (self.header / 2).max(Duration::from_millis(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: Duration = Duration::from_millis(40);
    const IDLE: Duration = Duration::from_millis(200);
    const TIMEOUTS: Timeouts = Timeouts { header: HEADER, idle: IDLE, send: Duration::from_millis(100) };

    fn wait_out(state: &ConnState, watch: &mut Watch) -> Verdict {
        loop {
            match state.verdict(watch, TIMEOUTS) {
                Verdict::Wait(after) => std::thread::sleep(after),
                other => return other,
            }
        }
    }

    #[test]
    fn a_silent_new_connection_closes_after_the_header_timeout() {
        let state = ConnState::new();
        let started = Instant::now();
        assert_eq!(wait_out(&state, &mut Watch::new()), Verdict::CloseIdle);
        assert!(started.elapsed() < IDLE, "closed by the idle timeout instead");
    }

    #[test]
    fn a_trickling_head_is_cut_and_counts_as_partial() {
        let state = ConnState::new();
        state.on_bytes();
        assert!(state.has_partial_head());
        let started = Instant::now();
        assert_eq!(wait_out(&state, &mut Watch::new()), Verdict::CutSlowHead);
        assert!(started.elapsed() >= HEADER);
    }

    #[test]
    fn a_busy_connection_never_times_out_here_and_idles_by_the_idle_timeout() {
        let state = ConnState::new();
        let mut watch = Watch::new();
        state.on_bytes();
        state.on_request();
        assert!(!state.has_partial_head());
        for _ in 0..4 {
            let Verdict::Wait(after) = state.verdict(&mut watch, TIMEOUTS) else {
                panic!("a busy connection timed out")
            };
            std::thread::sleep(after);
        }
        state.on_bytes(); // body bytes: not a head
        state.on_response_end();
        let idle_from = Instant::now();
        assert_eq!(wait_out(&state, &mut watch), Verdict::CloseIdle);
        assert!(idle_from.elapsed() >= IDLE);
    }

    #[test]
    fn http2_bytes_are_no_head_but_an_open_header_block_is_cut_even_beside_streams() {
        let state = ConnState::new();
        state.mark_h2();
        state.on_bytes();
        assert!(!state.has_partial_head(), "frames other than a header block are no head");
        assert!(matches!(state.verdict(&mut Watch::new(), TIMEOUTS), Verdict::Wait(_)));
        state.on_request(); // a stream in flight beside the stalled block
        state.set_h2_head_open(true);
        assert!(state.has_partial_head());
        let started = Instant::now();
        assert_eq!(wait_out(&state, &mut Watch::new()), Verdict::CutSlowHead);
        assert!(started.elapsed() >= HEADER);
    }

    #[test]
    fn an_idle_http2_connection_closes_though_pings_are_written_and_answered() {
        let state = ConnState::new();
        state.mark_h2();
        state.on_request();
        state.on_response_end();
        let mut watch = Watch::new();
        let idle_from = Instant::now();
        let verdict = loop {
            // The server's ping and the client's ack, on every wake.
            state.on_write(17);
            state.on_bytes();
            match state.verdict(&mut watch, TIMEOUTS) {
                Verdict::Wait(after) => std::thread::sleep(after),
                other => break other,
            }
        };
        assert_eq!(verdict, Verdict::CloseIdle);
        assert!(idle_from.elapsed() >= IDLE);
    }

    #[test]
    fn a_client_that_stops_reading_is_cut_after_the_send_timeout() {
        let state = ConnState::new();
        state.on_request();
        state.on_write(512);
        state.on_write(0);
        let started = Instant::now();
        assert_eq!(wait_out(&state, &mut Watch::new()), Verdict::CutSlowReader);
        assert!(started.elapsed() >= TIMEOUTS.send);
    }

    #[test]
    fn bytes_after_a_served_request_are_closed_gracefully_not_cut() {
        let state = ConnState::new();
        state.on_request();
        state.on_response_end();
        state.on_bytes(); // the rest of an unread body, drained by hyper
        assert_eq!(wait_out(&state, &mut Watch::new()), Verdict::CloseIdle);
    }
}
