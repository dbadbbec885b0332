//! Workers stopped and started at random while they work: nothing is lost.

use std::time::{Duration, Instant};

use ebb_server::ebb_ratelimit::deadpool_redis::{self, Pool, Runtime, redis};
use ebb_testkit::{RedisServer, ServiceProcess};

const BIN: &str = env!("CARGO_BIN_EXE_example-worker");

fn worker(redis: &RedisServer, job_ms: u64) -> ServiceProcess {
    ServiceProcess::start(
        BIN,
        &[
            ("REDIS_URL", redis.url()),
            ("EBB_WORKER_JOB_MS", job_ms.to_string()),
            ("EBB_SHUTDOWN_DELAY", "0s".to_owned()),
            ("EBB_SHUTDOWN_TIMEOUT", "10s".to_owned()),
        ],
    )
}

async fn pool(redis: &RedisServer) -> Pool {
    deadpool_redis::Config::from_url(redis.url()).create_pool(Some(Runtime::Tokio1)).expect("pool")
}

async fn enqueue(pool: &Pool, jobs: usize) {
    let mut connection = pool.get().await.expect("connection");
    let names: Vec<String> = (0..jobs).map(|i| format!("job-{i}")).collect();
    redis::cmd("LPUSH").arg("ebb:jobs").arg(&names).query_async::<()>(&mut connection).await.expect("lpush");
}

/// (jobs left in the queue or in processing lists, the done counts).
async fn state(pool: &Pool) -> (usize, std::collections::HashMap<String, u64>) {
    let mut connection = pool.get().await.expect("connection");
    let queued: usize = redis::cmd("LLEN").arg("ebb:jobs").query_async(&mut connection).await.expect("llen");
    let lists: Vec<String> =
        redis::cmd("KEYS").arg("ebb:jobs:processing:*").query_async(&mut connection).await.expect("keys");
    let mut in_progress = 0;
    for list in lists {
        in_progress += redis::cmd("LLEN").arg(&list).query_async::<usize>(&mut connection).await.expect("llen");
    }
    let done = redis::cmd("HGETALL").arg("ebb:jobs:done").query_async(&mut connection).await.expect("done");
    (queued + in_progress, done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_restarts_at_random_process_every_job_exactly_once() {
    const JOBS: usize = 300;
    let redis = RedisServer::start();
    let pool = pool(&redis).await;
    enqueue(&pool, JOBS).await;
    let mut workers: Vec<ServiceProcess> = (0..3).map(|_| worker(&redis, 30)).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seed = 0x2545_f491_u64;
    let mut restarts = 0;
    loop {
        let (left, _) = state(&pool).await;
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
        workers[victim] = worker(&redis, 30);
        restarts += 1;
    }
    let (_, done) = state(&pool).await;
    assert_eq!(done.len(), JOBS, "every job processed");
    let duplicates: u64 = done.values().map(|count| count - 1).sum();
    eprintln!("{JOBS} jobs, {restarts} SIGTERM restarts, {duplicates} duplicates");
    assert_eq!(duplicates, 0, "SIGTERM finishes the job in hand: exactly once");
    // The queue depth KEDA would scale on, as the workers report it (each second).
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
async fn a_killed_worker_loses_nothing_its_jobs_come_back() {
    const JOBS: usize = 40;
    let redis = RedisServer::start();
    let pool = pool(&redis).await;
    enqueue(&pool, JOBS).await;
    let mut doomed = worker(&redis, 300);
    // Kill it while it holds a job.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut connection = pool.get().await.expect("connection");
        let lists: Vec<String> =
            redis::cmd("KEYS").arg("ebb:jobs:processing:*").query_async(&mut connection).await.expect("keys");
        let mut holding = 0;
        for list in &lists {
            holding += redis::cmd("LLEN").arg(list).query_async::<usize>(&mut connection).await.expect("llen");
        }
        if holding > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the worker never took a job");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.signal("KILL");
    let _survivor = worker(&redis, 20);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (left, done) = state(&pool).await;
        if left == 0 && done.len() == JOBS {
            let duplicates: u64 = done.values().map(|count| count - 1).sum();
            eprintln!("{JOBS} jobs after a SIGKILL: all processed, {duplicates} duplicates (at least once)");
            break;
        }
        assert!(Instant::now() < deadline, "{left} jobs left, {} done", done.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn without_redis_the_worker_refuses_to_start() {
    let (exit, log) = ServiceProcess::run_to_exit(BIN, &[], Duration::from_secs(10));
    assert_eq!(exit.code, Some(78), "{log}");
    assert!(log.contains("REDIS_URL is required"), "{log}");
}
