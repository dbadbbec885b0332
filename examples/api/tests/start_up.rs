//! Values that would pass start-up and fail later are refused at start (exit 78, the
//! variable named): an S3 endpoint that is not a URL, and bytes that are not UTF-8 in any
//! variable — the server's, its parts' or the application's own.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use ebb_testkit::{ServiceProcess, poll_until};

const BIN: &str = env!("CARGO_BIN_EXE_example-api");

#[test]
fn an_s3_endpoint_that_is_not_a_url_stops_the_start() {
    for variable in ["AWS_ENDPOINT", "AWS_ENDPOINT_URL"] {
        let env = [("AWS_BUCKET", "files".to_owned()), (variable, "not a url".to_owned())];
        let (exit, log) = ServiceProcess::run_to_exit(BIN, &env, Duration::from_secs(10));
        assert_eq!(exit.code, Some(78), "{log}");
        assert!(
            log.contains(&format!("{variable}=\"not a url\" is invalid: expected an http:// or https:// URL")),
            "{log}"
        );
    }
}

/// The exit code and stderr of the example run with `env`, values as raw bytes.
fn run_with_bytes(env: &[(&str, &[u8])]) -> (Option<i32>, String) {
    let mut command = Command::new(BIN);
    command.env("EBB_HTTP_ADDR", "127.0.0.1:0").env("EBB_METRICS_ADDR", "127.0.0.1:0");
    for (name, value) in env {
        command.env(name, OsStr::from_bytes(value));
    }
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn");
    let status = poll_until("the example to exit", Duration::from_secs(10), || child.try_wait().expect("wait"));
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut log).expect("stderr");
    (status.code(), log)
}

/// Before, each of these read as unset: `REDIS_URL` (state in the process instead of
/// Redis), `EBB_JWT_AUDIENCE` (tokens for any audience accepted), the demo user (the
/// built-in password). Control: the same process without the bad bytes starts.
#[test]
fn bytes_that_are_not_utf8_are_an_error_not_unset() {
    let bad: &[u8] = b"redis://\xff\xfe/";
    let env = [("REDIS_URL", bad), ("EBB_JWT_AUDIENCE", b"api\xff"), ("EBB_DEMO_USERNAME", b"ad\xe9")];
    let (code, log) = run_with_bytes(&env);
    assert_eq!(code, Some(78), "{log}");
    for variable in ["REDIS_URL", "EBB_JWT_AUDIENCE", "EBB_DEMO_USERNAME"] {
        let lines: Vec<_> = log.lines().filter(|line| line.contains(&format!("- {variable} is invalid"))).collect();
        assert_eq!(lines.len(), 1, "{variable} once: {log}");
        assert!(lines[0].contains("not shown") && lines[0].ends_with("expected UTF-8 text"), "{log}");
    }
    assert!(!log.contains("redis://"), "{log}");

    let control = ServiceProcess::start(BIN, &[("EBB_SHUTDOWN_DELAY", "0s".to_owned())]);
    drop(control);
}
