//! Run with: `REDIS_URL=redis://127.0.0.1:6379/ cargo run -p example-worker`
//!
//! A queue consumer of a Redis list — the event-driven case KEDA scales on the list's
//! length. Jobs are handed off reliably: `BLMOVE` moves each job from the queue into this
//! consumer's own processing list, and it is removed from there only after it is done
//! (acknowledged). A consumer that dies leaves its jobs in its processing list; any consumer
//! that starts puts the jobs of consumers without a heartbeat back on the queue. On SIGTERM
//! the current job finishes and the rest stays queued. Delivery is at least once: a job
//! whose consumer dies after the work but before the acknowledgement runs again.
//!
//! ```text
//! redis-cli LPUSH ebb:jobs job-1 job-2 job-3
//! curl localhost:9090/metrics | grep jobs_
//! ```

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
    let config = match queue::Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("invalid configuration: {error}");
            return ExitCode::from(ebb_server::EXIT_CONFIG);
        }
    };
    let Some(pool) = server.redis().cloned() else {
        eprintln!("invalid configuration: REDIS_URL is required: the worker consumes a Redis list");
        return ExitCode::from(ebb_server::EXIT_CONFIG);
    };
    let consumer = queue::Consumer::new(pool, config);
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
