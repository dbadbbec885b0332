//! Replicas as host processes on fixed loopback ports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use ebb_testkit::{ServiceProcess, free_port, http_status, poll_until};

use super::runtime::Runtime;

pub(super) struct Processes {
    binary: PathBuf,
    env: Vec<(&'static str, String)>,
    addrs: Vec<SocketAddr>,
    running: Vec<Option<ServiceProcess>>,
    /// How long a stopped replica may take: the manifests' termination grace period.
    grace: Duration,
}

impl Processes {
    pub(super) fn new(binary: PathBuf, slots: usize, grace: Duration) -> Self {
        let addrs = (0..slots).map(|_| SocketAddr::from(([127, 0, 0, 1], free_port()))).collect();
        Self { binary, env: Vec::new(), addrs, running: (0..slots).map(|_| None).collect(), grace }
    }
}

impl Runtime for Processes {
    fn name(&self) -> &'static str {
        "processes"
    }

    fn state_host(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }

    fn balancer_source(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }

    fn set_env(&mut self, env: Vec<(&'static str, String)>) {
        self.env = env;
    }

    fn backends(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    fn start(&mut self, slot: usize, extra: &[(&'static str, String)]) -> anyhow::Result<()> {
        let mut env = self.env.clone();
        env.extend_from_slice(extra);
        env.push(("EBB_HTTP_ADDR", self.addrs[slot].to_string()));
        env.push(("EBB_METRICS_ADDR", "127.0.0.1:0".to_owned()));
        let replica = ServiceProcess::start(&self.binary, &env);
        let ready = replica.url("/readyz");
        poll_until("a new replica to be ready", Duration::from_secs(20), || {
            http_status(&ready).filter(|status| *status == 200).map(|_| ())
        });
        self.running[slot] = Some(replica);
        Ok(())
    }

    fn stop(&mut self, slots: &[usize]) -> anyhow::Result<()> {
        let mut stopping: Vec<(usize, ServiceProcess)> =
            slots.iter().filter_map(|slot| Some((*slot, self.running[*slot].take()?))).collect();
        for (_, replica) in &mut stopping {
            replica.signal("TERM");
        }
        for (slot, mut replica) in stopping {
            let exit = replica.wait_exit(self.grace);
            if exit.code != Some(0) {
                bail!("replica {slot} exited with {exit:?} after SIGTERM; log:\n{}", replica.log());
            }
        }
        Ok(())
    }

    fn kill(&mut self, slot: usize) -> anyhow::Result<()> {
        if let Some(mut replica) = self.running[slot].take() {
            replica.signal("KILL");
            replica.wait_exit(Duration::from_secs(5));
        }
        Ok(())
    }
}
