//! How soon example-worker takes a job it is waiting for: `XADD` to delivery (the consumer
//! group's `last-delivered-id` reaching the job: the worker's read returned it), for
//! [`JOBS`] jobs added one at a time to an idle worker; and how often an idle worker asks
//! Redis for work (`XREADGROUP` calls from `INFO commandstats` over [`IDLE_WINDOW`]: the
//! gaps between them per second).
//!
//! Delivery is polled on a held connection every 100 µs, so a figure is late by about one
//! round trip. The figure for the polling worker this replaced (`XREADGROUP` without
//! `BLOCK`, then a 100 ms sleep) was measured by this bench before the change and is kept in
//! the committed report as `worker_pickup_median_polling`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ebb_redis::redis::streams::StreamInfoGroupsReply;
use ebb_redis::redis::{self, Connection};
use ebb_testkit::TempDir;
use xshell::cmd;

use super::Bench;
use super::measured::growth;
use super::process::{KillOnDrop, commandstat_calls};
use super::report::{Report, Target};
use super::worker::worker_command;

const JOBS: usize = 200;
const IDLE_WINDOW: Duration = Duration::from_secs(5);
/// How long one job may take to be delivered.
const BOUND: Duration = Duration::from_secs(5);
const QUEUE: &str = "ebb:{bench-pickup}";
const GROUP: &str = "workers";

pub(super) fn run(bench: &Bench, root: &Path, report: &mut Report) -> anyhow::Result<()> {
    let sh = &bench.sh;
    cmd!(sh, "cargo build --release -q -p example-worker").run()?;
    let logs = TempDir::new("ebb-bench-pickup");
    let log = logs.path().join("worker.log");
    let mut redis = redis::Client::open(bench.redis.url())?.get_connection()?;
    redis::cmd("DEL").arg(QUEUE).arg(format!("{QUEUE}:done")).arg(format!("{QUEUE}:errors")).query::<()>(&mut redis)?;
    redis::cmd("XGROUP").arg("CREATE").arg(QUEUE).arg(GROUP).arg("$").arg("MKSTREAM").query::<()>(&mut redis)?;

    let mut command = worker_command(bench, &root.join("target/release/example-worker"), QUEUE, GROUP, &log)?;
    let _worker = KillOnDrop(command.spawn()?);
    // Ready: the first job is delivered (the worker connected and reads).
    let warm = add(&mut redis)?;
    wait_delivered(&mut redis, &warm, Duration::from_secs(10)).with_context(|| worker_log(&log))?;

    let reads_before = xreadgroup_calls(&mut redis)?;
    std::thread::sleep(IDLE_WINDOW);
    let reads = growth("XREADGROUP calls", reads_before, xreadgroup_calls(&mut redis)?)?;
    let idle_reads_per_s = idle_reads_per_s(reads, IDLE_WINDOW)?;

    let mut pickups = Vec::with_capacity(JOBS);
    for n in 0..JOBS {
        // Let the worker go idle before the next job, for a gap spread over 5–155 ms, so
        // that the jobs do not fall into step with any period of the worker's (a poll).
        std::thread::sleep(Duration::from_millis(5 + (n as u64 * 37) % 151));
        let added = Instant::now();
        let job = add(&mut redis)?;
        wait_delivered(&mut redis, &job, BOUND).with_context(|| worker_log(&log))?;
        pickups.push(added.elapsed());
    }
    pickups.sort();
    let median = ms(pickups[JOBS / 2]);
    let p99 = ms(pickups[(JOBS * 99).div_ceil(100) - 1]);
    eprintln!(
        "xtask: example-worker XADD → delivered: median {median:.3} ms, p99 {p99:.3} ms over {JOBS} jobs; \
         idle: {idle_reads_per_s:.1} reads/s"
    );
    report.add("worker_pickup_median", median, "ms", Target::AtMost(5.0));
    report.add("worker_pickup_p99", p99, "ms", Target::None);
    report.add("worker_idle_reads_per_s", idle_reads_per_s, "reads/s", Target::AtMost(1.0));
    Ok(())
}

fn add(redis: &mut Connection) -> anyhow::Result<String> {
    Ok(redis::cmd("XADD").arg(QUEUE).arg("*").arg("job").arg("pickup").query(redis)?)
}

/// Polls the group until it delivered `job` (ids grow, so a later delivery also counts).
fn wait_delivered(redis: &mut Connection, job: &str, bound: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let reply: StreamInfoGroupsReply = redis::cmd("XINFO").arg("GROUPS").arg(QUEUE).query(redis)?;
        let group = reply.groups.iter().find(|group| group.name == GROUP).context("the consumer group is gone")?;
        if group.last_delivered_id == job {
            return Ok(());
        }
        if started.elapsed() > bound {
            bail!("example-worker did not take job {job} within {bound:?}");
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// `XREADGROUP` calls Redis served so far (from `INFO commandstats`).
fn xreadgroup_calls(redis: &mut Connection) -> anyhow::Result<u64> {
    let stats: String = redis::cmd("INFO").arg("commandstats").query(redis)?;
    commandstat_calls(&stats, "xreadgroup")
}

/// An idle worker's reads per second from the `reads` it made in `window`. N reads inside
/// the window leave N - 1 gaps between them: "at most one read a second" means those gaps
/// fit in the window (counting N alone would charge the edges). No read at all is an error:
/// a worker that stopped asking for work (dead, stuck, or reading elsewhere) would
/// otherwise show 0 reads/s and meet its target.
fn idle_reads_per_s(reads: u64, window: Duration) -> anyhow::Result<f64> {
    let Some(gaps) = reads.checked_sub(1) else {
        bail!("the idle worker made no XREADGROUP call in {window:?}: it is not waiting for work, nothing to measure");
    };
    Ok(gaps as f64 / window.as_secs_f64())
}

fn worker_log(log: &Path) -> String {
    format!("example-worker's log:\n{}", std::fs::read_to_string(log).unwrap_or_default())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_worker_that_never_reads_is_refused() {
        // Before: `reads.saturating_sub(1)` read 0 calls as 0 reads/s, under the 1/s target.
        assert!(idle_reads_per_s(0, IDLE_WINDOW).is_err());
        assert_eq!(idle_reads_per_s(1, IDLE_WINDOW).expect("one read, no gap"), 0.0);
        assert_eq!(idle_reads_per_s(6, IDLE_WINDOW).expect("five gaps in 5 s"), 1.0);
    }
}
