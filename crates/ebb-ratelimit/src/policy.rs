//! A named limit: rate, burst, what to do when Redis fails, and whether to enforce it.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use metrics::Counter;

use crate::Rate;
use crate::headers::PolicyHeaders;
use crate::names::RATELIMIT_DECISIONS_TOTAL;

/// What a decision does when the shared store (Redis) is unreachable or slower than the
/// limiter's timeout. Every such decision is counted as `outcome="error"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureMode {
    /// Let the request through unlimited (the default): an outage of the limiter is not an
    /// outage of the service.
    #[default]
    Open,
    /// Refuse the request with 503: for limits that protect something fragile.
    Closed,
    /// Decide in this process with the same algorithm: each replica then enforces the
    /// limit on its own, so the effective limit is multiplied by the replica count.
    Local,
}

impl FromStr for FailureMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(Self::Open),
            "closed" => Ok(Self::Closed),
            "local" => Ok(Self::Local),
            other => Err(format!("`{other}` is not one of open, closed, local")),
        }
    }
}

impl fmt::Display for FailureMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::Local => "local",
        })
    }
}

/// A named limit. The name appears in metrics (`policy` label), in the `RateLimit` headers
/// and in the Redis key, so two policies never share counters.
///
/// ```
/// use ebb_ratelimit::{FailureMode, Policy};
/// let uploads = Policy::new("uploads", "10/1m".parse()?)
///     .with_burst(3)?
///     .with_failure_mode(FailureMode::Closed);
/// assert_eq!(uploads.burst(), 3);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Policy {
    name: Arc<str>,
    rate: Rate,
    burst: u32,
    failure_mode: FailureMode,
    shadow: bool,
    /// What every decision under this policy needs and that depends only on its name and
    /// rate, made on first use. Any builder that changes the name or the rate must reset it
    /// (none does today: both are set by [`Policy::new`] only).
    cache: Cache,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.name)
            .field("rate", &self.rate)
            .field("burst", &self.burst)
            .field("failure_mode", &self.failure_mode)
            .field("shadow", &self.shadow)
            .finish()
    }
}

/// The per-policy cache: the decision counters and the header parts. It takes no part in
/// equality (it is derived from the name and the rate, which do).
#[derive(Clone, Default)]
struct Cache {
    /// `ratelimit_decisions_total{policy,outcome}` for `allowed`, `limited`, `error`.
    counters: OnceLock<[Counter; 3]>,
    headers: OnceLock<PolicyHeaders>,
}

impl PartialEq for Cache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Cache {}

/// Why a burst cannot be used with a policy's rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BurstError {
    /// A burst of zero would refuse everything.
    #[error("the burst must be at least 1 (it is how many requests may arrive at once)")]
    Zero,
    /// burst x interval is beyond what the Redis script computes exactly: its numbers are
    /// doubles, exact up to 2^53 microseconds, and a time stamp takes part of that range.
    #[error("burst x (period / count) must stay below {} days, or decisions in Redis would not be exact", MAX_CAPACITY.as_secs() / 86_400)]
    TooLarge,
}

/// The longest `burst x emission interval` a policy may span: 2^51 µs (about 71 years), so
/// that `now + 2 x capacity` stays an exact integer in Redis' Lua (doubles, exact to 2^53).
pub const MAX_CAPACITY: std::time::Duration = std::time::Duration::from_micros(1 << 51);

impl Policy {
    /// A policy allowing `rate`, with a burst equal to the rate's count, failing open,
    /// enforced.
    pub fn new(name: impl Into<Arc<str>>, rate: Rate) -> Self {
        Self {
            name: name.into(),
            burst: rate.count(),
            rate,
            failure_mode: FailureMode::Open,
            shadow: false,
            cache: Cache::default(),
        }
    }

    /// How many requests may arrive at once from an idle client; over any window of length
    /// `t` a key gets at most `burst + rate x t`. Default: the rate's count.
    ///
    /// # Errors
    /// [`BurstError::Zero`] for 0; [`BurstError::TooLarge`] when `burst x interval` exceeds
    /// [`MAX_CAPACITY`].
    pub fn with_burst(mut self, burst: u32) -> Result<Self, BurstError> {
        if burst == 0 {
            return Err(BurstError::Zero);
        }
        if u128::from(burst) * u128::from(self.rate.interval_micros()) > MAX_CAPACITY.as_micros() {
            return Err(BurstError::TooLarge);
        }
        self.burst = burst;
        Ok(self)
    }

    /// What to do when Redis fails. Default: [`FailureMode::Open`].
    #[must_use]
    pub fn with_failure_mode(mut self, mode: FailureMode) -> Self {
        self.failure_mode = mode;
        self
    }

    /// Shadow mode decides and counts (`outcome="limited"`) but never rejects, and sends no
    /// rate-limit headers: for rolling a new limit out safely. Default: off.
    #[must_use]
    pub fn with_shadow(mut self, shadow: bool) -> Self {
        self.shadow = shadow;
        self
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The steady rate.
    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// The burst.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The failure mode.
    pub fn failure_mode(&self) -> FailureMode {
        self.failure_mode
    }

    /// Whether the policy only observes.
    pub fn is_shadow(&self) -> bool {
        self.shadow
    }

    /// The counters of `ratelimit_decisions_total{policy,outcome}` for `allowed`, `limited`
    /// and `error`, registered with the recorder in force at the policy's first decision.
    pub(crate) fn counters(&self) -> &[Counter; 3] {
        self.cache.counters.get_or_init(|| {
            let counter = |outcome: &'static str| {
                metrics::counter!(RATELIMIT_DECISIONS_TOTAL, "policy" => self.name.to_string(), "outcome" => outcome)
            };
            [counter("allowed"), counter("limited"), counter("error")]
        })
    }

    /// The parts of the rate-limit headers that are the same for every decision.
    pub(crate) fn headers(&self) -> &PolicyHeaders {
        self.cache.headers.get_or_init(|| PolicyHeaders::new(self))
    }
}
