//! What the limiter answered for one key.

use std::time::Duration;

/// One decision of the limiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The policy's burst: the most requests a key may make at once.
    pub limit: u32,
    /// Requests the key may still make right now (after this one, when allowed).
    pub remaining: u32,
    /// When limited, how long until one request of the same cost would be allowed; zero
    /// when allowed.
    pub retry_after: Duration,
    /// How long until the key is back to its full burst.
    pub reset: Duration,
}

/// Pure GCRA, the same arithmetic as `gcra.lua`, for the in-process store. Times in
/// microseconds. Returns the decision and, when allowed, the new theoretical arrival time.
pub(crate) fn gcra(tat: Option<u64>, now: u64, interval: u64, burst: u32, cost: u32) -> (Decision, Option<u64>) {
    let tat = tat.unwrap_or(now).max(now);
    let capacity = u64::from(burst).saturating_mul(interval);
    let new_tat = tat.saturating_add(u64::from(cost).saturating_mul(interval));
    let remaining = |ahead: u64| u32::try_from(capacity.saturating_sub(ahead) / interval).unwrap_or(u32::MAX);
    // How far the key is booked ahead of now, after this request.
    let ahead = new_tat - now;
    if ahead > capacity {
        let decision = Decision {
            allowed: false,
            limit: burst,
            remaining: remaining(tat - now),
            retry_after: Duration::from_micros(ahead - capacity),
            reset: Duration::from_micros(tat - now),
        };
        return (decision, None);
    }
    let decision = Decision {
        allowed: true,
        limit: burst,
        remaining: remaining(ahead),
        retry_after: Duration::ZERO,
        reset: Duration::from_micros(ahead),
    };
    (decision, Some(new_tat))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `requests` decisions at the given times (µs) and counts the allowed ones.
    fn allowed_at(times: impl IntoIterator<Item = u64>, interval: u64, burst: u32) -> usize {
        let mut tat = None;
        let mut allowed = 0;
        for now in times {
            let (decision, new_tat) = gcra(tat, now, interval, burst, 1);
            if decision.allowed {
                allowed += 1;
                tat = new_tat;
            }
        }
        allowed
    }

    #[test]
    fn an_idle_key_gets_its_burst_at_once() {
        assert_eq!(allowed_at(std::iter::repeat_n(1_000_000, 50), 100_000, 5), 5);
    }

    #[test]
    fn over_time_it_gets_burst_plus_rate_times_elapsed() {
        // 10/s with burst 5, hammered every millisecond for 3 s: 5 + 10 x 3 = 35.
        let times = (0..=3000).map(|ms| 1_000_000 + ms * 1000);
        assert_eq!(allowed_at(times, 100_000, 5), 35);
    }

    #[test]
    fn limited_decisions_say_when_to_retry() {
        let (first, tat) = gcra(None, 0, 1000, 1, 1);
        assert!(first.allowed);
        assert_eq!((first.remaining, first.reset), (0, Duration::from_micros(1000)));
        let (second, none) = gcra(tat, 400, 1000, 1, 1);
        assert!(!second.allowed && none.is_none());
        assert_eq!(second.retry_after, Duration::from_micros(600));
        assert_eq!(second.reset, Duration::from_micros(600));
    }

    #[test]
    fn remaining_counts_down() {
        let mut tat = None;
        let remaining: Vec<u32> = (0..4)
            .map(|_| {
                let (decision, new_tat) = gcra(tat, 10, 1000, 3, 1);
                tat = new_tat.or(tat);
                decision.remaining
            })
            .collect();
        assert_eq!(remaining, [2, 1, 0, 0]);
    }
}
