//! Store failures are logged at most once per interval, with how many were folded in, so
//! that a Redis outage under load does not flood the log.

use std::sync::Mutex;
use std::time::Duration;

// Tokio's clock: the same as the system's, except in a test that paused it.
use tokio::time::Instant;

use crate::LimiterError;

/// The default interval: at most one line per 10 s.
pub(crate) const LOG_INTERVAL: Duration = Duration::from_secs(10);

pub(crate) struct ErrorLog {
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl ErrorLog {
    pub(crate) fn new(interval: Duration) -> Self {
        Self { interval, state: Mutex::default() }
    }

    pub(crate) fn record(&self, policy: &str, mode: &str, error: &LimiterError) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.last_logged.is_some_and(|at| at.elapsed() < self.interval) {
            state.suppressed += 1;
            return;
        }
        let suppressed = std::mem::take(&mut state.suppressed);
        state.last_logged = Some(Instant::now());
        drop(state);
        tracing::warn!(
            policy,
            failure_mode = mode,
            suppressed,
            "rate limiter cannot reach Redis ({error}); deciding by the failure mode \
             ({suppressed} more failures since the last report)"
        );
    }
}
