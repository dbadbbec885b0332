//! The chaos run through a Sentinel failover: the master is killed mid-run, the sentinels
//! promote the replica, and the workers follow them to it.

use std::time::Duration;

use ebb_testkit::RedisSentinel;

use super::chaos::chaos;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_through_a_sentinel_failover_every_job_exactly_once() {
    let mut sentinel = RedisSentinel::start();
    let env = sentinel.env();
    let mut killed = None;
    chaos(&env, "Sentinel", || killed = Some(sentinel.kill_master())).await;
    let old = killed.expect("the master was killed mid-run");
    let new = sentinel.wait_for_new_master(old, Duration::from_secs(10));
    eprintln!("Sentinel: the master moved from {old} to {new} during the run");
}
