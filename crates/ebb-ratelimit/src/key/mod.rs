//! Which counter a request spends from: its peer address, its client address behind
//! trusted proxies, a header such as an API key, or a function of yours.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use http::{Extensions, HeaderMap, HeaderName, Method, Uri};

use crate::text::{Decimal, Hex16, StackText};

pub use ebb_core::client::{BadNetwork, ClientAddr, TrustedProxies};

/// The parts of a request that keys and policy selectors may look at.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RequestHead<'a> {
    /// The method.
    pub method: &'a Method,
    /// The URI.
    pub uri: &'a Uri,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The extensions (axum's `ConnectInfo`, `MatchedPath`, your own).
    pub extensions: &'a Extensions,
}

impl RequestHead<'_> {
    /// The peer address of the connection: our [`PeerAddr`] extension, or axum's
    /// `ConnectInfo<SocketAddr>` (feature `axum`; serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()`).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        if let Some(PeerAddr(addr)) = self.extensions.get::<PeerAddr>() {
            return Some(*addr);
        }
        #[cfg(feature = "axum")]
        if let Some(axum::extract::ConnectInfo(addr)) = self.extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()
        {
            return Some(*addr);
        }
        None
    }

    /// The route template (axum's `MatchedPath`, feature `axum`), else the path.
    pub fn route(&self) -> &str {
        #[cfg(feature = "axum")]
        if let Some(matched) = self.extensions.get::<axum::extract::MatchedPath>() {
            return matched.as_str();
        }
        self.uri.path()
    }
}

/// The peer address of a connection, for servers other than axum: insert it into the
/// request extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

type KeyFn = dyn Fn(&RequestHead<'_>) -> Result<String, KeyError> + Send + Sync;

/// How a request is mapped to its rate-limit key.
#[derive(Clone)]
pub struct Key(KeyKind);

#[derive(Clone)]
enum KeyKind {
    PeerIp,
    ClientIp(TrustedProxies),
    Header(HeaderName),
    Custom(Arc<KeyFn>),
}

/// Why a request has no key. The layer answers 400 for a missing or bad header, and 500
/// when the server does not expose peer addresses (a wiring mistake, logged).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The request has no peer address in its extensions.
    #[error("the server does not expose peer addresses (serve with connect info, or insert PeerAddr)")]
    NoPeerAddress,
    /// The keying header is missing or empty.
    #[error("missing {0} header: requests are rate limited by it")]
    MissingHeader(HeaderName),
    /// The keying header is not visible ASCII.
    #[error("the {0} header must be visible ASCII")]
    BadHeader(HeaderName),
    /// A custom key function refused the request; the text is the reason sent with the 400.
    #[error("{0}")]
    Rejected(String),
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            KeyKind::PeerIp => f.write_str("Key::peer_ip"),
            KeyKind::ClientIp(trusted) => write!(f, "Key::client_ip({trusted})"),
            KeyKind::Header(name) => write!(f, "Key::header({name})"),
            KeyKind::Custom(_) => f.write_str("Key::from_fn(..)"),
        }
    }
}

impl Default for Key {
    fn default() -> Self {
        Self::peer_ip()
    }
}

impl Key {
    /// The peer address of the connection (the default). IPv6 clients are keyed by their
    /// /64 network, which one client usually holds whole.
    pub fn peer_ip() -> Self {
        Self(KeyKind::PeerIp)
    }

    /// The client address behind `trusted` proxies (see [`TrustedProxies`]); the peer
    /// address when the request did not come through one.
    pub fn client_ip(trusted: TrustedProxies) -> Self {
        if trusted.is_empty() { Self::peer_ip() } else { Self(KeyKind::ClientIp(trusted)) }
    }

    /// The value of a header, such as an API key (long values are hashed before they reach
    /// Redis). A request without it is answered 400.
    pub fn header(name: HeaderName) -> Self {
        Self(KeyKind::Header(name))
    }

    /// A function of the request; `Err(KeyError::Rejected(reason))` answers 400.
    pub fn from_fn(f: impl Fn(&RequestHead<'_>) -> Result<String, KeyError> + Send + Sync + 'static) -> Self {
        Self(KeyKind::Custom(Arc::new(f)))
    }

    /// The key of one request.
    ///
    /// # Errors
    /// See [`KeyError`].
    pub fn extract(&self, head: &RequestHead<'_>) -> Result<String, KeyError> {
        self.client_key(head).map(ClientKey::into_string)
    }

    /// The key of one request as the layer holds it: an address or a header value costs no
    /// allocation. Its text is exactly what [`extract`](Self::extract) returns.
    pub(crate) fn client_key<'a>(&self, head: &RequestHead<'a>) -> Result<ClientKey<'a>, KeyError> {
        match &self.0 {
            KeyKind::PeerIp => Ok(ClientKey::ip(head.peer_addr().ok_or(KeyError::NoPeerAddress)?.ip())),
            KeyKind::ClientIp(trusted) => {
                let peer = head.peer_addr().ok_or(KeyError::NoPeerAddress)?.ip();
                Ok(match trusted.client(peer, head.headers) {
                    ClientAddr::Ip(ip) => ClientKey::ip(ip),
                    unparsed @ ClientAddr::Unparsed(_) => ClientKey::Text(Cow::Owned(unparsed.key())),
                })
            }
            KeyKind::Header(name) => {
                let value = head.headers.get(name).ok_or_else(|| KeyError::MissingHeader(name.clone()))?;
                let value = value.to_str().map_err(|_| KeyError::BadHeader(name.clone()))?.trim();
                if value.is_empty() {
                    return Err(KeyError::MissingHeader(name.clone()));
                }
                Ok(ClientKey::Text(Cow::Borrowed(value)))
            }
            KeyKind::Custom(f) => f(head).map(|key| ClientKey::Text(Cow::Owned(key))),
        }
    }
}

/// A request's key without allocating for the common kinds: the layer hashes its text for
/// the in-process store and formats it only for Redis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ClientKey<'a> {
    /// An address, normalised by [`ClientKey::ip`]: IPv4 as is, IPv6 by its /64, mapped
    /// IPv4 as IPv4.
    Ip(IpAddr),
    /// Any other key: a header value, a custom key, an unparsed hop's digest, or the text a
    /// caller of [`Limiter::check`](crate::Limiter::check) passed.
    Text(Cow<'a, str>),
}

/// The longest text of an address key: `ffff:ffff:ffff:ffff::/64`.
const IP_KEY_MAX: usize = 24;

impl ClientKey<'_> {
    /// The key of a client address (normalised as [`ClientKey::Ip`] says).
    pub(crate) fn ip(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::Ip(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                Self::Ip(IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0)))
            }
        }
    }

    /// The same key, owning its text (for a decision that outlives the request).
    pub(crate) fn into_owned(self) -> ClientKey<'static> {
        match self {
            Self::Ip(ip) => ClientKey::Ip(ip),
            Self::Text(text) => ClientKey::Text(Cow::Owned(text.into_owned())),
        }
    }

    fn into_string(self) -> String {
        match self {
            Self::Ip(_) => self.with_text(str::to_owned),
            Self::Text(text) => text.into_owned(),
        }
    }

    /// Calls `f` with the key's text, which is what [`Key::extract`] returns and what the
    /// Redis key holds: an address is written on the stack.
    pub(crate) fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            Self::Text(text) => f(text),
            Self::Ip(ip) => {
                let mut text = StackText::<IP_KEY_MAX>::new();
                write_ip_key(&mut text, *ip);
                f(text.as_str())
            }
        }
    }
}

impl fmt::Display for ClientKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_text(|text| f.write_str(text))
    }
}

/// IPv4 as is (`192.0.2.1`); IPv6 by its /64 (`2001:db8:1:2::/64`); mapped IPv4 as IPv4.
fn write_ip_key(text: &mut StackText<IP_KEY_MAX>, ip: IpAddr) {
    // Every address fits in IP_KEY_MAX bytes, so no push below can fail.
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text.push(b".");
                }
                text.push(Decimal::new(u64::from(octet)).as_bytes());
            }
        }
        IpAddr::V6(v6) => {
            for (i, segment) in v6.segments().into_iter().take(4).enumerate() {
                if i > 0 {
                    text.push(b":");
                }
                text.push(Hex16::new(segment).as_bytes());
            }
            text.push(b"::/64");
        }
    }
}

/// IPv4 as is; IPv6 by its /64 (mapped IPv4 as IPv4).
#[cfg(test)]
fn ip_key(ip: IpAddr) -> String {
    ClientKey::ip(ip).into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_with<'a>(headers: &'a HeaderMap, extensions: &'a Extensions, uri: &'a Uri) -> RequestHead<'a> {
        RequestHead { method: &Method::GET, uri, headers, extensions }
    }

    #[test]
    fn ipv6_clients_share_their_slash_64() {
        assert_eq!(ip_key("2001:db8:1:2:aaaa::1".parse().expect("ip")), "2001:db8:1:2::/64");
        assert_eq!(ip_key("::ffff:192.0.2.1".parse().expect("ip")), "192.0.2.1");
    }

    /// The address keys as they were written before the stack writer, with `format!`.
    fn ip_key_with_format(ip: IpAddr) -> String {
        match ip.to_canonical() {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        }
    }

    #[test]
    fn address_keys_are_written_as_before() {
        let mut addresses: Vec<IpAddr> = [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            "192.0.2.1",
            "::",
            "::1",
            "::ffff:192.0.2.1",
            "2001:db8:1:2:aaaa::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fe80::1",
            "2001:0:0:a::",
        ]
        .iter()
        .map(|text| text.parse().expect("ip"))
        .collect();
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            addresses.push(IpAddr::V4((seed as u32).into()));
            addresses
                .push(IpAddr::V6((u128::from(seed) << 64 | u128::from(seed.rotate_left(17)) >> (seed % 64)).into()));
        }
        for ip in addresses {
            let key = ClientKey::ip(ip);
            assert_eq!(key.to_string(), ip_key_with_format(ip), "{ip}");
            assert_eq!(ip_key(ip), ip_key_with_format(ip), "{ip}");
            // The normalised address writes the same text as the address itself.
            assert_eq!(
                key,
                ClientKey::ip(match key {
                    ClientKey::Ip(ip) => ip,
                    ClientKey::Text(_) => unreachable!(),
                })
            );
        }
    }

    #[test]
    fn header_keys_need_the_header() {
        let (mut headers, extensions, uri) = (HeaderMap::new(), Extensions::new(), Uri::from_static("/"));
        let key = Key::header(HeaderName::from_static("x-api-key"));
        assert!(matches!(key.extract(&head_with(&headers, &extensions, &uri)), Err(KeyError::MissingHeader(_))));
        headers.insert("x-api-key", "  ".parse().expect("value"));
        assert!(matches!(key.extract(&head_with(&headers, &extensions, &uri)), Err(KeyError::MissingHeader(_))));
        headers.insert("x-api-key", "k-123".parse().expect("value"));
        assert_eq!(key.extract(&head_with(&headers, &extensions, &uri)), Ok("k-123".to_owned()));
    }

    #[test]
    fn peer_keys_need_a_peer_address() {
        let (headers, mut extensions, uri) = (HeaderMap::new(), Extensions::new(), Uri::from_static("/"));
        assert_eq!(Key::peer_ip().extract(&head_with(&headers, &extensions, &uri)), Err(KeyError::NoPeerAddress));
        extensions.insert(PeerAddr("192.0.2.1:5555".parse().expect("addr")));
        assert_eq!(Key::peer_ip().extract(&head_with(&headers, &extensions, &uri)), Ok("192.0.2.1".to_owned()));
    }
}
