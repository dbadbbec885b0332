//! The responses the layer answers itself.

use bytes::Bytes;
use ebb_core::response::text_response as text;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

use crate::{Decision, Policy, headers};

/// 429 with `Retry-After`, the rate-limit headers and a body saying when to retry.
pub(crate) fn limited(policy: &Policy, decision: &Decision, legacy: bool) -> Response<Full<Bytes>> {
    let body = if decision.retry_after.is_zero() {
        format!("rate limit exceeded (policy \"{}\"): the request costs more than the burst allows\n", policy.name())
    } else {
        format!(
            "rate limit exceeded (policy \"{}\"): retry in {:.1} s\n",
            policy.name(),
            decision.retry_after.as_secs_f64()
        )
    };
    let mut response = text(StatusCode::TOO_MANY_REQUESTS, body);
    headers::write(response.headers_mut(), policy, decision, legacy);
    response
}

/// 503 for a policy that fails closed while Redis is unavailable.
pub(crate) fn unavailable(policy: &Policy) -> Response<Full<Bytes>> {
    let mut response = text(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("rate limiter unavailable (policy \"{}\" fails closed); retry later\n", policy.name()),
    );
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
