use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

// tokio's clock, so that tests can pause time instead of sleeping.
use tokio::time::Instant;

use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::check::Check;
use crate::report::{CheckResult, ProbeReport};
use crate::{Probe, ProbesBuilder, ProbesLayer};

/// The probe state of one service: its dependency checks, whether it has started, and
/// whether it is shutting down. Cheap to clone; every clone shares the state.
///
/// - `/livez` (and `/healthz`): the process is alive. Only in-process checks.
/// - `/readyz`: started, not shutting down, and every readiness check passes.
/// - `/startupz`: [`mark_started`](Self::mark_started) was called.
///
/// # Example
/// ```
/// use ebb_probes::Probes;
///
/// let probes = Probes::builder()
///     .with_readiness_check("database", || async { Ok::<_, String>(()) })
///     .build();
/// let app: axum::Router = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "hello" }))
///     .layer(probes.layer());
/// probes.mark_started();
/// # drop(app);
/// ```
#[derive(Clone, Debug)]
pub struct Probes {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) readiness: Vec<Registered>,
    pub(crate) liveness: Vec<Registered>,
    pub(crate) cache_ttl: Duration,
    pub(crate) shutting_down: Option<CancellationToken>,
    pub(crate) started: AtomicBool,
    /// Facts for `/startupz?verbose`.
    pub(crate) info: Vec<(String, String)>,
}

pub(crate) struct Registered {
    name: String,
    check: Arc<dyn Check>,
    /// Whether a failure fails the probe; advisory checks are only reported.
    critical: bool,
    timeout: Duration,
    // Holding the lock while the check runs makes concurrent probes share one run.
    last: Mutex<Option<LastRun>>,
}

/// The reason of a check that panicked (its message may hold anything: not shown).
const CHECK_PANICKED: &str = "check panicked";

/// When a check last ran, what it said, and how long it took.
type LastRun = (Instant, Result<(), String>, Duration);

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered").field("name", &self.name).field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl Registered {
    pub(crate) fn new(name: String, check: Arc<dyn Check>, critical: bool, default_timeout: Duration) -> Self {
        let timeout = check.timeout().unwrap_or(default_timeout);
        Self { name, check, critical, timeout, last: Mutex::new(None) }
    }

    async fn run(&self, ttl: Duration) -> CheckResult {
        let mut last = self.last.lock().await;
        if let Some((at, outcome, took)) = last.as_ref()
            && at.elapsed() < ttl
        {
            return CheckResult::new(&self.name, outcome.clone(), *took, true).critical(self.critical);
        }
        let start = Instant::now();
        // A check that panics (making its future or polling it) is a failed check: unwinding
        // would drop the probe's connection, and `/readyz` would answer nothing at all. The
        // payload stays in the panic hook's output on stderr; the probe only says so.
        let run = AssertUnwindSafe(async { self.check.check().await }).catch_unwind();
        let outcome = match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(error))) => Err(error.to_string()),
            Ok(Err(_panic)) => Err(CHECK_PANICKED.to_owned()),
            Err(_) => Err(format!("timed out after {:?}", self.timeout)),
        };
        let took = start.elapsed();
        *last = Some((Instant::now(), outcome.clone(), took));
        CheckResult::new(&self.name, outcome, took, false).critical(self.critical)
    }
}

impl Probes {
    /// Starts building probes.
    pub fn builder() -> ProbesBuilder {
        ProbesBuilder::new()
    }

    /// The layer that answers the probe paths in front of a service.
    #[must_use]
    pub fn layer(&self) -> ProbesLayer {
        ProbesLayer::new(self.clone())
    }

    /// Marks start-up as complete: `/startupz` passes and `/readyz` may pass from now on.
    pub fn mark_started(&self) {
        self.inner.started.store(true, Ordering::Release);
    }

    /// Whether [`mark_started`](Self::mark_started) was called.
    pub fn is_started(&self) -> bool {
        self.inner.started.load(Ordering::Acquire)
    }

    fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.as_ref().is_some_and(CancellationToken::is_cancelled)
    }

    /// Evaluates one probe, skipping the registered checks named in `exclude`. The built-in
    /// checks (`ping`, `started`, `shutdown`) always run: no caller can make a shutting-down
    /// replica look ready. Registered checks run concurrently (or come from the cache).
    pub async fn evaluate(&self, probe: Probe, exclude: &[String]) -> ProbeReport {
        let mut report = ProbeReport::new(probe);
        let included = |name: &str| !exclude.iter().any(|excluded| excluded == name);
        let (builtin, registered): (Vec<CheckResult>, &[Registered]) = match probe {
            Probe::Live => (vec![CheckResult::instant("ping", Ok(()))], &self.inner.liveness),
            Probe::Startup => (vec![self.started_check()], &[]),
            Probe::Ready => {
                let shutdown = if self.is_shutting_down() { Err("shutting down".to_owned()) } else { Ok(()) };
                (vec![self.started_check(), CheckResult::instant("shutdown", shutdown)], &self.inner.readiness)
            }
        };
        for result in builtin {
            report.push(result);
        }
        let runs = registered.iter().filter(|check| included(&check.name)).map(|check| check.run(self.inner.cache_ttl));
        for result in futures_util::future::join_all(runs).await {
            report.push(result);
        }
        for check in registered.iter().filter(|check| !included(&check.name)) {
            report.exclude(check.name.clone());
        }
        if probe == Probe::Startup {
            report.info.clone_from(&self.inner.info);
        }
        report
    }

    fn started_check(&self) -> CheckResult {
        CheckResult::instant("started", if self.is_started() { Ok(()) } else { Err("not started yet".to_owned()) })
    }
}
