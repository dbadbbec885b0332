//! Logs to stderr: `RUST_LOG` filters them (default `info`), `EBB_LOG_FORMAT` chooses
//! `text` (default; coloured only on a terminal) or `json` (one object per line, as log
//! platforms ingest them; the rendered manifests set it). The filter can be changed while
//! the process runs, through `/loglevel` on the metrics listener ([`level`]).

pub(crate) mod context;
pub(crate) mod format;
pub(crate) mod level;
pub(crate) mod writer;

use std::io::IsTerminal;
use std::str::FromStr;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, reload};

#[cfg(feature = "otlp")]
pub(crate) mod otlp;

/// The log filter (`RUST_LOG`, the `tracing-subscriber` directive grammar).
pub const ENV_RUST_LOG: &str = ebb_core::names::ENV_RUST_LOG;

/// Chooses the log format.
pub const ENV_LOG_FORMAT: &str = ebb_core::names::ENV_LOG_FORMAT;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, target, fields and the current spans.
    Json,
}

impl FromStr for LogFormat {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, ()> {
        match value.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(()),
        }
    }
}

/// Sets the process's log subscriber: `RUST_LOG` (default `info`), in the format
/// `EBB_LOG_FORMAT` names, with a filter that `/loglevel` can replace at run time. Does
/// nothing if a subscriber is already set. A bad `RUST_LOG` or `EBB_LOG_FORMAT` logs at
/// `info` as text here; the configuration ([`ServerConfig::from_env`](crate::ServerConfig::from_env))
/// refuses it.
///
/// Lines go to stderr through a bounded buffer and a thread of their own:
/// when nothing drains stderr, lines are dropped and counted in `log_lines_dropped_total`
/// rather than blocking the thread that logs.
pub fn init_tracing() {
    let filter = std::env::var(ENV_RUST_LOG).ok().and_then(|value| level::parse_filter(&value).ok());
    let filter = filter.unwrap_or_else(|| EnvFilter::new(level::DEFAULT_FILTER));
    let (filter, handle) = reload::Layer::new(filter);
    let format = std::env::var(ENV_LOG_FORMAT).ok().and_then(|v| v.parse().ok()).unwrap_or_default();
    let stderr = writer::stderr();
    // ebb's formats: every line logged for a request carries its id, with no span per
    // request (see `context`).
    let output = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .event_format(format::TextFormat)
            .with_writer(stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .event_format(format::JsonFormat)
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .with_writer(stderr)
            .boxed(),
    };
    #[cfg(feature = "otlp")]
    let output = match otlp::endpoint(|name| std::env::var(name).ok()).as_deref().and_then(otlp::tracer) {
        Some(tracer) => output.and_then(tracing_opentelemetry::layer().with_tracer(tracer)).boxed(),
        None => output,
    };
    if tracing_subscriber::registry().with(filter).with(output).try_init().is_ok() {
        level::install(handle);
    }
}
