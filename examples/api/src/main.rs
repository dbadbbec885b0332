//! Run with: `cargo run -p example-api`
//!
//! The showcase service on `ebb-server`. Every application route is rate limited by the
//! default policy, keyed by client IP: `EBB_RATELIMIT_RATE` (here `100/1s` with a burst of
//! 50 unless the environment says otherwise). Probes are never limited.
//!
//! ```text
//! cargo run -p example-api                                   # in-process limiter, one replica
//! REDIS_URL=redis://127.0.0.1:6379/ cargo run -p example-api # limits shared by every replica
//! EBB_RATELIMIT_RATE=5/10s EBB_RATELIMIT_BURST=2 cargo run -p example-api
//! curl -i localhost:8080/                                    # RateLimit-Policy, RateLimit headers
//! ```

use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use ebb_server::Server;
use ebb_server::ebb_ratelimit::{Policy, Rate};

/// The example's own default, used when `EBB_RATELIMIT_RATE` is unset.
const DEFAULT_RATE_PER_SECOND: u32 = 100;
const DEFAULT_BURST: u32 = 50;

#[tokio::main]
async fn main() -> ExitCode {
    ebb_server::init_tracing();
    let server = match Server::from_env() {
        Ok(server) => server,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(ebb_server::EXIT_CONFIG);
        }
    };
    let server = match default_policy() {
        Ok(policy) => server.with_default_rate_limit(policy),
        Err(error) => {
            eprintln!("the example's default rate limit is invalid: {error}");
            return ExitCode::FAILURE;
        }
    };
    ebb_server::run(server, app()).await
}

fn default_policy() -> Result<Policy, Box<dyn std::error::Error>> {
    let rate = Rate::new(DEFAULT_RATE_PER_SECOND, Duration::from_secs(1))?;
    Ok(Policy::new("default", rate).with_burst(DEFAULT_BURST)?)
}

fn app() -> Router {
    Router::new().route("/", get(hello))
}

async fn hello() -> String {
    format!("hello from example-api (pid {})\n", std::process::id())
}
