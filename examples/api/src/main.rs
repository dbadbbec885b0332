#![doc = include_str!("../README.md")]

mod auth;
mod demo_user;
mod login_limit;

use std::process::ExitCode;
use std::time::Duration;

use axum::{Router, middleware::from_fn, routing::get};
use ebb_server::ebb_ratelimit::{Policy, Rate};
use ebb_server::{Server, ebb_offload};

#[tokio::main]
async fn main() -> ExitCode {
    ebb_server::init_tracing();
    let parts = Server::builder().sessions().bearer_tokens().objects();
    let (server, demo_user) = match parts.from_env_with(demo_user::DemoUser::from_lookup) {
        Ok(both) => both,
        Err(errors) => return errors.report(),
    };
    // `EBB_RATELIMIT_RATE` wins over this default: 100 per second, bursts of 50.
    let rate = Rate::new(100, Duration::from_secs(1)).expect("a valid rate");
    let policy = Policy::new("default", rate).with_burst(50).expect("a valid burst");
    let server = server.with_default_rate_limit(policy).with_build_info(ebb_server::build_info!());

    let login_limit = login_limit::LoginLimit::for_server(&server);
    let app = Router::new().route("/", get(hello)).merge(auth::routes(demo_user, login_limit));
    // Uploads and downloads stream their bodies: exempt from the request timeout and the
    // body limit (the body-progress timeout guards them).
    let files = ebb_offload::http::routes(server.offload().clone()).layer(from_fn(auth::writers_only));
    let server = server.with_streaming_routes(Router::new().nest("/files", files));
    ebb_server::run(server, app).await
}

async fn hello() -> String {
    format!("hello from example-api (pid {})\n", std::process::id())
}
