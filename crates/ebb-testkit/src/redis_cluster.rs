//! A throwaway Redis Cluster: 6 `redis-server --cluster-enabled yes` on loopback, 3 masters
//! with a replica each, joined by `redis-cli --cluster create`. Failover is fast (node
//! timeout 1 s) so that tests can kill a master.

use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::child::ServerChild;
use crate::redis::ping;
use crate::{TempDir, find_tool, free_port, poll_until};

const NODES: usize = 6;

/// A running 6-node Cluster; every node is killed when dropped.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<(u16, ServerChild)>,
    _dir: TempDir,
}

impl RedisCluster {
    /// Starts 6 nodes, creates the Cluster and waits until every node reports it ok.
    pub fn start() -> Self {
        let dir = TempDir::new("ebb-redis-cluster");
        let server = find_tool("redis-server", "EBB_REDIS_SERVER", "install it with `apt-get install redis-server`");
        let mut nodes = Vec::new();
        for index in 0..NODES {
            let port = cluster_port();
            let node_dir = dir.path().join(format!("node-{index}"));
            std::fs::create_dir_all(&node_dir).expect("node dir");
            let child = Command::new(&server)
                .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
                .args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
                // Fast failover; a replica may take over however old its data is.
                .args(["--cluster-node-timeout", "1000", "--cluster-replica-validity-factor", "0"])
                .arg("--dir")
                .arg(&node_dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|error| panic!("cannot start redis-server: {error}"));
            let mut slot = ServerChild::default();
            slot.set(child);
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            poll_until(&format!("cluster node {addr}"), Duration::from_secs(10), || ping(addr).then_some(()));
            nodes.push((port, slot));
        }
        let addrs: Vec<String> = nodes.iter().map(|(port, _)| format!("127.0.0.1:{port}")).collect();
        let output = Command::new(cli())
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(output.status.success(), "cluster create failed: {}", String::from_utf8_lossy(&output.stdout));
        let cluster = Self { nodes, _dir: dir };
        cluster.wait_until_ok(Duration::from_secs(20));
        // Replicas must have synced before a master may die: failover needs them.
        poll_until("every replica to sync with its master", Duration::from_secs(20), || {
            let ports = cluster.live_ports();
            let roles: Vec<String> = ports.iter().map(|port| query(*port, &["info", "replication"])).collect();
            let replicas = roles.iter().filter(|info| info.contains("role:slave")).count();
            let synced = roles.iter().filter(|info| info.contains("master_link_status:up")).count();
            (replicas == NODES / 2 && synced == replicas).then_some(())
        });
        cluster
    }

    /// `REDIS_CLUSTER_URLS`: every node, comma-separated.
    pub fn urls(&self) -> String {
        self.nodes.iter().map(|(port, _)| format!("redis://127.0.0.1:{port}")).collect::<Vec<_>>().join(",")
    }

    /// The variables that point a service here.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![("REDIS_CLUSTER_URLS", self.urls())]
    }

    /// Ports of the nodes that are masters now.
    pub fn masters(&self) -> Vec<u16> {
        let nodes = self.query_any(&["cluster", "nodes"]);
        nodes
            .lines()
            .filter(|line| {
                let flags = line.split(' ').nth(2).unwrap_or_default();
                flags.contains("master") && !flags.contains("fail")
            })
            .filter_map(|line| line.split(' ').nth(1)?.split('@').next()?.rsplit(':').next()?.parse().ok())
            .collect()
    }

    /// The port of the master serving `key` (waiting, up to 10 s, while a failover leaves
    /// the slot without a live master).
    pub fn master_of(&self, key: &str) -> u16 {
        let slot: String = self.query_any(&["cluster", "keyslot", key]).trim().to_owned();
        let slot: u16 = slot.parse().expect("a slot number");
        poll_until(&format!("a live master for slot {slot}"), Duration::from_secs(10), || self.serving(slot))
    }

    fn serving(&self, slot: u16) -> Option<u16> {
        let nodes = self.query_any(&["cluster", "nodes"]);
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            if !fields.get(2).is_some_and(|flags| flags.contains("master") && !flags.contains("fail")) {
                continue;
            }
            for range in fields.iter().skip(8) {
                let (start, end) = range.split_once('-').unwrap_or((range, range));
                let serves = match (start.parse::<u16>(), end.parse::<u16>()) {
                    (Ok(start), Ok(end)) => (start..=end).contains(&slot),
                    _ => false,
                };
                if serves {
                    return fields[1].split('@').next().and_then(|a| a.rsplit(':').next()?.parse().ok());
                }
            }
        }
        None
    }

    /// Kills the node on `port` (SIGKILL); its replica is promoted after the node timeout.
    pub fn kill(&mut self, port: u16) {
        if let Some((_, child)) = self.nodes.iter_mut().find(|(p, _)| *p == port) {
            child.stop();
        }
    }

    /// Waits until every live node reports `cluster_state:ok`.
    pub fn wait_until_ok(&self, timeout: Duration) {
        poll_until("the Redis Cluster to be ok on every live node", timeout, || {
            let live: Vec<u16> = self.live_ports();
            live.iter().all(|port| query(*port, &["cluster", "info"]).contains("cluster_state:ok")).then_some(())
        });
    }

    fn live_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|(_, child)| child.pid().is_some())
            .map(|(port, _)| *port)
            .filter(|port| ping(SocketAddr::from(([127, 0, 0, 1], *port))))
            .collect()
    }

    fn query_any(&self, args: &[&str]) -> String {
        let port = *self.live_ports().first().expect("a live node");
        query(port, args)
    }
}

fn cli() -> std::path::PathBuf {
    find_tool("redis-cli", "EBB_REDIS_CLI", "install it with `apt-get install redis-tools`")
}

fn query(port: u16, args: &[&str]) -> String {
    let output = Command::new(cli()).args(["-p", &port.to_string()]).args(args).output().expect("redis-cli");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A port whose cluster bus port (+10000) is free as well.
fn cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}
