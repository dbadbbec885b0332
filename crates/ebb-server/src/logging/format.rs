//! ebb's two log formats. Both write, on every line logged for a request, its request id
//! and trace id, read from the thread's [request context](super::context) when the line is
//! written: text as `request{request_id=.. trace_id=..}:` before the target, JSON as the
//! `span` object (`{"name":"request","request_id":..,"trace_id":..}`), as a `request` span
//! would show them. [`init_tracing`](crate::init_tracing) installs them; a service with a
//! subscriber of its own can use them with `tracing_subscriber::fmt::layer().event_format(..)`.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::context::with_current;

/// The target of the `request` span the edge still makes when traces are exported (OTLP):
/// the formats show the request from its context, not that span a second time.
pub(crate) const EDGE_SPAN_TARGET: &str = "ebb_server::request";

fn is_edge_span(metadata: &Metadata<'_>) -> bool {
    metadata.target() == EDGE_SPAN_TARGET
}

/// Human-readable lines: `<time> <LEVEL> request{request_id=..}:<spans> <target>: <fields>`,
/// the level coloured when the writer takes ANSI escapes (a terminal).
#[derive(Clone, Copy, Debug, Default)]
pub struct TextFormat;

impl<S, N> FormatEvent<S, N> for TextFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let metadata = event.metadata();
        SystemTime.format_time(&mut writer)?;
        let level = metadata.level();
        if writer.has_ansi_escapes() {
            write!(writer, " {}{level:>5}\x1b[0m ", colour(*level))?;
        } else {
            write!(writer, " {level:>5} ")?;
        }
        let mut scoped = with_current(|context| -> Result<bool, fmt::Error> {
            let Some(context) = context else { return Ok(false) };
            write!(writer, "request{{request_id={}", context.request_id)?;
            if let Some(trace_id) = &context.trace_id {
                write!(writer, " trace_id={trace_id}")?;
            }
            writer.write_str("}:")?;
            Ok(true)
        })?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root().filter(|span| !is_edge_span(span.metadata())) {
                writer.write_str(span.name())?;
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>().filter(|fields| !fields.is_empty())
                {
                    write!(writer, "{{{fields}}}")?;
                }
                writer.write_char(':')?;
                scoped = true;
            }
        }
        if scoped {
            writer.write_char(' ')?;
        }
        write!(writer, "{}: ", metadata.target())?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

fn colour(level: Level) -> &'static str {
    match level {
        Level::ERROR => "\x1b[31m",
        Level::WARN => "\x1b[33m",
        Level::INFO => "\x1b[32m",
        Level::DEBUG => "\x1b[34m",
        Level::TRACE => "\x1b[35m",
    }
}

/// One JSON object per line: `timestamp`, `level`, `fields` (the message among them),
/// `target`, and `span`: the request's context merged with the current span's fields.
/// Use it with `tracing_subscriber::fmt::format::JsonFields`, so that span fields are
/// recorded as JSON.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonFormat;

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let metadata = event.metadata();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let mut fields = Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        let mut line = Map::new();
        line.insert("timestamp".to_owned(), Value::String(timestamp));
        line.insert("level".to_owned(), Value::String(metadata.level().as_str().to_owned()));
        line.insert("fields".to_owned(), Value::Object(fields));
        line.insert("target".to_owned(), Value::String(metadata.target().to_owned()));
        let mut span = with_current(|context| {
            context.map(|context| {
                let mut span = Map::new();
                span.insert("name".to_owned(), Value::String("request".to_owned()));
                span.insert("request_id".to_owned(), Value::String(context.request_id.to_string()));
                if let Some(trace_id) = &context.trace_id {
                    span.insert("trace_id".to_owned(), Value::String(trace_id.to_string()));
                }
                span
            })
        });
        let current = ctx.lookup_current().filter(|current| !is_edge_span(current.metadata()));
        if let Some(current) = current {
            let span = span.get_or_insert_with(Map::new);
            if let Some(Ok(Value::Object(recorded))) = current
                .extensions()
                .get::<FormattedFields<N>>()
                .map(|fields| serde_json::from_str::<Value>(fields.as_str()))
            {
                span.extend(recorded);
            }
            span.insert("name".to_owned(), Value::String(current.name().to_owned()));
        }
        if let Some(span) = span {
            line.insert("span".to_owned(), Value::Object(span));
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// An event's fields as JSON values.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let value = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
        self.0.insert(field.name().to_owned(), value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::String(value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
}
