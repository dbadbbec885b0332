//! The exit watchdog ends a process whose runtime can no longer run the shutdown (its one
//! thread blocked, as by a `write(2)` to a log pipe nobody drains): it is armed by the
//! signal as an OS thread sees it, not by a task of the frozen runtime. The process under
//! test is this test binary again, running the ignored `frozen_child` test.
#![cfg(unix)]

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ebb_shutdown::{Shutdown, ShutdownConfig};

/// Tells the child whether to arm the watchdog (`armed`) or not.
const CHILD_MODE: &str = "WATCHDOG_TEST_CHILD";
const TIMEOUT: Duration = Duration::from_secs(1);
const GRACE: Duration = Duration::from_millis(500);

/// Not a test of its own: the process the tests below start and signal.
#[test]
#[ignore = "started by the other tests of this file as a child process"]
fn frozen_child() {
    let armed = std::env::var(CHILD_MODE).is_ok_and(|mode| mode == "armed");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let shutdown = Shutdown::new(ShutdownConfig::new().with_delay(Duration::ZERO).with_timeout(TIMEOUT));
        if armed {
            shutdown.arm_exit_watchdog(GRACE).expect("armed");
        }
        // Polled by `run` once its signal handlers are installed; then it blocks the
        // runtime's only thread, so no task (nor `run` itself) runs again.
        let frozen = async {
            let mut stdout = std::io::stdout();
            let _ = writeln!(stdout, "frozen");
            let _ = stdout.flush();
            std::thread::sleep(Duration::from_secs(60));
            Ok::<(), Infallible>(())
        };
        let _ = shutdown.run(frozen).await;
    });
}

/// Starts [`frozen_child`] and waits until its runtime is frozen.
fn start_frozen(mode: &str) -> Child {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "frozen_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_MODE, mode)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (sender, frozen) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.ends_with("frozen") {
                let _ = sender.send(());
            }
        }
    });
    frozen.recv_timeout(Duration::from_secs(10)).expect("the child froze its runtime");
    child
}

fn sigterm(child: &Child) {
    let status = Command::new("kill").args(["-s", "TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
}

/// Polls until the child exits or `bound` passes.
fn exit_within(child: &mut Child, bound: Duration) -> Option<i32> {
    let until = Instant::now() + bound;
    while Instant::now() < until {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status.code().unwrap_or(-1));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn a_frozen_runtime_still_exits_at_the_deadline_plus_the_grace() {
    let mut child = start_frozen("armed");
    let signalled = Instant::now();
    sigterm(&child);
    let code = exit_within(&mut child, Duration::from_secs(10));
    let elapsed = signalled.elapsed();
    let _ = child.kill();
    assert_eq!(code, Some(1), "the watchdog's exit code");
    assert!(elapsed >= TIMEOUT + GRACE - Duration::from_millis(100), "not before the deadline: {elapsed:?}");
    assert!(elapsed < TIMEOUT + GRACE + Duration::from_secs(1), "at the deadline plus the grace: {elapsed:?}");
}

/// Negative control: without the watchdog, the same SIGTERM leaves the frozen process
/// running (the runtime's own handler took the signal's default action away).
#[test]
fn without_the_watchdog_a_frozen_runtime_outlives_its_deadline() {
    let mut child = start_frozen("unarmed");
    sigterm(&child);
    let code = exit_within(&mut child, TIMEOUT + GRACE + Duration::from_secs(2));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, None, "still running well past the deadline");
}
