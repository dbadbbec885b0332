//! The log filter, changed at run time: `GET /loglevel` shows it, `PUT /loglevel` with a
//! `RUST_LOG` directive as the body (`debug`, `info,ebb_server=debug`) replaces it. Served on
//! the metrics listener only: an operator's endpoint, never the public port.

use std::sync::OnceLock;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::get;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// The path on the metrics listener.
pub const LOG_LEVEL_PATH: &str = "/loglevel";

/// A directive longer than this is refused (a filter is a line, not a document).
const MAX_DIRECTIVE: usize = 4096;

static HANDLE: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

pub(super) fn install(handle: reload::Handle<EnvFilter, Registry>) {
    let _ = HANDLE.set(handle);
}

/// The filter `RUST_LOG` sets when it is unset or blank.
pub(crate) const DEFAULT_FILTER: &str = "info";

/// The filter a `RUST_LOG` value means (blank: [`DEFAULT_FILTER`]); one grammar for the
/// variable, checked with the configuration, and for `PUT /loglevel`.
///
/// # Errors
/// What was expected, with the parser's reason, for the configuration error or the 400.
pub(crate) fn parse_filter(directives: &str) -> Result<EnvFilter, String> {
    let directives = match directives.trim() {
        "" => DEFAULT_FILTER,
        directives => directives,
    };
    EnvFilter::builder()
        .parse(directives)
        .map_err(|error| format!("comma-separated directives such as `info` or `info,ebb_server=debug` ({error})"))
}

/// `GET|PUT /loglevel`.
pub(crate) fn routes() -> Router {
    // The limit applies before the body is buffered: a large body is refused unread.
    Router::new().route(LOG_LEVEL_PATH, get(show).put(replace).layer(DefaultBodyLimit::max(MAX_DIRECTIVE)))
}

const NOT_OURS: &str =
    "the log filter cannot be changed here: the log subscriber was not set by ebb_server::init_tracing\n";

async fn show() -> (StatusCode, String) {
    match HANDLE.get().and_then(|handle| handle.with_current(ToString::to_string).ok()) {
        Some(filter) => (StatusCode::OK, format!("{filter}\n")),
        None => (StatusCode::NOT_FOUND, NOT_OURS.to_owned()),
    }
}

async fn replace(body: Bytes) -> (StatusCode, String) {
    let Some(handle) = HANDLE.get() else { return (StatusCode::NOT_FOUND, NOT_OURS.to_owned()) };
    if body.len() > MAX_DIRECTIVE {
        return (StatusCode::PAYLOAD_TOO_LARGE, format!("a log directive has at most {MAX_DIRECTIVE} bytes\n"));
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return (StatusCode::BAD_REQUEST, "the log directive is not UTF-8\n".to_owned());
    };
    let text = text.trim();
    if text.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            "send a RUST_LOG directive, e.g. `debug` or `info,ebb_server=debug`\n".to_owned(),
        );
    }
    let filter = match parse_filter(text) {
        Ok(filter) => filter,
        Err(expected) => return (StatusCode::BAD_REQUEST, format!("not a RUST_LOG directive: expected {expected}\n")),
    };
    let shown = filter.to_string();
    let previous = handle.with_current(ToString::to_string).unwrap_or_default();
    // Logged at warn and before the change: a new filter such as `off` or `hyper=debug`
    // would hide the line that says who switched the logs off.
    tracing::warn!(previous = %previous, filter = %shown, "log filter replaced through {LOG_LEVEL_PATH}");
    match handle.reload(filter) {
        Ok(()) => (StatusCode::OK, format!("{shown}\n")),
        Err(_) => (StatusCode::NOT_FOUND, NOT_OURS.to_owned()),
    }
}
