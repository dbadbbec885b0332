//! The chaos run through a Sentinel failover: the master is killed mid-run, the sentinels
//! promote the replica, and the workers follow them to it.

use ebb_testkit::RedisSentinel;

use super::chaos::chaos;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_through_a_sentinel_failover_every_job_exactly_once() {
    let mut sentinel = RedisSentinel::start();
    let env = sentinel.env();
    chaos(&env, "Sentinel", || {
        sentinel.kill_master();
    })
    .await;
}
