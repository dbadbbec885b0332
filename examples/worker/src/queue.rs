//! The consumer: `BLMOVE` into a processing list, work, acknowledge; heartbeats; requeue of
//! the jobs of dead consumers; metrics.

use std::time::Duration;

use ebb_server::ebb_ratelimit::deadpool_redis::Pool;
use ebb_server::ebb_ratelimit::deadpool_redis::redis::{self, AsyncCommands};
use ebb_server::ebb_shutdown::CancellationToken;

/// Settings from `EBB_WORKER_*`.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// The list jobs are taken from (`EBB_WORKER_QUEUE`, default `ebb:jobs`).
    queue: String,
    /// This consumer's name (`EBB_WORKER_ID`, default `<hostname>-<pid>`).
    id: String,
    /// Simulated work per job (`EBB_WORKER_JOB_MS`, default 50).
    job_time: Duration,
}

impl Config {
    pub(crate) fn from_env() -> Result<Self, String> {
        let queue = std::env::var("EBB_WORKER_QUEUE").unwrap_or_else(|_| "ebb:jobs".to_owned());
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default().trim().to_owned();
        let id = std::env::var("EBB_WORKER_ID").unwrap_or_else(|_| format!("{host}-{}", std::process::id()));
        let job_ms = match std::env::var("EBB_WORKER_JOB_MS") {
            Ok(value) => value
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("EBB_WORKER_JOB_MS={value:?} is invalid: expected milliseconds, e.g. 50"))?,
            Err(_) => 50,
        };
        if queue.is_empty() || id.is_empty() {
            return Err("EBB_WORKER_QUEUE and EBB_WORKER_ID must not be empty".to_owned());
        }
        Ok(Self { queue, id, job_time: Duration::from_millis(job_ms) })
    }
}

/// How long a consumer counts as alive after its last heartbeat.
const HEARTBEAT_TTL: Duration = Duration::from_secs(5);
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// How long one BLMOVE waits, so that stopping is noticed.
const TAKE_TIMEOUT_SECS: f64 = 0.5;

#[derive(Clone)]
pub(crate) struct Consumer {
    pool: Pool,
    config: Config,
}

impl Consumer {
    pub(crate) fn new(pool: Pool, config: Config) -> Self {
        Self { pool, config }
    }

    fn processing(&self, id: &str) -> String {
        format!("{}:processing:{id}", self.config.queue)
    }

    fn alive(&self, id: &str) -> String {
        format!("{}:alive:{id}", self.config.queue)
    }

    pub(crate) async fn ping(&self) -> Result<(), String> {
        let mut connection = self.pool.get().await.map_err(|e| e.to_string())?;
        redis::cmd("PING").query_async::<String>(&mut connection).await.map(|_| ()).map_err(|e| e.to_string())
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

    /// Heartbeat, requeue of dead consumers' jobs, then jobs until `stop` or an error.
    async fn cycle(&self, stop: &CancellationToken) -> Result<(), redis::RedisError> {
        let mut connection =
            self.pool.get().await.map_err(|e| redis::RedisError::from(std::io::Error::other(e.to_string())))?;
        self.heartbeat(&mut connection).await?;
        self.requeue_dead(&mut connection, true).await?;
        let mine = self.processing(&self.config.id);
        let mut last_beat = std::time::Instant::now();
        while !stop.is_cancelled() {
            if last_beat.elapsed() >= HEARTBEAT_EVERY {
                self.heartbeat(&mut connection).await?;
                // Consumers die at any time, not only before we start.
                self.requeue_dead(&mut connection, false).await?;
                last_beat = std::time::Instant::now();
            }
            let job: Option<String> = redis::cmd("BLMOVE")
                .arg(&self.config.queue)
                .arg(&mine)
                .arg("RIGHT")
                .arg("LEFT")
                .arg(TAKE_TIMEOUT_SECS)
                .query_async(&mut connection)
                .await?;
            let Some(job) = job else { continue };
            // The work itself; never interrupted by shutdown.
            tokio::time::sleep(self.config.job_time).await;
            let (): () = redis::pipe()
                .atomic()
                .hincr(format!("{}:done", self.config.queue), &job, 1)
                .ignore()
                .lrem(&mine, 1, &job)
                .ignore()
                .query_async(&mut connection)
                .await?;
            metrics::counter!("jobs_processed_total").increment(1);
        }
        Ok(())
    }

    async fn heartbeat(&self, connection: &mut impl redis::aio::ConnectionLike) -> Result<(), redis::RedisError> {
        let key = self.alive(&self.config.id);
        redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("PX")
            .arg(HEARTBEAT_TTL.as_millis() as u64)
            .query_async::<()>(connection)
            .await
    }

    /// Puts back on the queue the jobs of consumers whose heartbeat expired, and, at start,
    /// this consumer's own (from an earlier life under the same id).
    async fn requeue_dead(&self, connection: &mut impl AsyncCommands, first: bool) -> Result<(), redis::RedisError> {
        let pattern = format!("{}:processing:*", self.config.queue);
        // SCAN, not KEYS: it does not block Redis on a large keyspace.
        let mut lists: Vec<String> = Vec::new();
        {
            let mut found = connection.scan_match::<_, String>(&pattern).await?;
            while let Some(list) = found.next_item().await {
                lists.push(list?);
            }
        }
        let prefix = format!("{}:processing:", self.config.queue);
        for list in lists {
            let owner = list.trim_start_matches(&prefix).to_owned();
            let alive: bool = connection.exists(self.alive(&owner)).await?;
            let skip = if owner == self.config.id { !first } else { alive };
            if skip {
                continue;
            }
            let mut moved = 0_u64;
            while connection
                .lmove::<_, _, Option<String>>(
                    &list,
                    &self.config.queue,
                    redis::Direction::Right,
                    redis::Direction::Right,
                )
                .await?
                .is_some()
            {
                moved += 1;
            }
            if moved > 0 {
                tracing::warn!(consumer = %owner, jobs = moved, "requeued the unacknowledged jobs of a consumer that died");
                metrics::counter!("jobs_requeued_total").increment(moved);
            }
        }
        Ok(())
    }

    /// Publishes the queue's length as `jobs_queue_depth` every `every`.
    pub(crate) async fn report_depth(&self, stop: CancellationToken, every: Duration) {
        while !stop.is_cancelled() {
            if let Ok(mut connection) = self.pool.get().await {
                if let Ok(depth) = connection.llen::<_, u64>(&self.config.queue).await {
                    metrics::gauge!("jobs_queue_depth").set(depth as f64);
                }
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}
