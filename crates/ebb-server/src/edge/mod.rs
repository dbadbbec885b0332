//! The edge: what happens to every request before the application sees it, in one service
//! with one response future and one response body. **This is the request path's order,
//! written once**; every other doc links here.
//!
//! ```text
//! listener (crate::listener: connection cap and each client's share of it (trusted
//!           proxies exempt), header-read and idle timeouts (an HTTP/2 header block that
//!           does not end is a slow head; pings are no activity), HTTP/2 keep-alive,
//!           GOAWAY once the signal came)
//!  -> the edge (this module), in order:
//!       1. request id and trace context: one pass over the headers (`x-request-id` kept
//!          when usable, else made; `traceparent`; sensitive headers marked), and the
//!          request's log context, in which the application is polled; and who the
//!          client is: the peer, or behind trusted proxies the forwarded address
//!          (crate::client_share), for the per-client shares below
//!       2. probes (/livez /readyz /startupz /healthz): answered here, never counted as
//!          traffic, without details on this port; at most 4 in flight per client (429)
//!       3. metrics start: the route template from axum's `MatchedPath`
//!       4. admission: first the client's share (EBB_MAX_IN_FLIGHT_PER_CLIENT: 429 +
//!          Retry-After at once), then ONE in-flight count (ebb-shutdown's drain count),
//!          read by shedding (EBB_MAX_IN_FLIGHT: 503 + Retry-After at once), the drain
//!          and the `http_requests_in_flight` gauge
//!       5. the request body's pace (`slow_body`, 408): the progress timeout
//!          (EBB_BODY_TIMEOUT) and, on non-streaming routes, the minimum rate
//!          (EBB_BODY_MIN_RATE) and the body deadline (EBB_BODY_DEADLINE)
//!       6. the application, polled with panics caught (500)
//!       7. ONE deadline while pending: the request timeout (EBB_REQUEST_TIMEOUT: 503; not
//!          on streaming routes) or the shutdown deadline (503), whichever comes first
//!       8. the answer: ONE `Connection: close` decision (HTTP/1, from the signal on; probes
//!          and shed requests included), the
//!          metrics record, the access line, `x-request-id`, and ONE body wrapper that
//!          holds the in-flight count until the body ends, records gRPC trailers and cuts
//!          a stream at the shutdown deadline (a body of known length up to 16 KiB is
//!          complete with its head: it is passed on as it is, and stops counting then)
//!  -> the body size limit (EBB_MAX_BODY_SIZE: 413; not on streaming routes)
//!  -> rate limit (feature `ratelimit`) -> session (`session`) -> bearer token (`jwt`):
//!     the parts, in the order of `crate::parts::Parts::wrap`
//!  -> the application's router
//! ```
//!
//! The edge goes on every route with one `Router::layer` call (axum boxes each route's
//! service once per call), so that the route template is known; probes and unmatched
//! paths reach it through the fallback.
//!
//! Why not tower-http's layers: its `CatchPanicLayer` boxes every response body, its
//! `Timeout` registers a timer for every request, tower's `LoadShed` needs a boxed error
//! handler in axum, and its request-id layers keep whatever a client sends; stacked, each
//! layer moves the request and its future again. Measured, together they cost more than
//! the whole edge may (`cargo xtask bench callgrind`).
//!
//! The standalone layers stay for stacks composed by hand on `axum::serve` or tonic:
//! ebb-shutdown's `DrainLayer`, ebb-probes' `ProbesLayer` and ebb-metrics'
//! `HttpMetricsLayer` are thin wrappers over the same mechanisms this edge calls
//! (`Shutdown::admit`, `InFlight::close_connection_if_draining`, `Probes::answer`,
//! `RequestMetrics::start`).

mod access;
mod answers;
mod body;
mod context;
mod future;
mod layer;
pub(crate) mod panic;
pub(crate) mod slow_body;

pub use answers::{HTTP_CLIENT_SHARE_EXCEEDED_TOTAL, HTTP_REQUESTS_SHED_TOTAL};
pub(crate) use body::EdgeBody;
pub(crate) use layer::{EdgeLayer, EdgeShared};

#[cfg(test)]
mod tests;
