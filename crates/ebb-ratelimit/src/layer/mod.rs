//! The tower layer: [`RateLimitLayer`] -> [`RateLimit`] -> [`ResponseFuture`].
//!
//! For each request the layer picks a [`Policy`](crate::Policy) (a selector of yours, then
//! the route table, then the default), extracts the [`Key`](crate::Key), asks the
//! [`Limiter`](crate::Limiter), and then:
//!
//! - allowed: calls your service and adds the `RateLimit-Policy` and `RateLimit` headers;
//! - limited: answers `429 Too Many Requests` with `Retry-After`, the same headers and a
//!   short text body, without calling your service;
//! - store failed: the policy's [`FailureMode`](crate::FailureMode) — through unlimited,
//!   `503` with a reason, or the in-process decision;
//! - no key (missing API-key header): `400` with the reason.
//!
//! A shadow policy decides and counts but always calls your service and adds no headers.
//!
//! # Backpressure
//! `poll_ready` is the inner service's. With the in-process limiter the decision is made in
//! `call`, and the service polled ready is called at once. With Redis, the service that was
//! polled ready is moved into the response future (and a clone left in its place), because
//! the call happens only after the decision.

mod future;
#[allow(clippy::module_inception)]
mod layer;
mod service;

pub use self::future::ResponseFuture;
pub use self::layer::{RateLimitLayer, Selected};
pub use self::service::RateLimit;
