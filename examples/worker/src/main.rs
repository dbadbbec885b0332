//! Run with: `REDIS_URL=redis://127.0.0.1:6379/ cargo run -p example-worker`
//!
//! A queue consumer of a Redis stream and consumer group — the event-driven case KEDA
//! scales on the group's lag (`redis-streams` scaler). Redis tracks which consumer holds
//! which job; the holder renews its lease while the job runs, so a long job is never taken
//! over while its owner lives, and the jobs of a consumer that died are taken over once
//! their lease runs out. A job that keeps failing goes to a dead-letter stream after
//! `EBB_WORKER_MAX_ATTEMPTS` deliveries. On SIGTERM the current job finishes and the rest
//! stays queued. Delivery is at least once: a job whose consumer dies after the work but
//! before the acknowledgement runs again.
//!
//! ```text
//! redis-cli XADD 'ebb:{jobs}' '*' job job-1
//! redis-cli XRANGE 'ebb:{jobs}:dead' - +
//! curl localhost:9090/metrics | grep jobs_
//! ```

mod config;
mod job;
mod queue;

use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use ebb_server::Server;

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
    let server = server.with_build_info(ebb_server::build_info!());
    let config = match config::Config::from_env() {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("invalid configuration:\n  {}", errors.join("\n  "));
            return ExitCode::from(ebb_server::EXIT_CONFIG);
        }
    };
    let Some(redis) = server.redis().cloned() else {
        eprintln!("invalid configuration: REDIS_URL is required: the worker consumes a Redis stream");
        return ExitCode::from(ebb_server::EXIT_CONFIG);
    };
    let consumer = queue::Consumer::new(redis, config);
    // The worker cannot work without Redis: readiness follows it.
    let check = consumer.clone();
    let server = server.with_readiness_check("redis", move || {
        let consumer = check.clone();
        async move { consumer.ping().await }
    });
    let worker = consumer.clone();
    let signalled = server.shutdown().shutting_down_token();
    server.shutdown().spawn_task(move |stop| async move { worker.run(signalled, stop).await });
    let depth = consumer.clone();
    server.shutdown().spawn_task(move |stop| async move { depth.report_depth(stop, Duration::from_secs(1)).await });
    ebb_server::run(server, Router::new()).await
}
