//! The one definition of each deployable service: what the code, the image and the
//! Kubernetes objects must agree on. Defaults are the crates' own constants, not copies.

use std::time::Duration;

use ebb_metrics::names::{HTTP_REQUESTS_TOTAL, REQUESTS_PER_SECOND};
use ebb_server::{DEFAULT_HTTP_PORT, DEFAULT_METRICS_PORT};
use ebb_shutdown::{DEFAULT_DELAY, DEFAULT_TIMEOUT};

/// CPU and memory for one container.
pub(crate) struct Resources {
    pub(crate) cpu_request: &'static str,
    pub(crate) cpu_limit: Option<&'static str>,
    pub(crate) memory_request: &'static str,
    pub(crate) memory_limit: &'static str,
}

/// How the HorizontalPodAutoscaler (or KEDA) scales the service.
pub(crate) struct Scaling {
    /// The autoscaler's minimum, and so the replicas the Deployment starts with: at least 1
    /// for an HPA; 0 only for a KEDA-scaled service with an activation threshold.
    pub(crate) min_replicas: i32,
    pub(crate) max_replicas: i32,
    /// Average CPU utilisation target, percent of the request.
    pub(crate) cpu_percent: i32,
    /// Requests per second per pod (the `requests_per_second` Pods metric).
    pub(crate) requests_per_second: &'static str,
}

/// What scales the service.
pub(crate) enum Scaler {
    /// An HPA on CPU and `requests_per_second` (prometheus-adapter), or KEDA on the same
    /// rate in the `keda` overlay.
    Requests,
    /// KEDA on the lag of a Redis stream's consumer group (a queue consumer: jobs not yet
    /// delivered to any consumer); no HPA of ours.
    /// KEDA reaches Redis through a TriggerAuthentication on the Secret of `REDIS_URL`
    /// ([`REDIS_TRIGGER_KEYS`]), never a host written into the trigger.
    RedisStream {
        stream: &'static str,
        group: &'static str,
        /// Undelivered jobs per replica.
        lag_per_replica: &'static str,
    },
}

/// A deployable service.
pub(crate) struct Service {
    pub(crate) name: &'static str,
    /// The image without tag or digest: the base tags it with [`IMAGE_TAG`], and
    /// `cargo xtask deploy` pins the pushed digest.
    pub(crate) image: &'static str,
    pub(crate) http_port: u16,
    pub(crate) metrics_port: u16,
    pub(crate) resources: Resources,
    pub(crate) scaling: Scaling,
    pub(crate) shutdown_delay: Duration,
    pub(crate) shutdown_timeout: Duration,
    /// Plain settings, rendered into a ConfigMap.
    pub(crate) env: &'static [(&'static str, &'static str)],
    /// Settings from a Secret: (variable, secret name, key). Never inlined.
    pub(crate) secret_env: &'static [(&'static str, &'static str, &'static str)],
    /// The metric the service exports that the scaling query reads.
    pub(crate) request_counter: &'static str,
    /// The custom metric the HPA scales on.
    pub(crate) custom_metric: &'static str,
    pub(crate) scaler: Scaler,
}

/// The tag of every service's image in the base: the workspace version, which every
/// example and xtask inherit and `cargo xtask image` tags its images with. Never `latest`,
/// so that a base applied by hand runs the code it was rendered for.
pub(crate) const IMAGE_TAG: &str = env!("CARGO_PKG_VERSION");

impl Service {
    /// The Secret the service reads `REDIS_URL` from, if it reads one.
    pub(crate) fn redis_secret(&self) -> Option<&'static str> {
        self.secret_env.iter().find(|(variable, _, _)| *variable == REDIS_URL).map(|(_, secret, _)| *secret)
    }

    /// `name:tag`, as the base renders it.
    pub(crate) fn image_reference(&self) -> String {
        format!("{}:{IMAGE_TAG}", self.image)
    }
}

/// Where the overlays put the services' objects (what has no namespace of its own).
pub(crate) const NAMESPACE: &str = "ebb";
/// Where Prometheus, the Prometheus Operator and prometheus-adapter run; the metrics port
/// admits only Prometheus pods from here.
pub(crate) const MONITORING_NAMESPACE: &str = "monitoring";

/// The variable the services read Redis from; its Secret also carries [`REDIS_TRIGGER_KEYS`].
pub(crate) const REDIS_URL: &str = "REDIS_URL";

/// What KEDA's Redis scalers read from the Secret of `REDIS_URL`, beside its `redis-url`:
/// KEDA cannot parse a URL. Each is a TriggerAuthentication parameter and the Secret key of
/// the same name, with the placeholder of the example Secret. (A private CA goes in a `ca`
/// key with one more `secretTargetRef`.)
pub(crate) const REDIS_TRIGGER_KEYS: [(&str, &str); 4] =
    [("address", "redis:6379"), ("username", "default"), ("password", "change-me"), ("tls", "disable")];

/// Added to the shutdown delay and timeout for `terminationGracePeriodSeconds`, so that the
/// kubelet's SIGKILL never comes before the service's own deadline (and its report).
pub(crate) const GRACE_MARGIN: Duration = Duration::from_secs(5);

pub(crate) fn services() -> Vec<Service> {
    vec![
        Service {
            name: "example-api",
            image: "ebb/example-api",
            http_port: DEFAULT_HTTP_PORT,
            metrics_port: DEFAULT_METRICS_PORT,
            resources: Resources {
                cpu_request: "250m",
                cpu_limit: None,
                memory_request: "64Mi",
                memory_limit: "256Mi",
            },
            scaling: Scaling { min_replicas: 2, max_replicas: 10, cpu_percent: 70, requests_per_second: "100" },
            shutdown_delay: DEFAULT_DELAY,
            shutdown_timeout: DEFAULT_TIMEOUT,
            env: &[("EBB_RATELIMIT_RATE", "100/1s"), ("AWS_REGION", "us-east-1"), ("AWS_BUCKET", "files")],
            secret_env: &[
                (REDIS_URL, "example-api", "redis-url"),
                ("AWS_ACCESS_KEY_ID", "example-api", "aws-access-key-id"),
                ("AWS_SECRET_ACCESS_KEY", "example-api", "aws-secret-access-key"),
                ("EBB_JWT_SECRET", "example-api", "jwt-secret"),
            ],
            request_counter: HTTP_REQUESTS_TOTAL,
            custom_metric: REQUESTS_PER_SECOND,
            scaler: Scaler::Requests,
        },
        Service {
            name: "example-worker",
            image: "ebb/example-worker",
            http_port: DEFAULT_HTTP_PORT,
            metrics_port: DEFAULT_METRICS_PORT,
            resources: Resources {
                cpu_request: "100m",
                cpu_limit: None,
                memory_request: "32Mi",
                memory_limit: "128Mi",
            },
            // Scales to zero: KEDA wakes it when the group's lag rises above zero.
            scaling: Scaling { min_replicas: 0, max_replicas: 20, cpu_percent: 80, requests_per_second: "0" },
            shutdown_delay: DEFAULT_DELAY,
            shutdown_timeout: DEFAULT_TIMEOUT,
            env: &[("EBB_WORKER_QUEUE", "ebb:{jobs}"), ("EBB_WORKER_GROUP", "workers")],
            secret_env: &[(REDIS_URL, "example-worker", "redis-url")],
            request_counter: HTTP_REQUESTS_TOTAL,
            custom_metric: REQUESTS_PER_SECOND,
            scaler: Scaler::RedisStream { stream: "ebb:{jobs}", group: "workers", lag_per_replica: "20" },
        },
    ]
}
