//! Workers on a Redis stream, stopped, killed, paused and given poison: nothing is lost, no
//! job's effect is applied twice, and what always fails ends in the dead-letter stream.
//! The modules below hold the exactly-once test and its negative control, each ownership
//! check pinned alone, the chaos runs
//! (TLS, Cluster, Sentinel), the metrics, the job deadline and the shutdown.

#[path = "queue/chaos.rs"]
mod chaos;
#[path = "queue/exactly_once.rs"]
mod exactly_once;
#[path = "queue/lifecycle.rs"]
mod lifecycle;
#[path = "queue/scripts.rs"]
mod scripts;
#[path = "queue/sentinel.rs"]
mod sentinel;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ebb_server::ebb_redis::redis::streams::{StreamPendingCountReply, StreamRangeReply};
use ebb_server::ebb_redis::{Redis, RedisConfig, redis};
use ebb_testkit::{RedisServer, ServiceProcess};

const BIN: &str = env!("CARGO_BIN_EXE_example-worker");
const QUEUE: &str = "ebb:{jobs}";

/// Where the workers find Redis: the variables of a server, a Cluster or a Sentinel set.
type RedisEnv = Vec<(&'static str, String)>;

fn worker(redis: &RedisEnv, job_ms: u64, extra: &[(&str, &str)]) -> ServiceProcess {
    start(BIN, redis, job_ms, extra)
}

/// `binary` (the shipped worker or the negative control's) on `redis`; `extra` last, so it
/// overrides the defaults set here.
fn start(binary: &str, redis: &RedisEnv, job_ms: u64, extra: &[(&str, &str)]) -> ServiceProcess {
    let mut env = redis.clone();
    env.push(("EBB_WORKER_JOB_MS", job_ms.to_string()));
    env.push(("EBB_SHUTDOWN_DELAY", "0s".to_owned()));
    env.push(("EBB_SHUTDOWN_TIMEOUT", "30s".to_owned()));
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    ServiceProcess::start(binary, &env)
}

fn handle(env: &RedisEnv) -> Redis {
    let config = RedisConfig::from_lookup(|name| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
        .unwrap_or_else(|errors| panic!("{errors:?}"))
        .expect("configured");
    Redis::new(&config).expect("handle")
}

async fn enqueue(redis: &Redis, jobs: impl IntoIterator<Item = String>) {
    for job in jobs {
        let _: String = redis.query(redis::cmd("XADD").arg(QUEUE).arg("*").arg("job").arg(&job)).await.expect("xadd");
    }
}

/// (jobs not yet acknowledged, the done counts).
async fn state(redis: &Redis) -> (usize, HashMap<String, u64>) {
    let left: usize = redis.query(redis::cmd("XLEN").arg(QUEUE)).await.expect("xlen");
    let done = redis.query(redis::cmd("HGETALL").arg(format!("{QUEUE}:done"))).await.expect("done");
    (left, done)
}

/// Like [`state`], or `None` while Redis does not answer (a Cluster failing over).
async fn try_state(redis: &Redis) -> Option<(usize, HashMap<String, u64>)> {
    let left: usize = redis.query(redis::cmd("XLEN").arg(QUEUE)).await.ok()?;
    let done = redis.query(redis::cmd("HGETALL").arg(format!("{QUEUE}:done"))).await.ok()?;
    Some((left, done))
}

async fn wait_until_done(redis: &Redis, jobs: usize, within: Duration) -> HashMap<String, u64> {
    let deadline = Instant::now() + within;
    loop {
        let (left, done) = try_state(redis).await.unwrap_or((usize::MAX, HashMap::new()));
        if left == 0 && done.len() == jobs {
            return done;
        }
        assert!(Instant::now() < deadline, "{left} jobs left, {} done after {within:?}", done.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The consumers holding a job now (one per pending entry).
async fn holders(redis: &Redis) -> Vec<String> {
    let pending = redis::cmd("XPENDING").arg(QUEUE).arg("workers").arg("-").arg("+").arg(100).clone();
    let reply: Option<StreamPendingCountReply> = redis.query(&pending).await.ok();
    reply.map(|reply| reply.ids.into_iter().map(|entry| entry.consumer).collect()).unwrap_or_default()
}

/// Waits until some consumer holds a job; returns the holders.
async fn wait_until_held(redis: &Redis, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let holders = holders(redis).await;
        if !holders.is_empty() {
            return holders;
        }
        assert!(Instant::now() < deadline, "no worker took a job within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The dead letters, once there are `count` (within `within`).
async fn wait_for_dead_letters(redis: &Redis, count: usize, within: Duration) -> StreamRangeReply {
    let deadline = Instant::now() + within;
    loop {
        let dead: StreamRangeReply =
            redis.query(redis::cmd("XRANGE").arg(format!("{QUEUE}:dead")).arg("-").arg("+")).await.expect("xrange");
        if dead.ids.len() >= count {
            return dead;
        }
        assert!(Instant::now() < deadline, "{} dead letters after {within:?}", dead.ids.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `process` logged a line containing `needle`; returns it.
async fn wait_for_log(process: &ServiceProcess, needle: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        if let Some(line) = process.log().lines().find(|line| line.contains(needle)) {
            return line.to_owned();
        }
        assert!(Instant::now() < deadline, "no log line with {needle:?} within {within:?}:\n{}", process.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_restarts_at_random_process_every_job_exactly_once() {
    let server = RedisServer::start();
    sigterm_restarts(server.env()).await;
}

async fn sigterm_restarts(server: RedisEnv) {
    const JOBS: usize = 300;
    let redis = handle(&server);
    enqueue(&redis, (0..JOBS).map(|i| format!("job-{i}"))).await;
    let mut workers: Vec<ServiceProcess> = (0..3).map(|_| worker(&server, 30, &[])).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seed = 0x2545_f491_u64;
    let mut restarts = 0;
    loop {
        let (left, _) = state(&redis).await;
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{left} jobs left after 60 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let victim = (seed % 3) as usize;
        workers[victim].signal("TERM");
        let exit = workers[victim].wait_exit(Duration::from_secs(15));
        assert_eq!(exit.code, Some(0), "a worker must finish its job and exit 0");
        workers[victim] = worker(&server, 30, &[]);
        restarts += 1;
    }
    let (_, done) = state(&redis).await;
    assert_eq!(done.len(), JOBS, "every job processed");
    let duplicates: u64 = done.values().map(|count| count - 1).sum();
    eprintln!("{JOBS} jobs, {restarts} SIGTERM restarts, {duplicates} duplicates");
    assert_eq!(duplicates, 0, "SIGTERM finishes the job in hand: exactly once");
    // The backlog KEDA's redis-streams scaler reads: the group's lag, exact (not nil) after
    // acknowledged entries were deleted.
    let groups: redis::Value = redis.query(redis::cmd("XINFO").arg("GROUPS").arg(QUEUE)).await.expect("xinfo");
    assert!(format!("{groups:?}").contains("lag"), "{groups:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = reqwest::get(workers[0].metrics_url()).await.expect("scrape").text().await.expect("text");
        if metrics.contains("jobs_queue_depth 0") {
            break;
        }
        assert!(Instant::now() < deadline, "no jobs_queue_depth 0 in:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_loses_nothing_its_jobs_are_taken_over_after_the_lease() {
    const JOBS: usize = 40;
    let running = RedisServer::start();
    let server = running.env();
    let redis = handle(&server);
    enqueue(&redis, (0..JOBS).map(|i| format!("job-{i}"))).await;
    let mut doomed = worker(&server, 300, &[("EBB_WORKER_LEASE", "1s")]);
    // Kill it while it holds a job.
    wait_until_held(&redis, Duration::from_secs(10)).await;
    doomed.signal("KILL");
    let _survivor = worker(&server, 20, &[("EBB_WORKER_LEASE", "1s")]);
    let done = wait_until_done(&redis, JOBS, Duration::from_secs(40)).await;
    let duplicates: u64 = done.values().map(|count| count - 1).sum();
    eprintln!("{JOBS} jobs after a SIGKILL: all processed, {duplicates} duplicates (at least once)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_longer_than_its_lease_runs_once_while_its_owner_lives() {
    let running = RedisServer::start();
    let server = running.env();
    let redis = handle(&server);
    let lease = [("EBB_WORKER_LEASE", "2s")];
    let (_a, _b) = (worker(&server, 20, &lease), worker(&server, 20, &lease));
    // Three times the lease: without renewal the other worker would take it over.
    enqueue(&redis, ["sleep:6000".to_owned()]).await;
    let done = wait_until_done(&redis, 1, Duration::from_secs(30)).await;
    assert_eq!(done.get("sleep:6000"), Some(&1), "renewed leases: processed exactly once: {done:?}");

    // Negative control: an owner that does not renew (a consumer that took the job and went
    // silent) loses it after the lease, and the job runs elsewhere. The test sees takeovers.
    let _: String = redis.query(redis::cmd("XADD").arg(QUEUE).arg("*").arg("job").arg("ghosted")).await.expect("xadd");
    let _: redis::Value = redis
        .query(
            redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg("workers")
                .arg("ghost")
                .arg("COUNT")
                .arg(1)
                .arg("STREAMS")
                .arg(QUEUE)
                .arg(">"),
        )
        .await
        .expect("ghost takes it");
    let done = wait_until_done(&redis, 2, Duration::from_secs(20)).await;
    assert_eq!(done.get("ghosted"), Some(&1), "{done:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_job_lands_in_the_dead_letter_stream_after_max_attempts() {
    let running = RedisServer::start();
    let server = running.env();
    let redis = handle(&server);
    let _worker = worker(&server, 20, &[("EBB_WORKER_LEASE", "1s"), ("EBB_WORKER_MAX_ATTEMPTS", "3")]);
    enqueue(&redis, ["fail-always".to_owned(), "fine".to_owned()]).await;
    let dead = wait_for_dead_letters(&redis, 1, Duration::from_secs(30)).await;
    assert_eq!(dead.ids.len(), 1);
    let field = |name: &str| redis::from_redis_value_ref::<String>(&dead.ids[0].map[name]).expect(name);
    assert_eq!(field("job"), "fail-always");
    assert_eq!(field("attempts"), "3");
    assert!(field("error").contains("failed"), "the last error travels with it: {}", field("error"));
    let (left, done) = state(&redis).await;
    assert_eq!((left, done.get("fine")), (0, Some(&1)), "the poison left the queue; the rest ran");
    assert!(!done.contains_key("fail-always"));
}

#[tokio::test]
async fn without_redis_the_worker_refuses_to_start() {
    let (exit, log) = ServiceProcess::run_to_exit(BIN, &[], Duration::from_secs(10));
    assert_eq!(exit.code, Some(78), "{log}");
    assert!(log.contains("REDIS_URL is required"), "{log}");
}

#[tokio::test]
async fn a_queue_without_a_hash_tag_is_a_start_up_error() {
    let env = [("REDIS_URL", "redis://127.0.0.1:1/".to_owned()), ("EBB_WORKER_QUEUE", "ebb:jobs".to_owned())];
    let (exit, log) = ServiceProcess::run_to_exit(BIN, &env, Duration::from_secs(10));
    assert_eq!(exit.code, Some(78), "{log}");
    assert!(log.contains("EBB_WORKER_QUEUE"), "{log}");
}
