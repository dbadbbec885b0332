//! One service, wired: probes, metrics and the shutdown sequence around an axum `Router`.

use std::io;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use ebb_metrics::{Exporter, ExporterError, MetricsHandle, MetricsService, RequestMetrics};
use ebb_probes::{Check, Probes, ProbesBuilder};
#[cfg(feature = "ratelimit")]
use ebb_ratelimit::{Limiter, Policy, RateLimitLayer};
use ebb_redis::Redis;
use ebb_shutdown::{Shutdown, ShutdownReport};
use tokio::net::TcpListener;
use tower::ServiceBuilder;

use crate::build_info::{BUILD_INFO, BuildInfo};
use crate::builder::{ServerBuilder, Wanted};
use crate::config::{ConfigErrors, ENV_HTTP_ADDR, ENV_METRICS_ADDR, ServerConfig};
use crate::edge::panic::install_hook;
use crate::edge::{EdgeLayer, EdgeShared};
use crate::listener;
use crate::parts::{Parts, warn_in_process};

/// The body limit axum's extractors apply when no `DefaultBodyLimit` is set.
const AXUM_DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Connections the metrics listener serves at once: Prometheus and the kubelet need a few.
const METRICS_MAX_CONNECTIONS: usize = 256;

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
    redis: Option<Redis>,
    parts: Parts,
    streaming: Option<Router>,
    build_info: BuildInfo,
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
        let redis = config.redis.as_ref().and_then(redis_handle);
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
    pub fn redis(&self) -> Option<&Redis> {
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
        let Self { config, shutdown, mut probes, metrics, redis, parts, streaming, build_info } = self;
        let limits = config.limits;
        install_hook();
        if let Some(redis) = &redis {
            // Connect before the first request, so that it does not pay (or, with the
            // limiter's 50 ms bound, time out on) the dial. Unreachable: the fallbacks apply.
            match redis.ping().await {
                Ok(()) => tracing::info!(redis = %redis.describe(), "connected to Redis"),
                Err(error) => tracing::warn!(redis = %redis.describe(), %error, "Redis is not reachable at start"),
            }
        }
        if redis.is_some() {
            let ping = {
                let redis = redis.clone();
                move || {
                    let redis = redis.clone();
                    async move {
                        match &redis {
                            Some(redis) => redis.ping().await.map_err(readiness_reason),
                            None => Ok(()),
                        }
                    }
                }
            };
            probes = if parts.needs_redis_for_readiness() {
                probes.with_readiness_check("redis", ping)
            } else {
                probes.with_advisory_readiness_check("redis", ping)
            };
        }
        probes = parts.readiness(probes);
        parts.announce();
        warn_in_process(&parts.in_process());
        let metrics = match metrics {
            Some(handle) => handle,
            None => {
                let (handle, upkeep) = Exporter::new().install()?;
                tokio::spawn(upkeep);
                handle
            }
        };
        metrics::gauge!(BUILD_INFO, build_info.labels().as_slice()).set(1.0);
        for (key, value) in build_info.labels() {
            probes = probes.with_info(key, value);
        }
        let app_listener = bind(ENV_HTTP_ADDR, config.http_addr).await?;
        let metrics_listener = bind(ENV_METRICS_ADDR, config.metrics_addr).await?;
        let app_addr = app_listener.local_addr()?;
        let metrics_addr = metrics_listener.local_addr()?;

        let probes = probes.build();
        let edge = EdgeLayer::new(EdgeShared {
            shutdown: shutdown.clone(),
            probes: probes.clone(),
            // The gauge is set from the edge's one in-flight count when scraped.
            metrics: RequestMetrics::new().without_in_flight_gauge(),
            max_in_flight: limits.max_in_flight,
            body_timeout: limits.body_timeout,
            access_log: config.access_log,
            id_in_request: parts.forwards_request_ids(),
        });
        // One `Router::layer` call per router: axum boxes each route's service once per
        // call. The body limit is enforced by the extractors that buffer a body (`Bytes`,
        // `Json`, `Form`, ...: 413); axum's own default is 2 MiB, so its layer (one more
        // request extension) is only there when the limit differs.
        let body_limit = usize::try_from(limits.max_body_size).unwrap_or(usize::MAX);
        let bounded = ServiceBuilder::new()
            .layer(edge.with_request_timeout(limits.request_timeout))
            .option_layer((body_limit != AXUM_DEFAULT_BODY_LIMIT).then(|| DefaultBodyLimit::max(body_limit)));
        let app = parts.wrap(router).layer(bounded);
        let app = match streaming {
            // The fallback (and so the probes) comes from the application's router.
            Some(streaming) => app.merge(parts.wrap(streaming).layer(edge)),
            None => app,
        };

        // /metrics and the probes keep answering through the delay and the drain (the last
        // scrape sees the final counts; the kubelet's liveness probe is not subject to the
        // application's caps); it ends with the process.
        let in_flight = shutdown.clone();
        let scrape = MetricsService::new(metrics);
        let scrape = tower::service_fn(move |req: http::Request<axum::body::Body>| {
            metrics::gauge!(ebb_metrics::names::HTTP_REQUESTS_IN_FLIGHT).set(in_flight.in_flight() as f64);
            tower::Service::call(&mut scrape.clone(), req)
        });
        let metrics_app =
            crate::logging::level::routes().fallback_service(scrape).layer(probes.layer().with_details(true));
        let metrics_limits = crate::Limits { max_connections: METRICS_MAX_CONNECTIONS, ..limits };
        let metrics_server = tokio::spawn(listener::serve(metrics_listener, metrics_app, metrics_limits, None));

        let server = listener::serve(app_listener, app, limits, Some(shutdown.clone()));
        let started = probes.clone();
        let serving = async move {
            // Polled first inside `run`, after its signal handlers are installed: a SIGTERM
            // that follows a passing /startupz is never lost.
            started.mark_started();
            tracing::info!(
                %app_addr,
                %metrics_addr,
                shutdown_delay = ?config.shutdown.delay(),
                shutdown_timeout = ?config.shutdown.timeout(),
                max_connections = limits.max_connections,
                max_in_flight = limits.max_in_flight,
                "listening"
            );
            server.await
        };
        let report = shutdown.run(serving).await;
        metrics_server.abort();
        Ok(report?)
    }
}

/// Readiness details are served on the application port: our words, not Redis' (whose text
/// can name nodes or echo server replies). The detail goes to the log.
fn readiness_reason(error: ebb_redis::Error) -> String {
    let text = error.to_string();
    tracing::debug!(%error, "Redis readiness check failed");
    if text.contains(ebb_redis::ENV_REDIS_CA_FILE) {
        format!("TLS verification failed: check {}", ebb_redis::ENV_REDIS_CA_FILE)
    } else if matches!(error, ebb_redis::Error::Timeout(_)) {
        "Redis did not answer in time".to_owned()
    } else {
        "Redis is unreachable or refused the connection (details in the log)".to_owned()
    }
}

fn redis_handle(config: &ebb_redis::RedisConfig) -> Option<Redis> {
    match Redis::new(config) {
        Ok(redis) => Some(redis),
        // ServerConfig::from_env checked that the client can be built; a config made by
        // hand that cannot is said loudly.
        Err(error) => {
            tracing::error!(%error, "cannot set up Redis; running without it (in-process state, one replica only)");
            None
        }
    }
}

async fn bind(variable: &'static str, addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { variable, addr, source })
}
