//! [`Server::serve`](crate::Server::serve), job by job: the dependencies and readiness, the
//! exporter, the listeners, the application behind the edge, the metrics listener, then the
//! shutdown sequence around it all.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use ebb_metrics::{Exporter, MetricsHandle, MetricsService, RequestMetrics};
use ebb_probes::{Probes, ProbesBuilder};
use ebb_shutdown::{Shutdown, ShutdownReport};
use tokio::net::TcpListener;
use tower::ServiceBuilder;

use crate::build_info::{BUILD_INFO, BuildInfo};
use crate::client_share::{ClientShares, Clients};
use crate::config::{ENV_HTTP_ADDR, ENV_METRICS_ADDR};
use crate::edge::panic::install_hook;
use crate::edge::slow_body::BodyPace;
use crate::edge::{EdgeLayer, EdgeShared};
use crate::limits::PROBES_IN_FLIGHT_PER_CLIENT;
use crate::parts::{Parts, warn_in_process};
use crate::server::ServerParts;
use crate::{Limits, ServeError, listener};

/// The body limit axum's extractors apply when no `DefaultBodyLimit` is set.
const AXUM_DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Connections the metrics listener serves at once: Prometheus and the kubelet need a few.
const METRICS_MAX_CONNECTIONS: usize = 256;

pub(crate) async fn serve(server: ServerParts, router: Router) -> Result<ShutdownReport, ServeError> {
    let ServerParts { config, shutdown, probes, metrics, redis, parts, streaming, build_info, metric_help } = server;
    let limits = config.limits;
    install_hook();
    let mut probes = probes;
    #[cfg(feature = "redis")]
    if let Some(redis) = &redis {
        crate::redis::connect_at_start(redis).await;
        probes = crate::redis::readiness(probes, redis, parts.needs_redis_for_readiness());
    }
    #[cfg(not(feature = "redis"))]
    let _ = redis;
    probes = parts.readiness(probes);
    parts.announce();
    warn_in_process(&parts.in_process());
    let metrics = exporter(metrics)?;
    crate::metric_help::describe(&metric_help);
    let probes = with_build_info(probes, &build_info).build();

    let app_listener = bind(ENV_HTTP_ADDR, config.http_addr).await?;
    let metrics_listener = bind(ENV_METRICS_ADDR, config.metrics_addr).await?;
    let (app_addr, metrics_addr) = (app_listener.local_addr()?, metrics_listener.local_addr()?);

    let edge = EdgeLayer::new(EdgeShared {
        shutdown: shutdown.clone(),
        probes: probes.clone(),
        // The gauge is set from the edge's one in-flight count when scraped.
        metrics: RequestMetrics::new().without_in_flight_gauge(),
        max_in_flight: limits.max_in_flight,
        clients: Clients::new(config.trusted_proxies.clone()),
        in_flight_shares: (limits.max_in_flight_per_client < limits.max_in_flight)
            .then(|| ClientShares::new(limits.max_in_flight_per_client)),
        probe_shares: ClientShares::new(PROBES_IN_FLIGHT_PER_CLIENT),
        body_pace: BodyPace {
            progress: limits.body_timeout,
            min_rate: limits.body_min_rate,
            deadline: Some(limits.body_deadline),
        },
        access_log: config.access_log,
        id_in_request: parts.forwards_request_ids(),
    });
    let app = application(router, streaming, &parts, &edge, &limits);
    let metrics_app = metrics_application(metrics, &probes, &shutdown);
    let metrics_limits = Limits { max_connections: METRICS_MAX_CONNECTIONS, ..limits };
    let metrics_server = tokio::spawn(listener::serve(metrics_listener, metrics_app, metrics_limits, None, None));

    let clients = Clients::new(config.trusted_proxies.clone());
    let server = listener::serve(app_listener, app, limits, Some(shutdown.clone()), Some(clients));
    let serving = async move {
        // Polled first inside `run`, after its signal handlers are installed: a SIGTERM
        // that follows a passing /startupz is never lost.
        probes.mark_started();
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
    // The shutdown's lines reach stderr before a `main` that returns next ends the process.
    crate::logging::writer::flush_before(shutdown.exit_deadline());
    Ok(report?)
}

/// The exporter the caller installed, or a new one (its upkeep spawned).
fn exporter(installed: Option<MetricsHandle>) -> Result<MetricsHandle, ServeError> {
    if let Some(handle) = installed {
        return Ok(handle);
    }
    let (handle, upkeep) = Exporter::new().install()?;
    tokio::spawn(upkeep);
    Ok(handle)
}

/// The `build_info` gauge, and the same facts for `/startupz?verbose`.
fn with_build_info(mut probes: ProbesBuilder, build_info: &BuildInfo) -> ProbesBuilder {
    metrics::gauge!(BUILD_INFO, build_info.labels().as_slice()).set(1.0);
    for (key, value) in build_info.labels() {
        probes = probes.with_info(key, value);
    }
    probes
}

/// The application behind the edge and the parts, in the order of `crate::edge`'s docs:
/// one `Router::layer` call per router (axum boxes each route's service once per call).
/// The routes that answer from memory also get the request timeout and the body limit;
/// streaming routes get the same edge (the same in-flight count) without them.
fn application(router: Router, streaming: Option<Router>, parts: &Parts, edge: &EdgeLayer, limits: &Limits) -> Router {
    // The body limit is enforced by the extractors that buffer a body (`Bytes`, `Json`,
    // `Form`, ...: 413); axum's own default is 2 MiB, so its layer (one more request
    // extension) is only there when the limit differs.
    let body_limit = usize::try_from(limits.max_body_size).unwrap_or(usize::MAX);
    let bounded = ServiceBuilder::new()
        .layer(edge.with_request_timeout(limits.request_timeout))
        .option_layer((body_limit != AXUM_DEFAULT_BODY_LIMIT).then(|| DefaultBodyLimit::max(body_limit)));
    let app = parts.wrap(router).layer(bounded);
    match streaming {
        // The fallback (and so the probes) comes from the application's router.
        Some(streaming) => app.merge(parts.wrap(streaming).layer(edge.clone())),
        None => app,
    }
}

/// `/metrics`, `/loglevel` and the probes with details, for the metrics listener. They
/// keep answering through the delay and the drain (the last scrape sees the final counts;
/// the kubelet's liveness probe is not subject to the application's caps), until the
/// process ends.
fn metrics_application(handle: MetricsHandle, probes: &Probes, shutdown: &Shutdown) -> Router {
    let in_flight = shutdown.clone();
    let scrape = MetricsService::new(handle);
    let scrape = tower::service_fn(move |req: http::Request<axum::body::Body>| {
        // The edge's one in-flight count and the log writer's drops, read when scraped.
        metrics::gauge!(ebb_metrics::names::HTTP_REQUESTS_IN_FLIGHT).set(in_flight.in_flight() as f64);
        metrics::counter!(crate::LOG_LINES_DROPPED_TOTAL).absolute(crate::logging::writer::dropped());
        tower::Service::call(&mut scrape.clone(), req)
    });
    crate::logging::level::routes().fallback_service(scrape).layer(probes.layer().with_details(true))
}

async fn bind(variable: &'static str, addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { variable, addr, source })
}
