//! Exactly once that a test can break: a worker paused mid-job (SIGSTOP) loses its lease,
//! another takes the job over and finishes it, then the first wakes up (SIGCONT) with its
//! job done. The ownership checks keep the effect single (the renewal stops the woken owner,
//! or the finish script refuses its effect, whichever runs first): the negative control runs
//! the paused worker without both and sees the effect twice. scripts.rs pins each alone.

use std::time::{Duration, Instant};

use ebb_server::ebb_redis::Redis;
use ebb_testkit::{RedisServer, ServiceProcess};

use super::{RedisEnv, enqueue, handle, start, state, wait_for_log, wait_until_done, wait_until_held, worker};

const CONTROL_BIN: &str = env!("CARGO_BIN_EXE_example-worker-without-ownership-check");
/// Longer than the lease, so that the paused owner's lease lapses; both run it this long.
const JOB: &str = "sleep:1500";
const LEASE: [(&str, &str); 1] = [("EBB_WORKER_LEASE", "1s")];

/// The scenario up to the moment the paused owner (`owner_bin`) wakes up with its job done
/// by another: returns the owner, the taker and the handle.
async fn paused_owner_wakes_after_a_takeover(
    server: &RedisEnv,
    owner_bin: &str,
) -> (ServiceProcess, ServiceProcess, Redis) {
    let redis = handle(server);
    let mut owner = start(owner_bin, server, 20, &LEASE);
    enqueue(&redis, [JOB.to_owned()]).await;
    let holders = wait_until_held(&redis, Duration::from_secs(10)).await;
    let paused_at = Instant::now();
    owner.signal("STOP");
    // Started only now, so the job can reach it only by a takeover.
    let taker = worker(server, 20, &LEASE);
    let done = wait_until_done(&redis, 1, Duration::from_secs(20)).await;
    assert_eq!(done.get(JOB), Some(&1), "the taker finished it: {done:?}");
    let took_over = taker.log_line("took over a job");
    assert!(took_over.contains(holders[0].as_str()), "taken from the paused owner {holders:?}: {took_over}");
    // The owner's job was due long ago: it ends at once when the owner wakes.
    assert!(paused_at.elapsed() > Duration::from_millis(1500), "the owner was paused longer than its job");
    owner.signal("CONT");
    (owner, taker, redis)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_owner_that_lost_its_job_does_not_apply_it_again() {
    let running = RedisServer::start();
    let (owner, _taker, redis) = paused_owner_wakes_after_a_takeover(&running.env(), super::BIN).await;
    let line = wait_for_log(&owner, "lost the job", Duration::from_secs(10)).await;
    eprintln!("the woken owner: {line}");
    let (left, done) = state(&redis).await;
    assert_eq!((left, done.get(JOB)), (0, Some(&1)), "applied once: {done:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_control_without_the_ownership_check_the_effect_is_applied_twice() {
    let running = RedisServer::start();
    let (owner, _taker, redis) = paused_owner_wakes_after_a_takeover(&running.env(), CONTROL_BIN).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, done) = state(&redis).await;
        if done.get(JOB) == Some(&2) {
            break;
        }
        assert!(Instant::now() < deadline, "the control must apply the effect twice: {done:?}\n{}", owner.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!owner.log().contains("lost the job"), "without the check it never notices:\n{}", owner.log());
}
