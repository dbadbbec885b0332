//! HTTP throughput: the same handler served bare (plain axum) and through the ebb stack,
//! under the same wrk load. Rounds are paired — each measures every variant back to back,
//! in an order that rotates — and each figure is the median of the per-round ratios, which
//! no single lucky or unlucky run can move.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;
use xshell::Shell;

use super::Bench;
use super::measured::{growth, positive};
use super::process::{KillOnDrop, commandstat_calls, cpu_seconds, free_addr, rss_kib, wait_for};
use super::report::{Report, Target};
use super::wrk;

/// Length of one measurement.
const DURATION: &str = "6s";
const ROUNDS: usize = 7;

/// A bench-server mode compared with `bare`, and its target ratio.
struct Variant {
    mode: &'static str,
    figure: &'static str,
    target: Target,
    /// Whether the mode answers most requests with 429 (a client over its limit).
    refuses: bool,
}

const VARIANTS: [Variant; 4] = [
    Variant { mode: "stack", figure: "metrics_stack", target: Target::AtLeast(0.93), refuses: false },
    // The stack with an info-level JSON log and the access log: one line per request.
    Variant { mode: "logged", figure: "access_log_stack", target: Target::None, refuses: false },
    // Every request also pays a Redis round trip (Redis shares the server's core).
    Variant { mode: "ratelimit", figure: "ratelimit_stack", target: Target::None, refuses: false },
    // One client far over its limit: after Redis' first refusal the replica answers 429
    // itself until Redis would allow again (the deny cache).
    Variant { mode: "flood", figure: "ratelimit_flood", target: Target::AtLeast(0.8), refuses: true },
];

#[derive(Clone, Copy)]
struct Measurement {
    rps: f64,
    /// Requests per CPU-second of the server (user + system time): unlike `rps`, time the
    /// hypervisor steals from the server's core does not move it.
    rps_per_cpu: f64,
    p99_ms: f64,
    rss_kib: u64,
    /// Redis script calls per request during the measurement.
    redis_per_request: f64,
}

pub(super) fn run(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    let Bench { sh, server, redis, pinned } = bench;
    let (pinned, redis_url) = (*pinned, redis.url());

    let modes: Vec<&str> = std::iter::once("bare").chain(VARIANTS.iter().map(|v| v.mode)).collect();
    // rounds[r][m]: round r, mode m (in the order of `modes`).
    let mut rounds: Vec<Vec<Measurement>> = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let mut measured: Vec<Option<Measurement>> = vec![None; modes.len()];
        for step in 0..modes.len() {
            let index = (step + round) % modes.len();
            let refuses = VARIANTS.iter().any(|v| v.mode == modes[index] && v.refuses);
            let m = measure(sh, server, modes[index], (&redis_url, redis.addr().port()), pinned, refuses)?;
            eprintln!(
                "xtask: round {} {:<10} {:>8.0} rps {:>8.0} rps/cpu-s  p99 {:>6.2} ms  RSS {} KiB",
                round + 1,
                modes[index],
                m.rps,
                m.rps_per_cpu,
                m.p99_ms,
                m.rss_kib
            );
            measured[index] = Some(m);
        }
        rounds.push(measured.into_iter().collect::<Option<Vec<_>>>().context("a mode was not measured")?);
    }

    let median = |f: &dyn Fn(&[Measurement]) -> f64| {
        let mut values: Vec<f64> = rounds.iter().map(|r| f(r)).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    report.add("http_bare_rps", median(&|r| r[0].rps), "req/s", Target::None);
    report.add("http_bare_p99", median(&|r| r[0].p99_ms), "ms", Target::None);
    report.add("http_bare_rss", median(&|r| r[0].rss_kib as f64) / 1024.0, "MiB", Target::None);
    for (i, variant) in VARIANTS.iter().enumerate() {
        let m = i + 1;
        report.add(format!("http_{}_rps", variant.mode), median(&|r| r[m].rps), "req/s", Target::None);
        report.add(format!("http_{}_p99", variant.mode), median(&|r| r[m].p99_ms), "ms", Target::None);
        report.add(
            format!("{}_vs_bare_rps", variant.figure),
            median(&|r| r[m].rps / r[0].rps),
            "ratio",
            variant.target,
        );
        report.add(
            format!("{}_vs_bare_rps_per_cpu", variant.figure),
            median(&|r| r[m].rps_per_cpu / r[0].rps_per_cpu),
            "ratio",
            variant.target,
        );
        report.add(
            format!("http_{}_rss_growth", variant.mode),
            median(&|r| (r[m].rss_kib as f64 - r[0].rss_kib as f64) / 1024.0),
            "MiB",
            Target::AtMost(10.0),
        );
        if variant.refuses {
            report.add(
                format!("{}_redis_commands_per_request", variant.figure),
                median(&|r| r[m].redis_per_request),
                "calls",
                Target::AtMost(0.05),
            );
        }
    }
    Ok(())
}

fn measure(
    sh: &Shell,
    server: &Path,
    mode: &str,
    (redis_url, redis_port): (&str, u16),
    pinned: bool,
    refuses: bool,
) -> anyhow::Result<Measurement> {
    let app = free_addr()?;
    let metrics = free_addr()?;
    let mut command = if pinned {
        let mut command = Command::new("taskset");
        command.args(["-c", "0"]).arg(server);
        command
    } else {
        Command::new(server)
    };
    let logged = mode == "logged";
    let child = command
        .args([mode, &app.to_string(), &metrics.to_string()])
        .env("RUST_LOG", if logged { "info" } else { "warn" })
        .env("EBB_LOG_FORMAT", "json")
        .env("REDIS_URL", redis_url)
        .stdout(Stdio::null())
        .stderr(if logged { Stdio::null() } else { Stdio::inherit() })
        .spawn()
        .context("cannot start bench-server")?;
    let child = KillOnDrop(child);
    wait_for(app)?;
    let url = format!("http://{app}/");
    wrk::run(sh, &url, "2s", pinned)?; // warm-up: connections, allocator, label cache
    let pid = child.0.id();
    let cpu_before = cpu_seconds(pid)?;
    let calls_before = evalsha_calls(sh, redis_port)?;
    let result = wrk::run(sh, &url, DURATION, pinned)?;
    let calls = growth("Redis EVALSHA calls", calls_before, evalsha_calls(sh, redis_port)?)?;
    let cpu = positive(&format!("bench-server {mode}'s CPU seconds under load"), cpu_seconds(pid)? - cpu_before)?;
    if refuses && result.non_2xx < result.requests * 0.9 {
        anyhow::bail!(
            "bench-server {mode} refused only {} of {} requests: not a flood",
            result.non_2xx,
            result.requests
        );
    }
    if !refuses && result.non_2xx > 0.0 {
        anyhow::bail!(
            "bench-server {mode} answered {} requests with errors: the figures would be meaningless",
            result.non_2xx
        );
    }
    Ok(Measurement {
        rps: result.rps,
        rps_per_cpu: result.requests / cpu,
        p99_ms: result.p99_ms,
        rss_kib: rss_kib(pid)?,
        redis_per_request: calls as f64 / result.requests,
    })
}

/// `EVALSHA` calls Redis has served so far (`INFO commandstats`).
fn evalsha_calls(sh: &Shell, port: u16) -> anyhow::Result<u64> {
    let port = port.to_string();
    let stats = xshell::cmd!(sh, "redis-cli -p {port} INFO commandstats").quiet().read()?;
    commandstat_calls(&stats, "evalsha")
}
