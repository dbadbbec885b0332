//! Replicas as containers of the image that `cargo xtask image` builds, on a Docker network
//! of their own, run as the manifests run them: read-only root, uid 65532, no capabilities,
//! stopped with `docker stop` (SIGTERM, then the termination grace period, then SIGKILL).
//! Each slot has a fixed address on the network, so HAProxy on the host names it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use ebb_testkit::http_status;

use super::runtime::Runtime;

/// The manifests' user and group (`runAsUser`, `runAsGroup`).
const NONROOT: &str = "65532:65532";

pub(super) struct Containers {
    image: String,
    network: String,
    /// The network's first three octets: the gateway is `.1`, slot `n` is `.10 + n`.
    prefix: [u8; 3],
    port: u16,
    env: Vec<(&'static str, String)>,
    names: Vec<Option<String>>,
    started: u32,
    grace_seconds: u64,
}

/// Whether a Docker engine answers here.
pub(crate) fn engine_answers() -> bool {
    Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]).output().is_ok_and(|o| o.status.success())
}

fn docker(args: &[&str]) -> anyhow::Result<Output> {
    Command::new("docker").args(args).output().context("cannot run docker")
}

fn docker_ok(args: &[&str]) -> anyhow::Result<String> {
    let output = docker(args)?;
    if !output.status.success() {
        bail!("docker {} failed: {}", args.first().unwrap_or(&""), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

impl Containers {
    /// Creates a network `ebb-e2e-<pid>` on a /24 that no other network uses.
    pub(super) fn new(image: String, slots: usize, port: u16, grace_seconds: u64) -> anyhow::Result<Self> {
        // The pid and the time: a network leaked by a killed run never blocks the next one.
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let network = format!("ebb-e2e-{}-{}", std::process::id(), stamp % 100_000);
        let mut last_error = String::new();
        for attempt in 0..16_u32 {
            let third = u8::try_from((std::process::id() + attempt * 17) % 250).unwrap_or(0) + 1;
            let prefix = [10, 231, third];
            let subnet = format!("10.231.{third}.0/24");
            let gateway = format!("10.231.{third}.1");
            let output = docker(&["network", "create", "--subnet", &subnet, "--gateway", &gateway, &network])?;
            if output.status.success() {
                // Redis, the S3 server and HAProxy run on this host and reach the replicas
                // through the bridge: its gateway must be an address of this host.
                if std::net::TcpListener::bind((gateway.as_str(), 0)).is_err() {
                    let _ = docker(&["network", "rm", &network]);
                    bail!(
                        "the Docker network's gateway {gateway} is not an address of this host (a rootless \
                         engine, or DOCKER_HOST on another machine?): the e2e in containers needs a local engine"
                    );
                }
                return Ok(Self {
                    image,
                    network,
                    prefix,
                    port,
                    env: Vec::new(),
                    names: vec![None; slots],
                    started: 0,
                    grace_seconds,
                });
            }
            last_error = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        }
        bail!("cannot create a Docker network for the e2e: {last_error}")
    }

    fn ip(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(self.prefix[0], self.prefix[1], self.prefix[2], host)
    }

    fn slot_ip(&self, slot: usize) -> Ipv4Addr {
        self.ip(10 + u8::try_from(slot).unwrap_or(0))
    }

    fn logs(name: &str) -> String {
        docker(&["logs", "--tail", "40", name])
            .map(|o| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
            .unwrap_or_default()
    }
}

impl Runtime for Containers {
    fn name(&self) -> &'static str {
        "containers"
    }

    fn state_host(&self) -> IpAddr {
        IpAddr::V4(self.ip(1))
    }

    fn balancer_source(&self) -> IpAddr {
        // The host reaches the network through its bridge, whose address is the gateway.
        IpAddr::V4(self.ip(1))
    }

    fn set_env(&mut self, env: Vec<(&'static str, String)>) {
        self.env = env;
    }

    fn backends(&self) -> Vec<SocketAddr> {
        (0..self.names.len()).map(|slot| SocketAddr::from((self.slot_ip(slot), self.port))).collect()
    }

    fn start(&mut self, slot: usize, extra: &[(&'static str, String)]) -> anyhow::Result<()> {
        self.started += 1;
        let name = format!("{}-{slot}-{}", self.network, self.started);
        let ip = self.slot_ip(slot).to_string();
        let mut args: Vec<String> = [
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            &self.network,
            "--ip",
            &ip,
            "--read-only",
            "--tmpfs",
            "/tmp",
            "--user",
            NONROOT,
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--stop-timeout",
            &self.grace_seconds.to_string(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        for (key, value) in self.env.iter().chain(extra) {
            args.push("-e".to_owned());
            args.push(format!("{key}={value}"));
        }
        args.push(self.image.clone());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // Recorded first: a container created by a `docker run` that then fails is removed too.
        self.names[slot] = Some(name.clone());
        docker_ok(&args)?;
        let ready = format!("http://{ip}:{}/readyz", self.port);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while http_status(&ready) != Some(200) {
            if std::time::Instant::now() > deadline {
                bail!("container {name} is not ready after 20 s; its log:\n{}", Self::logs(&name));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn stop(&mut self, slots: &[usize]) -> anyhow::Result<()> {
        let grace = self.grace_seconds.to_string();
        // Names stay recorded until removed: on an error, Drop removes what is left.
        let names: Vec<(usize, String)> =
            slots.iter().filter_map(|slot| Some((*slot, self.names[*slot].clone()?))).collect();
        // At once, as a scale-down terminates its pods.
        let stops: Vec<_> = names
            .iter()
            .map(|(_, name)| {
                Command::new("docker")
                    .args(["stop", "-t", &grace, name])
                    .stdout(Stdio::null())
                    .spawn()
                    .context("cannot run docker")
            })
            .collect();
        for ((slot, name), stop) in names.iter().zip(stops) {
            let stopped = stop.and_then(|mut child| child.wait().context("docker stop")).is_ok_and(|s| s.success());
            if !stopped {
                bail!("docker stop of replica {slot} failed");
            }
            let code = docker_ok(&["inspect", "--format", "{{.State.ExitCode}}", name])?;
            if code != "0" {
                bail!("replica {slot} exited with {code} after docker stop; its log:\n{}", Self::logs(name));
            }
            docker_ok(&["rm", name])?;
            self.names[*slot] = None;
        }
        Ok(())
    }

    fn kill(&mut self, slot: usize) -> anyhow::Result<()> {
        if let Some(name) = self.names[slot].clone() {
            docker_ok(&["kill", &name])?;
            docker_ok(&["rm", "-f", &name])?;
            self.names[slot] = None;
        }
        Ok(())
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        for name in self.names.iter().flatten() {
            let _ = docker(&["rm", "-f", name]);
        }
        let _ = docker(&["network", "rm", &self.network]);
    }
}
