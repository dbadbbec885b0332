//! Request ids and trace context: the types the edge reads from every request
//! (step 1 of the request order in `crates/ebb-server/src/edge/mod.rs`), for handlers and
//! parts that need them.
//!
//! - `x-request-id` ([`RequestId`]): the request's own when usable (1 to 128 of
//!   `A-Z a-z 0-9 - _ . : / + @`, so that it cannot forge log fields), made otherwise; sent back in the response's `x-request-id` and carried by
//!   every log line of the request (text: `request{request_id=..}:`, JSON: `span`);
//! - `traceparent` ([`TraceContext`]): a W3C trace context (HTTP header or gRPC metadata),
//!   in the request's extensions and the log lines' `trace_id`;
//! - `authorization`, `proxy-authorization`, `cookie` and `set-cookie` are marked
//!   sensitive, so that no `Debug` of the headers shows them;
//! - with `EBB_ACCESS_LOG=true`, one `access` line per request (probes excepted).
//!
//! tower-http's request-id layers keep whatever a client sends, 8 KiB or a forged log line
//! included.

mod request_id;
mod traceparent;

pub use request_id::{RequestId, X_REQUEST_ID};
pub use traceparent::{TRACEPARENT, TraceContext};

/// Switches the access log on (`true`) or off (`false`, the default).
pub const ENV_ACCESS_LOG: &str = "EBB_ACCESS_LOG";
