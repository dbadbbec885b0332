//! "The log says so at most once per 10 s" (README, Redis down): many failing decisions
//! against a Redis that is not there, on Tokio's paused clock so that 35 s pass in no time,
//! and the warning lines counted. Control: with the interval at zero every failure writes a
//! line, and the same check fails.

use std::time::Duration;

use ebb_ratelimit::ebb_redis::{Redis, RedisConfig};
use ebb_ratelimit::{Limiter, Policy, Verdict};
use ebb_testkit::CapturedLog;
use tokio::time::Instant;

const WARNING: &str = "rate limiter cannot reach Redis";

/// The limiter's warning lines in what this thread's subscriber wrote.
fn warnings(captured: &CapturedLog) -> Vec<String> {
    captured.text().lines().filter(|line| line.contains(WARNING)).map(str::to_owned).collect()
}

/// A limiter on a loopback port nothing listens on.
fn unreachable() -> Limiter {
    let url = format!("redis://127.0.0.1:{}/", ebb_testkit::free_port());
    Limiter::redis(Redis::new(&RedisConfig::from_url(&url).expect("url")).expect("handle"))
}

/// What a run of failing decisions logged: when each warning came and after how many
/// failures, how many failures each folded in, and how many decisions failed.
struct Run {
    logged_at: Vec<Duration>,
    logged_after: Vec<u64>,
    folded: Vec<u64>,
    failures: u64,
}

/// A decision every 100 ms for `span` of Tokio's (paused) time.
async fn fail_for(limiter: &Limiter, span: Duration) -> Run {
    let captured = CapturedLog::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let policy = Policy::new("api", "10/1s".parse().expect("rate")).with_burst(10).expect("burst");
    let began = Instant::now();
    let (mut logged_at, mut logged_after, mut failures) = (Vec::new(), Vec::new(), 0);
    let mut n = 0;
    while began.elapsed() < span {
        n += 1;
        // Another key each time, so that no local refusal answers for Redis.
        let verdict = limiter.decide(&format!("client-{n}"), &policy, 1).await;
        assert!(matches!(verdict, Verdict::FailedOpen), "{verdict:?}");
        failures += 1;
        if warnings(&captured).len() > logged_at.len() {
            logged_at.push(began.elapsed());
            logged_after.push(failures);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let warnings = warnings(&captured);
    assert_eq!(warnings.len(), logged_at.len(), "one warning per decision at most");
    let folded = warnings.iter().map(|line| folded_in(line)).collect();
    Run { logged_at, logged_after, folded, failures }
}

/// The `suppressed=N` field of a warning.
fn folded_in(line: &str) -> u64 {
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("suppressed="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no suppressed= field in {line}"))
}

/// At least one line, and no two within one `window`.
fn at_most_one_per(window: Duration, run: &Run) -> Result<(), String> {
    if run.logged_at.is_empty() {
        return Err(format!("{} failures and no warning", run.failures));
    }
    match run.logged_at.windows(2).find(|pair| pair[1] - pair[0] < window) {
        Some(pair) => Err(format!("two warnings {:?} apart, within {window:?}", pair[1] - pair[0])),
        None => Ok(()),
    }
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_redis_is_logged_at_most_once_per_10_s_and_every_failure_is_accounted_for() {
    let run = fail_for(&unreachable(), Duration::from_secs(35)).await;
    assert!(run.failures >= 300, "{} decisions", run.failures);
    assert_eq!(at_most_one_per(Duration::from_secs(10), &run), Ok(()), "at {:?}", run.logged_at);
    assert_eq!(run.logged_at.len(), 4, "35 s of failures: at 0, 10, 20 and 30 s; at {:?}", run.logged_at);
    // Each line says how many failures it folded in since the last one: none is lost.
    let between: Vec<u64> = std::iter::once(0).chain(run.logged_after.windows(2).map(|w| w[1] - w[0] - 1)).collect();
    assert_eq!(run.folded, between, "failures folded into each line, after {:?} failures", run.logged_after);
}

#[tokio::test(start_paused = true)]
async fn control_with_no_interval_every_failure_is_a_line_and_the_check_fails() {
    let run = fail_for(&unreachable().with_error_log_interval(Duration::ZERO), Duration::from_secs(2)).await;
    assert_eq!(run.logged_at.len() as u64, run.failures, "every failure logged");
    assert!(at_most_one_per(Duration::from_secs(10), &run).is_err(), "the check missed a flood");
}
