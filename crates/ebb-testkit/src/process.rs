use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::poll_until;

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitInfo {
    /// The exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// From [`ServiceProcess::start`] (or the last [`ServiceProcess::signal`]) to the exit.
    pub elapsed: Duration,
}

/// A service binary of this workspace running as a child process, listening on ports it
/// chose itself (`EBB_HTTP_ADDR=127.0.0.1:0`), which are read from its `listening` log line.
/// Killed when dropped.
#[derive(Debug)]
pub struct ServiceProcess {
    child: Child,
    log: Arc<Mutex<String>>,
    stalled: Arc<AtomicBool>,
    since: Instant,
    /// The application listener.
    pub app: SocketAddr,
    /// The `/metrics` listener.
    pub metrics: SocketAddr,
}

impl ServiceProcess {
    /// Starts `binary` with `env` on top of the inherited environment and waits (10 s at
    /// most) until it logs that it listens.
    pub fn start(binary: impl AsRef<Path>, env: &[(&str, String)]) -> Self {
        let (child, log, stalled) = spawn(binary.as_ref(), env);
        let mut process =
            Self { child, log, stalled, since: Instant::now(), app: unspecified(), metrics: unspecified() };
        let (app, metrics) = poll_until("the service to log its addresses", Duration::from_secs(10), || {
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("service exited with {status} before listening; log:\n{}", process.log());
            }
            let log = process.log();
            Some((field(&log, "app_addr=")?, field(&log, "metrics_addr=")?))
        });
        process.app = app;
        process.metrics = metrics;
        process
    }

    /// Runs `binary` with `env` until it exits by itself (it must, within `timeout`), and
    /// returns how it ended and what it logged. For start-up failures.
    pub fn run_to_exit(binary: impl AsRef<Path>, env: &[(&str, String)], timeout: Duration) -> (ExitInfo, String) {
        let (child, log, stalled) = spawn(binary.as_ref(), env);
        let mut process =
            Self { child, log, stalled, since: Instant::now(), app: unspecified(), metrics: unspecified() };
        let exit = process.wait_exit(timeout);
        // The reader thread may still be copying the last lines.
        std::thread::sleep(Duration::from_millis(50));
        (exit, process.log())
    }

    /// `http://<app address><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.app)
    }

    /// `http://<metrics address>/metrics`.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.metrics)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`TERM`, `INT`, `KILL`) and restarts the clock of
    /// [`ExitInfo::elapsed`].
    pub fn signal(&mut self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .unwrap_or_else(|error| panic!("cannot run kill: {error}"));
        assert!(status.success(), "kill -s {name} failed");
        self.since = Instant::now();
    }

    /// Waits for the process to exit; panics (with its log) after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitInfo {
        let since = self.since;
        let status = poll_until("the service to exit", timeout, || self.child.try_wait().ok().flatten());
        ExitInfo { code: status.code(), signal: status.signal(), elapsed: since.elapsed() }
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops reading its stderr for good, as a stalled log agent would: once the pipe's
    /// buffer (64 KiB on Linux) is full, its writes to stderr block. What it logged before
    /// stays in [`log`](Self::log).
    pub fn stall_log(&self) {
        self.stalled.store(true, Ordering::Release);
    }

    /// Everything it wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|log| log.clone()).unwrap_or_default()
    }

    /// The first line of the log that contains `needle`.
    ///
    /// # Panics
    /// When no line does, showing the whole log.
    pub fn log_line(&self, needle: &str) -> String {
        let log = self.log();
        let line = log.lines().find(|line| line.contains(needle)).map(str::to_owned);
        line.unwrap_or_else(|| panic!("no log line contains {needle:?}:\n{log}"))
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(binary: &Path, env: &[(&str, String)]) -> (Child, Arc<Mutex<String>>, Arc<AtomicBool>) {
    let mut command = Command::new(binary);
    command
        .env("EBB_HTTP_ADDR", "127.0.0.1:0")
        .env("EBB_METRICS_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .envs(env.iter().map(|(key, value)| (*key, value.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
    let log = Arc::new(Mutex::new(String::new()));
    let stalled = Arc::new(AtomicBool::new(false));
    if let Some(stderr) = child.stderr.take() {
        let (log, stalled) = (log.clone(), stalled.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut log) = log.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
                // Never reads again (the pipe is closed with the process).
                while stalled.load(Ordering::Acquire) {
                    std::thread::park();
                }
            }
        });
    }
    (child, log, stalled)
}

/// An address logged as `key=addr` (text) or `"key":"addr"` (`EBB_LOG_FORMAT=json`).
fn field(log: &str, key: &str) -> Option<SocketAddr> {
    if let Some(start) = log.find(key) {
        return log[start + key.len()..].split_whitespace().next()?.parse().ok();
    }
    let json_key = format!("\"{}\":\"", key.trim_end_matches('='));
    let start = log.find(&json_key)? + json_key.len();
    log[start..].split('"').next()?.parse().ok()
}

fn unspecified() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}
