//! Which counter a request spends from: its peer address, its client address behind
//! trusted proxies, a header such as an API key, or a function of yours.

mod forwarded;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http::{Extensions, HeaderMap, HeaderName, Method, Uri};

pub use self::forwarded::{BadNetwork, ClientAddr, TrustedProxies};

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
        match &self.0 {
            KeyKind::PeerIp => Ok(ip_key(head.peer_addr().ok_or(KeyError::NoPeerAddress)?.ip())),
            KeyKind::ClientIp(trusted) => {
                let peer = head.peer_addr().ok_or(KeyError::NoPeerAddress)?.ip();
                Ok(trusted.client(peer, head.headers).key())
            }
            KeyKind::Header(name) => {
                let value = head.headers.get(name).ok_or_else(|| KeyError::MissingHeader(name.clone()))?;
                let value = value.to_str().map_err(|_| KeyError::BadHeader(name.clone()))?.trim();
                if value.is_empty() {
                    return Err(KeyError::MissingHeader(name.clone()));
                }
                Ok(value.to_owned())
            }
            KeyKind::Custom(f) => f(head),
        }
    }
}

impl ClientAddr {
    /// The rate-limit key of this client: IPv4 as is, IPv6 by its /64 (one subscriber's
    /// whole prefix), an unparsed hop by the SHA-1 of its text.
    pub fn key(&self) -> String {
        match self {
            Self::Ip(ip) => ip_key(*ip),
            // Hashed: the text is the client's (through a proxy) and may hold anything.
            Self::Unparsed(hop) => format!("hop:{}", sha1_smol::Sha1::from(hop.as_bytes()).digest()),
        }
    }
}

/// IPv4 as is; IPv6 by its /64 (mapped IPv4 as IPv4).
fn ip_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
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
