//! The worker's settings (`EBB_WORKER_*`), every bad value reported at once.

use std::time::Duration;

/// Settings from `EBB_WORKER_*`.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// The stream jobs are read from (`EBB_WORKER_QUEUE`, default `ebb:{jobs}`). It must
    /// hold a hash tag: the dead-letter stream and the bookkeeping hashes share its slot.
    pub(crate) queue: String,
    /// The consumer group (`EBB_WORKER_GROUP`, default `workers`).
    pub(crate) group: String,
    /// This consumer's name (`EBB_WORKER_ID`, default `<hostname>-<pid>`).
    pub(crate) id: String,
    /// Simulated work per job (`EBB_WORKER_JOB_MS`, default 50).
    pub(crate) job_time: Duration,
    /// How long a job may go unrenewed before another consumer takes it over
    /// (`EBB_WORKER_LEASE`, default 30s). The owner renews it every third of this.
    pub(crate) lease: Duration,
    /// Deliveries of one job before it goes to the dead-letter stream
    /// (`EBB_WORKER_MAX_ATTEMPTS`, default 5).
    pub(crate) max_attempts: u64,
}

impl Config {
    pub(crate) fn from_env() -> Result<Self, Vec<String>> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned());
        let mut errors = Vec::new();
        let queue = get("EBB_WORKER_QUEUE").unwrap_or_else(|| "ebb:{jobs}".to_owned());
        if !has_hash_tag(&queue) {
            errors.push(format!(
                "EBB_WORKER_QUEUE={queue:?} is invalid: expected a stream name with a hash tag such as ebb:{{jobs}}, \
                 so that the queue's keys share one Redis Cluster slot"
            ));
        }
        let group = get("EBB_WORKER_GROUP").unwrap_or_else(|| "workers".to_owned());
        if group.is_empty() {
            errors.push("EBB_WORKER_GROUP is empty: expected a consumer group name such as workers".to_owned());
        }
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default().trim().to_owned();
        let id = get("EBB_WORKER_ID").unwrap_or_else(|| format!("{host}-{}", std::process::id()));
        if id.is_empty() {
            errors.push("EBB_WORKER_ID is empty: expected a consumer name".to_owned());
        }
        let job_ms =
            parse(&get, "EBB_WORKER_JOB_MS", 50, "milliseconds from 0 to 3600000, e.g. 50", &mut errors, |v| {
                v.parse::<u64>().ok().filter(|ms| *ms <= 3_600_000)
            });
        let lease = parse(
            &get,
            "EBB_WORKER_LEASE",
            Duration::from_secs(30),
            "a duration from 1s to 1h, e.g. 30s",
            &mut errors,
            |v| {
                humantime::parse_duration(v)
                    .ok()
                    .filter(|d| (Duration::from_secs(1)..=Duration::from_secs(3600)).contains(d))
            },
        );
        let max_attempts =
            parse(&get, "EBB_WORKER_MAX_ATTEMPTS", 5, "a whole number from 1 to 1000", &mut errors, |v| {
                v.parse::<u64>().ok().filter(|n| (1..=1000).contains(n))
            });
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self { queue, group, id, job_time: Duration::from_millis(job_ms), lease, max_attempts })
    }
}

fn parse<T>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &str,
    default: T,
    expected: &str,
    errors: &mut Vec<String>,
    parse: impl Fn(&str) -> Option<T>,
) -> T {
    match get(variable) {
        None => default,
        Some(value) => parse(&value).unwrap_or_else(|| {
            errors.push(format!("{variable}={value:?} is invalid: expected {expected}"));
            default
        }),
    }
}

/// Whether `key` holds `{...}` with something inside: Redis Cluster then hashes only that.
fn has_hash_tag(key: &str) -> bool {
    key.split_once('{').and_then(|(_, rest)| rest.split_once('}')).is_some_and(|(tag, _)| !tag.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let vars = [
            ("EBB_WORKER_QUEUE", "ebb:jobs"),
            ("EBB_WORKER_LEASE", "0s"),
            ("EBB_WORKER_MAX_ATTEMPTS", "0"),
            ("EBB_WORKER_JOB_MS", "soon"),
        ];
        let lookup = |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned());
        let errors = Config::from_lookup(lookup).expect_err("four faults");
        assert_eq!(errors.len(), 4, "{errors:?}");
    }

    #[test]
    fn defaults_are_cluster_safe() {
        let config = Config::from_lookup(|_| None).expect("defaults");
        assert_eq!(config.queue, "ebb:{jobs}");
        assert_eq!(config.lease, Duration::from_secs(30));
        assert_eq!(config.max_attempts, 5);
        assert!(!has_hash_tag("a{}b") && has_hash_tag("x{q}"));
    }
}
