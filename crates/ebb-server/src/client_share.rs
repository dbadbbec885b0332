//! Per-client shares of what a replica has a fixed amount of (in-flight requests, probe
//! requests, connections), so that one client cannot take all of it while under its rate
//! limit.
//!
//! A client is who `ebb_core::client::TrustedProxies` says sent the request: the peer
//! address, or behind a trusted proxy the address it forwarded. IPv6 clients are counted
//! by their /64, as the rate limit keys them.
//!
//! The counts live in a fixed table of slots, one per hash of the client: no map to grow
//! or evict (a flood of new addresses costs nothing), one atomic add per request. The hash
//! is keyed with per-process random keys, so a client cannot choose another's slot; two
//! clients that happen to share one share its cap, which is only ever stricter. It is one
//! folded multiply (as foldhash mixes), not SipHash: it runs for every request.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use ebb_core::client::{ClientAddr, TrustedProxies};
use http::HeaderMap;

/// Slots per table: a power of two, 16 KiB of counters.
const SLOTS: usize = 4096;

/// Who sent a request, reduced to what the tables count by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClientId(u64);

/// Resolves clients and hashes them into slots: one per server, shared by its tables.
#[derive(Debug)]
pub(crate) struct Clients {
    trusted: TrustedProxies,
    keys: (u64, u64),
    seed: RandomState,
}

impl Clients {
    pub(crate) fn new(trusted: TrustedProxies) -> Self {
        let seed = RandomState::new();
        let keys = (seed.hash_one(0x5eed_u64), seed.hash_one(0xface_u64));
        Self { trusted, keys, seed }
    }

    /// Whether `peer` is a trusted proxy (exempt from the per-client connection cap: behind
    /// an ingress, every connection comes from it).
    pub(crate) fn is_trusted(&self, peer: IpAddr) -> bool {
        !self.trusted.is_empty() && self.trusted.contains(peer)
    }

    /// The client of a connection from `peer`, before any request says more.
    pub(crate) fn of_peer(&self, peer: IpAddr) -> ClientId {
        let key = ip_key(peer);
        #[allow(clippy::cast_possible_truncation)]
        let (low, high) = (key as u64 ^ self.keys.0, (key >> 64) as u64 ^ self.keys.1);
        let folded = u128::from(low).wrapping_mul(u128::from(high | 1));
        #[allow(clippy::cast_possible_truncation)]
        ClientId(folded as u64 ^ (folded >> 64) as u64)
    }

    /// The client of a request received from `peer` (resolved through trusted proxies).
    pub(crate) fn of_request(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> ClientId {
        let Some(peer) = peer else { return ClientId(0) };
        if self.trusted.is_empty() {
            return self.of_peer(peer.ip());
        }
        match self.trusted.client(peer.ip(), headers) {
            ClientAddr::Ip(ip) => self.of_peer(ip),
            ClientAddr::Unparsed(hop) => ClientId(self.seed.hash_one(hop.as_bytes())),
        }
    }
}

/// An address as the counts know it: IPv4 as is, IPv6 by its /64.
fn ip_key(ip: IpAddr) -> u128 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        // The /64, marked so that it never equals an IPv4 key.
        IpAddr::V6(v6) => (u128::from(v6) >> 64) | (1 << 127),
    }
}

/// One count per client slot, with its cap.
pub(crate) struct ClientShares {
    slots: Box<[AtomicU32]>,
    cap: u32,
}

impl fmt::Debug for ClientShares {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientShares").field("cap", &self.cap).finish_non_exhaustive()
    }
}

impl ClientShares {
    /// A table that lets each client hold at most `cap`.
    pub(crate) fn new(cap: usize) -> Arc<Self> {
        let slots = (0..SLOTS).map(|_| AtomicU32::new(0)).collect();
        Arc::new(Self { slots, cap: u32::try_from(cap).unwrap_or(u32::MAX) })
    }

    /// One more for `client`, or `None` when it holds its cap already.
    pub(crate) fn take(self: &Arc<Self>, client: ClientId) -> Option<ClientHold> {
        // The low bits of the keyed mix: evenly spread.
        #[allow(clippy::cast_possible_truncation)]
        let slot = (client.0 as usize) & (SLOTS - 1);
        let count = &self.slots[slot];
        if count.fetch_add(1, Ordering::AcqRel) >= self.cap {
            count.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        #[allow(clippy::cast_possible_truncation)]
        Some(ClientHold { table: self.clone(), slot: slot as u32 })
    }

    #[cfg(test)]
    pub(crate) fn held(&self, client: ClientId) -> u32 {
        #[allow(clippy::cast_possible_truncation)]
        self.slots[(client.0 as usize) & (SLOTS - 1)].load(Ordering::Acquire)
    }
}

/// One unit of a client's share, given back when dropped.
#[must_use = "the share is given back when this is dropped"]
pub(crate) struct ClientHold {
    table: Arc<ClientShares>,
    slot: u32,
}

impl fmt::Debug for ClientHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHold").field("slot", &self.slot).finish()
    }
}

impl Drop for ClientHold {
    fn drop(&mut self) {
        self.table.slots[self.slot as usize].fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn a_client_holds_at_most_its_cap_and_gets_it_back() {
        let clients = Clients::new(TrustedProxies::default());
        let table = ClientShares::new(2);
        let client = clients.of_peer(ip("198.51.100.7"));
        let first = table.take(client).expect("first");
        let _second = table.take(client).expect("second");
        assert!(table.take(client).is_none(), "a third beyond the cap of 2");
        assert_eq!(table.held(client), 2, "a refusal holds nothing");
        drop(first);
        assert!(table.take(client).is_some(), "given back when dropped");
    }

    #[test]
    fn addresses_spread_over_the_slots() {
        let clients = Clients::new(TrustedProxies::default());
        let mut used = std::collections::HashSet::new();
        for n in 0..4096u32 {
            let id = clients.of_peer(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n)));
            #[allow(clippy::cast_possible_truncation)]
            used.insert(id.0 as usize & (SLOTS - 1));
        }
        // 4096 balls in 4096 bins: about 63% of the bins are hit when spread at random.
        assert!(used.len() > 2300, "{} slots used", used.len());
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_slash_64_and_mapped_ipv4_as_ipv4() {
        let clients = Clients::new(TrustedProxies::default());
        assert_eq!(clients.of_peer(ip("2001:db8:1:2::1")), clients.of_peer(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(clients.of_peer(ip("2001:db8:1:2::1")), clients.of_peer(ip("2001:db8:1:3::1")));
        assert_eq!(clients.of_peer(ip("::ffff:192.0.2.1")), clients.of_peer(ip("192.0.2.1")));
    }

    #[test]
    fn behind_a_trusted_proxy_the_forwarded_client_counts_and_the_proxy_is_exempt() {
        let clients = Clients::new("10.0.0.0/8".parse().expect("cidr"));
        let proxy: SocketAddr = "10.0.0.2:4000".parse().expect("addr");
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9".parse().expect("value"));
        assert_eq!(clients.of_request(Some(proxy), &headers), clients.of_peer(ip("203.0.113.9")));
        assert!(clients.is_trusted(proxy.ip()));
        // Control: an untrusted peer is its own client, whatever it forwards.
        let stranger: SocketAddr = "198.51.100.1:4000".parse().expect("addr");
        assert_eq!(clients.of_request(Some(stranger), &headers), clients.of_peer(stranger.ip()));
        assert!(!clients.is_trusted(stranger.ip()));
    }
}
