//! The exit watchdog: a process that was asked to stop ends by the deadline plus a grace,
//! even when no runtime thread is free to run the shutdown (all blocked in `write(2)` to a
//! log pipe nobody drains, or in blocking code).
//!
//! Nothing here needs the runtime: the moment shutdown begins is a [`Begun`] that a plain
//! thread can wait on, marked by [`Shutdown::trigger`] or by the first SIGTERM/SIGINT as an
//! OS thread of its own sees it (registered beside the runtime's handlers in
//! [`Shutdown::run`]). The watchdog ends the process with [`std::process::exit`]`(1)` and
//! prints nothing: stderr may be the very pipe that is stuck, and a print would block on it.
//! (`exit` flushes Rust's stdout buffer only when its lock is free; nothing of ebb writes
//! to stdout.)

use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};
use std::{fmt, io};

use crate::Shutdown;

/// The moment shutdown began, set once; readable at once and waitable from a plain thread.
#[derive(Debug, Default)]
pub(crate) struct Begun {
    at: OnceLock<Instant>,
    lock: Mutex<()>,
    marked: Condvar,
}

impl Begun {
    /// Sets the moment to now unless it is set; wakes the waiters.
    pub(crate) fn mark(&self) {
        if self.at.get().is_some() {
            return;
        }
        self.at.get_or_init(Instant::now);
        // Taken so that a waiter between its check and its wait cannot miss the wake-up.
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.marked.notify_all();
    }

    pub(crate) fn at(&self) -> Option<Instant> {
        self.at.get().copied()
    }

    /// Blocks the calling thread until the moment is set.
    fn wait(&self) -> Instant {
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(at) = self.at() {
                return at;
            }
            guard = self.marked.wait(guard).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// See [`Shutdown::before_forced_exit`].
#[derive(Default)]
pub(crate) struct BeforeForcedExit(OnceLock<Box<dyn Fn() + Send + Sync>>);

impl fmt::Debug for BeforeForcedExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.get().is_some() { "Some(..)" } else { "None" })
    }
}

impl Shutdown {
    /// Arms the exit watchdog: from the moment shutdown begins, a thread of its own ends
    /// the process with exit code 1 at the deadline ([`ShutdownConfig::timeout`], counted
    /// from that moment) plus `grace`, whatever the runtime is doing. The moment is the first
    /// SIGTERM or SIGINT (seen by an OS thread from [`run`](Self::run) on, so a runtime
    /// with every thread blocked cannot delay it) or [`trigger`](Self::trigger). Arm it once.
    ///
    /// The watchdog prints nothing: it must not block on a stderr nobody reads. It runs the
    /// [`before_forced_exit`](Self::before_forced_exit) hook, then exits.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    ///
    /// [`ShutdownConfig::timeout`]: crate::ShutdownConfig::timeout
    pub fn arm_exit_watchdog(&self, grace: Duration) -> io::Result<()> {
        if self.inner.watchdog_grace.set(grace).is_err() {
            return Ok(());
        }
        let shutdown = self.clone();
        std::thread::Builder::new().name("ebb-exit-watchdog".to_owned()).spawn(move || {
            shutdown.inner.begun.wait();
            if let Some(exit_at) = shutdown.exit_deadline() {
                std::thread::sleep(exit_at.saturating_duration_since(Instant::now()));
            }
            shutdown.exit_now(1);
        })?;
        Ok(())
    }

    /// Sets what runs just before the process is ended at once, by a second signal or by
    /// the exit watchdog: a bounded flush of buffered log lines, say, which would otherwise
    /// be lost. It must return quickly and must not block on stderr. Set once; later calls
    /// are ignored.
    pub fn before_forced_exit(&self, hook: impl Fn() + Send + Sync + 'static) {
        let _ = self.inner.before_forced_exit.0.set(Box::new(hook));
    }

    /// Runs the [`before_forced_exit`](Self::before_forced_exit) hook and exits with `code`.
    pub(crate) fn exit_now(&self, code: i32) -> ! {
        if let Some(hook) = self.inner.before_forced_exit.0.get() {
            hook();
        }
        std::process::exit(code)
    }

    /// When the armed watchdog ends the process: the moment shutdown began plus the
    /// timeout and the grace. `None` before shutdown begins or without a watchdog. Work done
    /// after the shutdown (a last flush of traces or logs) must end before it.
    pub fn exit_deadline(&self) -> Option<Instant> {
        let grace = *self.inner.watchdog_grace.get()?;
        self.inner.begun.at()?.checked_add(self.config().timeout())?.checked_add(grace)
    }

    /// From here on an OS thread marks the moment of the first SIGTERM or SIGINT, so that
    /// the watchdog runs even when the runtime never gets to see the signal. Called beside
    /// the runtime's own handlers, never earlier: until then a signal keeps its default
    /// action (the process ends).
    #[cfg(unix)]
    pub(crate) fn watch_signals_from_a_thread(&self) -> io::Result<()> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        if self.inner.watchdog_grace.get().is_none() {
            return Ok(());
        }
        let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
        let shutdown = self.clone();
        std::thread::Builder::new().name("ebb-signals".to_owned()).spawn(move || {
            if signals.forever().next().is_some() {
                shutdown.inner.begun.mark();
            }
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ShutdownConfig;

    #[test]
    fn a_thread_waiting_on_the_moment_wakes_when_it_is_marked() {
        let begun = Arc::new(Begun::default());
        let (sender, receiver) = std::sync::mpsc::channel();
        let waiter = {
            let begun = begun.clone();
            std::thread::spawn(move || sender.send(begun.wait()))
        };
        assert!(receiver.recv_timeout(Duration::from_millis(50)).is_err(), "not marked yet");
        begun.mark();
        let at = receiver.recv_timeout(Duration::from_secs(5)).expect("woken");
        begun.mark();
        assert_eq!(begun.at(), Some(at), "set once");
        waiter.join().expect("waiter").expect("sent");
    }

    #[test]
    fn the_exit_deadline_is_the_moment_plus_the_timeout_and_the_grace() {
        let shutdown = Shutdown::new(ShutdownConfig::new().with_timeout(Duration::from_secs(3)));
        shutdown.trigger();
        assert_eq!(shutdown.exit_deadline(), None, "no watchdog armed");
        // Set without spawning the thread: this test's process must not be ended.
        shutdown.inner.watchdog_grace.set(Duration::from_secs(1)).expect("unset");
        let at = shutdown.signalled_at().expect("triggered");
        assert_eq!(shutdown.exit_deadline(), Some(at + Duration::from_secs(4)));
    }
}
