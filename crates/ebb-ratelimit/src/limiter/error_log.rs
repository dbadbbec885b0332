//! Store failures are logged at most once per interval, with how many were folded in, so
//! that a Redis outage under load does not flood the log.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::LimiterError;

pub(crate) const LOG_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(crate) struct ErrorLog {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl ErrorLog {
    pub(crate) fn record(&self, policy: &str, mode: &str, error: &LimiterError) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.last_logged.is_some_and(|at| at.elapsed() < LOG_INTERVAL) {
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
