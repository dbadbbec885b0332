//! One job's life past the happy path, read from the outside: its metrics after a failure,
//! a takeover and a dead letter; the per-job deadline; SIGTERM handing back what cannot
//! finish and letting blocked reads end; readiness while every consumer blocks.

use std::time::{Duration, Instant};

use ebb_server::ebb_redis::redis;
use ebb_testkit::{RedisServer, ServiceProcess};

use super::{enqueue, handle, state, wait_for_dead_letters, wait_for_log, wait_until_done, wait_until_held, worker};

/// The value of the unlabelled metric `name` in a Prometheus exposition (0 when absent: a
/// counter never incremented is not exported).
fn metric(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .filter_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .find_map(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Scrapes `process` until the `jobs_*` counters read `expected` (10 s at most).
async fn wait_for_counters(process: &ServiceProcess, expected: &[(&str, f64)]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = reqwest::get(process.metrics_url()).await.expect("scrape").text().await.expect("text");
        let read: Vec<(&str, f64)> = expected.iter().map(|(name, _)| (*name, metric(&text, name))).collect();
        if read == expected {
            return text;
        }
        assert!(Instant::now() < deadline, "counters {read:?}, expected {expected:?}:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_failure_a_takeover_and_a_dead_letter() {
    let running = RedisServer::start();
    let server = running.env();
    let redis = handle(&server);
    let process = worker(&server, 20, &[("EBB_WORKER_LEASE", "1s"), ("EBB_WORKER_MAX_ATTEMPTS", "2")]);
    // "fail-poison": fails (1), is taken over after its lease (requeued), fails again (2),
    // and at its second lapse goes to the dead letters. "fine" is processed.
    enqueue(&redis, ["fail-poison".to_owned(), "fine".to_owned()]).await;
    wait_for_dead_letters(&redis, 1, Duration::from_secs(20)).await;
    wait_for_counters(
        &process,
        &[
            ("jobs_processed_total", 1.0),
            ("jobs_failed_total", 2.0),
            ("jobs_requeued_total", 1.0),
            ("jobs_dead_lettered_total", 1.0),
        ],
    )
    .await;
    // Every family has samples now: promtool lints their names, types and HELP text.
    let text = reqwest::get(process.metrics_url()).await.expect("scrape").text().await.expect("text");
    if let Err(said) = ebb_testkit::promtool_check(&text) {
        panic!("promtool check metrics on the worker's metrics port:\n{said}\n--- exposition ---\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_deadline_fails_is_retried_and_dead_lettered() {
    let running = RedisServer::start();
    let server = running.env();
    let redis = handle(&server);
    let settings = [("EBB_WORKER_LEASE", "1s"), ("EBB_WORKER_MAX_ATTEMPTS", "2"), ("EBB_WORKER_JOB_TIMEOUT", "1s")];
    let process = worker(&server, 20, &settings);
    // It would run 30 s and be renewed all along; the deadline stops it after 1 s, twice.
    enqueue(&redis, ["sleep:30000".to_owned()]).await;
    let dead = wait_for_dead_letters(&redis, 1, Duration::from_secs(20)).await;
    let field = |name: &str| redis::from_redis_value_ref::<String>(&dead.ids[0].map[name]).expect(name);
    assert_eq!((field("job"), field("attempts")), ("sleep:30000".to_owned(), "2".to_owned()));
    assert!(field("error").contains("timed out after 1s"), "{}", field("error"));
    wait_for_counters(
        &process,
        &[("jobs_processed_total", 0.0), ("jobs_failed_total", 2.0), ("jobs_dead_lettered_total", 1.0)],
    )
    .await;
    assert!(process.log().contains("EBB_WORKER_JOB_TIMEOUT"), "{}", process.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_back_a_job_that_cannot_finish_for_another_to_take_at_once() {
    let running = RedisServer::start();
    let server = running.env();
    let redis = handle(&server);
    // A 30 s lease: without the hand-back the job would wait that long for a takeover.
    let lease = ("EBB_WORKER_LEASE", "30s");
    let mut leaving = worker(&server, 60_000, &[lease, ("EBB_SHUTDOWN_TIMEOUT", "3s")]);
    enqueue(&redis, ["slow".to_owned()]).await;
    wait_until_held(&redis, Duration::from_secs(10)).await;
    let staying = worker(&server, 20, &[lease]);
    let signalled = Instant::now();
    leaving.signal("TERM");
    let exit = leaving.wait_exit(Duration::from_secs(10));
    assert_eq!(exit.code, Some(0), "handed back within the budget, nothing cut:\n{}", leaving.log());
    assert!(leaving.log().contains("handed the job back unfinished"), "{}", leaving.log());
    let done = wait_until_done(&redis, 1, Duration::from_secs(8)).await;
    assert_eq!(done.get("slow"), Some(&1));
    eprintln!("handed back and finished elsewhere {:?} after SIGTERM (lease 30 s)", signalled.elapsed());
    assert!(signalled.elapsed() < Duration::from_secs(10));
    wait_for_log(&staying, "took over a job", Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_blocked_reads_end_and_no_read_swallows_a_job() {
    let running = RedisServer::start();
    let server = running.env();
    let redis = handle(&server);
    // A 30 s lease: a job delivered to an abandoned read would wait that long.
    let settings = [("EBB_WORKER_LEASE", "30s"), ("EBB_WORKER_CONCURRENCY", "4")];
    for round in 0..3 {
        let mut idle = worker(&server, 20, &settings);
        tokio::time::sleep(Duration::from_millis(300)).await; // its four reads block
        idle.signal("TERM");
        // Added while the reads are still blocked: one of them may take it, and then runs it.
        let job = format!("after-sigterm-{round}");
        enqueue(&redis, [job.clone()]).await;
        let exit = idle.wait_exit(Duration::from_secs(10));
        assert_eq!(exit.code, Some(0), "{}", idle.log());
        assert!(exit.elapsed < Duration::from_secs(3), "a blocked read ends within its second: {:?}", exit.elapsed);
        let _next = worker(&server, 20, &settings);
        let done = wait_until_done(&redis, round + 1, Duration::from_secs(5)).await;
        assert_eq!(done.get(&job), Some(&1), "{done:?}");
    }
    let (left, _) = state(&redis).await;
    assert_eq!(left, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_answers_while_eight_consumers_block() {
    let running = RedisServer::start();
    let process = worker(&running.env(), 20, &[("EBB_WORKER_CONCURRENCY", "8")]);
    tokio::time::sleep(Duration::from_millis(300)).await; // eight reads block
    let client = reqwest::Client::new();
    for _ in 0..5 {
        let asked = Instant::now();
        let response = client.get(process.url("/readyz?verbose")).send().await.expect("readyz");
        let (status, took) = (response.status(), asked.elapsed());
        assert_eq!(status, 200, "{}", response.text().await.unwrap_or_default());
        assert!(took < Duration::from_millis(500), "readiness took {took:?} while eight reads block");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = process.log();
    assert!(log.contains("consumers=8"), "{log}");
}
