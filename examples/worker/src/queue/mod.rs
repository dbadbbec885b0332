//! The queue: a Redis stream read by a consumer group. Redis keeps the bookkeeping — which
//! job each consumer holds (the pending entries list), for how long, and how often it was
//! delivered — so the worker needs no heartbeats, processing lists or keyspace scans.
//!
//! - **Consumers**: `EBB_WORKER_CONCURRENCY` per process, each named `<EBB_WORKER_ID>-<n>`
//!   and holding one job at a time ([`consumer`]).
//! - **Take**: `XREADGROUP … COUNT 1 BLOCK 1000 … >` hands a new job to exactly one
//!   consumer, on an exclusive connection of that consumer's own (a blocking read on the
//!   shared multiplexed connection would stall every other command): a job is picked up as
//!   soon as it is added, and an idle consumer sends one read a second.
//! - **Lease**: while a job runs, its owner renews it every third of the lease (a script:
//!   `XCLAIM … 0 <id> JUSTID` only if `XPENDING` still names this consumer; it resets the
//!   idle time, not the delivery count). A long job is never taken over while its owner
//!   lives; an owner that finds it lost the job stops it.
//! - **Deadline**: a job running past `EBB_WORKER_JOB_TIMEOUT` is stopped and counts as
//!   failed; no longer renewed, it is retried after its lease.
//! - **Take over**: once a second per process ([`look`]) a free consumer looks for jobs idle
//!   longer than the lease (`XPENDING … IDLE`): their owner died, stalled or failed them. It
//!   claims one right before running it (`XCLAIM` with the same idle bound: only one
//!   consumer wins).
//! - **Dead letters**: a job delivered `EBB_WORKER_MAX_ATTEMPTS` times moves, with its last
//!   error, to the `<queue>:dead` stream.
//! - **Done**: one script does the job's effect (here, a counter), `XACK` and `XDEL` — only
//!   if this consumer still holds the job, so the effect happens once even if a job ran
//!   twice (a stalled owner that wakes up after a takeover finds the job gone).
//! - **Shutdown**: from the signal no consumer takes a new job; a blocked read is let end
//!   (within a second) rather than abandoned, and a job it brings is held like the rest.
//!   Jobs in hand run on until the hand-back moment, shortly before the shutdown deadline,
//!   when each still running is handed back: made claimable by others at once (its idle
//!   time set to the lease), so another replica takes it over without waiting a lease.
//!
//! Every key shares the queue's hash tag, so the scripts work on a Redis Cluster.

mod consumer;
mod hold;
mod look;
mod scripts;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ebb_server::Redis;
use ebb_server::ebb_redis::Error;
use ebb_server::ebb_redis::redis::streams::StreamId;
use ebb_server::ebb_redis::redis::{self, Value};
use ebb_server::ebb_shutdown::CancellationToken;

use crate::config::Config;

pub(crate) struct Queue {
    redis: Redis,
    config: Config,
    scripts: scripts::Scripts,
    look: look::Look,
}

/// One job in hand.
struct Job {
    id: String,
    payload: String,
}

impl Queue {
    pub(crate) fn new(redis: Redis, config: Config) -> Arc<Self> {
        Arc::new(Self { redis, config, scripts: scripts::Scripts::new(), look: look::Look::default() })
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.config.queue)
    }

    fn lease_ms(&self) -> u64 {
        u64::try_from(self.config.lease.as_millis()).unwrap_or(u64::MAX)
    }

    /// Readiness: a PING on the shared connection, which no blocked read ever holds.
    pub(crate) async fn ping(&self) -> Result<(), String> {
        self.redis.ping().await.map_err(|e| e.to_string())
    }

    /// Runs every consumer until `signalled`, and returns once each has finished or handed
    /// back its job (handed back when `hand_back` fires).
    pub(crate) async fn run(self: Arc<Self>, signalled: CancellationToken, hand_back: CancellationToken) {
        let mut consumers = tokio::task::JoinSet::new();
        for n in 0..self.config.concurrency {
            consumers.spawn(self.clone().consume(n, signalled.clone(), hand_back.clone()));
        }
        tracing::info!(consumers = self.config.concurrency, id = %self.config.id, "worker started");
        while let Some(ended) = consumers.join_next().await {
            if let Err(error) = ended {
                tracing::error!(%error, "a consumer panicked");
            }
        }
        tracing::info!(id = %self.config.id, "worker stopped");
    }

    async fn ensure_group(&self) -> Result<(), Error> {
        let mut create = redis::cmd("XGROUP");
        // From the stream's start: jobs added before the first consumer are not skipped.
        create.arg("CREATE").arg(&self.config.queue).arg(&self.config.group).arg("0").arg("MKSTREAM");
        match self.redis.query::<()>(&create).await {
            Err(Error::Redis(error)) if error.code() == Some("BUSYGROUP") => Ok(()),
            other => other,
        }
    }

    /// Publishes the backlog (jobs not yet acknowledged) as `jobs_queue_depth` every `every`.
    pub(crate) async fn report_depth(&self, stop: CancellationToken, every: Duration) {
        while !stop.is_cancelled() {
            if let Ok(depth) = self.redis.query::<u64>(redis::cmd("XLEN").arg(&self.config.queue)).await {
                metrics::gauge!(crate::metric_names::QUEUE_DEPTH).set(depth as f64);
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}

fn job_of(entry: StreamId) -> Job {
    let payload = field(&entry.map, "job").unwrap_or_default();
    Job { id: entry.id, payload }
}

fn field(map: &HashMap<String, Value>, name: &str) -> Option<String> {
    map.get(name).and_then(|value| redis::from_redis_value_ref::<String>(value).ok())
}
