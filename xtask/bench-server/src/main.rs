//! Run by `cargo xtask bench`: `bench-server bare|stack <app-addr> <metrics-addr>`.
//!
//! Serves the same handler either with plain `axum::serve` or through `ebb_server` (probes,
//! metrics, drain), on one Tokio worker thread so that the pinned core is the limit.

use std::net::SocketAddr;
use std::process::ExitCode;

use axum::Router;
use axum::routing::get;
use ebb_server::{Server, ServerConfig};

fn app() -> Router {
    Router::new().route("/", get(|| async { "hello from ebb\n" }))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match &args[..] {
        [mode, app_addr, metrics_addr] => {
            app_addr.parse::<SocketAddr>().ok().zip(metrics_addr.parse().ok()).map(|a| (mode.as_str(), a))
        }
        _ => None,
    };
    let Some((mode, (app_addr, metrics_addr))) = parsed else {
        eprintln!("usage: bench-server bare|stack <app-addr> <metrics-addr>");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match mode {
            "bare" => match tokio::net::TcpListener::bind(app_addr).await {
                Ok(listener) => match axum::serve(listener, app()).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(error) => {
                        eprintln!("{error}");
                        ExitCode::FAILURE
                    }
                },
                Err(error) => {
                    eprintln!("cannot bind {app_addr}: {error}");
                    ExitCode::FAILURE
                }
            },
            "stack" => {
                let config = ServerConfig { http_addr: app_addr, metrics_addr, ..ServerConfig::default() };
                ebb_server::run(Server::new(config), app()).await
            }
            other => {
                eprintln!("unknown mode `{other}`: bare or stack");
                ExitCode::from(2)
            }
        }
    })
}
