//! Chaos while jobs flow: workers paused (SIGSTOP, woken after their lease lapsed), killed
//! (SIGKILL) and stopped (SIGTERM), each restarted, on TLS with a client certificate, on a
//! Cluster whose queue master dies and through a Sentinel failover. No job is lost and none
//! has its effect applied twice.

use std::time::{Duration, Instant};

use ebb_testkit::{RedisCluster, RedisServer, ServiceProcess};

use super::{QUEUE, RedisEnv, enqueue, handle, try_state, wait_until_done, worker};

const JOBS: usize = 240;
const WORKERS: usize = 3;
/// Jobs long enough that every disruption finds some in hand.
const JOB_MS: u64 = 100;
const SETTINGS: [(&str, &str); 2] = [("EBB_WORKER_LEASE", "1s"), ("EBB_WORKER_CONCURRENCY", "2")];
/// A paused worker wakes up after this: its lease has lapsed, its jobs were taken over.
const PAUSE: Duration = Duration::from_millis(1500);

struct Worker {
    process: ServiceProcess,
    paused_since: Option<Instant>,
}

/// Runs the chaos until every job is done (60 s at most); `mid_run` is called once, early
/// (a master to kill). Asserts each job's effect was applied exactly once.
pub(super) async fn chaos(env: &RedisEnv, what: &str, mut mid_run: impl FnMut()) {
    let redis = handle(env);
    enqueue(&redis, (0..JOBS).map(|i| format!("job-{i}"))).await;
    // Replication is asynchronous: let a replica catch up before a master dies.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = || worker(env, JOB_MS, &SETTINGS);
    let mut workers: Vec<Worker> = (0..WORKERS).map(|_| Worker { process: start(), paused_since: None }).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seed = 0x9e37_79b9_u64;
    let (mut paused, mut killed, mut stopped) = (0, 0, 0);
    for round in 0.. {
        if let Some((0, done)) = try_state(&redis).await
            && done.len() == JOBS
        {
            break;
        }
        assert!(Instant::now() < deadline, "{what}: jobs left after 60 s");
        tokio::time::sleep(Duration::from_millis(300)).await;
        for worker in &mut workers {
            if worker.paused_since.is_some_and(|at| at.elapsed() >= PAUSE) {
                worker.process.signal("CONT");
                worker.paused_since = None;
            }
        }
        if round == 2 {
            mid_run();
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // A random victim among the awake, and each kind of disruption in turn.
        let awake: Vec<usize> = (0..WORKERS).filter(|i| workers[*i].paused_since.is_none()).collect();
        let victim = &mut workers[awake[(seed % awake.len() as u64) as usize]];
        match round % 3 {
            0 => {
                victim.process.signal("STOP");
                victim.paused_since = Some(Instant::now());
                paused += 1;
            }
            1 => {
                victim.process.signal("KILL");
                victim.process = start();
                killed += 1;
            }
            _ => {
                victim.process.signal("TERM");
                let exit = victim.process.wait_exit(Duration::from_secs(20));
                assert_eq!(exit.code, Some(0), "{what}: SIGTERM exits 0:\n{}", victim.process.log());
                victim.process = start();
                stopped += 1;
            }
        }
    }
    // Paused owners wake now, their jobs long done by others: they must not apply them again.
    for worker in workers.iter_mut().filter(|worker| worker.paused_since.is_some()) {
        worker.process.signal("CONT");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let done = wait_until_done(&redis, JOBS, Duration::from_secs(20)).await;
    assert!(paused > 0 && killed > 0 && stopped > 0, "{what}: too short a run for chaos");
    let twice: Vec<_> = done.iter().filter(|(_, count)| **count != 1).collect();
    eprintln!(
        "{what}: {JOBS} jobs through {paused} pauses, {killed} kills, {stopped} SIGTERMs; applied twice: {twice:?}"
    );
    assert!(twice.is_empty(), "{what}: every job's effect exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_over_tls_with_a_client_certificate_every_job_exactly_once() {
    let server = RedisServer::start_mutual_tls();
    chaos(&server.env(), "mutual TLS", || {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_on_a_cluster_whose_queue_master_dies_every_job_exactly_once() {
    let mut cluster = RedisCluster::start();
    let env = cluster.env();
    chaos(&env, "Cluster", || {
        let master = cluster.master_of(QUEUE);
        cluster.kill(master);
    })
    .await;
}
