//! Run with: `REDIS_URL=redis://127.0.0.1:6379/ cargo run -p example-worker`
//!
//! A queue consumer of a Redis stream and consumer group — the event-driven case KEDA
//! scales on the group's lag (`redis-streams` scaler). `EBB_WORKER_CONCURRENCY` consumers
//! per process each block in `XREADGROUP` on an exclusive connection of their own, so a job
//! starts as soon as it is added. Redis tracks which consumer holds which job; the holder
//! renews its lease while the job runs (up to `EBB_WORKER_JOB_TIMEOUT`), so a long job is
//! never taken over while its owner lives, and the jobs of a consumer that died or stalled
//! are taken over once their lease runs out. A job that keeps failing goes to a dead-letter
//! stream after `EBB_WORKER_MAX_ATTEMPTS` deliveries. On SIGTERM no new job is taken, the
//! jobs in hand finish within the shutdown budget or are handed back for another replica
//! to take at once, and the rest stays queued. Delivery is at least once, the effect once:
//! the script that applies it checks the job is still this consumer's (see `queue`).
//!
//! ```text
//! redis-cli XADD 'ebb:{jobs}' '*' job job-1
//! redis-cli XRANGE 'ebb:{jobs}:dead' - +
//! curl localhost:9090/metrics | grep jobs_
//! ```

mod app;
mod config;
mod job;
mod metric_names;
mod queue;

/// The two scripts that check a job is still its consumer's: the renewal (which tells a
/// running owner it lost the job) and the finish (which applies the effect only if it did
/// not). A crate-root module so that the negative control's binary (tests/control) can swap
/// both for ones without the check; this binary never contains those.
mod ownership_scripts {
    pub(crate) const RENEW: &str = include_str!("lua/renew.lua");
    pub(crate) const FINISH: &str = include_str!("lua/finish.lua");
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    app::main().await
}
