//! Cold start of example-worker, the case KEDA scales to zero: a job waits in the stream
//! (consumer group created), then exec of the release binary → that job acknowledged, 20
//! starts, each bounded to 10 s. Reported: the median and p90, and the median over bare
//! axum's exec → first 200 measured in the same run (`startup`): what the worker's own
//! start costs — Redis connection, group, take-over look, read, finish — over a bare process.
//! The milliseconds are reported without a target: what they must stay small against is
//! the platform's part of a scale from zero (KEDA's polling interval, 30 s by default, and
//! scheduling a pod), which no bench here measures.
//!
//! "Acknowledged" is read where KEDA's `redis-streams` scaler reads it, from the consumer
//! group: `XINFO GROUPS` shows the job delivered (`last-delivered-id` is its id) and nothing
//! pending (`pending` 0): the entry left the pending entries list, which only `XACK` does.
//! The worker's finish script applies the job's effect and acknowledges in one step, so the
//! done counter is checked afterwards (outside the timing): the job ran once and was not
//! failed. The job does no simulated work (`EBB_WORKER_JOB_MS=0`). One poll is one round
//! trip on a held connection, every 200 µs: the figure is late by at most about that.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ebb_redis::redis::streams::StreamInfoGroupsReply;
use ebb_redis::redis::{self, Connection};
use ebb_testkit::TempDir;
use xshell::cmd;

use super::Bench;
use super::process::{KillOnDrop, free_addr};
use super::report::{Report, Target};

const STARTS: usize = 20;
/// How long one start may take to acknowledge its job.
const BOUND: Duration = Duration::from_secs(10);
const QUEUE: &str = "ebb:{bench-cold-start}";
const GROUP: &str = "workers";
const PAYLOAD: &str = "cold-start";

pub(super) fn run(bench: &Bench, root: &Path, bare_start: Duration, report: &mut Report) -> anyhow::Result<()> {
    let sh = &bench.sh;
    cmd!(sh, "cargo build --release -q -p example-worker").run()?;
    let worker = root.join("target/release/example-worker");
    let logs = TempDir::new("ebb-bench-worker");
    let mut redis = redis::Client::open(bench.redis.url())?.get_connection()?;
    let mut starts = Vec::with_capacity(STARTS);
    for start in 0..STARTS {
        let log = logs.path().join(format!("start-{start}.log"));
        starts.push(cold_start(bench, &worker, &mut redis, &log)?);
    }
    starts.sort();
    let median = starts[STARTS / 2];
    // Nearest rank: the 18th of 20.
    let p90 = starts[(STARTS * 9).div_ceil(10) - 1];
    let ratio = median.as_secs_f64() / bare_start.as_secs_f64();
    eprintln!(
        "xtask: example-worker exec → job acknowledged: median {:.3} ms, p90 {:.3} ms, {ratio:.2}× bare axum's \
         exec → first 200 ({:.3} ms), {STARTS} starts",
        ms(median),
        ms(p90),
        ms(bare_start)
    );
    report.add("worker_start_to_first_ack", ms(median), "ms", Target::None);
    report.add("worker_start_to_first_ack_p90", ms(p90), "ms", Target::None);
    // Bounded against the bare start, not in ms: a machine's speed moves both. Three bare
    // starts leave room for the Redis round trips and noise (1.4–2× measured on 2 cores)
    // and are far below any wait added to the path (the idle poll alone is 100 ms).
    report.add("worker_start_vs_bare_start", ratio, "ratio", Target::AtMost(3.0));
    Ok(())
}

/// One start: a fresh queue holding one job, the worker exec'd, the time until the group
/// shows that job acknowledged.
fn cold_start(bench: &Bench, worker: &Path, redis: &mut Connection, log: &Path) -> anyhow::Result<Duration> {
    let (done, errors) = (format!("{QUEUE}:done"), format!("{QUEUE}:errors"));
    redis::cmd("DEL").arg(QUEUE).arg(&done).arg(&errors).query::<()>(redis)?;
    let job: String = redis::cmd("XADD").arg(QUEUE).arg("*").arg("job").arg(PAYLOAD).query(redis)?;
    redis::cmd("XGROUP").arg("CREATE").arg(QUEUE).arg(GROUP).arg("0").query::<()>(redis)?;

    let mut command = worker_command(bench, worker, QUEUE, GROUP, log)?;
    let started = Instant::now();
    let mut child = KillOnDrop(command.spawn()?);
    while !acknowledged(redis, &job)? {
        let log = || std::fs::read_to_string(log).unwrap_or_default();
        if let Some(status) = child.0.try_wait()? {
            bail!("example-worker exited ({status}) before acknowledging its job; its log:\n{}", log());
        }
        if started.elapsed() > BOUND {
            bail!("example-worker did not acknowledge a waiting job within {BOUND:?}; its log:\n{}", log());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let elapsed = started.elapsed();
    drop(child);
    let count: Option<u64> = redis::cmd("HGET").arg(&done).arg(PAYLOAD).query(redis)?;
    if count != Some(1) {
        bail!("the job was acknowledged but its effect counted {count:?} times, not once");
    }
    Ok(elapsed)
}

/// Whether the group delivered `job` and holds nothing pending: `XACK` took it out.
/// The worker on `queue` and `group` of the bench's Redis, with jobs that take no time,
/// free ports and its warnings to `log`: what both worker benchmarks start.
pub(super) fn worker_command(
    bench: &Bench,
    worker: &Path,
    queue: &str,
    group: &str,
    log: &Path,
) -> anyhow::Result<Command> {
    let (app, metrics) = (free_addr()?, free_addr()?);
    let mut command = Command::new(worker);
    command
        .envs(bench.redis.env())
        .env("EBB_WORKER_QUEUE", queue)
        .env("EBB_WORKER_GROUP", group)
        .env("EBB_WORKER_JOB_MS", "0")
        .env("EBB_HTTP_ADDR", app.to_string())
        .env("EBB_METRICS_ADDR", metrics.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?);
    Ok(command)
}

fn acknowledged(redis: &mut Connection, job: &str) -> anyhow::Result<bool> {
    let reply: StreamInfoGroupsReply = redis::cmd("XINFO").arg("GROUPS").arg(QUEUE).query(redis)?;
    let group = reply.groups.iter().find(|group| group.name == GROUP).context("the consumer group is gone")?;
    Ok(group.last_delivered_id == job && group.pending == 0)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
