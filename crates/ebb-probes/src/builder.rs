use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::Probes;
use crate::check::{Check, DEFAULT_CHECK_TIMEOUT};
use crate::probes::{Inner, Registered};

/// Default time a check result is reused before the check runs again.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(1);

/// Builds [`Probes`]. Made by [`Probes::builder`].
#[must_use]
pub struct ProbesBuilder {
    readiness: Vec<(String, Arc<dyn Check>, bool)>,
    liveness: Vec<(String, Arc<dyn Check>, bool)>,
    check_timeout: Duration,
    cache_ttl: Duration,
    shutting_down: Option<CancellationToken>,
    started: bool,
    info: Vec<(String, String)>,
}

impl std::fmt::Debug for ProbesBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbesBuilder")
            .field("readiness", &self.readiness.iter().map(|(name, ..)| name).collect::<Vec<_>>())
            .field("liveness", &self.liveness.iter().map(|(name, ..)| name).collect::<Vec<_>>())
            .field("check_timeout", &self.check_timeout)
            .field("cache_ttl", &self.cache_ttl)
            .finish_non_exhaustive()
    }
}

impl ProbesBuilder {
    pub(crate) fn new() -> Self {
        Self {
            readiness: Vec::new(),
            liveness: Vec::new(),
            check_timeout: DEFAULT_CHECK_TIMEOUT,
            cache_ttl: DEFAULT_CACHE_TTL,
            shutting_down: None,
            started: false,
            info: Vec::new(),
        }
    }

    /// Adds a fact that `/startupz?verbose` shows (text: `[i]key: value`; JSON: an `info`
    /// object): what is running, such as the version and the revision.
    pub fn with_info(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.info.push((key.into(), value.into()));
        self
    }

    /// Adds a dependency to `/readyz`: the instance takes no traffic while it fails.
    /// Names should be short and unique (`redis`, `s3`); they are what `?exclude=` takes.
    pub fn with_readiness_check(mut self, name: impl Into<String>, check: impl Check) -> Self {
        self.readiness.push((name.into(), Arc::new(check), true));
        self
    }

    /// Adds a dependency that `/readyz` reports (`?verbose`, JSON, gRPC) but that never
    /// fails it: for something the service degrades without, such as a rate limiter that
    /// fails open. Failing readiness there would take every replica out of its endpoints
    /// at once, turning a degraded dependency into an outage.
    pub fn with_advisory_readiness_check(mut self, name: impl Into<String>, check: impl Check) -> Self {
        self.readiness.push((name.into(), Arc::new(check), false));
        self
    }

    /// Adds a check to `/livez` (and `/healthz`). A failing liveness probe restarts the
    /// container, so such a check must look only inside the process (a stuck event loop, a
    /// poisoned state) and never at an external service. None by default.
    pub fn with_liveness_check(mut self, name: impl Into<String>, check: impl Check) -> Self {
        self.liveness.push((name.into(), Arc::new(check), true));
        self
    }

    /// Time limit for checks that set none of their own. Default: 1 s.
    pub fn with_check_timeout(mut self, timeout: Duration) -> Self {
        self.check_timeout = timeout;
        self
    }

    /// How long a check's result is reused. Default: 1 s. Zero runs checks on every probe
    /// (concurrent probes still share one run).
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// Readiness fails as soon as `token` is cancelled: pass the shutdown handle's token
    /// (`ebb_shutdown::Shutdown::shutting_down_token`). Without it, readiness ignores
    /// shutdown.
    pub fn with_shutdown_signal(mut self, token: CancellationToken) -> Self {
        self.shutting_down = Some(token);
        self
    }

    /// Starts in the started state, for services with nothing to warm up. Default: not
    /// started until [`Probes::mark_started`].
    pub fn started(mut self) -> Self {
        self.started = true;
        self
    }

    /// Finishes the probes.
    pub fn build(self) -> Probes {
        let timeout = self.check_timeout;
        let register = |checks: Vec<(String, Arc<dyn Check>, bool)>| {
            checks.into_iter().map(|(name, check, critical)| Registered::new(name, check, critical, timeout)).collect()
        };
        Probes {
            inner: Arc::new(Inner {
                readiness: register(self.readiness),
                liveness: register(self.liveness),
                cache_ttl: self.cache_ttl,
                shutting_down: self.shutting_down,
                started: AtomicBool::new(self.started),
                info: self.info,
            }),
        }
    }
}
