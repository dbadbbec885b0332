//! Rate-limit response headers: the IETF `RateLimit-Policy` and `RateLimit` fields
//! (draft-ietf-httpapi-ratelimit-headers-10), `Retry-After`, and optionally the legacy
//! `X-RateLimit-*` trio.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::text::{Decimal, StackText};
use crate::{Decision, Policy};

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const X_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The parts of the headers that depend only on the policy (its name and rate), made once
/// per policy (see [`Policy::headers`]).
#[derive(Clone)]
pub(crate) struct PolicyHeaders {
    /// The whole `RateLimit-Policy` value, `"<name>";q=<quota>;w=<window>` (`None` in the
    /// impossible case that it is not a valid header value: the field is then left out, as
    /// before).
    policy: Option<HeaderValue>,
    /// `"<name>"`, the start of every `RateLimit` value.
    quoted_name: Box<str>,
}

impl PolicyHeaders {
    pub(crate) fn new(policy: &Policy) -> Self {
        let quoted_name = format!("\"{}\"", sf_token(policy.name()));
        let (quota, window) = quota_window(policy);
        let policy = HeaderValue::try_from(format!("{quoted_name};q={quota};w={window}")).ok();
        Self { policy, quoted_name: quoted_name.into_boxed_str() }
    }
}

/// Writes the headers for `decision` under `policy`; `Retry-After` only when limited.
///
/// The hot path (allowed, no legacy fields) allocates one thing: the `RateLimit` value. The
/// `RateLimit-Policy` value is a shared copy of the policy's own.
pub(crate) fn write(headers: &mut HeaderMap, policy: &Policy, decision: &Decision, legacy: bool) {
    let parts = policy.headers();
    let reset = ceil_secs(decision.reset);
    if let Some(value) = &parts.policy {
        headers.insert(RATELIMIT_POLICY, value.clone());
    }
    if let Some(value) = ratelimit_value(&parts.quoted_name, decision.remaining, reset) {
        headers.insert(RATELIMIT, value);
    }
    if !decision.allowed {
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from(ceil_secs(decision.retry_after).max(1)));
    }
    if legacy {
        headers.insert(X_LIMIT, HeaderValue::from(decision.limit));
        headers.insert(X_REMAINING, HeaderValue::from(decision.remaining));
        headers.insert(X_RESET, HeaderValue::from(reset));
    }
}

/// `"<name>";r=<remaining>;t=<reset>`, written on the stack (or, for a very long policy
/// name, in one exact-size vector) and copied once into the header value.
fn ratelimit_value(quoted_name: &str, remaining: u32, reset: u64) -> Option<HeaderValue> {
    let remaining = Decimal::new(u64::from(remaining));
    let reset = Decimal::new(reset);
    let parts: [&[u8]; 5] = [quoted_name.as_bytes(), b";r=", remaining.as_bytes(), b";t=", reset.as_bytes()];
    let mut stack = StackText::<96>::new();
    if parts.iter().all(|part| stack.push(part)) {
        return HeaderValue::from_bytes(stack.as_bytes()).ok();
    }
    let len = parts.iter().map(|part| part.len()).sum::<usize>();
    let mut value = Vec::with_capacity(len);
    for part in parts {
        value.extend_from_slice(part);
    }
    HeaderValue::from_maybe_shared(bytes::Bytes::from(value)).ok()
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

    /// The headers as they were written before the per-policy cache and the stack writer,
    /// with `format!`: the reference the fast writer must match byte for byte.
    fn write_with_format(headers: &mut HeaderMap, policy: &Policy, decision: &Decision, legacy: bool) {
        fn insert(headers: &mut HeaderMap, name: HeaderName, value: String) {
            if let Ok(value) = HeaderValue::try_from(value) {
                headers.insert(name, value);
            }
        }
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

    #[test]
    fn the_fast_writer_matches_format_byte_for_byte() {
        let long_name = "n".repeat(200);
        let policies = [
            Policy::new("api", "100/1m".parse().expect("rate")),
            // A window under a second: q and w are scaled.
            Policy::new("sub-second", "5/500ms".parse().expect("rate")),
            Policy::new("odd", "7/1500ms".parse().expect("rate")),
            // A name that needs sanitising: quotes, backslashes, controls, non-ASCII, spaces.
            Policy::new("a\"b\\c\u{1} d\u{e9}\u{1f600}", "1/1h".parse().expect("rate")),
            // Too long for the stack buffer.
            Policy::new(long_name.as_str(), "3/1s".parse().expect("rate")),
        ];
        let numbers = [0_u64, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 65_535, 1_000_000, u64::from(u32::MAX)];
        let durations = [0_u64, 1, 999_999, 1_000_000, 1_000_001, 5_500_000, 3_600_000_000, u64::MAX / 2, u64::MAX]
            .map(Duration::from_micros);
        let mut compared = 0;
        for policy in &policies {
            for (&remaining, reset) in numbers.iter().zip(durations.iter().cycle()) {
                for (allowed, legacy) in [(true, false), (true, true), (false, false), (false, true)] {
                    let remaining = u32::try_from(remaining).expect("u32");
                    let decision = Decision {
                        allowed,
                        limit: remaining.saturating_add(3),
                        remaining,
                        retry_after: if allowed { Duration::ZERO } else { *reset / 3 },
                        reset: *reset,
                    };
                    let (mut fast, mut reference) = (HeaderMap::new(), HeaderMap::new());
                    write(&mut fast, policy, &decision, legacy);
                    write_with_format(&mut reference, policy, &decision, legacy);
                    assert_eq!(fast, reference, "{policy:?} {decision:?} legacy={legacy}");
                    compared += 1;
                }
            }
        }
        assert_eq!(compared, policies.len() * numbers.len() * 4);
        let mut headers = HeaderMap::new();
        write(&mut headers, &policies[3], &decision(true), false);
        assert_eq!(headers["ratelimit"], "\"a_b_c_ d__\";r=7;t=6");
    }
}
