//! What a benchmark reads about a server process: readiness of its port, CPU time, RSS.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Kills the child when dropped, so that a failed measurement leaves no server behind.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

pub(crate) fn wait_for(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        if Instant::now() > deadline {
            bail!("nothing listened on {addr} within 10 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS")
}

/// A KiB field of `/proc/<pid>/status`: `VmRSS`, `VmHWM` (peak RSS), ...
pub(crate) fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| line.strip_prefix(field)?.strip_prefix(':')?.split_whitespace().next()?.parse().ok())
}

/// User plus system CPU time of a process, from `/proc/<pid>/stat` (fields 14 and 15, in
/// clock ticks of 1/100 s on Linux).
pub(crate) fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its closing ')' do not.
    let (_, after_name) = stat.rsplit_once(')').context("malformed /proc stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts at field 3, so fields 14 and 15 are at indexes 11 and 12.
    let ticks = |index: usize| -> anyhow::Result<f64> { Ok(fields.get(index).context("short /proc stat")?.parse()?) };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}
