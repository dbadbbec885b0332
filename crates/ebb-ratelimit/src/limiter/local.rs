//! The in-process store: the same GCRA in sharded maps. For one replica, tests, and the
//! `local` failure mode.
//!
//! Keys are 64-bit keyed hashes (see [`Limiter`](crate::Limiter)'s `local_key`), already
//! uniformly spread, so the maps use them as their own hash.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::decision::{Decision, gcra};

const SHARDS: usize = 16;

/// One key's GCRA state, times in µs since the epoch.
#[derive(Clone, Copy)]
struct Entry {
    /// Theoretical arrival time: when the key is back to its full burst.
    tat: u64,
    /// From when one more one-unit request is allowed: `tat - (burst - 1) x interval`.
    allow_at: u64,
}

impl Entry {
    /// A key is *limited* at `now` when its GCRA state refuses a one-unit request now: its
    /// TAT lies beyond `now` plus the tolerance `(burst - 1) x interval`, i.e.
    /// `allow_at > now`. Forgetting such a key would lift its limit, so it is never evicted.
    fn is_limited(&self, now: u64) -> bool {
        self.allow_at > now
    }
}

type Shard = HashMap<u64, Entry, BuildHasherDefault<KeyIsHash>>;

/// Keys held at most, over all shards. When a shard is full, keys back to their full burst
/// (they carry no state) are swept; if it is still full, keys that are not
/// [limited](Entry::is_limited) are evicted, the older half of them at once so that a flood
/// of new keys pays for a sweep once per many keys. A limited key is never evicted: when a
/// shard holds only limited keys, a new key is refused until one of them frees up (fail
/// closed, counted in `ratelimit_table_full_total`).
pub(crate) const DEFAULT_MAX_KEYS: usize = 100_000;

/// What the store decided for one request.
pub(crate) struct Decided {
    pub(crate) decision: Decision,
    /// The key was new and the table held only limited keys: refused without a state.
    pub(crate) table_full: bool,
}

pub(crate) struct LocalStore {
    shards: Box<[Mutex<Shard>]>,
    max_per_shard: usize,
}

impl LocalStore {
    pub(crate) fn new(max_keys: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            max_per_shard: max_keys.div_ceil(SHARDS).max(1),
        }
    }

    /// The decision for one more request of `key`, without counting it.
    pub(crate) fn peek(&self, key: u64, interval: u64, burst: u32) -> Decision {
        let now = now_micros();
        let shard = self.shards[shard_of(key)].lock().unwrap_or_else(|e| e.into_inner());
        gcra(shard.get(&key).map(|entry| entry.tat), now, interval, burst, 1).0
    }

    pub(crate) fn decide(&self, key: u64, interval: u64, burst: u32, cost: u32) -> Decided {
        let now = now_micros();
        let mut shard = self.shards[shard_of(key)].lock().unwrap_or_else(|e| e.into_inner());
        let (decision, new_tat) = gcra(shard.get(&key).map(|entry| entry.tat), now, interval, burst, cost);
        let Some(tat) = new_tat else { return Decided { decision, table_full: false } };
        let tolerance = u64::from(burst.saturating_sub(1)).saturating_mul(interval);
        let entry = Entry { tat, allow_at: tat.saturating_sub(tolerance) };
        if let Some(held) = shard.get_mut(&key) {
            *held = entry;
        } else {
            if shard.len() >= self.max_per_shard && !make_room(&mut shard, self.max_per_shard, now) {
                let retry_after = shard.values().map(|e| e.allow_at.saturating_sub(now)).min().unwrap_or(interval);
                let refused = Decision {
                    allowed: false,
                    limit: burst,
                    remaining: 0,
                    retry_after: Duration::from_micros(retry_after),
                    reset: Duration::from_micros(retry_after),
                };
                return Decided { decision: refused, table_full: true };
            }
            shard.insert(key, entry);
        }
        Decided { decision, table_full: false }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map_or(0, |s| s.len())).sum()
    }

    #[cfg(test)]
    fn holds(&self, key: u64) -> bool {
        self.shards[shard_of(key)].lock().is_ok_and(|shard| shard.contains_key(&key))
    }
}

/// Frees room in a full shard: keys back to their full burst go, then the older half of the
/// keys that are not limited (`allow_at` at or before their mean: age, not their place in
/// the map, decides). Whether a key now fits; never evicts a limited key.
fn make_room(shard: &mut Shard, max: usize, now: u64) -> bool {
    shard.retain(|_, entry| entry.tat > now);
    if shard.len() < max {
        return true;
    }
    let (count, sum) = shard
        .values()
        .filter(|entry| !entry.is_limited(now))
        .fold((0_u128, 0_u128), |(count, sum), entry| (count + 1, sum + u128::from(entry.allow_at)));
    if let Some(mean) = sum.checked_div(count) {
        shard.retain(|_, entry| entry.is_limited(now) || u128::from(entry.allow_at) > mean);
    }
    shard.len() < max
}

/// The shard: bits the maps do not use for their buckets (low bits) or tags (top 7 bits).
fn shard_of(key: u64) -> usize {
    ((key >> 32) % SHARDS as u64) as usize
}

/// The key is a keyed hash already: the map's hash is the key itself.
#[derive(Default)]
pub(crate) struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here (`write_u64`); anything else is folded in, FNV-1a.
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, RandomState};

    use super::*;

    #[test]
    fn keys_are_independent() {
        let store = LocalStore::new(DEFAULT_MAX_KEYS);
        assert!(store.decide(1, 1_000_000, 1, 1).decision.allowed);
        assert!(!store.decide(1, 1_000_000, 1, 1).decision.allowed);
        assert!(store.decide(2, 1_000_000, 1, 1).decision.allowed);
    }

    /// One minute between requests, a burst of five: a login limit.
    const MINUTE: u64 = 60_000_000;

    #[test]
    fn a_flood_of_other_keys_never_frees_a_limited_key() {
        let store = LocalStore::new(160);
        let hasher = RandomState::new();
        // Both in shard 0, at the head of its map: the first a map-order eviction takes.
        let (locked, idle) = (0_u64, 1_u64);
        let allowed = |n: usize, key: u64| (0..n).filter(|_| store.decide(key, MINUTE, 5, 1).decision.allowed).count();
        assert_eq!(allowed(20, locked), 5, "the victim's burst, then locked");
        assert_eq!(allowed(1, idle), 1);
        // 400 000 attempts on other accounts, with an attempt on the victim every 20 000.
        let mut allowed_during = 0;
        for i in 0..400_000 {
            store.decide(hasher.hash_one(format!("account-{i}")), MINUTE, 5, 1);
            if i % 20_000 == 19_999 {
                allowed_during += allowed(1, locked);
            }
        }
        assert_eq!(allowed_during, 0, "{allowed_during} of 20 attempts on the locked key allowed");
        // Control: the flood does evict. A key of the same age and shard, one request into
        // its burst (not limited), was forgotten: without the rule, so was the victim.
        assert!(store.holds(locked) && !store.holds(idle));
    }

    #[test]
    fn a_table_of_limited_keys_refuses_new_keys() {
        let store = LocalStore::new(16);
        for key in 0..16_u64 {
            // One per shard (the shard is bits 32 and up), each at its burst of one.
            assert!(store.decide(key << 32, MINUTE, 1, 1).decision.allowed);
        }
        let refused = store.decide((1 << 32) | 7, MINUTE, 1, 1);
        assert!(refused.table_full && !refused.decision.allowed);
        assert!(
            refused.decision.retry_after > Duration::ZERO && refused.decision.retry_after <= Duration::from_secs(60)
        );
        // A held key is decided as before.
        let held = store.decide(1 << 32, MINUTE, 1, 1);
        assert!(!held.table_full && !held.decision.allowed);
        assert_eq!(store.len(), 16);
    }

    #[test]
    fn memory_is_bounded_under_a_flood_of_keys() {
        let store = LocalStore::new(160);
        let hasher = RandomState::new();
        for i in 0..10_000 {
            store.decide(hasher.hash_one(format!("scanner-{i}")), 60_000_000, 1, 1);
        }
        assert!(store.len() <= 160, "{} keys held", store.len());
    }
}
