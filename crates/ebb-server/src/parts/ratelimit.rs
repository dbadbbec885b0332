//! The default rate limit (`EBB_RATELIMIT_*`) and the limiter the application may share.

use axum::Router;
use ebb_ratelimit::{FailureMode, Limiter, Policy, RateLimitConfig, RateLimitLayer};
use ebb_redis::Redis;

use super::Fallback;

/// The limiter (through Redis when the process has it) and the layer, when a policy is set.
#[derive(Clone)]
pub(crate) struct RateLimitPart {
    pub(crate) config: RateLimitConfig,
    pub(crate) limiter: Limiter,
    pub(crate) layer: Option<RateLimitLayer>,
    shared: bool,
}

impl RateLimitPart {
    pub(crate) fn new(config: &RateLimitConfig, redis: Option<&Redis>) -> Self {
        let limiter = match redis {
            Some(redis) => Limiter::redis(redis.clone()),
            None => Limiter::in_process(),
        };
        let layer = config.layer(limiter.clone());
        let limiter = limiter.with_timeout(config.timeout);
        Self { config: config.clone(), limiter, layer, shared: redis.is_some() }
    }

    /// `policy` unless `EBB_RATELIMIT_RATE` is set (or `off`): the environment wins; the
    /// other settings (key, trusted proxies, failure mode, shadow, burst) still apply.
    pub(crate) fn with_default_policy(&mut self, policy: &Policy) {
        if self.config.rate.is_none() && !self.config.disabled {
            let mut config = self.config.clone();
            config.rate = Some(policy.rate());
            config.burst = config.burst.or(Some(policy.burst()));
            self.layer = config.layer(self.limiter.clone());
        }
    }

    pub(crate) fn wrap(&self, router: Router) -> Router {
        match &self.layer {
            Some(layer) => router.layer(layer.clone()),
            None => router,
        }
    }

    pub(crate) fn in_process(&self) -> Option<super::Fallback> {
        (self.layer.is_some() && !self.shared)
            .then(|| Fallback { what: "rate limits".to_owned(), unless: ebb_redis::ENV_REDIS_URL })
    }

    pub(crate) fn fails_closed(&self) -> bool {
        self.layer.is_some() && self.config.failure_mode == FailureMode::Closed
    }
}
