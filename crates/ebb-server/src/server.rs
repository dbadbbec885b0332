//! One service, wired: probes, metrics and the shutdown sequence around an axum `Router`.

use std::io;
use std::net::SocketAddr;

use axum::Router;
use ebb_metrics::{ExporterError, MetricsHandle};
use ebb_probes::{Check, Probes, ProbesBuilder};
#[cfg(feature = "ratelimit")]
use ebb_ratelimit::{Limiter, Policy, RateLimitLayer};
use ebb_shutdown::{Shutdown, ShutdownReport};

use crate::build_info::BuildInfo;
use crate::builder::{ServerBuilder, Wanted};
use crate::config::{ConfigErrors, ServerConfig};
use crate::metric_help::MetricHelp;
use crate::parts::Parts;

/// The process' Redis handle; nothing (an empty type) without the `redis` feature.
#[cfg(feature = "redis")]
pub(crate) type RedisHandle = ebb_redis::Redis;
/// The process' Redis handle; nothing (an empty type) without the `redis` feature.
#[cfg(not(feature = "redis"))]
pub(crate) type RedisHandle = std::convert::Infallible;

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr} (from {variable}): {source}")]
    Bind {
        /// The variable the address came from.
        variable: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The metrics exporter could not be installed.
    #[error(transparent)]
    Exporter(#[from] ExporterError),
    /// The application server failed.
    #[error("server failed: {0}")]
    Io(#[from] io::Error),
}

/// An HTTP service with everything an orchestrator needs: the application behind ebb's
/// listener and edge (the request path's order is written once, in the `edge` module's
/// docs: `crates/ebb-server/src/edge/mod.rs`), plus `/metrics` and the probes (with
/// details) on the metrics listener, and the phased shutdown of [`ebb_shutdown`].
///
/// # Example
/// ```no_run
/// use axum::{Router, routing::get};
///
/// #[tokio::main]
/// async fn main() -> std::process::ExitCode {
///     ebb_server::init_tracing();
///     let server = match ebb_server::Server::from_env() {
///         Ok(server) => server,
///         Err(errors) => return errors.report(),
///     };
///     let server = server.with_readiness_check("upstream", || async { Ok::<_, String>(()) });
///     match server.serve(Router::new().route("/", get(|| async { "hello" }))).await {
///         Ok(report) => report.exit_code(),
///         Err(error) => {
///             eprintln!("{error}");
///             std::process::ExitCode::FAILURE
///         }
///     }
/// }
/// ```
#[must_use]
pub struct Server {
    config: ServerConfig,
    shutdown: Shutdown,
    probes: ProbesBuilder,
    metrics: Option<MetricsHandle>,
    redis: Option<RedisHandle>,
    parts: Parts,
    streaming: Option<Router>,
    build_info: BuildInfo,
    metric_help: Vec<MetricHelp>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("config", &self.config).field("probes", &self.probes).finish_non_exhaustive()
    }
}

impl Server {
    /// Which parts the server uses, then where its settings come from: see
    /// [`ServerBuilder`].
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// A server with this configuration and no optional part but the rate limit (see
    /// [`builder`](Self::builder) for sessions, tokens and objects).
    ///
    /// # Errors
    /// None today; kept fallible as the parts' builders are.
    pub fn new(config: ServerConfig) -> Result<Self, ConfigErrors> {
        Self::builder().build(config)
    }

    pub(crate) fn with_parts(config: ServerConfig, wanted: Wanted) -> Result<Self, ConfigErrors> {
        let shutdown = Shutdown::new(config.shutdown);
        let probes = Probes::builder().with_shutdown_signal(shutdown.shutting_down_token());
        #[cfg(feature = "redis")]
        let redis = config.redis.as_ref().and_then(crate::redis::handle);
        #[cfg(not(feature = "redis"))]
        let redis: Option<RedisHandle> = None;
        let parts = Parts::new(&config, redis.as_ref(), wanted).map_err(ConfigErrors)?;
        Ok(Self {
            config,
            shutdown,
            probes,
            metrics: None,
            redis,
            parts,
            streaming: None,
            build_info: BuildInfo::unknown(),
            metric_help: Vec::new(),
        })
    }

    /// A server configured from the environment ([`ServerConfig::from_env`]), without
    /// sessions, tokens or objects (see [`builder`](Self::builder)).
    ///
    /// # Errors
    /// Every bad variable at once.
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::builder().from_env()
    }

    /// The configuration in use.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The shutdown handle: spawn background tasks with [`Shutdown::spawn_task`] so that
    /// shutdown stops and awaits them.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// The Redis handle from `REDIS_URL` (or `REDIS_CLUSTER_URLS`): one shared connection
    /// for everything that keeps state outside the process; `None` without it. Nothing
    /// connects until first used.
    #[cfg(feature = "redis")]
    pub fn redis(&self) -> Option<&ebb_redis::Redis> {
        self.redis.as_ref()
    }

    /// The rate limiter: through Redis with `REDIS_URL`, in process without. Use it for
    /// layers and policies of your own, or in background tasks.
    #[cfg(feature = "ratelimit")]
    pub fn limiter(&self) -> &Limiter {
        &self.parts.rate_limit.limiter
    }

    /// Rate limits the application with `layer` instead of the default policy from
    /// `EBB_RATELIMIT_*`.
    #[cfg(feature = "ratelimit")]
    pub fn with_rate_limit(mut self, layer: RateLimitLayer) -> Self {
        self.parts.rate_limit.layer = Some(layer);
        self
    }

    /// The default policy when `EBB_RATELIMIT_RATE` is not set (when it is, or is `off`, the
    /// environment wins). The other `EBB_RATELIMIT_*` settings (key, trusted proxies,
    /// failure mode, shadow, burst) still apply.
    #[cfg(feature = "ratelimit")]
    pub fn with_default_rate_limit(mut self, policy: Policy) -> Self {
        self.parts.rate_limit.with_default_policy(&policy);
        self
    }

    /// The object store (feature `offload`): S3 with `AWS_BUCKET` (and the other `AWS_*`
    /// variables), else the local directory `EBB_OFFLOAD_DIR`; metadata in Redis with
    /// `REDIS_URL`, in process without. Serve it with [`ebb_offload::http::routes`] as
    /// streaming routes, or use it from handlers. Its `s3` readiness check is advisory.
    ///
    /// # Panics
    /// When the server was not built with [`ServerBuilder::objects`]: a programming
    /// error, like a route registered twice.
    #[cfg(feature = "offload")]
    pub fn offload(&self) -> &ebb_offload::Offload {
        match &self.parts.objects {
            Some(objects) => &objects.offload,
            None => panic!("Server::offload needs the objects part: build with Server::builder().objects()"),
        }
    }

    /// Adds a dependency to `/readyz` (see [`ProbesBuilder::with_readiness_check`]).
    pub fn with_readiness_check(mut self, name: impl Into<String>, check: impl Check) -> Self {
        self.probes = self.probes.with_readiness_check(name, check);
        self
    }

    /// Adds a dependency that `/readyz` reports but never fails on (see
    /// [`ProbesBuilder::with_advisory_readiness_check`]): for dependencies every replica shares
    /// and the service degrades without.
    pub fn with_advisory_readiness_check(mut self, name: impl Into<String>, check: impl Check) -> Self {
        self.probes = self.probes.with_advisory_readiness_check(name, check);
        self
    }

    /// Adds an in-process check to `/livez` (see [`ProbesBuilder::with_liveness_check`]).
    pub fn with_liveness_check(mut self, name: impl Into<String>, check: impl Check) -> Self {
        self.probes = self.probes.with_liveness_check(name, check);
        self
    }

    /// Routes that stream their request or response bodies (uploads, downloads, server-sent
    /// events), merged into the application's router by [`serve`](Self::serve) but exempt
    /// from `EBB_REQUEST_TIMEOUT` and `EBB_MAX_BODY_SIZE`: the body-progress timeout
    /// (`EBB_BODY_TIMEOUT`) protects them instead. Everything else of the request path
    /// applies to them. Calling it again merges the routers.
    ///
    /// # Panics
    /// In [`serve`](Self::serve), as [`Router::merge`] does: when a path is in both routers
    /// or both have a fallback.
    pub fn with_streaming_routes(mut self, routes: Router) -> Self {
        self.streaming = Some(match self.streaming.take() {
            Some(existing) => existing.merge(routes),
            None => routes,
        });
        self
    }

    /// What runs, for the `build_info` gauge and `/startupz?verbose`: pass
    /// [`ebb_server::build_info!()`](crate::build_info), which reads the application's
    /// name, version and git revision where it is compiled. Without it they read `unknown`.
    pub fn with_build_info(mut self, info: BuildInfo) -> Self {
        self.build_info = info;
        self
    }

    /// The HELP text of the application's own metrics on `/metrics` (ebb's describe
    /// themselves): `promtool check metrics` and a person reading the page need it. Given
    /// here because the recorder exists only once [`serve`](Self::serve) installs it.
    pub fn with_metric_help(mut self, help: &[MetricHelp]) -> Self {
        self.metric_help.extend_from_slice(help);
        self
    }

    /// Uses an exporter the caller installed, instead of installing one in
    /// [`serve`](Self::serve).
    pub fn with_metrics_handle(mut self, handle: MetricsHandle) -> Self {
        self.metrics = Some(handle);
        self
    }

    /// Binds both listeners, serves `router` until shutdown completes, and reports what the
    /// shutdown had to cut. `/readyz` passes once the listeners are bound.
    ///
    /// # Errors
    /// When a listener cannot be bound, the exporter cannot be installed, or the server
    /// fails.
    pub async fn serve(self, router: Router) -> Result<ShutdownReport, ServeError> {
        crate::serve::serve(self.into_parts(), router).await
    }

    fn into_parts(self) -> ServerParts {
        let Self { config, shutdown, probes, metrics, redis, parts, streaming, build_info, metric_help } = self;
        ServerParts { config, shutdown, probes, metrics, redis, parts, streaming, build_info, metric_help }
    }
}

/// What a [`Server`] is made of, taken apart to be served (`crate::serve`).
pub(crate) struct ServerParts {
    pub(crate) config: ServerConfig,
    pub(crate) shutdown: Shutdown,
    pub(crate) probes: ProbesBuilder,
    pub(crate) metrics: Option<MetricsHandle>,
    pub(crate) redis: Option<RedisHandle>,
    pub(crate) parts: Parts,
    pub(crate) streaming: Option<Router>,
    pub(crate) build_info: BuildInfo,
    pub(crate) metric_help: Vec<MetricHelp>,
}
