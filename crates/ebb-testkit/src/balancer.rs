//! An L4 balancer in front of replicas, as kube-proxy is: HAProxy in `mode tcp` with
//! `retries 0`, no redispatch and no `shutdown-sessions`, health-checking `GET /readyz` at
//! the kubelet's pace. It never hides a dropped connection, so a test behind it sees every
//! request a replica loses while it goes away.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{ServiceProcess, TempDir, free_port, poll_until, wait_for_port};

/// A running HAProxy in TCP mode. Stopped when dropped.
#[derive(Debug)]
pub struct TcpBalancer {
    child: Child,
    _dir: TempDir,
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The health check interval.
    pub check_interval: Duration,
}

impl TcpBalancer {
    /// Balances round-robin over `backends`, checking `GET /readyz` every `check_interval`;
    /// a backend is out after `fall` failed checks and back after one passing check.
    pub fn start(haproxy: &std::path::Path, backends: &[SocketAddr], check_interval: Duration, fall: u32) -> Self {
        let dir = TempDir::new("ebb-haproxy");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let inter = check_interval.as_millis();
        let mut config = format!(
            "global\n  maxconn 4096\n\ndefaults\n  mode tcp\n  timeout connect 1s\n  timeout client 60s\n  \
             timeout server 60s\n  retries 0\n\nfrontend clients\n  bind {addr}\n  default_backend replicas\n\n\
             backend replicas\n  balance roundrobin\n  option httpchk GET /readyz\n  http-check expect status 200\n  \
             default-server inter {inter}ms fall {fall} rise 1\n"
        );
        for (i, backend) in backends.iter().enumerate() {
            config.push_str(&format!("  server r{i} {backend} check\n"));
        }
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).expect("write haproxy.cfg");
        let child = Command::new(haproxy)
            .args(["-db", "-f"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy starts");
        wait_for_port(addr, Duration::from_secs(5));
        Self { child, _dir: dir, addr, check_interval }
    }
}

impl Drop for TcpBalancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tool the test needs, or `None` after printing a `SKIPPED` line that the summary shows.
/// Under `CI=true` a missing tool is a failure, never a silent pass.
pub fn tool_or_skip(name: &str, test: &str) -> Option<PathBuf> {
    let found = crate::tools::on_path(name);
    if found.is_none() {
        assert!(!crate::tools::in_ci(), "{test}: `{name}` is missing and CI=true; `cargo xtask test` installs it");
        eprintln!("SKIPPED {test}: `{name}` is not installed (`cargo xtask test` installs it)");
    }
    found
}

/// What wrk saw.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WrkReport {
    /// Requests completed.
    pub requests: u64,
    /// Socket errors of every kind (connect, read, write, timeout).
    pub socket_errors: u64,
    /// Responses that were not 2xx or 3xx.
    pub non_2xx: u64,
}

/// Runs wrk (keep-alive, `connections` connections over 2 threads) against `url` for
/// `duration` and parses its summary.
pub fn wrk(wrk: &std::path::Path, url: &str, connections: u32, duration: Duration) -> WrkReport {
    let output = Command::new(wrk)
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{}s", duration.as_secs().max(1)),
            "--timeout",
            "5s",
            url,
        ])
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {text}{}", String::from_utf8_lossy(&output.stderr));
    parse_wrk(&text)
}

fn parse_wrk(text: &str) -> WrkReport {
    let mut report = WrkReport::default();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Socket errors:") {
            report.socket_errors =
                rest.split(',').filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok()).sum();
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            report.non_2xx = rest.trim().parse().unwrap_or(0);
        } else if line.contains(" requests in ") {
            report.requests = line.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0);
        }
    }
    report
}

/// Replicas of one service binary on fixed loopback ports, so that a balancer can name them
/// and a replacement takes its predecessor's place.
#[derive(Debug)]
pub struct Replicas {
    binary: PathBuf,
    env: Vec<(&'static str, String)>,
    /// The application address of each slot.
    pub addrs: Vec<SocketAddr>,
    running: Vec<Option<ServiceProcess>>,
}

impl Replicas {
    /// Starts `count` replicas of `binary` with `env`, each ready (`/readyz` 200).
    pub fn start(binary: impl Into<PathBuf>, env: &[(&'static str, String)], count: usize) -> Self {
        let addrs = (0..count).map(|_| SocketAddr::from(([127, 0, 0, 1], free_port()))).collect();
        let mut replicas =
            Self { binary: binary.into(), env: env.to_vec(), addrs, running: (0..count).map(|_| None).collect() };
        for slot in 0..count {
            replicas.start_slot(slot);
        }
        replicas
    }

    /// Starts slot `slot` and waits until it is ready.
    pub fn start_slot(&mut self, slot: usize) {
        let mut env = self.env.clone();
        env.push(("EBB_HTTP_ADDR", self.addrs[slot].to_string()));
        let replica = ServiceProcess::start(&self.binary, &env);
        let ready = format!("http://{}/readyz", self.addrs[slot]);
        poll_until("a replica to be ready", Duration::from_secs(10), || {
            http_status(&ready).filter(|status| *status == 200).map(|_| ())
        });
        self.running[slot] = Some(replica);
    }

    /// Replaces every replica in turn, as a rolling update does: SIGTERM, wait for the
    /// exit, start the new one, wait until the balancer has had `settle` to see it. Returns
    /// each old replica's exit code and log.
    pub fn rolling_restart(&mut self, settle: Duration) -> Vec<(Option<i32>, String)> {
        let mut exits = Vec::new();
        for slot in 0..self.addrs.len() {
            if let Some(mut old) = self.running[slot].take() {
                old.signal("TERM");
                let exit = old.wait_exit(Duration::from_secs(60));
                exits.push((exit.code, old.log()));
            }
            self.start_slot(slot);
            std::thread::sleep(settle);
        }
        exits
    }

    /// The running replica of `slot`.
    pub fn get(&self, slot: usize) -> Option<&ServiceProcess> {
        self.running[slot].as_ref()
    }
}

/// The status of a plain `GET`, or `None` when the connection failed. No HTTP client crate:
/// the harness stays dependency-free.
pub fn http_status(url: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let addr: SocketAddr = host.parse().ok()?;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrk_summaries() {
        let text = "Running 8s test @ http://127.0.0.1:1/\n  2 threads and 32 connections\n  \
                    81234 requests in 8.00s, 9.9MB read\n  Socket errors: connect 1, read 27, write 0, timeout 2\n  \
                    Non-2xx or 3xx responses: 5\nRequests/sec:  10154.25\n";
        assert_eq!(parse_wrk(text), WrkReport { requests: 81234, socket_errors: 30, non_2xx: 5 });
        let clean = "  1000 requests in 1.00s, 1MB read\nRequests/sec: 1000\n";
        assert_eq!(parse_wrk(clean), WrkReport { requests: 1000, socket_errors: 0, non_2xx: 0 });
    }
}
