//! The worker's settings (`EBB_WORKER_*`), read through the project's environment grammar
//! (`ebb_core::env`): every bad value is reported at once, each naming its variable.

use std::time::Duration;

use ebb_core::env::{DurationBounds, Env, EnvError, Errors};
use ebb_server::ebb_redis::{DEFAULT_EXCLUSIVE_CONNECTIONS, ENV_REDIS_EXCLUSIVE_CONNECTIONS};

pub(crate) const ENV_QUEUE: &str = "EBB_WORKER_QUEUE";
pub(crate) const ENV_GROUP: &str = "EBB_WORKER_GROUP";
pub(crate) const ENV_ID: &str = "EBB_WORKER_ID";
pub(crate) const ENV_CONCURRENCY: &str = "EBB_WORKER_CONCURRENCY";
pub(crate) const ENV_JOB_MS: &str = "EBB_WORKER_JOB_MS";
pub(crate) const ENV_JOB_TIMEOUT: &str = "EBB_WORKER_JOB_TIMEOUT";
pub(crate) const ENV_LEASE: &str = "EBB_WORKER_LEASE";
pub(crate) const ENV_MAX_ATTEMPTS: &str = "EBB_WORKER_MAX_ATTEMPTS";

/// Default of `EBB_WORKER_CONCURRENCY`: one job at a time per process. The platform scales
/// replicas on the queue's lag, and a replica's CPU and memory requests are sized for the
/// work it does at once: with one consumer per process, "lag per replica" (KEDA's
/// `lagCount`) is jobs per job slot. Raise it for jobs that mostly wait (I/O).
pub(crate) const DEFAULT_CONCURRENCY: usize = 1;
/// Most consumers per process: each holds an exclusive Redis connection, and Redis counts
/// `replicas × (consumers + 1)` connections; past this, run more replicas instead.
pub(crate) const MAX_CONCURRENCY: usize = 64;
const LEASE_BOUNDS: DurationBounds = DurationBounds::new(Duration::from_secs(1), Duration::from_secs(3600));
const JOB_TIMEOUT_BOUNDS: DurationBounds = DurationBounds::new(Duration::from_secs(1), Duration::from_secs(24 * 3600));

/// Settings from `EBB_WORKER_*`.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// The stream jobs are read from (`EBB_WORKER_QUEUE`, default `ebb:{jobs}`). It must
    /// hold a hash tag: the dead-letter stream and the bookkeeping hashes share its slot.
    pub(crate) queue: String,
    /// The consumer group (`EBB_WORKER_GROUP`, default `workers`).
    pub(crate) group: String,
    /// This process's name (`EBB_WORKER_ID`, default `<hostname>-<pid>`); its consumers are
    /// `<id>-<n>`.
    pub(crate) id: String,
    /// Consumers in this process, each with its own blocking read and job
    /// (`EBB_WORKER_CONCURRENCY`, 1 to 64, default 1).
    pub(crate) concurrency: usize,
    /// Simulated work per job (`EBB_WORKER_JOB_MS`, default 50).
    pub(crate) job_time: Duration,
    /// How long one job may run (`EBB_WORKER_JOB_TIMEOUT`, 1s to 24h, default 5m): past it
    /// the job counts as failed, its lease is no longer renewed, and it is retried after the
    /// lease like any failure.
    pub(crate) job_timeout: Duration,
    /// How long a job may go unrenewed before another consumer takes it over
    /// (`EBB_WORKER_LEASE`, 1s to 1h, default 30s). The owner renews it every third of this.
    pub(crate) lease: Duration,
    /// Deliveries of one job before it goes to the dead-letter stream
    /// (`EBB_WORKER_MAX_ATTEMPTS`, default 5).
    pub(crate) max_attempts: u64,
}

impl Config {
    pub(crate) fn from_env() -> Result<Self, Vec<EnvError>> {
        Self::from_vars(&Env::process())
    }

    #[cfg(test)]
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<EnvError>> {
        Self::from_vars(&Env::from_fn(&lookup))
    }

    pub(crate) fn from_vars(env: &Env<'_>) -> Result<Self, Vec<EnvError>> {
        let mut errors: Errors = Errors::new();
        let text = |variable| env.get(variable).map(|value| value.map(|v| v.trim().to_owned()));
        let queue = errors.take(text(ENV_QUEUE)).unwrap_or_else(|| "ebb:{jobs}".to_owned());
        if !has_hash_tag(&queue) {
            let expected = "a stream name with a hash tag such as ebb:{jobs}, so that the queue's keys share one \
                            Redis Cluster slot";
            errors.push(EnvError::new(ENV_QUEUE, queue.clone(), expected));
        }
        let group = errors.take(text(ENV_GROUP)).unwrap_or_else(|| "workers".to_owned());
        if group.is_empty() {
            errors.push(EnvError::new(ENV_GROUP, "", "a consumer group name such as workers"));
        }
        let id = errors.take(text(ENV_ID)).unwrap_or_else(default_id);
        if id.is_empty() {
            errors.push(EnvError::new(ENV_ID, "", "a consumer name"));
        }
        let concurrency = errors
            .take(env.parse(ENV_CONCURRENCY, |v| whole(v, 1, MAX_CONCURRENCY as u64)))
            .map_or(DEFAULT_CONCURRENCY, |n| n as usize);
        // Each consumer holds one exclusive connection for its blocking read: more consumers
        // than the pool allows would wait for a connection instead of reading.
        let pool = env
            .parse(ENV_REDIS_EXCLUSIVE_CONNECTIONS, |v| v.trim().parse::<usize>().map_err(|e| e.to_string()))
            .ok()
            .flatten()
            .unwrap_or(DEFAULT_EXCLUSIVE_CONNECTIONS);
        if concurrency > pool {
            let expected = format!(
                "at most {ENV_REDIS_EXCLUSIVE_CONNECTIONS} ({pool}): each consumer holds one exclusive Redis connection"
            );
            errors.push(EnvError::new(ENV_CONCURRENCY, concurrency.to_string(), expected));
        }
        let job_ms = errors
            .take(env.parse(ENV_JOB_MS, |v| whole(v, 0, 3_600_000).map_err(|e| format!("{e} (milliseconds)"))))
            .unwrap_or(50);
        let job_timeout =
            errors.take(env.duration(ENV_JOB_TIMEOUT, JOB_TIMEOUT_BOUNDS)).unwrap_or(Duration::from_secs(300));
        let lease = errors.take(env.duration(ENV_LEASE, LEASE_BOUNDS)).unwrap_or(Duration::from_secs(30));
        let max_attempts = errors.take(env.parse(ENV_MAX_ATTEMPTS, |v| whole(v, 1, 1000))).unwrap_or(5);
        errors.finish(Self {
            queue,
            group,
            id,
            concurrency,
            job_time: Duration::from_millis(job_ms),
            job_timeout,
            lease,
            max_attempts,
        })
    }
}

/// A whole number from `min` to `max`, or what was expected.
fn whole(value: &str, min: u64, max: u64) -> Result<u64, String> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("a whole number from {min} to {max}"))
}

fn default_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default().trim().to_owned();
    format!("{host}-{}", std::process::id())
}

/// Whether `key` holds `{...}` with something inside: Redis Cluster then hashes only that.
fn has_hash_tag(key: &str) -> bool {
    key.split_once('{').and_then(|(_, rest)| rest.split_once('}')).is_some_and(|(tag, _)| !tag.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<Config, Vec<EnvError>> {
        Config::from_lookup(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let errors = from(&[
            (ENV_QUEUE, "ebb:jobs"),
            (ENV_LEASE, "0s"),
            (ENV_MAX_ATTEMPTS, "0"),
            (ENV_JOB_MS, "soon"),
            (ENV_CONCURRENCY, "65"),
            (ENV_JOB_TIMEOUT, "forever"),
        ])
        .expect_err("six faults");
        let named: Vec<_> = errors.iter().map(|e| e.variable).collect();
        assert_eq!(named, [ENV_QUEUE, ENV_CONCURRENCY, ENV_JOB_MS, ENV_JOB_TIMEOUT, ENV_LEASE, ENV_MAX_ATTEMPTS]);
        assert!(errors[3].to_string().contains("a duration from 1s to 1d"), "{}", errors[3]);
    }

    #[test]
    fn more_consumers_than_exclusive_connections_is_refused() {
        let errors = from(&[(ENV_CONCURRENCY, "8"), (ENV_REDIS_EXCLUSIVE_CONNECTIONS, "4")]).expect_err("8 > 4");
        assert!(errors[0].to_string().contains("EBB_REDIS_EXCLUSIVE_CONNECTIONS (4)"), "{}", errors[0]);
        let config = from(&[(ENV_CONCURRENCY, "8"), (ENV_JOB_TIMEOUT, "90s")]).expect("within the default pool");
        assert_eq!((config.concurrency, config.job_timeout), (8, Duration::from_secs(90)));
    }

    #[test]
    fn defaults_are_cluster_safe() {
        let config = from(&[]).expect("defaults");
        assert_eq!(config.queue, "ebb:{jobs}");
        assert_eq!(config.lease, Duration::from_secs(30));
        assert_eq!(config.job_timeout, Duration::from_secs(300));
        assert_eq!((config.max_attempts, config.concurrency), (5, 1));
        assert!(!has_hash_tag("a{}b") && has_hash_tag("x{q}"));
    }
}
