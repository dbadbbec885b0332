//! The worker process: the server (probes, metrics, the phased shutdown), its settings, and
//! the queue's consumers as a background task. Shared by the shipped binary (`main.rs`) and
//! the negative control's (tests/control), which differ only in their ownership scripts.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use axum::Router;
use ebb_server::Server;
use ebb_server::ebb_shutdown::{CancellationToken, Shutdown};

use crate::{config, queue};

/// How long before the shutdown deadline the jobs still running are handed back (a quarter
/// of the budget when that is shorter): one script per job, so that they are claimable
/// before the process is cut, not a lease later.
const HAND_BACK_BEFORE_DEADLINE: Duration = Duration::from_secs(1);

pub(crate) async fn main() -> ExitCode {
    ebb_server::init_tracing();
    let server = match Server::from_env() {
        Ok(server) => server,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(ebb_server::EXIT_CONFIG);
        }
    };
    let server = server.with_build_info(ebb_server::build_info!()).with_metric_help(&crate::metric_names::HELP);
    let config = match config::Config::from_env() {
        Ok(config) => config,
        Err(errors) => {
            let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
            eprintln!("invalid configuration:\n  {}", errors.join("\n  "));
            return ExitCode::from(ebb_server::EXIT_CONFIG);
        }
    };
    let Some(redis) = server.redis().cloned() else {
        eprintln!("invalid configuration: REDIS_URL is required: the worker consumes a Redis stream");
        return ExitCode::from(ebb_server::EXIT_CONFIG);
    };
    let queue = queue::Queue::new(redis, config);
    // The worker cannot work without Redis: readiness follows it.
    let check = queue.clone();
    let server = server.with_readiness_check("redis", move || {
        let queue = check.clone();
        async move { queue.ping().await }
    });
    let shutdown = server.shutdown().clone();
    let worker = queue.clone();
    // Not the task's own `stop`: it fires once the HTTP drain is over, which for a worker is
    // right after EBB_SHUTDOWN_DELAY — the start of the tasks' budget, not its end. Jobs
    // stop being taken at the signal and run on until the hand-back moment.
    server.shutdown().spawn_task(move |_stop| async move {
        let signalled = shutdown.shutting_down_token();
        worker.run(signalled, hand_back_token(shutdown)).await;
    });
    let depth = queue.clone();
    server.shutdown().spawn_task(move |stop| async move { depth.report_depth(stop, Duration::from_secs(1)).await });
    ebb_server::run(server, Router::new()).await
}

/// A token cancelled [`HAND_BACK_BEFORE_DEADLINE`] before the shutdown deadline (counted,
/// like the deadline, from the signal; `EBB_SHUTDOWN_TIMEOUT`).
fn hand_back_token(shutdown: Shutdown) -> CancellationToken {
    let token = CancellationToken::new();
    let fire = token.clone();
    tokio::spawn(async move {
        shutdown.signalled().await;
        let budget = shutdown.config().timeout();
        let early = HAND_BACK_BEFORE_DEADLINE.min(budget / 4);
        let since = shutdown.signalled_at().unwrap_or_else(Instant::now);
        tokio::time::sleep_until((since + budget.saturating_sub(early)).into()).await;
        fire.cancel();
    });
    token
}
