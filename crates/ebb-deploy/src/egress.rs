//! Where a service may connect: its dependencies, by port, for the egress rules of its
//! NetworkPolicy. A NetworkPolicy cannot name a host, so a rule admits a port to any
//! address, or to the CIDRs the definition gives.

/// One dependency the service connects to: a TCP port, and optionally the CIDRs it is at.
///
/// ```
/// use ebb_deploy::{Egress, Service};
///
/// let api = Service::new("shop-api")
///     .with_egress(Egress::redis())
///     .with_egress(Egress::object_store().with_cidrs(&["52.216.0.0/15"]))
///     .with_egress(Egress::otlp().with_port(4317));
/// # let _ = api;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Egress {
    pub(crate) name: String,
    pub(crate) port: u16,
    pub(crate) cidrs: Vec<String>,
}

/// The port DNS answers on, over UDP and TCP: every service's policy admits it.
pub(crate) const DNS_PORT: u16 = 53;

/// The name of [`Egress::redis`], which a service that reads `REDIS_URL` must declare.
pub(crate) const REDIS: &str = "redis";

/// The name of [`Egress::redis_sentinel`], which a service on Sentinel must declare too.
pub(crate) const REDIS_SENTINEL: &str = "redis sentinel";

impl Egress {
    /// A dependency called `name` (for messages) on TCP `port`, at any address.
    pub fn tcp(name: &str, port: u16) -> Self {
        Egress { name: name.to_owned(), port, cidrs: Vec::new() }
    }

    /// Redis on 6379 (`REDIS_URL`, `REDIS_CLUSTER_URLS`); a service that reads `REDIS_URL`
    /// must declare it.
    pub fn redis() -> Self {
        Self::tcp(REDIS, 6379)
    }

    /// Redis Sentinel's port, 26379: a service on `REDIS_SENTINEL_URLS` asks the sentinels
    /// for the master, then connects to it ([`Egress::redis`]); it must declare both.
    pub fn redis_sentinel() -> Self {
        Self::tcp(REDIS_SENTINEL, 26379)
    }

    /// An S3 object store over HTTPS, 443 (`with_port(9000)` for a MinIO in the cluster).
    pub fn object_store() -> Self {
        Self::tcp("object store", 443)
    }

    /// An OpenTelemetry collector over OTLP/HTTP, 4318 (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn otlp() -> Self {
        Self::tcp("otlp", 4318)
    }

    /// Another port. Default: the dependency's usual one.
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The addresses the dependency is at (`10.0.3.0/24`, `2001:db8::/64`). Default: none,
    /// so the port is admitted to any address.
    #[must_use]
    pub fn with_cidrs(mut self, cidrs: &[&str]) -> Self {
        self.cidrs = cidrs.iter().map(|cidr| (*cidr).to_owned()).collect();
        self
    }

    /// The dependency's name, as messages name it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Whether `cidr` is an IPv4 or IPv6 network in CIDR notation, as `ipBlock.cidr` takes it.
pub(crate) fn is_cidr(cidr: &str) -> bool {
    let Some((address, prefix)) = cidr.split_once('/') else { return false };
    let Ok(prefix) = prefix.parse::<u8>() else { return false };
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => prefix <= 32,
        Ok(std::net::IpAddr::V6(_)) => prefix <= 128,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        for good in ["10.0.0.0/8", "0.0.0.0/0", "2001:db8::/64"] {
            assert!(is_cidr(good), "{good}");
        }
        for bad in ["10.0.0.0", "10.0.0.0/33", "redis.internal/32", "2001:db8::/129", ""] {
            assert!(!is_cidr(bad), "{bad}");
        }
    }
}
