//! Where the replicas run: host processes, or containers of the service's image. The
//! scenarios drive both through this one interface.

use std::net::{IpAddr, SocketAddr};

/// A set of replica slots. A slot keeps its address across replacements, so that the
/// balancer's list of backends stays fixed, as a Service's does.
pub(super) trait Runtime {
    /// `processes` or `containers`, for the report.
    fn name(&self) -> &'static str;
    /// The address that Redis and the S3 server listen on, reachable from the replicas.
    fn state_host(&self) -> IpAddr;
    /// The address the balancer's connections come from, for `EBB_RATELIMIT_TRUSTED_PROXIES`.
    fn balancer_source(&self) -> IpAddr;
    /// The environment every replica starts with.
    fn set_env(&mut self, env: Vec<(&'static str, String)>);
    /// Each slot's application address.
    fn backends(&self) -> Vec<SocketAddr>;
    /// Starts `slot` with the common environment plus `extra`, and waits until `/readyz`
    /// answers 200.
    fn start(&mut self, slot: usize, extra: &[(&'static str, String)]) -> anyhow::Result<()>;
    /// Stops `slots` at once as an orchestrator does (SIGTERM, then the grace period) and
    /// fails unless each exits 0.
    fn stop(&mut self, slots: &[usize]) -> anyhow::Result<()>;
    /// Kills `slot` with SIGKILL, as a crashed node or an OOM kill would.
    fn kill(&mut self, slot: usize) -> anyhow::Result<()>;
}
