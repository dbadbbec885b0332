//! The client address behind trusted proxies, from `X-Forwarded-For`.

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
/// use ebb_ratelimit::TrustedProxies;
/// let trusted: TrustedProxies = "10.0.0.0/8".parse()?;
/// let mut headers = http::HeaderMap::new();
/// // The client forged "1.1.1.1"; the ingress (10.0.0.2) appended the real 203.0.113.9.
/// headers.insert("x-forwarded-for", "1.1.1.1, 203.0.113.9".parse()?);
/// let client = trusted.client_ip("10.0.0.2".parse()?, &headers);
/// assert_eq!(client, "203.0.113.9".parse::<std::net::IpAddr>()?);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
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

    /// The client address of a request received from `peer`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.contains(client) {
            return client;
        }
        // Every X-Forwarded-For line, in order, as one list; walked from the right.
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                // Garbage can only come from left of the real client; stop at the last
                // address we could trust to have been written by a proxy.
                return client;
            };
            client = ip;
            if !self.contains(ip) {
                return ip;
            }
        }
        client
    }
}

/// An address as proxies write it: `203.0.113.9`, `2001:db8::1`, `[2001:db8::1]:443`,
/// `203.0.113.9:5000`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
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
        assert_eq!(trusted.client_ip(ip("198.51.100.7"), &headers(&["1.2.3.4"])), ip("198.51.100.7"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_wins_over_forged_ones() {
        let trusted: TrustedProxies = "10.0.0.0/8, 192.168.0.1".parse().expect("valid");
        let forged = headers(&["6.6.6.6, 7.7.7.7", "203.0.113.9, 192.168.0.1"]);
        assert_eq!(trusted.client_ip(ip("10.1.2.3"), &forged), ip("203.0.113.9"));
    }

    #[test]
    fn garbage_and_ports_are_handled() {
        let trusted: TrustedProxies = "10.0.0.0/8".parse().expect("valid");
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &headers(&["junk, 203.0.113.9:4711"])), ip("203.0.113.9"));
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &headers(&["junk, 10.0.0.5"])), ip("10.0.0.5"));
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &headers(&["[2001:db8::1]:443"])), ip("2001:db8::1"));
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
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
