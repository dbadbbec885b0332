//! The queue: a Redis stream read by a consumer group. Redis keeps the bookkeeping — which
//! job each consumer holds (the pending entries list), for how long, and how often it was
//! delivered — so the worker needs no heartbeats, processing lists or keyspace scans.
//!
//! - **Take**: `XREADGROUP ... >` hands a new job to exactly one consumer.
//! - **Lease**: while a job runs, its owner renews it every third of the lease (a script:
//!   `XCLAIM ... 0 <id> JUSTID` only if `XPENDING` still names this consumer; it resets the
//!   idle time, not the delivery count). A long job is never taken over while its owner
//!   lives; an owner that finds it lost the job stops it.
//! - **Take over**: each consumer looks, once a second, for jobs idle longer than the lease
//!   (`XPENDING ... IDLE`): their owner died or failed them. It claims one at a time, right
//!   before running it (`XCLAIM` with the same idle bound: only one consumer wins).
//! - **Dead letters**: a job delivered `EBB_WORKER_MAX_ATTEMPTS` times moves, with its last
//!   error, to the `<queue>:dead` stream.
//! - **Done**: one script does the job's effect (here, a counter), `XACK` and `XDEL` — only
//!   if this consumer still holds the job, so the effect happens once even if a job ran
//!   twice.
//!
//! Every key shares the queue's hash tag, so the transactions work on a Redis Cluster.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ebb_server::Redis;
use ebb_server::ebb_redis::redis::streams::{StreamClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};
use ebb_server::ebb_redis::redis::{self, Script, Value};
use ebb_server::ebb_shutdown::CancellationToken;

use crate::config::Config;
use crate::job;

/// How often a consumer looks for jobs whose lease ran out.
const RECLAIM_EVERY: Duration = Duration::from_secs(1);
/// How long an idle consumer waits before asking for new jobs again.
const IDLE_POLL: Duration = Duration::from_millis(100);

#[derive(Clone)]
pub(crate) struct Consumer {
    redis: Redis,
    config: Config,
    scripts: std::sync::Arc<Scripts>,
}

/// The scripts, hashed once (`EVALSHA` by that hash; loaded on `NOSCRIPT`).
struct Scripts {
    renew: Script,
    finish: Script,
    dead_letter: Script,
}

const RENEW_LUA: &str = include_str!("lua/renew.lua");
const FINISH_LUA: &str = include_str!("lua/finish.lua");
const DEAD_LETTER_LUA: &str = include_str!("lua/dead_letter.lua");

/// One job in hand.
struct Job {
    id: String,
    payload: String,
}

impl Consumer {
    pub(crate) fn new(redis: Redis, config: Config) -> Self {
        let scripts = Scripts {
            renew: Script::new(RENEW_LUA),
            finish: Script::new(FINISH_LUA),
            dead_letter: Script::new(DEAD_LETTER_LUA),
        };
        Self { redis, config, scripts: std::sync::Arc::new(scripts) }
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.config.queue)
    }

    pub(crate) async fn ping(&self) -> Result<(), String> {
        self.redis.ping().await.map_err(|e| e.to_string())
    }

    /// Takes jobs until `stop`; the job in hand is always finished.
    pub(crate) async fn run(&self, signalled: CancellationToken, stop: CancellationToken) {
        // No new job once the signal came: the delay is for the platform, not for new work.
        let stop = {
            let either = CancellationToken::new();
            let cancel = either.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = signalled.cancelled() => {}
                    () = stop.cancelled() => {}
                }
                cancel.cancel();
            });
            either
        };
        let mut backoff = Duration::from_millis(100);
        while !stop.is_cancelled() {
            match self.cycle(&stop).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(error) => {
                    tracing::warn!("worker: {error}; retrying in {backoff:?}");
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        tracing::info!(consumer = %self.config.id, "worker stopped; unstarted jobs stay queued");
    }

    /// The group, then jobs (taken over or new) until `stop` or an error.
    async fn cycle(&self, stop: &CancellationToken) -> Result<(), ebb_server::ebb_redis::Error> {
        self.ensure_group().await?;
        let mut last_reclaim: Option<Instant> = None;
        while !stop.is_cancelled() {
            if last_reclaim.is_none_or(|at| at.elapsed() >= RECLAIM_EVERY) {
                last_reclaim = Some(Instant::now());
                // One at a time, each claimed just before it runs: a claimed job waiting
                // behind others would outlive its lease unrenewed.
                while !stop.is_cancelled() {
                    let Some(job) = self.take_over().await? else { break };
                    self.process(job).await?;
                }
                continue;
            }
            match self.take_new().await? {
                Some(job) => self.process(job).await?,
                None => {
                    tokio::select! {
                        () = stop.cancelled() => {}
                        () = tokio::time::sleep(IDLE_POLL) => {}
                    }
                }
            }
        }
        Ok(())
    }

    async fn ensure_group(&self) -> Result<(), ebb_server::ebb_redis::Error> {
        let mut create = redis::cmd("XGROUP");
        // From the stream's start: jobs added before the first consumer are not skipped.
        create.arg("CREATE").arg(&self.config.queue).arg(&self.config.group).arg("0").arg("MKSTREAM");
        match self.redis.query::<()>(&create).await {
            Err(ebb_server::ebb_redis::Error::Redis(error)) if error.code() == Some("BUSYGROUP") => Ok(()),
            other => other,
        }
    }

    async fn take_new(&self) -> Result<Option<Job>, ebb_server::ebb_redis::Error> {
        let mut read = redis::cmd("XREADGROUP");
        read.arg("GROUP").arg(&self.config.group).arg(&self.config.id);
        read.arg("COUNT").arg(1).arg("STREAMS").arg(&self.config.queue).arg(">");
        let reply: Option<StreamReadReply> = self.redis.query(&read).await?;
        let entry = reply.and_then(|reply| reply.keys.into_iter().next()).and_then(|key| key.ids.into_iter().next());
        Ok(entry.map(job_of))
    }

    /// One job whose lease ran out: taken over, or moved to the dead-letter stream once it
    /// was delivered `max_attempts` times (then the next one is looked at).
    async fn take_over(&self) -> Result<Option<Job>, ebb_server::ebb_redis::Error> {
        let lease_ms = u64::try_from(self.config.lease.as_millis()).unwrap_or(u64::MAX);
        loop {
            let mut pending = redis::cmd("XPENDING");
            pending.arg(&self.config.queue).arg(&self.config.group).arg("IDLE").arg(lease_ms).arg("-").arg("+").arg(1);
            let reply: StreamPendingCountReply = self.redis.query(&pending).await?;
            let Some(entry) = reply.ids.into_iter().next() else { return Ok(None) };
            // Only one consumer wins the claim: it resets the idle time the others test.
            let mut claim = redis::cmd("XCLAIM");
            claim.arg(&self.config.queue).arg(&self.config.group).arg(&self.config.id).arg(lease_ms).arg(&entry.id);
            let claimed: StreamClaimReply = self.redis.query(&claim).await?;
            let Some(job) = claimed.ids.into_iter().next().map(job_of) else { continue };
            if entry.times_delivered >= usize::try_from(self.config.max_attempts).unwrap_or(usize::MAX) {
                self.dead_letter(&job, entry.times_delivered).await?;
                continue;
            }
            tracing::warn!(job = %job.id, previous_owner = %entry.consumer, "took over a job whose lease ran out");
            metrics::counter!("jobs_requeued_total").increment(1);
            return Ok(Some(job));
        }
    }

    async fn dead_letter(&self, job: &Job, attempts: usize) -> Result<(), ebb_server::ebb_redis::Error> {
        let mut invocation = self.scripts.dead_letter.key(&self.config.queue);
        invocation.key(self.key("dead")).key(self.key("errors"));
        invocation.arg(&self.config.group).arg(&self.config.id).arg(&job.id).arg(&job.payload).arg(attempts);
        invocation.arg("the consumer holding it stopped answering");
        let moved: i64 = self.redis.invoke(&invocation, self.redis.timeout()).await?;
        if moved == 1 {
            tracing::error!(job = %job.id, attempts, "job moved to the dead-letter stream");
            metrics::counter!("jobs_dead_lettered_total").increment(1);
        }
        Ok(())
    }

    /// Runs `job`, renewing its lease until it ends; then acknowledges it, or records why it
    /// failed (it is taken over again once its lease runs out).
    async fn process(&self, job: Job) -> Result<(), ebb_server::ebb_redis::Error> {
        let work = job::run(&job.payload, self.config.job_time);
        tokio::pin!(work);
        let mut renew = tokio::time::interval(self.config.lease / 3);
        renew.tick().await; // the first tick is immediate; the job was just delivered
        let outcome = loop {
            tokio::select! {
                outcome = &mut work => break outcome,
                _ = renew.tick() => {
                    if !self.renew(&job).await {
                        tracing::warn!(job = %job.id, "lost the job's lease to another consumer; stopping it");
                        return Ok(());
                    }
                }
            }
        };
        match outcome {
            Ok(()) => {
                let mut invocation = self.scripts.finish.key(&self.config.queue);
                invocation.key(self.key("done")).key(self.key("errors"));
                invocation.arg(&self.config.group).arg(&self.config.id).arg(&job.id).arg(&job.payload);
                let finished: i64 = self.redis.invoke(&invocation, self.redis.timeout()).await?;
                if finished == 1 {
                    metrics::counter!("jobs_processed_total").increment(1);
                } else {
                    tracing::warn!(job = %job.id, "the job was taken over before it finished; its effect is not applied twice");
                }
            }
            Err(error) => {
                tracing::warn!(job = %job.id, %error, "job failed; it is retried after its lease");
                metrics::counter!("jobs_failed_total").increment(1);
                let mut record = redis::cmd("HSET");
                record.arg(self.key("errors")).arg(&job.id).arg(&error);
                self.redis.query::<()>(&record).await?;
            }
        }
        Ok(())
    }

    /// Renews the lease on `job`; `false` when another consumer holds it now. A renewal
    /// that fails (Redis slow or away) keeps the job: the lease may still be ours.
    async fn renew(&self, job: &Job) -> bool {
        let mut invocation = self.scripts.renew.key(&self.config.queue);
        invocation.arg(&self.config.group).arg(&self.config.id).arg(&job.id);
        match self.redis.invoke::<i64>(&invocation, self.redis.timeout()).await {
            Ok(renewed) => renewed == 1,
            Err(error) => {
                tracing::warn!(job = %job.id, %error, "could not renew a job's lease");
                true
            }
        }
    }

    /// Publishes the backlog (jobs not yet acknowledged) as `jobs_queue_depth` every `every`.
    pub(crate) async fn report_depth(&self, stop: CancellationToken, every: Duration) {
        while !stop.is_cancelled() {
            if let Ok(depth) = self.redis.query::<u64>(redis::cmd("XLEN").arg(&self.config.queue)).await {
                metrics::gauge!("jobs_queue_depth").set(depth as f64);
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
