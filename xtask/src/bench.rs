//! `cargo xtask bench`: every figure is a ratio against a baseline measured in the same run,
//! on the same machine, with the server and the load generator pinned to separate cores.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use crate::tools::{self, WRK};

/// Connections wrk keeps open.
const CONNECTIONS: &str = "64";
/// Length of one measurement.
const DURATION: &str = "8s";
/// Rounds per variant; the best round counts, which filters out noise from other load.
const ROUNDS: usize = 3;

struct Measurement {
    rps: f64,
    p99_ms: f64,
    rss_kib: u64,
}

pub(crate) fn run(_args: &[String]) -> anyhow::Result<()> {
    let sh = Shell::new()?;
    let root = crate::workspace_root();
    sh.change_dir(&root);
    tools::ensure_apt(&sh, &[WRK])?;
    cmd!(sh, "cargo build --release -q -p bench-server").run()?;
    let server = root.join("target/release/bench-server");
    let pinned = std::thread::available_parallelism().map_or(1, usize::from) >= 2 && tools::which("taskset").is_some();
    if !pinned {
        eprintln!("xtask: fewer than 2 cores or no taskset: server and wrk are not pinned; expect noisy figures");
    }

    let mut bare: Option<Measurement> = None;
    let mut stack: Option<Measurement> = None;
    for round in 1..=ROUNDS {
        for (mode, best) in [("bare", &mut bare), ("stack", &mut stack)] {
            let measured = measure(&sh, &server, mode, pinned)?;
            eprintln!(
                "xtask: round {round} {mode:5}: {:>9.0} rps, p99 {:.2} ms, RSS {} KiB",
                measured.rps, measured.p99_ms, measured.rss_kib
            );
            if best.as_ref().is_none_or(|b| measured.rps > b.rps) {
                *best = Some(measured);
            }
        }
    }
    let (Some(bare), Some(stack)) = (bare, stack) else { bail!("no measurement") };
    let ratio = stack.rps / bare.rps;
    let rss_growth_mib = (stack.rss_kib as f64 - bare.rss_kib as f64) / 1024.0;

    let mut report = String::new();
    writeln!(report, "{:<34} {:>12} {:>10} {:>12}", "variant (best of 3)", "rps", "p99 ms", "RSS MiB")?;
    for (name, m) in [("bare axum", &bare), ("ebb stack (drain+probes+metrics)", &stack)] {
        writeln!(report, "{name:<34} {:>12.0} {:>10.2} {:>12.1}", m.rps, m.p99_ms, m.rss_kib as f64 / 1024.0)?;
    }
    writeln!(report, "metrics_stack_vs_bare_rps: {ratio:.3}   (target >= 0.93)")?;
    writeln!(report, "metrics_stack_p99_ms: {:.2}   bare_p99_ms: {:.2}", stack.p99_ms, bare.p99_ms)?;
    writeln!(report, "metrics_stack_rss_growth_mib: {rss_growth_mib:.1}   (target < 10)")?;
    print!("{report}");

    let json = format!(
        "{{\n  \"metrics_stack_vs_bare_rps\": {ratio:.4},\n  \"bare_rps\": {:.0},\n  \"stack_rps\": {:.0},\n  \
         \"bare_p99_ms\": {:.3},\n  \"stack_p99_ms\": {:.3},\n  \"bare_rss_kib\": {},\n  \"stack_rss_kib\": {},\n  \
         \"metrics_stack_rss_growth_mib\": {rss_growth_mib:.2}\n}}\n",
        bare.rps, stack.rps, bare.p99_ms, stack.p99_ms, bare.rss_kib, stack.rss_kib
    );
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("report.json"), json)?;
    eprintln!("xtask: wrote {}", out.join("report.json").display());
    Ok(())
}

fn measure(sh: &Shell, server: &Path, mode: &str, pinned: bool) -> anyhow::Result<Measurement> {
    let app = free_addr()?;
    let metrics = free_addr()?;
    let mut command = if pinned {
        let mut command = Command::new("taskset");
        command.args(["-c", "0"]).arg(server);
        command
    } else {
        Command::new(server)
    };
    let child = command
        .args([mode, &app.to_string(), &metrics.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start bench-server")?;
    let mut child = KillOnDrop(child);
    wait_for(app)?;
    let url = format!("http://{app}/");
    let wrk = |duration: &str| {
        let args = ["-t1", "-c", CONNECTIONS, "-d", duration, "--latency", url.as_str()];
        if pinned {
            cmd!(sh, "taskset -c 1 wrk {args...}").quiet().read()
        } else {
            cmd!(sh, "wrk {args...}").quiet().read()
        }
    };
    wrk("2s")?; // warm-up: connections, allocator, label cache
    let output = wrk(DURATION)?;
    let rss_kib = rss_kib(child.0.id()).unwrap_or(0);
    let _ = child.0.kill();
    Ok(Measurement { rps: parse_rps(&output)?, p99_ms: parse_p99_ms(&output)?, rss_kib })
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn wait_for(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        if Instant::now() > deadline {
            bail!("bench-server never listened on {addr}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| line.strip_prefix("VmRSS:")?.split_whitespace().next()?.parse().ok())
}

fn parse_rps(wrk: &str) -> anyhow::Result<f64> {
    wrk.lines()
        .find_map(|line| line.trim().strip_prefix("Requests/sec:")?.trim().parse().ok())
        .with_context(|| format!("no Requests/sec in wrk output:\n{wrk}"))
}

fn parse_p99_ms(wrk: &str) -> anyhow::Result<f64> {
    let value = wrk
        .lines()
        .find_map(|line| line.trim().strip_prefix("99%"))
        .map(str::trim)
        .with_context(|| format!("no 99% latency in wrk output:\n{wrk}"))?;
    let split = value.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().with_context(|| format!("bad latency {value:?}"))?;
    Ok(match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => bail!("unknown latency unit in {value:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK_OUTPUT: &str = "Running 8s test @ http://127.0.0.1:1/\n  1 threads and 64 connections\n\
        \x20 Latency Distribution\n     50%  412.00us\n     75%  501.00us\n     90%  610.00us\n     99%    2.31ms\n\
        \x20 960000 requests in 8.00s, 120.00MB read\nRequests/sec: 119999.50\nTransfer/sec:     15.00MB\n";

    #[test]
    fn parses_wrk() {
        assert!((parse_rps(WRK_OUTPUT).expect("rps") - 119_999.5).abs() < 1e-6);
        assert!((parse_p99_ms(WRK_OUTPUT).expect("p99") - 2.31).abs() < 1e-9);
    }
}
