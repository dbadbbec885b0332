//! Run by `cargo xtask bench`:
//!
//! ```text
//! bench-server bare|stack|ratelimit <app-addr> <metrics-addr>   # serve one handler
//! bench-server limiter <redis-url> <concurrency> <seconds>      # Limiter decisions, no HTTP
//! bench-server s3-put <file>                                    # object_store multipart put
//! ```
//!
//! `bare` is plain `axum::serve`; `stack` is `ebb_server` (request ids, probes, metrics,
//! drain; no log subscriber); `minimal` is the stack as example-minimal ships it (the log
//! subscriber at info, no access log); `logged` is the stack with JSON logs and the access
//! log on; `ratelimit` adds the Redis rate-limit layer (`REDIS_URL`, a limit nobody
//! reaches), `local-ratelimit` the same limit in process; `api` is example-api's stack
//! (in-process rate limit, sessions and bearer tokens; a public `GET`). All on one Tokio
//! worker thread, so that the pinned core is the limit.

// A benchmark program: its figures go to stdout.
#![allow(clippy::print_stdout)]

mod limiter;
mod s3_get;
mod s3_put;

use std::net::SocketAddr;
use std::process::ExitCode;

use axum::Router;
use axum::routing::get;
use ebb_server::ebb_ratelimit::{Rate, RateLimitConfig};
use ebb_server::ebb_session::JwtConfig;
use ebb_server::{RedisConfig, Server, ServerConfig};

const USAGE: &str = "usage: bench-server bare|stack|minimal|logged|ratelimit|local-ratelimit|api|flood <app-addr> <metrics-addr>\n       \
                     bench-server limiter <redis-url> <concurrency> <seconds>\n       \
                     bench-server s3-put <file>";

fn app() -> Router {
    Router::new().route("/", get(|| async { "hello from ebb\n" }))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["limiter", url, concurrency, seconds] => match (concurrency.parse(), seconds.parse()) {
            (Ok(concurrency), Ok(seconds)) => runtime.block_on(limiter::run(url, concurrency, seconds, 1)),
            _ => Err(USAGE.to_owned()),
        },
        ["limiter", url, concurrency, seconds, keys] => match (concurrency.parse(), seconds.parse(), keys.parse()) {
            (Ok(concurrency), Ok(seconds), Ok(keys)) => runtime.block_on(limiter::run(url, concurrency, seconds, keys)),
            _ => Err(USAGE.to_owned()),
        },
        ["s3-put", file] => runtime.block_on(s3_put::run(file)),
        ["s3-get"] => runtime.block_on(s3_get::run()),
        [mode, app_addr, metrics_addr] => match (app_addr.parse(), metrics_addr.parse()) {
            (Ok(app_addr), Ok(metrics_addr)) => runtime.block_on(serve(mode, app_addr, metrics_addr)),
            _ => Err(USAGE.to_owned()),
        },
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(mode: &str, app_addr: SocketAddr, metrics_addr: SocketAddr) -> Result<(), String> {
    let mut config = ServerConfig { http_addr: app_addr, metrics_addr, ..ServerConfig::default() };
    match mode {
        "bare" => {
            let listener =
                tokio::net::TcpListener::bind(app_addr).await.map_err(|e| format!("bind {app_addr}: {e}"))?;
            // Ends on SIGTERM, so that tools such as callgrind see a normal exit.
            let terminate = async {
                if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    signal.recv().await;
                }
            };
            return axum::serve(listener, app()).with_graceful_shutdown(terminate).await.map_err(|e| e.to_string());
        }
        "stack" => {}
        // As example-minimal runs: `init_tracing` at info (RUST_LOG unset), no access log.
        "minimal" => ebb_server::init_tracing(),
        "local-ratelimit" => {
            config.rate_limit = RateLimitConfig { rate: Some(unreached()?), ..RateLimitConfig::default() };
        }
        "api" => {
            config.rate_limit = RateLimitConfig { rate: Some(unreached()?), ..RateLimitConfig::default() };
            config.jwt =
                Some(JwtConfig::hs256(b"a bench secret of 32 bytes or more!".to_vec()).map_err(|e| e.to_string())?);
            let server = Server::builder().sessions().bearer_tokens().build(config).map_err(|e| e.to_string())?;
            let code = ebb_server::run(server, app()).await;
            return if code == ExitCode::SUCCESS { Ok(()) } else { Err("server failed".to_owned()) };
        }
        // The stack as production runs it: an info-level JSON log, one access line per
        // request (the harness sends stderr to /dev/null).
        "logged" => {
            ebb_server::init_tracing();
            config.access_log = true;
        }
        "ratelimit" | "flood" => {
            let url = std::env::var("REDIS_URL").map_err(|_| format!("{mode} mode needs REDIS_URL"))?;
            config.redis = Some(RedisConfig::from_url(&url).map_err(|e| e.to_string())?);
            // ratelimit: a limit nobody reaches, so every request pays the decision.
            // flood: one client (the load generator) far over its limit, almost all refused.
            let rate = if mode == "flood" { "10/1s" } else { "1000000000/1s" };
            config.rate_limit =
                RateLimitConfig { rate: Some(rate.parse().map_err(|e| format!("{e}"))?), ..RateLimitConfig::default() };
        }
        other => return Err(format!("unknown mode `{other}`\n{USAGE}")),
    }
    let server = Server::new(config).map_err(|errors| errors.to_string())?;
    let code = ebb_server::run(server, app()).await;
    if code == ExitCode::SUCCESS { Ok(()) } else { Err("server failed".to_owned()) }
}

/// A limit nobody reaches, so that every request pays the decision.
fn unreached() -> Result<Rate, String> {
    "1000000000/1s".parse().map_err(|e| format!("{e}"))
}
