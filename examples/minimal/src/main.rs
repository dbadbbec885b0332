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

use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::routing::get;

/// The longest `/slow` accepts, in milliseconds.
const MAX_SLOW_MS: u64 = 60_000;

#[tokio::main]
async fn main() -> ExitCode {
    ebb_server::init_tracing();
    ebb_server::serve(app()).await
}

fn app() -> Router {
    Router::new().route("/", get(|| async { "hello from ebb\n" })).route("/slow", get(slow))
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
