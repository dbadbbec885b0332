//! One job in hand, from delivery to its end: the work runs while its lease is renewed every
//! third of the lease; it ends done (the finish script applies its effect if the job is
//! still ours), failed, timed out (`EBB_WORKER_JOB_TIMEOUT`: failed, and no longer renewed),
//! lost (another consumer holds it now) or handed back (the shutdown budget is running out).

use ebb_server::ebb_redis::{Error, redis};
use ebb_server::ebb_shutdown::CancellationToken;
use tokio::time::MissedTickBehavior;

use super::{Job, Queue};
use crate::job;

/// How holding a job ended.
enum End {
    /// The work returned.
    Ran(Result<(), String>),
    /// It ran past `EBB_WORKER_JOB_TIMEOUT`.
    TimedOut,
    /// A renewal found another consumer holding it.
    Lost,
    /// The shutdown budget is nearly spent.
    HandBack,
}

impl Queue {
    /// Runs `job` as `consumer` until it ends (see the module docs). An `Err` is Redis'
    /// (the job then stays pending and is taken over after its lease).
    pub(super) async fn hold(&self, consumer: &str, job: Job, hand_back: &CancellationToken) -> Result<(), Error> {
        let work = job::run(&job.payload, self.config.job_time);
        tokio::pin!(work);
        let deadline = tokio::time::sleep(self.config.job_timeout);
        tokio::pin!(deadline);
        let mut renewal = tokio::time::interval(self.config.lease / 3);
        renewal.set_missed_tick_behavior(MissedTickBehavior::Delay);
        renewal.tick().await; // the first tick is immediate; the job was just delivered
        let end = loop {
            tokio::select! {
                // The work first: a process that was paused finds every branch ready at
                // once, and a job that ended is judged by the finish script, which alone
                // knows whether the job is still ours.
                biased;
                outcome = &mut work => break End::Ran(outcome),
                () = &mut deadline => break End::TimedOut,
                () = hand_back.cancelled() => break End::HandBack,
                _ = renewal.tick() => match self.renew(consumer, &job).await {
                    Ok(true) => {}
                    Ok(false) => break End::Lost,
                    // Redis slow or away: keep the job, the lease may still be ours.
                    Err(error) => tracing::warn!(job = %job.id, %error, "could not renew a job's lease"),
                },
            }
        };
        match end {
            End::Ran(Ok(())) => {
                if self.finish(consumer, &job).await? {
                    metrics::counter!(crate::metric_names::PROCESSED).increment(1);
                } else {
                    tracing::warn!(job = %job.id, consumer, "lost the job: another consumer took it over before it finished; its effect is not applied twice");
                }
            }
            End::Ran(Err(error)) => self.fail(&job, &error).await?,
            End::TimedOut => {
                let error = format!("timed out after {:?} (EBB_WORKER_JOB_TIMEOUT); stopped", self.config.job_timeout);
                self.fail(&job, &error).await?;
            }
            End::Lost => {
                tracing::warn!(job = %job.id, consumer, "lost the job: another consumer took it over after its lease ran out; stopping it");
            }
            End::HandBack => {
                if self.hand_back(consumer, &job.id).await? {
                    metrics::counter!(crate::metric_names::HANDED_BACK).increment(1);
                    tracing::warn!(job = %job.id, consumer, "handed the job back unfinished: the shutdown budget ran out; another consumer takes it over at once");
                } else {
                    tracing::warn!(job = %job.id, consumer, "lost the job: another consumer took it over before it was handed back");
                }
            }
        }
        Ok(())
    }

    /// Counts a failure and records its error (the dead letter carries the last one). The
    /// job is not renewed any more: it is taken over, and retried, after its lease.
    async fn fail(&self, job: &Job, error: &str) -> Result<(), Error> {
        tracing::warn!(job = %job.id, %error, "job failed; it is retried after its lease");
        metrics::counter!(crate::metric_names::FAILED).increment(1);
        let mut record = redis::cmd("HSET");
        record.arg(self.key("errors")).arg(&job.id).arg(error);
        self.redis.query::<()>(&record).await
    }
}
