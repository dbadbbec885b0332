use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

/// What a shutdown did: how long it took and what had to be cut at the deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct ShutdownReport {
    /// Requests (or response bodies) still in flight at the deadline, answered 503 or aborted.
    pub cut_requests: usize,
    /// Background tasks still running at the deadline.
    pub cut_tasks: usize,
    /// Connections the server had to close with work unanswered: a request head still
    /// arriving when the listener closed, or any connection still open at the deadline
    /// (a slow body, an upgraded WebSocket that ignored the shutdown signal).
    pub cut_connections: usize,
    /// From the signal to the end of the shutdown.
    pub elapsed: Duration,
    /// What started the shutdown.
    pub cause: ShutdownCause,
}

/// What started a shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownCause {
    /// A signal, by number (15 = SIGTERM, 2 = SIGINT).
    Signal(i32),
    /// [`Shutdown::trigger`](crate::Shutdown::trigger) was called.
    Triggered,
    /// The server future ended on its own before any signal.
    ServerExited,
}

impl ShutdownReport {
    /// True when nothing was cut.
    pub fn is_clean(&self) -> bool {
        self.cut_requests == 0 && self.cut_tasks == 0 && self.cut_connections == 0
    }

    /// `0` for a clean shutdown, `1` when something was cut.
    pub fn exit_code(&self) -> ExitCode {
        if self.is_clean() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shutdown after {:?} ({:?}): cut {} request(s), {} connection(s) and {} task(s)",
            self.elapsed, self.cause, self.cut_requests, self.cut_connections, self.cut_tasks
        )
    }
}
