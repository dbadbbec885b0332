//! W3C trace context: the `traceparent` header (`00-<trace id>-<parent id>-<flags>`), so
//! that a request's log lines carry the trace id its caller started.

use http::{HeaderMap, HeaderName, HeaderValue};

/// The header.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// A valid `traceparent` of the request, in its extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits, not all zero.
    pub trace_id: String,
    /// The caller's span: 16 lowercase hex digits, not all zero.
    pub parent_id: String,
    /// The trace flags (bit 0: sampled).
    pub flags: u8,
}

impl TraceContext {
    /// The request's trace context, if it sent a valid one (version `00`, or a later
    /// version read as `00` as the specification asks; never `ff`).
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        Self::parse(headers.get(TRACEPARENT)?)
    }

    /// A `traceparent` value, if valid.
    pub fn parse(value: &HeaderValue) -> Option<Self> {
        let value = value.to_str().ok()?.trim();
        let mut parts = value.split('-');
        let (version, trace_id, parent_id, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version.len() != 2 || !lower_hex(version) || version == "ff" || (version == "00" && parts.next().is_some()) {
            return None;
        }
        let valid = |id: &str, len: usize| id.len() == len && lower_hex(id) && id.bytes().any(|b| b != b'0');
        if !valid(trace_id, 32) || !valid(parent_id, 16) || flags.len() != 2 || !lower_hex(flags) {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(Self { trace_id: trace_id.to_owned(), parent_id: parent_id.to_owned(), flags })
    }
}

fn lower_hex(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Option<TraceContext> {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, value.parse().expect("header"));
        TraceContext::from_headers(&headers)
    }

    #[test]
    fn valid_headers_parse_and_invalid_ones_are_ignored() {
        let context = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").expect("valid");
        assert_eq!(context.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!((context.parent_id.as_str(), context.flags), ("00f067aa0ba902b7", 1));
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "garbage",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert!(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future").is_some(), "later versions");
    }
}
