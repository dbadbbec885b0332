//! One consumer: its own name (`<EBB_WORKER_ID>-<n>`) and its own exclusive connection for
//! `XREADGROUP … BLOCK`, taking jobs one at a time — lapsed ones first when the process's
//! look is due, else new ones — until the shutdown signal.

use std::sync::Arc;
use std::time::Duration;

use ebb_server::ebb_redis::redis::streams::{StreamClaimReply, StreamPendingCountReply, StreamReadReply};
use ebb_server::ebb_redis::{Error, Exclusive, redis};
use ebb_server::ebb_shutdown::CancellationToken;

use super::{Job, Queue, job_of};

/// How long one read blocks on the server when no job comes: an idle consumer sends one
/// read a second, a new job is picked up as soon as it is added, and a SIGTERM waits at
/// most this long for a blocked read to come back.
const BLOCK: Duration = Duration::from_secs(1);
/// Most entries handed back in one go when a consumer stops (it holds one job at a time;
/// more are left only by reads whose answer was lost).
const RELEASE_AT_MOST: usize = 100;

impl Queue {
    /// Consumer `n` of this process: takes jobs until `signalled`, finishes the one in hand
    /// (or hands it back at `hand_back`), then hands back whatever is still pending under
    /// its name.
    pub(super) async fn consume(self: Arc<Self>, n: usize, signalled: CancellationToken, hand_back: CancellationToken) {
        let name = format!("{}-{n}", self.config.id);
        let mut lane = self.redis.exclusive();
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.cycle(&name, &mut lane, &signalled, &hand_back).await {
                Ok(()) => break,
                Err(error) => {
                    tracing::warn!(consumer = %name, "worker: {error}; retrying in {backoff:?}");
                    tokio::select! {
                        () = signalled.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        self.release(&name).await;
        tracing::info!(consumer = %name, "consumer stopped; unstarted jobs stay queued");
    }

    /// The group, then jobs until `signalled` (`Ok`) or an error.
    async fn cycle(
        &self,
        name: &str,
        lane: &mut Exclusive,
        signalled: &CancellationToken,
        hand_back: &CancellationToken,
    ) -> Result<(), Error> {
        self.ensure_group().await?;
        while !signalled.is_cancelled() {
            // One at a time, each claimed just before it runs: a claimed job waiting behind
            // others would outlive its lease unrenewed.
            if self.look.due()
                && let Some(job) = self.take_over(name).await?
            {
                self.look.again();
                self.hold(name, job, hand_back).await?;
                continue;
            }
            // Never abandoned, not even on SIGTERM: a read the client stops waiting for stays
            // alive on the server and would hand the next job to nobody. It ends within
            // BLOCK; a job it brings is held like any other.
            if let Some(job) = self.read_new(name, lane).await? {
                self.hold(name, job, hand_back).await?;
            }
        }
        Ok(())
    }

    async fn read_new(&self, name: &str, lane: &mut Exclusive) -> Result<Option<Job>, Error> {
        let block_ms = u64::try_from(BLOCK.as_millis()).unwrap_or(u64::MAX);
        let mut read = redis::cmd("XREADGROUP");
        read.arg("GROUP").arg(&self.config.group).arg(name);
        read.arg("COUNT").arg(1).arg("BLOCK").arg(block_ms).arg("STREAMS").arg(&self.config.queue).arg(">");
        let reply: Option<StreamReadReply> = lane.blocking(&read, BLOCK).await?;
        let entry = reply.and_then(|reply| reply.keys.into_iter().next()).and_then(|key| key.ids.into_iter().next());
        Ok(entry.map(job_of))
    }

    /// One job whose lease ran out: taken over, or moved to the dead-letter stream once it
    /// was delivered `max_attempts` times (then the next one is looked at).
    async fn take_over(&self, name: &str) -> Result<Option<Job>, Error> {
        let lease_ms = self.lease_ms();
        loop {
            let mut pending = redis::cmd("XPENDING");
            pending.arg(&self.config.queue).arg(&self.config.group).arg("IDLE").arg(lease_ms).arg("-").arg("+").arg(1);
            let reply: StreamPendingCountReply = self.redis.query(&pending).await?;
            let Some(entry) = reply.ids.into_iter().next() else { return Ok(None) };
            // Only one consumer wins the claim: it resets the idle time the others test.
            let mut claim = redis::cmd("XCLAIM");
            claim.arg(&self.config.queue).arg(&self.config.group).arg(name).arg(lease_ms).arg(&entry.id);
            let claimed: StreamClaimReply = self.redis.query(&claim).await?;
            let Some(job) = claimed.ids.into_iter().next().map(job_of) else { continue };
            if entry.times_delivered >= usize::try_from(self.config.max_attempts).unwrap_or(usize::MAX) {
                if self.dead_letter(name, &job, entry.times_delivered).await? {
                    tracing::error!(job = %job.id, attempts = entry.times_delivered, "job moved to the dead-letter stream");
                    metrics::counter!(crate::metric_names::DEAD_LETTERED).increment(1);
                }
                continue;
            }
            tracing::warn!(job = %job.id, consumer = %name, previous_owner = %entry.consumer, "took over a job whose lease ran out");
            metrics::counter!(crate::metric_names::REQUEUED).increment(1);
            return Ok(Some(job));
        }
    }

    /// Hands back every entry still pending under `name` once it holds nothing: a job that
    /// failed (retried at once elsewhere instead of after its lease), or one delivered to a
    /// read whose answer was lost. Best effort: what is not handed back waits for its lease.
    async fn release(&self, name: &str) {
        let mut pending = redis::cmd("XPENDING");
        pending.arg(&self.config.queue).arg(&self.config.group).arg("-").arg("+").arg(RELEASE_AT_MOST).arg(name);
        let entries = match self.redis.query::<StreamPendingCountReply>(&pending).await {
            Ok(reply) => reply.ids,
            Err(error) => {
                tracing::warn!(consumer = %name, %error, "could not list this consumer's pending jobs; they are taken over after their lease");
                return;
            }
        };
        let mut handed = 0_u64;
        for entry in entries {
            match self.hand_back(name, &entry.id).await {
                Ok(true) => handed += 1,
                Ok(false) => {}
                Err(error) => tracing::warn!(consumer = %name, job = %entry.id, %error, "could not hand a job back"),
            }
        }
        if handed > 0 {
            metrics::counter!(crate::metric_names::HANDED_BACK).increment(handed);
            tracing::info!(consumer = %name, jobs = handed, "handed back the jobs left pending under this consumer");
        }
    }
}
