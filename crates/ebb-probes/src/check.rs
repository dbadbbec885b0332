//! Dependency checks: anything that can answer "is this dependency usable right now?".

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Default time a check may take before it counts as failed.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// The future a [`Check`] returns.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<(), CheckError>> + Send + 'a>>;

/// A named dependency check, registered with
/// [`ProbesBuilder::with_readiness_check`](crate::ProbesBuilder::with_readiness_check).
///
/// Any `Fn() -> impl Future<Output = Result<(), E: Display>>` is a check:
/// ```
/// let probes = ebb_probes::Probes::builder()
///     .with_readiness_check("queue", || async { Ok::<_, std::io::Error>(()) })
///     .build();
/// # drop(probes);
/// ```
/// Checks run concurrently, each bounded by its [`timeout`](Check::timeout), and their
/// results are cached briefly so that a probe storm does not become a dependency storm.
///
/// # Panics
/// A check that panics (making its future or while polled) fails with the reason `check
/// panicked`; the panic's message goes to the panic hook (stderr), never to the probe.
pub trait Check: Send + Sync + 'static {
    /// Runs the check once.
    fn check(&self) -> CheckFuture<'_>;

    /// This check's own time limit; `None` uses the probes' default (1 s).
    fn timeout(&self) -> Option<Duration> {
        None
    }
}

impl<F, Fut, E> Check for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display,
{
    fn check(&self) -> CheckFuture<'_> {
        let future = self();
        Box::pin(async move { future.await.map_err(CheckError::new) })
    }
}

/// Why a check failed; its text is shown by `?verbose` and in JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckError(String);

impl CheckError {
    /// A failure with a short reason. Keep it free of secrets: probes are served on the
    /// application port.
    pub fn new(reason: impl fmt::Display) -> Self {
        Self(reason.to_string())
    }

    /// The reason.
    pub fn reason(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CheckError {}

/// Adds [`with_timeout`](CheckExt::with_timeout) to every [`Check`].
pub trait CheckExt: Check + Sized {
    /// This check with its own time limit instead of the default.
    fn with_timeout(self, timeout: Duration) -> WithTimeout<Self> {
        WithTimeout { check: self, timeout }
    }
}

impl<C: Check> CheckExt for C {}

/// A check with its own time limit. Made by [`CheckExt::with_timeout`].
#[derive(Clone, Debug)]
pub struct WithTimeout<C> {
    check: C,
    timeout: Duration,
}

impl<C: Check> Check for WithTimeout<C> {
    fn check(&self) -> CheckFuture<'_> {
        self.check.check()
    }

    fn timeout(&self) -> Option<Duration> {
        Some(self.timeout)
    }
}
