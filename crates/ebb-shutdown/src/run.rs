//! The phased shutdown sequence (signal, delay, stop accepting, drain, cut at the
//! deadline; see the crate docs and ARCHITECTURE.md), driven around a server future.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use crate::{Shutdown, ShutdownCause, ShutdownReport, Signals};

/// How long the server gets, after the deadline, to send the drain layer's 503s and
/// aborts before it is dropped. A bound, not a wait: it usually ends in microseconds. Kept
/// well under a second so that the process never outlives the deadline by more than one.
const CUT_GRACE: Duration = Duration::from_millis(500);

/// Far enough to mean "never" without overflowing `Instant` arithmetic.
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

impl Shutdown {
    /// Runs `server` through the whole shutdown sequence and reports what was cut.
    ///
    /// 1. Serve until SIGTERM/SIGINT (or [`trigger`](Self::trigger), or the server ending on
    ///    its own). Readiness fails from here on.
    /// 2. Keep serving for the configured delay.
    /// 3. Fire [`stop_accepting`](Self::stop_accepting) and wait for the server to drain.
    /// 4. Cancel the background tasks of [`spawn_task`](Self::spawn_task) and await them.
    /// 5. At the deadline (counted from the signal), cut what is left: the [`DrainLayer`]
    ///    answers pending requests with 503 and aborts streaming bodies; tasks still running
    ///    are counted and left to die with the runtime.
    ///
    /// A second signal during the sequence exits the process at once with code
    /// 128 + the signal number, unless disabled in the [`ShutdownConfig`].
    ///
    /// The server must stop accepting when [`stop_accepting`](Self::stop_accepting)
    /// completes (e.g. `axum::serve(..).with_graceful_shutdown(shutdown.stop_accepting())`).
    ///
    /// # Errors
    /// The server's own error, if it failed; the sequence still stops the tasks first.
    ///
    /// [`DrainLayer`]: crate::DrainLayer
    /// [`ShutdownConfig`]: crate::ShutdownConfig
    pub async fn run<F, E>(&self, server: F) -> Result<ShutdownReport, E>
    where
        F: IntoFuture<Output = Result<(), E>>,
    {
        let mut signals = match Signals::new() {
            Ok(signals) => Some(signals),
            Err(error) => {
                tracing::error!(%error, "cannot listen for signals; only Shutdown::trigger will stop the server");
                None
            }
        };
        #[cfg(unix)]
        if let Err(error) = self.watch_signals_from_a_thread() {
            tracing::warn!(%error, "the exit watchdog cannot see signals; it starts only once the runtime does");
        }
        let server = server.into_future();
        let mut server = std::pin::pin!(server);
        let mut outcome = None;

        // Phase 1: serve until asked to stop.
        let cause = tokio::select! {
            result = server.as_mut() => {
                outcome = Some(result);
                ShutdownCause::ServerExited
            }
            () = self.signalled() => ShutdownCause::Triggered,
            signo = next_signal(&mut signals) => ShutdownCause::Signal(signo),
        };
        self.trigger();
        let start = self.signalled_at().map_or_else(Instant::now, Instant::from_std);
        let config = *self.config();
        // Validated configs stay far below overflow; hand-built ones must not panic here.
        let later = |after: Duration| start.checked_add(after).unwrap_or_else(|| Instant::now() + FAR_FUTURE);
        let deadline = later(config.timeout());
        if !config.exit_on_second_signal() {
            signals = None;
        }
        tracing::info!(?cause, delay = ?config.delay(), timeout = ?config.timeout(), "shutdown started: readiness now fails");

        // Phase 2: keep serving while the platform takes us out of its endpoints.
        serve_until(self, server.as_mut(), &mut outcome, later(config.delay()), &mut signals).await;

        // Phase 3: stop accepting and drain.
        self.begin_stop_accepting();
        tracing::info!(in_flight = self.in_flight(), "listener closing; draining in-flight requests");
        serve_until(self, server.as_mut(), &mut outcome, deadline, &mut signals).await;

        // Phase 4: background tasks.
        self.stop_tasks();
        let tracker = self.task_tracker();
        if !tracker.is_empty() {
            tracing::info!(tasks = tracker.len(), "stopping background tasks");
            tokio::select! {
                () = tracker.wait() => {}
                () = sleep_until(deadline) => {}
                signo = next_signal(&mut signals) => second_signal(self, signo),
            }
        }

        // Phase 5: the deadline cuts whatever is left.
        let mut report = ShutdownReport {
            cut_requests: 0,
            cut_tasks: tracker.len(),
            cut_connections: 0,
            elapsed: Duration::ZERO,
            cause,
        };
        if outcome.is_none() {
            report.cut_requests = self.in_flight();
            self.begin_cut();
            tokio::select! {
                result = server.as_mut() => outcome = Some(result),
                () = tokio::time::sleep(CUT_GRACE) => {}
            }
        }
        // Whatever is still open now is closed when the server future is dropped on return.
        // A connection still open usually carries a request already counted as cut (a body
        // its client stopped reading): it is not counted twice.
        let stranded = self.open_connections().saturating_sub(report.cut_requests);
        report.cut_connections = self.recorded_cut_connections() + stranded;
        report.elapsed = start.elapsed();
        if report.is_clean() {
            tracing::info!(elapsed = ?report.elapsed, "shutdown complete: nothing was cut");
        } else {
            tracing::warn!(
                cut_requests = report.cut_requests,
                cut_connections = report.cut_connections,
                cut_tasks = report.cut_tasks,
                elapsed = ?report.elapsed,
                "shutdown cut {} request(s), {} connection(s) and {} background task(s)",
                report.cut_requests,
                report.cut_connections,
                report.cut_tasks,
            );
        }
        match outcome {
            Some(Err(error)) => Err(error),
            _ => Ok(report),
        }
    }
}

async fn serve_until<F: Future>(
    shutdown: &Shutdown,
    server: Pin<&mut F>,
    outcome: &mut Option<F::Output>,
    until: Instant,
    signals: &mut Option<Signals>,
) {
    if outcome.is_some() {
        return;
    }
    tokio::select! {
        result = server => *outcome = Some(result),
        () = sleep_until(until) => {}
        signo = next_signal(signals) => second_signal(shutdown, signo),
    }
}

async fn next_signal(signals: &mut Option<Signals>) -> i32 {
    match signals {
        Some(signals) => signals.recv().await,
        None => std::future::pending().await,
    }
}

fn second_signal(shutdown: &Shutdown, signo: i32) -> ! {
    tracing::error!(signal = signo, "second signal during shutdown: exiting at once");
    shutdown.exit_now(128 + signo)
}
