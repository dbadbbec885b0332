//! The queue: a Redis stream read by a consumer group. Redis keeps the bookkeeping — which
//! job each consumer holds (the pending entries list), for how long, and how often it was
//! delivered — so the worker needs no heartbeats, processing lists or keyspace scans.
//!
//! - **Take**: `XREADGROUP ... >` hands a new job to exactly one consumer.
//! - **Lease**: while a job runs, its owner renews it every third of the lease with
//!   `XCLAIM ... 0 <id> JUSTID` (resets the idle time, not the delivery count). A long job
//!   is therefore never taken over while its owner lives.
//! - **Take over**: each consumer looks, once a second, for jobs idle longer than the lease
//!   (`XPENDING ... IDLE`): their owner died or failed them. `XCLAIM` with the same idle bound
//!   gives each to exactly one consumer, which runs it again.
//! - **Dead letters**: a job delivered `EBB_WORKER_MAX_ATTEMPTS` times moves, with its last
//!   error, to the `<queue>:dead` stream.
//! - **Done**: `XACK` + `XDEL` in one transaction with the job's effect (here, a counter).
//!
//! Every key shares the queue's hash tag, so the transactions work on a Redis Cluster.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ebb_server::Redis;
use ebb_server::ebb_redis::redis::streams::{StreamClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};
use ebb_server::ebb_redis::redis::{self, Value};
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
}

/// One job in hand.
struct Job {
    id: String,
    payload: String,
}

impl Consumer {
    pub(crate) fn new(redis: Redis, config: Config) -> Self {
        Self { redis, config }
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
                for job in self.take_over(stop).await? {
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

    /// Jobs whose lease ran out: taken over, or moved to the dead-letter stream once they
    /// were delivered `max_attempts` times.
    async fn take_over(&self, stop: &CancellationToken) -> Result<Vec<Job>, ebb_server::ebb_redis::Error> {
        let lease_ms = u64::try_from(self.config.lease.as_millis()).unwrap_or(u64::MAX);
        let mut pending = redis::cmd("XPENDING");
        pending.arg(&self.config.queue).arg(&self.config.group).arg("IDLE").arg(lease_ms).arg("-").arg("+").arg(16);
        let reply: StreamPendingCountReply = self.redis.query(&pending).await?;
        let mut jobs = Vec::new();
        for entry in reply.ids {
            if stop.is_cancelled() {
                break;
            }
            // Only one consumer wins the claim: it resets the idle time the others test.
            let mut claim = redis::cmd("XCLAIM");
            claim.arg(&self.config.queue).arg(&self.config.group).arg(&self.config.id).arg(lease_ms).arg(&entry.id);
            let claimed: StreamClaimReply = self.redis.query(&claim).await?;
            let Some(job) = claimed.ids.into_iter().next().map(job_of) else { continue };
            if entry.times_delivered >= usize::try_from(self.config.max_attempts).unwrap_or(usize::MAX) {
                self.dead_letter(&job, entry.times_delivered).await?;
            } else {
                tracing::warn!(job = %job.id, previous_owner = %entry.consumer, "took over a job whose lease ran out");
                metrics::counter!("jobs_requeued_total").increment(1);
                jobs.push(job);
            }
        }
        Ok(jobs)
    }

    async fn dead_letter(&self, job: &Job, attempts: usize) -> Result<(), ebb_server::ebb_redis::Error> {
        let last_error: Option<String> =
            self.redis.query(redis::cmd("HGET").arg(self.key("errors")).arg(&job.id)).await?;
        let last_error = last_error.unwrap_or_else(|| "the consumer holding it stopped answering".to_owned());
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XADD")
            .arg(self.key("dead"))
            .arg("*")
            .arg("job")
            .arg(&job.payload)
            .arg("id")
            .arg(&job.id)
            .arg("attempts")
            .arg(attempts)
            .arg("error")
            .arg(&last_error)
            .ignore();
        self.finish(&mut pipe, job);
        self.redis.run(self.redis.timeout(), async |c| pipe.query_async::<()>(c).await).await?;
        tracing::error!(job = %job.id, attempts, error = %last_error, "job moved to the dead-letter stream");
        metrics::counter!("jobs_dead_lettered_total").increment(1);
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
                _ = renew.tick() => self.renew(&job).await,
            }
        };
        match outcome {
            Ok(()) => {
                let mut pipe = redis::pipe();
                // The job's effect, in the same transaction as its acknowledgement.
                pipe.atomic().hincr(self.key("done"), &job.payload, 1).ignore();
                self.finish(&mut pipe, &job);
                self.redis.run(self.redis.timeout(), async |c| pipe.query_async::<()>(c).await).await?;
                metrics::counter!("jobs_processed_total").increment(1);
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

    /// `XACK` + `XDEL` and the error record's removal, appended to `pipe`.
    fn finish(&self, pipe: &mut redis::Pipeline, job: &Job) {
        pipe.cmd("XACK").arg(&self.config.queue).arg(&self.config.group).arg(&job.id).ignore();
        pipe.cmd("XDEL").arg(&self.config.queue).arg(&job.id).ignore();
        pipe.cmd("HDEL").arg(self.key("errors")).arg(&job.id).ignore();
    }

    async fn renew(&self, job: &Job) {
        let mut claim = redis::cmd("XCLAIM");
        claim.arg(&self.config.queue).arg(&self.config.group).arg(&self.config.id).arg(0).arg(&job.id).arg("JUSTID");
        if let Err(error) = self.redis.query::<Value>(&claim).await {
            tracing::warn!(job = %job.id, %error, "could not renew a job's lease");
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
