//! Who sent a request: the client address behind trusted proxies, from `X-Forwarded-For`.
//! One decision for every part that treats clients apart: the rate limit's key, the
//! edge's per-client share of in-flight requests and connections, and the proxies exempt
//! from the per-client connection cap.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use http::HeaderMap;
use ipnet::IpNet;

/// The proxies (load balancers, ingress) allowed to tell us the client's address, as
/// CIDRs: `10.0.0.0/8, 192.168.1.7`.
///
/// The client is the rightmost address of `X-Forwarded-For` that is not a trusted proxy:
/// each proxy appends the address it received the request from, so everything left of the
/// first untrusted hop was written by the client and may be forged. A request that does not
/// come from a trusted proxy is keyed by its peer address, whatever it says.
///
/// ```
/// use ebb_core::client::{ClientAddr, TrustedProxies};
/// let trusted: TrustedProxies = "10.0.0.0/8".parse()?;
/// let mut headers = http::HeaderMap::new();
/// // The client forged "1.1.1.1"; the ingress (10.0.0.2) appended the real 203.0.113.9.
/// headers.insert("x-forwarded-for", "1.1.1.1, 203.0.113.9".parse()?);
/// let client = trusted.client("10.0.0.2".parse()?, &headers);
/// assert_eq!(client, ClientAddr::Ip("203.0.113.9".parse()?));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
}

/// Who sent a request, as far as trusted proxies tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAddr {
    /// An address.
    Ip(IpAddr),
    /// A hop a trusted proxy wrote that is not an address (`unknown`, an obfuscated
    /// identifier, an empty entry): its text, so that such clients do not all share the
    /// proxy's own bucket.
    Unparsed(String),
}

impl ClientAddr {
    /// The client's key as rate limits and logs name it: IPv4 as is, IPv6 by its /64 (one
    /// subscriber's whole prefix), an unparsed hop by the SHA-1 of its text (the text is
    /// the client's, through a proxy, and may hold anything).
    pub fn key(&self) -> String {
        match self {
            Self::Ip(ip) => match ip.to_canonical() {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
            Self::Unparsed(hop) => format!("hop:{}", sha1_smol::Sha1::from(hop.as_bytes()).digest()),
        }
    }
}

/// A trusted proxy entry that is neither an address nor a CIDR.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IP address or CIDR (such as 10.0.0.0/8)")]
pub struct BadNetwork(String);

impl FromStr for TrustedProxies {
    type Err = BadNetwork;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut networks = Vec::new();
        for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let network = match item.parse::<IpNet>() {
                Ok(network) => network,
                Err(_) => item.parse::<IpAddr>().map(IpNet::from).map_err(|_| BadNetwork(item.to_owned()))?,
            };
            networks.push(network);
        }
        Ok(Self { networks })
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.networks.iter().map(ToString::to_string).collect();
        f.write_str(&list.join(","))
    }
}

impl TrustedProxies {
    /// Trusts the given networks.
    pub fn new(networks: impl IntoIterator<Item = IpNet>) -> Self {
        Self { networks: networks.into_iter().collect() }
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.networks.iter().any(|network| network.contains(&ip))
    }

    /// The client of a request received from `peer`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return ClientAddr::Ip(peer);
        }
        // Every X-Forwarded-For line, in order, as one list; walked from the right (without
        // collecting it: this runs for every request).
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','));
        let mut client = peer;
        for hop in hops.rev() {
            let Some(ip) = parse_hop(hop) else {
                // A trusted proxy wrote this hop (everything right of it was trusted): it
                // is the client as that proxy knew it, even if not an address.
                return ClientAddr::Unparsed(hop.trim().to_owned());
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        ClientAddr::Ip(client)
    }
}

/// An address as proxies write it: `203.0.113.9`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:443`, `203.0.113.9:5000`, `fe80::1%eth0` (the zone is dropped).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let unbracketed = hop.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(hop);
    let unzoned = unbracketed.split_once('%').map_or(unbracketed, |(ip, _zone)| ip);
    if let Ok(ip) = unzoned.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = hop.parse::<std::net::SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append("x-forwarded-for", line.parse().expect("header value"));
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted: TrustedProxies = "10.0.0.0/8".parse().expect("valid");
        assert_eq!(trusted.client(ip("198.51.100.7"), &headers(&["1.2.3.4"])), ClientAddr::Ip(ip("198.51.100.7")));
    }

    #[test]
    fn the_rightmost_untrusted_hop_wins_over_forged_ones() {
        let trusted: TrustedProxies = "10.0.0.0/8, 192.168.0.1".parse().expect("valid");
        let forged = headers(&["6.6.6.6, 7.7.7.7", "203.0.113.9, 192.168.0.1"]);
        assert_eq!(trusted.client(ip("10.1.2.3"), &forged), ClientAddr::Ip(ip("203.0.113.9")));
    }

    #[test]
    fn garbage_and_ports_are_handled() {
        let trusted: TrustedProxies = "10.0.0.0/8".parse().expect("valid");
        let client = |lines: &[&str]| trusted.client(ip("10.0.0.1"), &headers(lines));
        let at = |text: &str| ClientAddr::Ip(ip(text));
        assert_eq!(client(&["junk, 203.0.113.9:4711"]), at("203.0.113.9"));
        assert_eq!(client(&["[2001:db8::1]:443"]), at("2001:db8::1"));
        assert_eq!(client(&["[2001:db8::1]"]), at("2001:db8::1"));
        assert_eq!(client(&["fe80::1%eth0"]), at("fe80::1"));
        assert_eq!(trusted.client(ip("10.0.0.1"), &HeaderMap::new()), at("10.0.0.1"));
        // Left of a trusted hop, garbage is the client's own writing: the trusted hop is
        // the last address a proxy vouched for.
        assert_eq!(client(&["junk, 10.0.0.5"]), ClientAddr::Unparsed("junk".to_owned()));
    }

    #[test]
    fn an_unparseable_hop_from_a_trusted_proxy_is_its_own_client_not_the_proxy() {
        let trusted: TrustedProxies = "10.0.0.0/8".parse().expect("valid");
        for hop in ["unknown", "", "_hidden", "not an ip"] {
            let client = trusted.client(ip("10.0.0.1"), &headers(&[&format!("198.51.100.1, {hop}")]));
            assert_eq!(client, ClientAddr::Unparsed(hop.to_owned()), "{hop:?}");
        }
    }

    #[test]
    fn mapped_ipv4_peers_are_matched_as_ipv4() {
        let trusted: TrustedProxies = "10.0.0.0/8".parse().expect("valid");
        assert!(trusted.contains(ip("::ffff:10.0.0.1")));
    }

    #[test]
    fn bad_entries_are_named() {
        let error = "10.0.0.0/8, banana".parse::<TrustedProxies>().expect_err("invalid");
        assert!(error.to_string().contains("banana"));
    }
}
