//! `x-request-id`: kept when the client (or the ingress) sent a usable one, made otherwise.

use std::cell::RefCell;
use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

/// The header that carries it, both ways.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A longer id is replaced: it would be copied into every log line of the request.
const MAX_LEN: usize = 128;

/// The request's id: what its `x-request-id`, the response's and every log line of the
/// request carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only `is_id_char` bytes get in (see `usable`), and made ids are hex.
        self.0.to_str().unwrap_or_default()
    }

    pub(crate) fn header_value(&self) -> &HeaderValue {
        &self.0
    }

    pub(crate) fn into_header_value(self) -> HeaderValue {
        self.0
    }

    /// The request's own id when usable (1 to 128 of `A-Z a-z 0-9 - _ . : / + @`), else a new one
    /// (`true`: made here). For a handler behind ebb-server, the request's `x-request-id`
    /// is always usable: ebb-server replaced it otherwise.
    pub fn of(headers: &HeaderMap) -> (Self, bool) {
        let sent = headers.get(X_REQUEST_ID).filter(|value| usable(value)).cloned();
        let made = sent.is_none();
        (Self::from_sent(sent), made)
    }

    /// The id the client sent when usable, else a new one.
    pub(crate) fn from_sent(sent: Option<HeaderValue>) -> Self {
        sent.filter(usable).map_or_else(Self::new, Self)
    }

    /// A new id: 32 hex digits, a random prefix per process and a counter, so that ids
    /// from different replicas do not collide and making one costs no system call.
    fn new() -> Self {
        // The prefix's digits are written once per process.
        static PREFIX: OnceLock<[u8; 16]> = OnceLock::new();
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let prefix = PREFIX.get_or_init(|| {
            let mut digits = [0u8; 16];
            hex(random_u64(), &mut digits);
            digits
        });
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut text = [0u8; 32];
        text[..16].copy_from_slice(prefix);
        hex(n, &mut text[16..]);
        let value = HeaderValue::from_maybe_shared(in_arena(&text)).unwrap_or_else(|_| HeaderValue::from_static("0"));
        Self(value)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn usable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_LEN && bytes.iter().all(|b| is_id_char(*b))
}

/// What a kept id may hold: what UUIDs, ULIDs, hex and base64 ids are written with, and
/// nothing a log line gives meaning to (no space, quote, brace, `=`, `;` or `,`), so that a
/// client's id cannot forge fields or spans in a text log.
fn is_id_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b':' | b'/' | b'+' | b'@')
}

/// Made ids share a buffer per thread, 128 at a time: a `HeaderValue` of its own would cost
/// an allocation per request.
const IDS_PER_BUFFER: usize = 128;

thread_local! {
    static ARENA: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// `text` as `Bytes` in this thread's shared buffer (a new buffer when it is full).
fn in_arena(text: &[u8]) -> Bytes {
    ARENA.with(|arena| match arena.try_borrow_mut() {
        Ok(mut arena) => {
            if arena.capacity() < text.len() {
                // The ids still alive keep the old buffer; this one is new.
                *arena = BytesMut::with_capacity(text.len() * IDS_PER_BUFFER);
            }
            arena.extend_from_slice(text);
            arena.split().freeze()
        }
        Err(_) => Bytes::copy_from_slice(text),
    })
}

/// `n` as 16 lowercase hex digits into `out`, two digits per byte.
fn hex(n: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in out.chunks_exact_mut(2).zip(n.to_be_bytes()) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
}

/// 64 random bits from the standard library's per-process hash keys.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_ids_are_kept_and_others_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(RequestId::of(&headers), (RequestId(HeaderValue::from_static("abc-123")), false));
        for good in ["0b5e2c1e-8d6a-4c3f-9b1a-2f0e6d7c8b9a", "01HZX3K9Q2", "a.b:c/d+e@f_g", &"x".repeat(128)] {
            headers.insert(X_REQUEST_ID, HeaderValue::from_str(good).expect("header"));
            assert_eq!(RequestId::of(&headers).0.as_str(), good, "kept");
        }
        let forged = ["abc}:_INFO_forged=1", "a=b", "a;b", "a,b", "a\"b", "a{b", "a'b", "a\\b", "a<b>"];
        for bad in ["", "has space", &"x".repeat(129)].into_iter().chain(forged) {
            headers.insert(X_REQUEST_ID, HeaderValue::from_str(bad).expect("header"));
            let (id, made) = RequestId::of(&headers);
            assert!(made && id.as_str().len() == 32 && id.as_str() != bad, "{bad:?} -> {id}");
        }
        let (first, second) = (RequestId::new(), RequestId::new());
        assert_ne!(first, second);
        // Many more than one buffer holds: each stays whole and valid.
        let many: Vec<RequestId> = (0..3 * IDS_PER_BUFFER).map(|_| RequestId::new()).collect();
        assert!(many.iter().all(|id| id.as_str().len() == 32 && id.as_str().bytes().all(|b| b.is_ascii_hexdigit())));
        assert!(many.windows(2).all(|pair| pair[0] != pair[1]));
        assert_eq!(first.as_str()[..16], second.as_str()[..16], "one prefix per process");
    }
}
