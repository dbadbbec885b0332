//! SIGTERM and SIGINT as one stream of shutdown requests.

use std::io;

/// Listens for SIGTERM and SIGINT (Ctrl-C); on non-Unix platforms, Ctrl-C only.
///
/// Handlers are installed by [`Signals::new`]; from then on the default action (exit) is
/// replaced, so a signal is never lost between two calls to [`recv`](Self::recv).
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers.
    ///
    /// # Errors
    /// When the runtime cannot register a signal handler.
    ///
    /// # Panics
    /// When called outside a Tokio runtime.
    pub fn new() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Waits for the next signal and returns its number (15 for SIGTERM, 2 for SIGINT).
    ///
    /// # Cancel safety
    /// Cancel safe: a signal that arrives while no one waits is kept for the next call.
    pub async fn recv(&mut self) -> i32 {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => 15,
                _ = self.int.recv() => 2,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            2
        }
    }
}
