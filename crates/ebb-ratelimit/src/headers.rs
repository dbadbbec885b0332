//! Rate-limit response headers: the IETF `RateLimit-Policy` and `RateLimit` fields
//! (draft-ietf-httpapi-ratelimit-headers-10), `Retry-After`, and optionally the legacy
//! `X-RateLimit-*` trio.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::{Decision, Policy};

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const X_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Writes the headers for `decision` under `policy`; `Retry-After` only when limited.
pub(crate) fn write(headers: &mut HeaderMap, policy: &Policy, decision: &Decision, legacy: bool) {
    let name = sf_token(policy.name());
    let (quota, window) = quota_window(policy);
    let reset = ceil_secs(decision.reset);
    insert(headers, RATELIMIT_POLICY, format!("\"{name}\";q={quota};w={window}"));
    insert(headers, RATELIMIT, format!("\"{name}\";r={};t={reset}", decision.remaining));
    if !decision.allowed {
        insert(headers, http::header::RETRY_AFTER, ceil_secs(decision.retry_after).max(1).to_string());
    }
    if legacy {
        insert(headers, X_LIMIT, decision.limit.to_string());
        insert(headers, X_REMAINING, decision.remaining.to_string());
        insert(headers, X_RESET, reset.to_string());
    }
}

fn insert(headers: &mut HeaderMap, name: HeaderName, value: String) {
    if let Ok(value) = HeaderValue::try_from(value) {
        headers.insert(name, value);
    }
}

/// Quota per window in whole seconds, as the draft wants: `100/1m` is `q=100;w=60`; a
/// period under a second is scaled to one second (`5/500ms` is `q=10;w=1`).
fn quota_window(policy: &Policy) -> (u64, u64) {
    let rate = policy.rate();
    let period = rate.period();
    if period.subsec_nanos() == 0 {
        return (u64::from(rate.count()), period.as_secs());
    }
    let window = ceil_secs(period).max(1);
    let quota = (f64::from(rate.count()) * window as f64 / period.as_secs_f64()).round() as u64;
    (quota, window)
}

fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// A policy name as the inside of a structured-field string: printable ASCII without `"`
/// or `\`.
fn sf_token(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(allowed: bool) -> Decision {
        Decision {
            allowed,
            limit: 10,
            remaining: if allowed { 7 } else { 0 },
            retry_after: if allowed { Duration::ZERO } else { Duration::from_millis(1200) },
            reset: Duration::from_millis(5500),
        }
    }

    #[test]
    fn ietf_fields_and_retry_after() {
        let policy = Policy::new("api", "100/1m".parse().expect("rate"));
        let mut headers = HeaderMap::new();
        write(&mut headers, &policy, &decision(false), false);
        assert_eq!(headers["ratelimit-policy"], "\"api\";q=100;w=60");
        assert_eq!(headers["ratelimit"], "\"api\";r=0;t=6");
        assert_eq!(headers["retry-after"], "2");
        assert!(headers.get("x-ratelimit-limit").is_none());
    }

    #[test]
    fn legacy_fields_on_request_and_no_retry_after_when_allowed() {
        let policy = Policy::new("api", "5/500ms".parse().expect("rate"));
        let mut headers = HeaderMap::new();
        write(&mut headers, &policy, &decision(true), true);
        assert_eq!(headers["ratelimit-policy"], "\"api\";q=10;w=1");
        assert_eq!(headers["x-ratelimit-remaining"], "7");
        assert!(headers.get("retry-after").is_none());
    }

    #[test]
    fn names_cannot_break_the_field() {
        assert_eq!(sf_token("a\"b\\c\u{1}"), "a_b_c_");
    }
}
