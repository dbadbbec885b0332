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

/// The resident memory of a live process, in KiB. An error when it cannot be read (the
/// process exited, or is a zombie without memory): never 0, which would "meet" every
/// memory target.
pub(crate) fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmRSS")
}

/// A KiB field of `/proc/<pid>/status`: `VmRSS`, `VmHWM` (peak RSS), ... An error when the
/// file or the field is missing, or the field is 0 KiB.
pub(crate) fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status =
        std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}: did the process exit?"))?;
    let kib = status_field_kib(&status, field).with_context(|| format!("no {field} in {path}: is it a zombie?"))?;
    Ok(super::measured::positive(&format!("{field} of process {pid} (KiB)"), kib as f64)? as u64)
}

fn status_field_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| line.strip_prefix(field)?.strip_prefix(':')?.split_whitespace().next()?.parse().ok())
}

/// Calls of `command` (lower case, as `cmdstat_<command>`) in the text of Redis'
/// `INFO commandstats`. Redis lists only commands called at least once, so an absent line
/// is 0; a line that is there but does not parse is an error.
pub(crate) fn commandstat_calls(info: &str, command: &str) -> anyhow::Result<u64> {
    let prefix = format!("cmdstat_{command}:");
    let Some(line) = info.lines().find_map(|line| line.trim().strip_prefix(&prefix)) else { return Ok(0) };
    line.split(',')
        .find_map(|pair| pair.strip_prefix("calls="))
        .and_then(|calls| calls.parse().ok())
        .with_context(|| format!("INFO commandstats: no calls count in cmdstat_{command}:{line}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_rss_is_an_error_not_zero() {
        let me = std::process::id();
        assert!(rss_kib(me).expect("this process has an RSS") > 0);
        // No such process (pids stop far below u32::MAX): an error, where 0 used to be read.
        let error = rss_kib(u32::MAX).expect_err("no process, no RSS");
        assert!(error.to_string().contains("did the process exit"), "{error:#}");
        // A status without the field (a zombie's), and a field of 0 KiB.
        assert_eq!(status_field_kib("Name:\tx\nState:\tZ (zombie)\n", "VmRSS"), None);
        assert_eq!(status_field_kib("VmRSS:\t   1234 kB\n", "VmRSS"), Some(1234));
        assert!(super::super::measured::positive("VmRSS", 0.0).is_err());
    }

    #[test]
    fn commandstats_absent_is_zero_and_garbled_is_an_error() {
        let info = "# Commandstats\r\ncmdstat_evalsha:calls=42,usec=10,usec_per_call=0.24\r\n\
                    cmdstat_xreadgroup:usec=3\r\n";
        assert_eq!(commandstat_calls(info, "evalsha").expect("counted"), 42);
        assert_eq!(commandstat_calls(info, "ping").expect("never called"), 0);
        assert!(commandstat_calls(info, "xreadgroup").is_err());
    }
}
