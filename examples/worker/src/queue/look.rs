//! When to look for jobs whose lease ran out: once a second per process, not per consumer,
//! so 64 idle consumers cost one `XPENDING` a second, like one. The consumer that finds the
//! look due does it and runs what it claims; after a find the look is due again at once, so
//! a backlog of lapsed jobs spreads over every free consumer instead of one a second.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a process looks for jobs whose lease ran out, when it finds none.
pub(super) const LOOK_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(super) struct Look {
    last: Mutex<Option<Instant>>,
}

impl Look {
    /// Whether the caller should look now; if so, the next look is a second away.
    pub(super) fn due(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < LOOK_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    /// The look found a job: the next free consumer looks again at once.
    pub(super) fn again(&self) {
        *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_a_second_unless_the_last_look_found_something() {
        let look = Look::default();
        assert!(look.due());
        assert!(!look.due(), "a second consumer right after: not due");
        look.again();
        assert!(look.due(), "after a find: due at once");
    }
}
