//! The guard between the drain and the application: what keeps one client, or too many,
//! from holding the service. One layer ([`GuardLayer`]) does four things per request, so
//! that the hot path moves the request and its future once instead of four times:
//!
//! - **load shedding** ([`shed`]): over the in-flight cap, 503 + `Retry-After` at once;
//! - **caught panics** ([`panic`]): a panicking handler becomes a 500, logged once with
//!   its route;
//! - **the body-progress timeout** ([`body_timeout`], on tower-http's `TimeoutBody`): a
//!   stalled request body gets 408;
//! - **the request timeout** (not on streaming routes): 503 when no response head is ready
//!   in time, armed only once the handler is pending.
//!
//! tower-http's `CatchPanicLayer` boxes every response body, its `Timeout` registers a
//! timer for every request (it polls its sleep first), and tower's `LoadShed` needs a boxed
//! error handler in axum: measured, together they cost more than the whole stack may. The
//! body size limit is axum's `DefaultBodyLimit`, applied in
//! [`Server::serve`](crate::Server::serve) to every route but the streaming ones.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{Either, Full};

pub(crate) mod body_timeout;
mod future;
mod layer;
pub(crate) mod panic;
mod service;
pub(crate) mod shed;

pub(crate) use layer::GuardLayer;
pub use shed::HTTP_REQUESTS_SHED_TOTAL;

/// An answer the guard gives in place of the application: plain text, our words only.
pub(crate) fn text_response<B>(status: StatusCode, text: &'static str) -> Response<Either<Full<Bytes>, B>> {
    let mut response = Response::new(Either::Left(Full::new(Bytes::from_static(text.as_bytes()))));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
