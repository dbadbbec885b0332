//! The guard between the drain and the application: what keeps one client, or too many,
//! from holding the service. One layer ([`GuardLayer`]) does three things per request, so
//! that the hot path moves the request and its future once instead of three times:
//!
//! - **load shedding** ([`shed`]): over the in-flight cap, 503 + `Retry-After` at once;
//! - **caught panics** ([`panic`]): a panicking handler becomes a 500, logged once with
//!   its route;
//! - **the body-progress timeout** ([`body_timeout`]): a stalled request body gets 408.
//!
//! tower-http's `CatchPanicLayer` and tower's `LoadShed` do the first two as separate
//! layers, but box every response body and need a boxed error handler in axum: measured,
//! that alone cost more than the 7 % of throughput the whole stack may cost. The request
//! timeout and the body size limit are tower-http's and axum's, applied in
//! [`Server::serve`](crate::Server::serve) to every route but the streaming ones.

pub(crate) mod body_timeout;
mod future;
mod layer;
pub(crate) mod panic;
mod service;
pub(crate) mod shed;

pub(crate) use layer::GuardLayer;
pub use shed::HTTP_REQUESTS_SHED_TOTAL;
