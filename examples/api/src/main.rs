//! Run with: `cargo run -p example-api`
//!
//! The showcase service on `ebb-server`:
//!
//! - `GET /` answers text;
//! - `PUT|GET|HEAD|DELETE /files/{*key}` stream objects to and from S3 (MinIO) or, without
//!   S3 settings, a local directory; `POST /files/{*key}/upload-url|download-url|complete`
//!   and `/multipart...` hand out presigned URLs (see `ebb_offload::http`). Reads are public;
//!   writes, deletes and presigning need a login or a bearer token (401 otherwise);
//! - `POST /login` (`{"username","password"}`, checked against `EBB_DEMO_USERNAME` /
//!   `EBB_DEMO_PASSWORD`; 5 failures per 15 min per account and per client, then 429),
//!   `GET /me` (a session cookie or `Authorization: Bearer <JWT>`), `POST /logout` —
//!   sessions live in Redis, so any replica serves any user;
//! - every application route is rate limited by the default policy, keyed by client IP
//!   (`EBB_RATELIMIT_RATE`; here `100/1s` with a burst of 50 unless the environment says
//!   otherwise); probes are never limited.
//!
//! ```text
//! cargo run -p example-api                                   # embedded defaults, one replica
//! REDIS_URL=redis://127.0.0.1:6379/ AWS_ENDPOINT=http://127.0.0.1:9000 AWS_ALLOW_HTTP=true \
//!   AWS_ACCESS_KEY_ID=minioadmin AWS_SECRET_ACCESS_KEY=minioadmin AWS_REGION=us-east-1 \
//!   AWS_BUCKET=files cargo run -p example-api                # state shared by every replica
//! curl -c jar -H 'content-type: application/json' \
//!   -d '{"username":"demo","password":"demo-password"}' localhost:8080/login
//! curl -b jar -T report.pdf localhost:8080/files/reports/q3.pdf   # 201 + JSON metadata
//! curl -r 0-99 localhost:8080/files/reports/q3.pdf           # 206, the first 100 bytes
//! ```

mod auth;
mod config;
mod login_limit;

use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use ebb_offload::{MemoryMetadata, MetadataStore, Offload, RedisMetadata, StoreConfig};
use ebb_server::Server;
use ebb_session::{JwtLayer, MemoryStore, RedisSessionStore};

#[tokio::main]
async fn main() -> ExitCode {
    ebb_server::init_tracing();
    let config = match config::Config::from_env() {
        Ok(config) => config,
        Err(errors) => {
            // Printed directly: it must be seen even when no log subscriber is set.
            eprintln!("{errors}");
            return ExitCode::from(ebb_server::EXIT_CONFIG);
        }
    };
    let server = Server::new(config.server)
        .with_default_rate_limit(config::default_rate_limit())
        .with_build_info(ebb_server::build_info!());

    let metadata: Arc<dyn MetadataStore> = match server.redis() {
        Some(redis) => Arc::new(RedisMetadata::new(redis.clone())),
        None => {
            tracing::warn!("REDIS_URL is not set: object metadata is kept in this process (one replica only)");
            Arc::new(MemoryMetadata::new())
        }
    };
    let offload = match Offload::from_config(&config.offload, metadata) {
        Ok(offload) => offload,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(ebb_server::EXIT_CONFIG);
        }
    };
    if let StoreConfig::Local(dir) = &config.offload.store {
        tracing::warn!(
            dir = %dir.display(),
            "no S3 settings (AWS_BUCKET): objects are kept in a local directory, on this machine only (one replica only)"
        );
    }
    tracing::info!(store = offload.describe(), "objects");
    if config.default_demo_user {
        tracing::warn!("EBB_DEMO_USERNAME/EBB_DEMO_PASSWORD are not set: POST /login accepts the built-in demo user");
    }
    let jwt = match config.auth.jwt.as_ref().map(ebb_session::JwtConfig::verifier) {
        Some(Ok(verifier)) => JwtLayer::new(verifier),
        Some(Err(error)) => {
            eprintln!("{error}");
            return ExitCode::from(ebb_server::EXIT_CONFIG);
        }
        None => JwtLayer::refuse_all(),
    };
    let sessions = &config.auth.session;
    // Uploads and downloads stream their bodies: they are served as streaming routes, exempt
    // from the request timeout and the body limit (the body-progress timeout guards them).
    let limit =
        login_limit::LoginLimit::new(server.limiter().clone(), server.config().rate_limit.trusted_proxies.clone());
    let (app, files) = (app(config.demo_user.clone(), limit), files(offload.clone()));
    let (app, files) = match server.redis() {
        Some(redis) => {
            let store = RedisSessionStore::new(redis.clone());
            let files = files.layer(jwt.clone()).layer(sessions.layer(store.clone()));
            (app.layer(jwt).layer(sessions.layer(store)), files)
        }
        None => {
            tracing::warn!("REDIS_URL is not set: sessions are kept in this process (one replica only)");
            let store = MemoryStore::default();
            let files = files.layer(jwt.clone()).layer(sessions.layer(store.clone()));
            (app.layer(jwt).layer(sessions.layer(store)), files)
        }
    };
    let server = server.with_streaming_routes(files);

    // Advisory, like Redis: every replica shares the store, so failing readiness everywhere
    // would only add an outage of `/` to an outage of `/files`.
    let check = offload.clone();
    let server = server.with_advisory_readiness_check("s3", move || {
        let offload = check.clone();
        async move { offload.check().await }
    });
    ebb_server::run(server, app).await
}

fn app(demo_user: auth::DemoUser, limit: login_limit::LoginLimit) -> Router {
    Router::new().route("/", get(hello)).merge(auth::routes(demo_user, limit))
}

fn files(offload: Offload) -> Router {
    let routes = ebb_offload::http::routes(offload).layer(axum::middleware::from_fn(auth::writers_only));
    Router::new().nest("/files", routes)
}

async fn hello() -> String {
    format!("hello from example-api (pid {})\n", std::process::id())
}
