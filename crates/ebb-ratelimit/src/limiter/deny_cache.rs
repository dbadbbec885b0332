//! Local memory of "limited until t": once Redis has refused a key, this replica refuses it
//! too until Redis would allow it again, without asking. A flood from one client over its
//! limit then costs Redis one command per retry-after period, not one per request.
//!
//! Safe for exactness: a GCRA state only moves forward (refusals do not change it; other
//! replicas' admissions push it later), so a key Redis refused at `t0` with `retry_after` is
//! refused by Redis until `t0 + retry_after` as well. The deadline counts from the moment
//! the command was *sent*, so it never outlasts Redis' own.
//!
//! Redis' state can also move back (an operator deletes a key to lift a limit, a flush, a
//! failover that lost writes): so a refusal is remembered for at most [`MAX_REMEMBERED`],
//! after which Redis is asked again. The `Retry-After` sent stays Redis' own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::decision::Decision;

/// Keys remembered at most (two generations of half this each, ~100 bytes per key).
pub(crate) const DEFAULT_DENY_CACHE_KEYS: usize = 10_000;

/// The longest a refusal is answered locally before Redis is asked again.
pub(crate) const MAX_REMEMBERED: Duration = Duration::from_secs(5);

#[derive(Clone, Copy)]
struct Deny {
    /// Until when this replica answers for Redis.
    until: Instant,
    /// When Redis said the key may try again (for `Retry-After`).
    retry_at: Instant,
    reset_until: Instant,
    limit: u32,
}

/// Two generations approximate LRU in O(1): lookups promote to the young one; when it is
/// full, the old one is dropped whole.
pub(crate) struct DenyCache {
    generations: Mutex<[HashMap<Box<str>, Deny>; 2]>,
    per_generation: usize,
}

impl DenyCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { generations: Mutex::new([HashMap::new(), HashMap::new()]), per_generation: capacity / 2 }
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.per_generation > 0
    }

    /// The refusal still in force for `key`, if any.
    pub(crate) fn check(&self, key: &str, now: Instant) -> Option<Decision> {
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        let deny = match generations[0].get(key) {
            Some(deny) => *deny,
            None => {
                let deny = generations[1].remove(key)?;
                if deny.until > now {
                    Self::insert_young(&mut generations, self.per_generation, Box::from(key), deny);
                }
                deny
            }
        };
        if deny.until <= now {
            generations[0].remove(key);
            return None;
        }
        Some(Decision {
            allowed: false,
            limit: deny.limit,
            remaining: 0,
            retry_after: deny.retry_at.saturating_duration_since(now),
            reset: deny.reset_until.saturating_duration_since(now),
        })
    }

    /// Remembers Redis' refusal of a one-unit request sent at `sent_at`.
    pub(crate) fn remember(&self, key: &str, sent_at: Instant, decision: &Decision) {
        if decision.retry_after < MIN_WORTH_CACHING {
            return;
        }
        let deny = Deny {
            until: sent_at + decision.retry_after.min(MAX_REMEMBERED),
            retry_at: sent_at + decision.retry_after,
            reset_until: sent_at + decision.reset,
            limit: decision.limit,
        };
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        Self::insert_young(&mut generations, self.per_generation, Box::from(key), deny);
    }

    fn insert_young(generations: &mut [HashMap<Box<str>, Deny>; 2], per_generation: usize, key: Box<str>, deny: Deny) {
        if generations[0].len() >= per_generation && !generations[0].contains_key(&key) {
            generations[1] = std::mem::take(&mut generations[0]);
        }
        generations[0].insert(key, deny);
    }
}

/// Refusals shorter than this are not worth a map entry.
const MIN_WORTH_CACHING: Duration = Duration::from_millis(1);

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(retry_after_ms: u64) -> Decision {
        Decision {
            allowed: false,
            limit: 5,
            remaining: 0,
            retry_after: Duration::from_millis(retry_after_ms),
            reset: Duration::from_millis(retry_after_ms * 2),
        }
    }

    #[test]
    fn refuses_until_the_deadline_counted_from_sending() {
        let cache = DenyCache::new(100);
        let sent = Instant::now();
        cache.remember("k", sent, &refused(1000));
        let during = cache.check("k", sent + Duration::from_millis(400)).expect("still refused");
        assert_eq!(during.retry_after, Duration::from_millis(600));
        assert_eq!(during.reset, Duration::from_millis(1600));
        assert!(!during.allowed);
        assert!(cache.check("k", sent + Duration::from_millis(1000)).is_none(), "expired at the deadline");
        assert!(cache.check("other", sent).is_none());
        // A long refusal is answered locally for a few seconds only, with Redis' Retry-After.
        cache.remember("long", sent, &refused(3_600_000));
        let early = cache.check("long", sent + Duration::from_secs(1)).expect("refused");
        assert_eq!(early.retry_after, Duration::from_secs(3599));
        assert!(cache.check("long", sent + MAX_REMEMBERED).is_none(), "Redis is asked again");
    }

    #[test]
    fn memory_is_bounded_and_recent_keys_survive() {
        let cache = DenyCache::new(10);
        let sent = Instant::now();
        cache.remember("hot", sent, &refused(60_000));
        for i in 0..1000 {
            cache.remember(&format!("k{i}"), sent, &refused(60_000));
            if i % 3 == 0 {
                assert!(cache.check("hot", sent).is_some(), "a key in use stays");
            }
        }
        let held: usize = cache.generations.lock().expect("lock").iter().map(HashMap::len).sum();
        assert!(held <= 10, "{held}");
    }

    #[test]
    fn zero_capacity_is_off() {
        assert!(!DenyCache::new(0).is_enabled());
    }
}
