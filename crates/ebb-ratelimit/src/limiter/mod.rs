//! The [`Limiter`]: decisions for a key under a [`Policy`], shared through Redis or held in
//! this process.

mod deny_cache;
mod error_log;
mod local;
mod redis;

use std::borrow::Cow;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ebb_redis::Redis;

use self::deny_cache::{DEFAULT_DENY_CACHE_KEYS, DenyCache};
use self::error_log::{ErrorLog, LOG_INTERVAL};
use self::local::{DEFAULT_MAX_KEYS, LocalStore};
use self::redis::RedisStore;
use crate::decision::Decision;
use crate::key::ClientKey;
use crate::names::RATELIMIT_TABLE_FULL_TOTAL;
use crate::{FailureMode, LimiterError, Policy};

/// Default time a decision may take in Redis before the policy's failure mode applies.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);

/// Default prefix of every Redis key the limiter writes.
pub const DEFAULT_NAMESPACE: &str = "ebb:rl";

/// Keys longer than this are replaced by their SHA-1, so that a long API key cannot make
/// Redis keys of any size.
const MAX_KEY_LEN: usize = 128;

/// What the limiter decided, after the policy's failure mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// The request may proceed.
    Allowed(Decision),
    /// The request is over the limit.
    Limited(Decision),
    /// The store failed and the policy fails open: proceed, with no limit information.
    FailedOpen,
    /// The store failed and the policy fails closed: refuse with 503.
    FailedClosed,
}

/// Decides whether a key may proceed under a [`Policy`], with GCRA: smooth spacing at the
/// policy's rate, plus a burst.
///
/// Backed by Redis ([`Limiter::redis`]): one Lua script run atomically per decision, on
/// Redis' clock, so every replica shares one limit. Or in process ([`Limiter::in_process`]):
/// the same algorithm for a single replica. Cloning is cheap and shares the store.
///
/// Workers use it without HTTP:
/// ```no_run
/// # async fn demo(redis: ebb_redis::Redis) -> Result<(), ebb_ratelimit::LimiterError> {
/// use ebb_ratelimit::{Limiter, Policy};
/// let limiter = Limiter::redis(redis);
/// let policy = Policy::new("emails", "100/1m".parse().expect("valid rate"));
/// let decision = limiter.check("customer-42", &policy).await?;
/// if !decision.allowed {
///     tokio::time::sleep(decision.retry_after).await;
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Limiter {
    shared: Arc<Shared>,
    /// The in-process store: the store itself without Redis, the `local` fallback with it.
    local: Arc<LocalStore>,
    /// Keys Redis refused, until Redis would allow them again.
    denied: Arc<DenyCache>,
    /// Store failures, logged at most once per interval.
    errors: Arc<ErrorLog>,
    timeout: Duration,
    namespace: Arc<str>,
}

struct Shared {
    redis: Option<RedisStore>,
    /// Keys the in-process store: see [`Limiter::local_key`].
    hasher: RandomState,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("store", &if self.is_shared() { "redis" } else { "in-process" })
            .field("timeout", &self.timeout)
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl Limiter {
    /// A limiter whose decisions live in Redis, shared by every replica using the same
    /// Redis, on the process' shared connection. Nothing connects until the first decision.
    ///
    /// Once Redis refuses a key, this replica refuses it locally until Redis would allow it
    /// again (see [`with_deny_cache`](Self::with_deny_cache)).
    pub fn redis(redis: Redis) -> Self {
        Self::with_store(Some(RedisStore::new(redis)), DEFAULT_DENY_CACHE_KEYS)
    }

    /// A limiter held in this process: exact for one replica; with N replicas each enforces
    /// the limit alone. Memory is bounded (100 000 keys; see
    /// [`with_local_capacity`](Self::with_local_capacity)).
    pub fn in_process() -> Self {
        Self::with_store(None, 0)
    }

    fn with_store(redis: Option<RedisStore>, deny_cache_keys: usize) -> Self {
        let shared = Shared { redis, hasher: RandomState::new() };
        Self {
            shared: Arc::new(shared),
            local: Arc::new(LocalStore::new(DEFAULT_MAX_KEYS)),
            denied: Arc::new(DenyCache::new(deny_cache_keys)),
            errors: Arc::new(ErrorLog::new(LOG_INTERVAL)),
            timeout: DEFAULT_TIMEOUT,
            namespace: Arc::from(DEFAULT_NAMESPACE),
        }
    }

    /// How long a Redis decision may take before it counts as failed. Default: 50 ms.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Prefix of the Redis keys, `<namespace>:{<policy>:<key>}`; the braces are a Redis
    /// Cluster hash tag. Default: `ebb:rl`.
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<Arc<str>>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// How many refused keys this replica remembers (default 10 000; `0` turns the cache
    /// off and sends every decision to Redis). Memory is bounded by the count; the oldest
    /// half is forgotten first.
    #[must_use]
    pub fn with_deny_cache(self, keys: usize) -> Self {
        Self { denied: Arc::new(DenyCache::new(keys)), ..self }
    }

    /// How many keys the in-process store holds at most (default 100 000): the store itself
    /// of [`in_process`](Self::in_process), the [`FailureMode::Local`] fallback of
    /// [`redis`](Self::redis). A key over its limit is never forgotten to make room; when
    /// the store holds only such keys, a new key is refused (`ratelimit_table_full_total`)
    /// until one frees up. Starts an empty store.
    #[must_use]
    pub fn with_local_capacity(self, keys: usize) -> Self {
        Self { local: Arc::new(LocalStore::new(keys)), ..self }
    }

    /// How often a store failure may be logged at most (default 10 s): a Redis outage under
    /// load then writes one warning per interval, each saying how many failures it folds
    /// in; `Duration::ZERO` logs every failure. Every failure is counted in
    /// `ratelimit_decisions_total{outcome="error"}` either way.
    #[must_use]
    pub fn with_error_log_interval(self, interval: Duration) -> Self {
        Self { errors: Arc::new(ErrorLog::new(interval)), ..self }
    }

    /// Whether decisions are shared through Redis.
    pub fn is_shared(&self) -> bool {
        self.shared.redis.is_some()
    }

    /// The decision for one request of `key` under `policy`, from the store itself.
    ///
    /// # Errors
    /// When Redis fails or is slower than the timeout; no failure mode is applied (see
    /// [`decide`](Self::decide) for that).
    pub async fn check(&self, key: &str, policy: &Policy) -> Result<Decision, LimiterError> {
        self.check_n(key, policy, 1).await
    }

    /// Like [`check`](Self::check) for a request that costs `cost` units (a batch of jobs,
    /// a large upload).
    ///
    /// # Errors
    /// As [`check`](Self::check), and [`LimiterError::CostExceedsBurst`] when `cost` is above
    /// the burst (it could never be allowed).
    pub async fn check_n(&self, key: &str, policy: &Policy, cost: u32) -> Result<Decision, LimiterError> {
        self.check_key(&ClientKey::Text(Cow::Borrowed(key)), policy, cost).await
    }

    async fn check_key(&self, key: &ClientKey<'_>, policy: &Policy, cost: u32) -> Result<Decision, LimiterError> {
        let Some(redis) = &self.shared.redis else {
            return self.check_local(key, policy, cost);
        };
        if cost > policy.burst() {
            return Err(LimiterError::CostExceedsBurst { cost, burst: policy.burst() });
        }
        let cost = cost.max(1);
        let interval = policy.rate().interval_micros();
        let key = key.with_text(|text| self.redis_key(policy.name(), text));
        let denied = &self.denied;
        if !denied.is_enabled() {
            return redis.decide(&key, interval, policy.burst(), cost, self.timeout, false).await;
        }
        let sent_at = Instant::now();
        if let Some(refusal) = denied.check(&key, sent_at) {
            return Ok(refusal);
        }
        let decision = redis.decide(&key, interval, policy.burst(), cost, self.timeout, false).await?;
        // A refusal of one unit holds for every cost; one of several units may not.
        if !decision.allowed && cost == 1 {
            denied.remember(&key, sent_at, &decision);
        }
        Ok(decision)
    }

    /// The decision of the in-process store (the store itself, or the `local` fallback).
    fn check_local(&self, key: &ClientKey<'_>, policy: &Policy, cost: u32) -> Result<Decision, LimiterError> {
        if cost > policy.burst() {
            return Err(LimiterError::CostExceedsBurst { cost, burst: policy.burst() });
        }
        Ok(self.decide_local(policy, key, cost))
    }

    /// One decision of the in-process store; a new key refused for a full table is counted.
    fn decide_local(&self, policy: &Policy, key: &ClientKey<'_>, cost: u32) -> Decision {
        let interval = policy.rate().interval_micros();
        let decided = self.local.decide(self.local_key(policy, key), interval, policy.burst(), cost.max(1));
        if decided.table_full {
            metrics::counter!(RATELIMIT_TABLE_FULL_TOTAL, "policy" => policy.name().to_owned()).increment(1);
        }
        decided.decision
    }

    /// Whether one more request of `key` would be allowed now, without counting it (nothing
    /// is written). With Redis failing, a policy whose failure mode is
    /// [`FailureMode::Local`] peeks at this process' own count.
    ///
    /// A peek and a later [`check`](Self::check) are two steps: concurrent requests can all
    /// pass the peek before any is counted. Limit what must hold strictly with `check`.
    ///
    /// # Errors
    /// As [`check`](Self::check), for policies that fail open or closed.
    pub async fn peek(&self, key: &str, policy: &Policy) -> Result<Decision, LimiterError> {
        let key = ClientKey::Text(Cow::Borrowed(key));
        let interval = policy.rate().interval_micros();
        let Some(redis) = &self.shared.redis else {
            return Ok(self.local.peek(self.local_key(policy, &key), interval, policy.burst()));
        };
        let redis_key = key.with_text(|text| self.redis_key(policy.name(), text));
        if let Some(refusal) = self.denied.check(&redis_key, Instant::now()) {
            return Ok(refusal);
        }
        match redis.decide(&redis_key, interval, policy.burst(), 1, self.timeout, true).await {
            Err(_) if policy.failure_mode() == FailureMode::Local => {
                Ok(self.local.peek(self.local_key(policy, &key), interval, policy.burst()))
            }
            outcome => outcome,
        }
    }

    /// The verdict for one request: [`check`](Self::check), then the policy's
    /// [`FailureMode`] when the store fails. Counts every decision in
    /// `ratelimit_decisions_total{policy,outcome}` and logs store failures at most once per
    /// 10 s. Never fails.
    pub async fn decide(&self, key: &str, policy: &Policy, cost: u32) -> Verdict {
        self.decide_key(&ClientKey::Text(Cow::Borrowed(key)), policy, cost).await
    }

    /// [`decide`](Self::decide) for a key the layer extracted.
    pub(crate) async fn decide_key(&self, key: &ClientKey<'_>, policy: &Policy, cost: u32) -> Verdict {
        let result = self.check_key(key, policy, cost).await;
        self.verdict(key, policy, cost, result)
    }

    /// [`decide`](Self::decide) at once, when the store is in this process; `None` when it
    /// is Redis (decide asynchronously then).
    pub(crate) fn decide_now(&self, key: &ClientKey<'_>, policy: &Policy, cost: u32) -> Option<Verdict> {
        if self.shared.redis.is_some() {
            return None;
        }
        let result = self.check_local(key, policy, cost);
        Some(self.verdict(key, policy, cost, result))
    }

    /// Counts a decision and applies the policy's failure mode to a store failure.
    fn verdict(
        &self,
        key: &ClientKey<'_>,
        policy: &Policy,
        cost: u32,
        result: Result<Decision, LimiterError>,
    ) -> Verdict {
        let [allowed, limited, error] = policy.counters();
        match result {
            Ok(decision) if decision.allowed => {
                allowed.increment(1);
                Verdict::Allowed(decision)
            }
            Ok(decision) => {
                limited.increment(1);
                Verdict::Limited(decision)
            }
            Err(LimiterError::CostExceedsBurst { .. }) => {
                // Not a store failure: the request can never fit.
                limited.increment(1);
                Verdict::Limited(Decision {
                    allowed: false,
                    limit: policy.burst(),
                    remaining: 0,
                    retry_after: Duration::ZERO,
                    reset: Duration::ZERO,
                })
            }
            Err(store_error) => {
                error.increment(1);
                let mode = policy.failure_mode();
                self.errors.record(policy.name(), &mode.to_string(), &store_error);
                match mode {
                    FailureMode::Open => Verdict::FailedOpen,
                    FailureMode::Closed => Verdict::FailedClosed,
                    FailureMode::Local => {
                        let decision = self.decide_local(policy, key, cost);
                        if decision.allowed { Verdict::Allowed(decision) } else { Verdict::Limited(decision) }
                    }
                }
            }
        }
    }

    /// Whether the store answers: a PING through the limiter's connection, within the
    /// timeout. Always `Ok` in process. Meant for a readiness check.
    ///
    /// # Errors
    /// When Redis does not answer PING in time.
    pub async fn ping(&self) -> Result<(), LimiterError> {
        let Some(redis) = &self.shared.redis else { return Ok(()) };
        redis.ping().await
    }

    fn redis_key(&self, policy: &str, key: &str) -> String {
        if key.len() > MAX_KEY_LEN || key.chars().any(char::is_control) {
            let digest = sha1_smol::Sha1::from(key.as_bytes()).digest();
            return format!("{}:{{{policy}:sha1:{digest}}}", self.namespace);
        }
        format!("{}:{{{policy}:{key}}}", self.namespace)
    }

    /// The in-process store's key for `key` under `policy`: a 64-bit SipHash of (namespace,
    /// policy name, key text), keyed at random per limiter. No allocation, and the same
    /// text as the Redis key, so that `check("10.0.0.1")` and the layer's peer 10.0.0.1
    /// share one bucket here exactly as they do in Redis.
    ///
    /// Why 64 bits are enough: two distinct keys share a bucket only when their hashes
    /// collide. The hash key is random and secret to this process, so a client cannot pick
    /// keys that collide (SipHash is built for exactly that); by chance, with the store's
    /// bound of 100 000 keys, the odds that any two of them collide are about
    /// n²/2⁶⁵ ≈ 3 x 10⁻¹⁰. And a collision costs fairness, not safety: two clients would
    /// share one limit.
    fn local_key(&self, policy: &Policy, key: &ClientKey<'_>) -> u64 {
        key.with_text(|text| {
            let mut hasher = self.shared.hasher.build_hasher();
            // `str`'s Hash ends each string with 0xff (never in UTF-8): no two triples meet.
            self.namespace.hash(&mut hasher);
            policy.name().hash(&mut hasher);
            text.hash(&mut hasher);
            hasher.finish()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_namespaced_hash_tagged_and_bounded() {
        let limiter = Limiter::in_process();
        assert_eq!(limiter.redis_key("default", "10.0.0.1"), "ebb:rl:{default:10.0.0.1}");
        let long = "k".repeat(1000);
        let hashed = limiter.redis_key("default", &long);
        assert!(hashed.starts_with("ebb:rl:{default:sha1:") && hashed.len() < 80, "{hashed}");
        assert!(limiter.redis_key("default", "a\nb").contains("sha1:"));
    }
}
