//! The in-process store: the same GCRA in sharded maps. For one replica, tests, and the
//! `local` failure mode.
//!
//! Keys are 64-bit keyed hashes (see [`Limiter`](crate::Limiter)'s `local_key`), already
//! uniformly spread, so the maps use them as their own hash.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::decision::{Decision, gcra};

const SHARDS: usize = 16;

/// Theoretical arrival time (µs since the epoch) per key.
type Shard = HashMap<u64, u64, BuildHasherDefault<KeyIsHash>>;

/// Keys held at most, over all shards. When a shard is full, expired keys are swept; if it
/// is still full, one arbitrary key is evicted (which forgets that key's history: a bound
/// on memory beats an exact limit under a flood of distinct keys).
pub(crate) const DEFAULT_MAX_KEYS: usize = 100_000;

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
        gcra(shard.get(&key).copied(), now, interval, burst, 1).0
    }

    pub(crate) fn decide(&self, key: u64, interval: u64, burst: u32, cost: u32) -> Decision {
        let now = now_micros();
        let mut shard = self.shards[shard_of(key)].lock().unwrap_or_else(|e| e.into_inner());
        let (decision, new_tat) = gcra(shard.get(&key).copied(), now, interval, burst, cost);
        if let Some(new_tat) = new_tat {
            if let Some(tat) = shard.get_mut(&key) {
                *tat = new_tat;
            } else {
                if shard.len() >= self.max_per_shard {
                    shard.retain(|_, tat| *tat > now);
                    if shard.len() >= self.max_per_shard {
                        let victim = shard.keys().next().copied();
                        if let Some(victim) = victim {
                            shard.remove(&victim);
                        }
                    }
                }
                shard.insert(key, new_tat);
            }
        }
        decision
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map_or(0, |s| s.len())).sum()
    }
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
        assert!(store.decide(1, 1_000_000, 1, 1).allowed);
        assert!(!store.decide(1, 1_000_000, 1, 1).allowed);
        assert!(store.decide(2, 1_000_000, 1, 1).allowed);
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
