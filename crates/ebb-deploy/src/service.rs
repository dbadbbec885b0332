//! The one definition of a deployable service: what the code, the image and the Kubernetes
//! objects must agree on. Every default is the ebb crates' own constant, not a copy, so a
//! service that changes nothing renders exactly what ebb-server does at run time.

use std::time::Duration;

use ebb_core::names::{
    DEFAULT_HTTP_PORT, DEFAULT_METRICS_PORT, DEFAULT_SHUTDOWN_DELAY as DEFAULT_DELAY,
    DEFAULT_SHUTDOWN_TIMEOUT as DEFAULT_TIMEOUT, ENV_SHUTDOWN_DELAY, ENV_SHUTDOWN_TIMEOUT, ENV_TRUSTED_PROXIES,
    HTTP_REQUESTS_TOTAL, REQUESTS_PER_SECOND,
};

use crate::egress::Egress;

/// CPU and memory for one container, as Kubernetes quantities (`"250m"`, `"64Mi"`).
///
/// The default reserves `250m` CPU and `64Mi`, caps memory at `256Mi`, and sets no CPU
/// limit on purpose: CFS throttling adds latency at the p99 while the node has idle CPU.
/// The writable `/tmp` (the root is read-only) holds at most `64Mi`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resources {
    pub(crate) cpu_request: String,
    pub(crate) cpu_limit: Option<String>,
    pub(crate) memory_request: String,
    pub(crate) memory_limit: String,
    pub(crate) tmp_size_limit: String,
}

impl Resources {
    /// A CPU request and a memory request and limit; no CPU limit.
    pub fn new(cpu_request: &str, memory_request: &str, memory_limit: &str) -> Self {
        Resources {
            cpu_request: cpu_request.to_owned(),
            cpu_limit: None,
            memory_request: memory_request.to_owned(),
            memory_limit: memory_limit.to_owned(),
            tmp_size_limit: DEFAULT_TMP_SIZE_LIMIT.to_owned(),
        }
    }

    /// Adds a CPU limit (none by default).
    #[must_use]
    pub fn with_cpu_limit(mut self, limit: &str) -> Self {
        self.cpu_limit = Some(limit.to_owned());
        self
    }

    /// The `sizeLimit` of the `/tmp` emptyDir (default `64Mi`): past it the kubelet evicts
    /// the pod, rather than let it fill the node's disk.
    #[must_use]
    pub fn with_tmp_size_limit(mut self, limit: &str) -> Self {
        self.tmp_size_limit = limit.to_owned();
        self
    }
}

/// The default `sizeLimit` of `/tmp`.
const DEFAULT_TMP_SIZE_LIMIT: &str = "64Mi";

impl Default for Resources {
    fn default() -> Self {
        Resources::new("250m", "64Mi", "256Mi")
    }
}

/// The autoscaler's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scaling {
    /// The autoscaler's minimum, and so the replicas the Deployment starts with: at least 1
    /// for an HPA; 0 only for a KEDA-scaled service (which then needs an activation threshold).
    pub(crate) min_replicas: i32,
    pub(crate) max_replicas: i32,
}

/// What scales the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scaler {
    /// A HorizontalPodAutoscaler on average CPU utilisation (percent of the request) and/or
    /// requests per second per pod (the `requests_per_second` Pods metric, served by the
    /// prometheus-adapter rules rendered beside it). In the `keda` overlay a KEDA
    /// ScaledObject on the same rate replaces it (only when `requests_per_second` is set).
    Hpa {
        /// Average CPU utilisation target, percent of the CPU request.
        cpu_percent: Option<i32>,
        /// Requests per second per pod, as a quantity (`"100"`).
        requests_per_second: Option<String>,
    },
    /// KEDA on any Prometheus query, in every overlay: one replica per `threshold` of the
    /// query's value; the service wakes from zero when the value rises above `activation`.
    Prometheus {
        /// A PromQL expression with one value.
        query: String,
        /// The query's value per replica.
        threshold: String,
        /// Above this value a service at zero replicas wakes.
        activation: String,
    },
    /// KEDA on the lag of a Redis stream's consumer group (jobs not yet delivered to any
    /// consumer). KEDA reaches Redis through a TriggerAuthentication on the Secret of the
    /// service's Redis variable, never a host written into the trigger; the trigger's type
    /// follows the service's [`RedisTopology`](crate::RedisTopology) (`redis-streams`,
    /// `redis-cluster-streams`, `redis-sentinel-streams`). Needs Redis >= 7 (the lag is
    /// read from `XINFO GROUPS`) and KEDA >= 2.17 (`activationLagCount: "0"`).
    RedisStream {
        /// The stream's key.
        stream: String,
        /// The consumer group the service reads with.
        group: String,
        /// Undelivered jobs per replica.
        lag_per_replica: String,
    },
    /// KEDA on the length of a Redis list (a queue popped with `BLMOVE`/`BRPOP`), through
    /// the same TriggerAuthentication as [`Scaler::RedisStream`] (`redis`, `redis-cluster`
    /// or `redis-sentinel`, by topology).
    RedisList {
        /// The list's key.
        list: String,
        /// Waiting items per replica.
        length_per_replica: String,
    },
}

impl Scaler {
    /// An HPA on CPU only.
    pub fn cpu(percent: i32) -> Self {
        Scaler::Hpa { cpu_percent: Some(percent), requests_per_second: None }
    }

    /// An HPA on requests per second per pod only.
    pub fn requests_per_second(per_pod: u32) -> Self {
        Scaler::Hpa { cpu_percent: None, requests_per_second: Some(per_pod.to_string()) }
    }

    /// An HPA on both; it scales on whichever asks for more replicas.
    pub fn cpu_and_requests_per_second(percent: i32, per_pod: u32) -> Self {
        Scaler::Hpa { cpu_percent: Some(percent), requests_per_second: Some(per_pod.to_string()) }
    }

    /// KEDA on the lag of a Redis stream's consumer group.
    pub fn redis_stream(stream: &str, group: &str, lag_per_replica: u32) -> Self {
        Scaler::RedisStream {
            stream: stream.to_owned(),
            group: group.to_owned(),
            lag_per_replica: lag_per_replica.to_string(),
        }
    }

    /// KEDA on the length of a Redis list.
    pub fn redis_list(list: &str, length_per_replica: u32) -> Self {
        Scaler::RedisList { list: list.to_owned(), length_per_replica: length_per_replica.to_string() }
    }

    /// KEDA on a Prometheus query; a service at zero wakes when the value is above 0.
    pub fn prometheus(query: &str, threshold: &str) -> Self {
        Scaler::Prometheus { query: query.to_owned(), threshold: threshold.to_owned(), activation: "0".to_owned() }
    }

    /// Whether KEDA scales the service in every overlay (a ScaledObject in its base).
    pub(crate) fn is_keda(&self) -> bool {
        !matches!(self, Scaler::Hpa { .. })
    }

    /// Whether it is an HPA on requests per second (which needs the prometheus-adapter rules,
    /// and which the `keda` overlay replaces with a ScaledObject).
    pub(crate) fn on_request_rate(&self) -> bool {
        matches!(self, Scaler::Hpa { requests_per_second: Some(_), .. })
    }

    /// Whether the trigger reads Redis (and so needs the TriggerAuthentication).
    pub(crate) fn reads_redis(&self) -> bool {
        matches!(self, Scaler::RedisStream { .. } | Scaler::RedisList { .. })
    }
}

/// A variable read from a Secret's key. Never inlined into a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SecretEnv {
    pub(crate) variable: String,
    pub(crate) secret: String,
    pub(crate) key: String,
}

/// A deployable service: one binary of the workspace, its image and its Kubernetes objects.
///
/// ```
/// use ebb_deploy::{Scaler, Service};
///
/// let api = Service::new("shop-api")
///     .with_replicas(2, 20)
///     .with_scaler(Scaler::cpu_and_requests_per_second(70, 200))
///     .with_env("EBB_RATELIMIT_RATE", "100/1s")
///     .with_secret_env("REDIS_URL", "shop-api", "redis-url");
/// # let _ = api;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub(crate) name: String,
    pub(crate) image: String,
    pub(crate) tag: Option<String>,
    pub(crate) package: String,
    pub(crate) binary: String,
    pub(crate) http_port: u16,
    pub(crate) metrics_port: u16,
    pub(crate) resources: Resources,
    pub(crate) scaling: Scaling,
    pub(crate) scaler: Scaler,
    pub(crate) shutdown_delay: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) secret_env: Vec<SecretEnv>,
    pub(crate) egress: Vec<Egress>,
    pub(crate) request_counter: String,
    pub(crate) custom_metric: String,
    /// The Redis database (the `/db` of a secret URL, which the manifests cannot read).
    pub(crate) redis_database: u32,
}

impl Service {
    /// A service named `name` (a Kubernetes name: lowercase letters, digits and `-`), built
    /// from the binary of the same name in the package of the same name, with ebb's
    /// defaults: ports [`DEFAULT_HTTP_PORT`] and [`DEFAULT_METRICS_PORT`], the shutdown
    /// delay and timeout of `ebb-shutdown`, [`Resources::default`], 2 to 10 replicas, an HPA
    /// on 70 % CPU and 100 requests per second per pod. The image is `name`, tagged with
    /// the package's version.
    pub fn new(name: &str) -> Self {
        Service {
            name: name.to_owned(),
            image: name.to_owned(),
            tag: None,
            package: name.to_owned(),
            binary: name.to_owned(),
            http_port: DEFAULT_HTTP_PORT,
            metrics_port: DEFAULT_METRICS_PORT,
            resources: Resources::default(),
            scaling: Scaling { min_replicas: 2, max_replicas: 10 },
            scaler: Scaler::cpu_and_requests_per_second(70, 100),
            shutdown_delay: DEFAULT_DELAY,
            shutdown_timeout: DEFAULT_TIMEOUT,
            env: Vec::new(),
            secret_env: Vec::new(),
            egress: Vec::new(),
            request_counter: HTTP_REQUESTS_TOTAL.to_owned(),
            custom_metric: REQUESTS_PER_SECOND.to_owned(),
            redis_database: 0,
        }
    }

    /// The image's repository in the manifests, without registry, tag or digest
    /// (`shop/api`). `deploy --registry HOST/PATH` pushes the image to `HOST/PATH/<service>`
    /// and points this name there, pinned by digest. Default: the service's name.
    #[must_use]
    pub fn with_image(mut self, repository: &str) -> Self {
        self.image = repository.to_owned();
        self
    }

    /// The image's tag in the base. Default: the package's version (never `latest`);
    /// `deploy` pins the pushed digest.
    #[must_use]
    pub fn with_tag(mut self, tag: &str) -> Self {
        self.tag = Some(tag.to_owned());
        self
    }

    /// The cargo package holding the binary. Default: the service's name.
    #[must_use]
    pub fn with_package(mut self, package: &str) -> Self {
        self.package = package.to_owned();
        self
    }

    /// The binary (`[[bin]]` name) the image runs. Default: the service's name.
    #[must_use]
    pub fn with_binary(mut self, binary: &str) -> Self {
        self.binary = binary.to_owned();
        self
    }

    /// The application and metrics (probes) ports; the manifests set `EBB_HTTP_ADDR` and
    /// `EBB_METRICS_ADDR` to match. Default: ebb-server's, 8080 and 9090.
    #[must_use]
    pub fn with_ports(mut self, http: u16, metrics: u16) -> Self {
        (self.http_port, self.metrics_port) = (http, metrics);
        self
    }

    /// CPU and memory of the container. Default: [`Resources::default`].
    #[must_use]
    pub fn with_resources(mut self, resources: Resources) -> Self {
        self.resources = resources;
        self
    }

    /// The autoscaler's bounds (default 2 to 10): `prod` runs at least `min`, `dev` at least
    /// one. `min` 0 is for KEDA-scaled services only (an HPA cannot scale from zero).
    #[must_use]
    pub fn with_replicas(mut self, min: i32, max: i32) -> Self {
        self.scaling = Scaling { min_replicas: min, max_replicas: max };
        self
    }

    /// What scales the service. Default: an HPA on 70 % CPU and 100 requests per second
    /// per pod.
    #[must_use]
    pub fn with_scaler(mut self, scaler: Scaler) -> Self {
        self.scaler = scaler;
        self
    }

    /// The shutdown delay (`EBB_SHUTDOWN_DELAY`: still serving while the endpoints drop the
    /// pod) and timeout (`EBB_SHUTDOWN_TIMEOUT`: the drain's budget). The pod's
    /// `terminationGracePeriodSeconds` is their sum plus a margin. Default: ebb-shutdown's
    /// (5 s and 30 s).
    #[must_use]
    pub fn with_shutdown(mut self, delay: Duration, timeout: Duration) -> Self {
        (self.shutdown_delay, self.shutdown_timeout) = (delay, timeout);
        self
    }

    /// A plain setting, rendered into the service's ConfigMap.
    #[must_use]
    pub fn with_env(mut self, variable: &str, value: &str) -> Self {
        self.env.push((variable.to_owned(), value.to_owned()));
        self
    }

    /// A setting read from key `key` of Secret `secret`; the value never appears in a
    /// manifest.
    ///
    /// The Redis variable decides the [`RedisTopology`](crate::RedisTopology) and so the
    /// KEDA trigger: `REDIS_URL` one server, `REDIS_CLUSTER_URLS` a Cluster,
    /// `REDIS_SENTINEL_URLS` (with `REDIS_SENTINEL_MASTER`) Sentinel. Its Secret also holds
    /// what KEDA cannot parse out of a URL (`address` or `addresses`, `username`,
    /// `password`, `tls`, and `ca`, `cert`, `key` when `EBB_REDIS_CA_FILE` or
    /// `EBB_REDIS_CLIENT_CERT_FILE` is set), which the TriggerAuthentication reads; the
    /// example Secret of the `dev` overlay lists them. The database is
    /// [`with_redis_database`](Service::with_redis_database).
    #[must_use]
    pub fn with_secret_env(mut self, variable: &str, secret: &str, key: &str) -> Self {
        self.secret_env.push(SecretEnv {
            variable: variable.to_owned(),
            secret: secret.to_owned(),
            key: key.to_owned(),
        });
        self
    }

    /// The Redis database the service's Redis URL selects (`redis://…/2`: 2). The URL is
    /// secret, so the manifests cannot read it; KEDA's Redis triggers get it as
    /// `databaseIndex` (without it they read database 0, another queue than the service's).
    /// Default 0; a Redis Cluster has no other.
    #[must_use]
    pub fn with_redis_database(mut self, database: u32) -> Self {
        self.redis_database = database;
        self
    }

    /// A dependency the service connects to: its NetworkPolicy admits DNS and, by port,
    /// each of these (to the CIDRs the [`Egress`] gives, else to any address); nothing
    /// else. Default: none, DNS only. `manifests --check` fails when the service reads
    /// `REDIS_URL` without [`Egress::redis`].
    #[must_use]
    pub fn with_egress(mut self, egress: Egress) -> Self {
        self.egress.push(egress);
        self
    }

    /// The CIDRs of the proxies in front of the service (the ingress controller's pods),
    /// whose `X-Forwarded-For` the rate limit believes: rendered as
    /// `EBB_RATELIMIT_TRUSTED_PROXIES` (`10.0.0.0/8,fd00::/8`). Default: none, so that behind
    /// an ingress every client is keyed as the proxy and one client's limit is everyone's;
    /// `manifests --check` warns when a limit is keyed by IP without it.
    #[must_use]
    pub fn with_trusted_proxies(self, cidrs: &str) -> Self {
        self.with_env(ENV_TRUSTED_PROXIES, cidrs)
    }

    /// The counter the request-rate scaling reads, and the custom metric the HPA scales on.
    /// Default: ebb-metrics' `http_requests_total` and `requests_per_second`.
    #[must_use]
    pub fn with_request_metrics(mut self, counter: &str, custom_metric: &str) -> Self {
        (self.request_counter, self.custom_metric) = (counter.to_owned(), custom_metric.to_owned());
        self
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The binary the image runs.
    pub fn binary(&self) -> &str {
        &self.binary
    }

    /// The cargo package holding the binary.
    pub fn package(&self) -> &str {
        &self.package
    }

    /// The shutdown delay the manifests give the service.
    pub fn shutdown_delay(&self) -> Duration {
        self.shutdown_delay
    }

    /// The shutdown timeout the manifests give the service.
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    /// The application port.
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The metrics (and probes) port.
    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    /// The image's repository, without tag.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// The image's tag: the one set, or (in a [`Project`](crate::Project)) the package's version.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// What scales the service.
    pub fn scaler(&self) -> &Scaler {
        &self.scaler
    }

    /// The autoscaler's bounds, `(min, max)`.
    pub fn replicas(&self) -> (i32, i32) {
        (self.scaling.min_replicas, self.scaling.max_replicas)
    }

    /// `terminationGracePeriodSeconds`, as the Deployment sets it: the shutdown delay and
    /// timeout and a margin, rounded up to whole seconds.
    pub fn termination_grace_period(&self) -> Duration {
        Duration::from_secs(u64::try_from(crate::manifests::render::grace_seconds(self)).unwrap_or(u64::MAX))
    }

    /// The shutdown variables exactly as the service's ConfigMap sets them.
    pub fn shutdown_env(&self) -> [(&'static str, String); 2] {
        use crate::manifests::render::env_duration;
        [
            (ENV_SHUTDOWN_DELAY, env_duration(self.shutdown_delay)),
            (ENV_SHUTDOWN_TIMEOUT, env_duration(self.shutdown_timeout)),
        ]
    }

    /// The dependencies its NetworkPolicy admits, besides DNS.
    pub fn egress(&self) -> &[Egress] {
        &self.egress
    }

    /// The value of a variable the definition sets, from the ConfigMap or a Secret
    /// (`None` for a secret one: only that it is set is known).
    pub(crate) fn variable(&self, name: &str) -> Option<Option<&str>> {
        let plain = self.env.iter().rev().find(|(variable, _)| variable == name).map(|(_, value)| Some(value.as_str()));
        plain.or_else(|| self.secret_env.iter().any(|s| s.variable == name).then_some(None))
    }

    /// `name:tag`, as the base renders it (`name` alone while no tag is known, which
    /// `--check` refuses).
    pub(crate) fn image_reference(&self) -> String {
        match &self.tag {
            Some(tag) => format!("{}:{tag}", self.image),
            None => self.image.clone(),
        }
    }
}

/// The variable the services read one Redis from.
pub(crate) const REDIS_URL: &str = ebb_core::names::ENV_REDIS_URL;

/// Added to the shutdown delay and timeout for `terminationGracePeriodSeconds`, so that the
/// kubelet's SIGKILL never comes before the service's own deadline (and its report).
pub(crate) const GRACE_MARGIN: Duration = Duration::from_secs(5);

/// The repository's two example services, as the unit tests' fixtures.
#[cfg(test)]
pub(crate) fn examples() -> Vec<Service> {
    vec![
        Service::new("example-api")
            .with_image("ebb/example-api")
            .with_tag("0.1.0")
            .with_env("EBB_RATELIMIT_RATE", "100/1s")
            .with_env("AWS_REGION", "us-east-1")
            .with_env("AWS_BUCKET", "files")
            .with_secret_env(REDIS_URL, "example-api", "redis-url")
            .with_secret_env("AWS_ACCESS_KEY_ID", "example-api", "aws-access-key-id")
            .with_secret_env("AWS_SECRET_ACCESS_KEY", "example-api", "aws-secret-access-key")
            .with_secret_env("EBB_JWT_SECRET", "example-api", "jwt-secret")
            .with_secret_env("EBB_DEMO_USERNAME", "example-api", "demo-username")
            .with_secret_env("EBB_DEMO_PASSWORD", "example-api", "demo-password")
            .with_trusted_proxies("10.0.0.0/8")
            .with_egress(Egress::redis())
            .with_egress(Egress::object_store())
            .with_egress(Egress::otlp()),
        Service::new("example-worker")
            .with_image("ebb/example-worker")
            .with_tag("0.1.0")
            .with_resources(Resources::new("100m", "32Mi", "128Mi"))
            .with_replicas(0, 20)
            .with_scaler(Scaler::redis_stream("ebb:{jobs}", "workers", 20))
            .with_env("EBB_WORKER_QUEUE", "ebb:{jobs}")
            .with_env("EBB_WORKER_GROUP", "workers")
            .with_secret_env(REDIS_URL, "example-worker", "redis-url")
            .with_egress(Egress::redis()),
    ]
}
