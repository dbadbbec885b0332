//! ebb-server as the one composition root: every part of the example (server, rate limit,
//! Redis, sessions, tokens, objects and the example's own demo login) is configured from one
//! environment, checked in one pass, and its in-process fallbacks are said once.

use std::time::Duration;

use ebb_testkit::{RedisServer, S3Server, ServiceProcess, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_example-api");
const SECRET: &str = "short-secret-x";
const PASSWORD: &str = "hunter2-in-the-url";

/// One bad value for every part, and the variable each must be reported by.
fn everything_wrong() -> Vec<(&'static str, String)> {
    vec![
        ("EBB_HTTP_ADDR", "banana".to_owned()),
        ("EBB_SHUTDOWN_DELAY", "soon".to_owned()),
        ("EBB_MAX_IN_FLIGHT", "0".to_owned()),
        ("EBB_ACCESS_LOG", "sometimes".to_owned()),
        ("REDIS_URL", format!("http://user:{PASSWORD}@redis:6379")),
        ("EBB_RATELIMIT_RATE", "100/banana".to_owned()),
        ("EBB_SESSION_TTL", "forever".to_owned()),
        ("EBB_JWT_SECRET", SECRET.to_owned()),
        ("EBB_OFFLOAD_PART_SIZE", "1".to_owned()),
        ("EBB_DEMO_USERNAME", "ada".to_owned()),
    ]
}

#[test]
fn every_part_configured_wrongly_is_one_start_up_error_naming_every_variable() {
    let env = everything_wrong();
    let (exit, log) = ServiceProcess::run_to_exit(BIN, &env, Duration::from_secs(10));
    assert_eq!(exit.code, Some(78), "{log}");
    assert_eq!(log.matches("invalid configuration").count(), 1, "one report, not one per part:\n{log}");
    assert!(log.contains(&format!("invalid configuration ({} problem(s))", env.len())), "{log}");
    // The demo login is the application's own variable: it joins the same report.
    for (variable, _) in &env {
        assert!(log.contains(variable), "{variable} is not named in:\n{log}");
    }
    assert!(log.contains("EBB_DEMO_PASSWORD"), "the missing half is named:\n{log}");
    assert!(!log.contains(SECRET) && !log.contains(PASSWORD), "a secret was printed:\n{log}");
}

#[test]
fn with_json_logs_the_report_is_one_json_line() {
    let mut env = everything_wrong();
    env.push(("EBB_LOG_FORMAT", "json".to_owned()));
    let (exit, log) = ServiceProcess::run_to_exit(BIN, &env, Duration::from_secs(10));
    assert_eq!(exit.code, Some(78), "{log}");
    let report = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["fields"]["message"] == "invalid configuration")
        .unwrap_or_else(|| panic!("no JSON report in:\n{log}"));
    assert_eq!(report["level"], "ERROR");
    let errors = report["fields"]["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), env.len() - 1, "{report}");
    for (variable, _) in &env[..env.len() - 1] {
        assert!(errors.iter().any(|e| e.as_str().is_some_and(|e| e.contains(variable))), "{variable}: {report}");
    }
    assert!(!log.lines().any(|line| line.starts_with("invalid configuration")), "text beside JSON:\n{log}");
}

#[test]
fn a_part_that_cannot_be_built_is_a_start_up_error() {
    let dir = TempDir::new("ebb-objects-on-a-file");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").expect("write");
    let env = [("EBB_OFFLOAD_DIR", file.join("objects").display().to_string())];
    let (exit, log) = ServiceProcess::run_to_exit(BIN, &env, Duration::from_secs(10));
    assert_eq!(exit.code, Some(78), "{log}");
    assert!(log.contains("objects:"), "the part is named:\n{log}");
}

fn fallback_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|line| line.contains("in-process fallbacks") || line.contains("is not set:")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_fallbacks_are_said_once_together() {
    let dir = TempDir::new("ebb-fallbacks");
    let objects = dir.path().join("objects").display().to_string();
    let env = [
        ("EBB_OFFLOAD_DIR", objects.clone()),
        ("EBB_DEMO_USERNAME", "ada".to_owned()),
        ("EBB_DEMO_PASSWORD", "lovelace-password".to_owned()),
    ];
    let mut service = ServiceProcess::start(BIN, &env);
    service.signal("TERM");
    service.wait_exit(Duration::from_secs(40));
    let log = service.log();
    let lines = fallback_lines(&log);
    assert_eq!(lines.len(), 1, "one warning for every part:\n{log}");
    for part in ["rate limits", "sessions", "object metadata", &objects, "REDIS_URL", "AWS_BUCKET"] {
        assert!(lines[0].contains(part), "{part:?} missing from {:?}", lines[0]);
    }

    // With Redis and S3 nothing is kept in the process, and nothing is said.
    let (redis, s3) = (RedisServer::start(), S3Server::start(&["files"]));
    let mut env = s3.env("files");
    env.extend([("REDIS_URL", redis.url()), ("EBB_DEMO_USERNAME", "ada".to_owned())]);
    env.push(("EBB_DEMO_PASSWORD", "lovelace-password".to_owned()));
    let mut service = ServiceProcess::start(BIN, &env);
    service.signal("TERM");
    service.wait_exit(Duration::from_secs(40));
    let log = service.log();
    assert_eq!(fallback_lines(&log), Vec::<&str>::new(), "{log}");
}
