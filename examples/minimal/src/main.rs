//! Run with: `cargo run -p example-minimal`
//!
//! The smallest elastic service. Try a graceful shutdown by hand:
//!
//! ```text
//! cargo run -p example-minimal &
//! curl 'localhost:8080/slow?ms=4000' &     # a request in flight
//! kill -TERM %1                            # readiness fails at once ...
//! curl -i localhost:8080/readyz            # ... 503, while /slow still completes
//! ```
//!
//! `GET /events` is a server-sent event stream that ends by itself when shutdown begins
//! (the pattern for any long-lived response: select on the shutdown token); `POST /echo`
//! answers the size of its body (the body limit and the body-progress timeout apply);
//! `GET /items/{id}` is a templated route: metrics and the access log name it by its
//! template, never by the id.

use std::convert::Infallible;
use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::routing::{get, post};
use ebb_server::ebb_shutdown::CancellationToken;
use futures_util::Stream;

/// The longest `/slow` accepts, in milliseconds.
const MAX_SLOW_MS: u64 = 60_000;

#[tokio::main]
async fn main() -> ExitCode {
    ebb_server::init_tracing();
    let server = match ebb_server::Server::from_env() {
        Ok(server) => server,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(ebb_server::EXIT_CONFIG);
        }
    };
    let server = server.with_build_info(ebb_server::build_info!());
    let shutting_down = server.shutdown().shutting_down_token();
    ebb_server::run(server, app(shutting_down)).await
}

fn app(shutting_down: CancellationToken) -> Router {
    Router::new()
        .route("/", get(|| async { "hello from ebb\n" }))
        .route("/slow", get(slow))
        .route("/echo", post(|body: Bytes| async move { format!("{} bytes\n", body.len()) }))
        .route("/items/{id}", get(|Path(id): Path<String>| async move { format!("item {id}\n") }))
        .route("/events", get(move || async move { Sse::new(events(shutting_down)) }))
}

/// A tick every 200 ms until shutdown begins; then a `shutdown` event, and the stream ends,
/// so that the drain does not have to wait for the deadline to cut it.
fn events(shutting_down: CancellationToken) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold((0_u64, Some(shutting_down)), |(tick, token)| async move {
        let token = token?;
        tokio::select! {
            () = token.cancelled() => Some((Ok(Event::default().event("shutdown").data("bye")), (tick, None))),
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                Some((Ok(Event::default().data(format!("tick {tick}"))), (tick + 1, Some(token))))
            }
        }
    })
}

/// `GET /slow?ms=N` answers after N milliseconds (0..=60000), to try draining.
async fn slow(RawQuery(query): RawQuery) -> Result<String, (StatusCode, String)> {
    let ms = parse_ms(query.as_deref()).map_err(|reason| (StatusCode::BAD_REQUEST, format!("{reason}\n")))?;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(format!("slept {ms} ms\n"))
}

fn parse_ms(query: Option<&str>) -> Result<u64, String> {
    let value = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("ms="))
        .ok_or_else(|| "missing query parameter `ms` (milliseconds, 0 to 60000)".to_owned())?;
    match value.parse::<u64>() {
        Ok(ms) if ms <= MAX_SLOW_MS => Ok(ms),
        _ => Err(format!("`ms` must be a whole number of milliseconds from 0 to {MAX_SLOW_MS}, not {value:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_ms;

    #[test]
    fn accepts_the_range_and_refuses_the_rest() {
        assert_eq!(parse_ms(Some("ms=0")), Ok(0));
        assert_eq!(parse_ms(Some("x=1&ms=60000")), Ok(60_000));
        for bad in [None, Some(""), Some("ms="), Some("ms=60001"), Some("ms=-1"), Some("ms=1.5"), Some("ms=abc")] {
            assert!(parse_ms(bad).is_err(), "{bad:?}");
        }
    }
}
