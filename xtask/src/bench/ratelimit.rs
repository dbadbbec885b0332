//! The limiter against its ceiling: `Limiter::check` decisions per second at 64-way
//! concurrency, next to `redis-benchmark` running the same script by EVALSHA with the same
//! number of commands in flight on one pipelined connection (`-c 1 -P 64`: the shape of a
//! multiplexed client, the fair ceiling), and unpipelined (`-c 64`) beside it, against the
//! same local Redis (pinned to core 0; both clients to core 1). Then the same limiter on a
//! 3-master Redis Cluster next to one node, keys spread over the slots.

use std::path::Path;

use anyhow::{Context, bail};
use xshell::cmd;

use super::Bench;
use super::measured::positive;
use super::report::{Report, Target};

const CONCURRENCY: &str = "64";
const LOW_CONCURRENCY: &str = "4";
const SECONDS: &str = "5";
/// Requests redis-benchmark sends (about 5 s at the ceiling measured here).
const REQUESTS: &str = "400000";
const GCRA_LUA: &str = include_str!("../../../crates/ebb-ratelimit/src/gcra.lua");

pub(super) fn run(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    let Bench { sh, server, redis, pinned } = bench;
    let pinned = *pinned;
    let port = redis.addr().port().to_string();
    let sha = cmd!(sh, "redis-cli -p {port} SCRIPT LOAD {GCRA_LUA}").quiet().read()?.trim().to_owned();
    // The key and arguments of bench-server's limiter mode: policy "bench", key "k",
    // 1 us interval, burst 1e9, cost 1.
    let script_args = [sha.as_str(), "1", "ebb:rl:{bench:k}", "1", "1000000000", "1"];
    let on_client_core = |program: &Path| {
        if pinned { cmd!(sh, "taskset -c 1 {program}") } else { cmd!(sh, "{program}") }
    };

    let benchmark = |shape: &[&str]| -> anyhow::Result<(f64, f64)> {
        let output = on_client_core(Path::new("redis-benchmark"))
            .args(["-p", &port])
            .args(shape)
            .args(["-n", REQUESTS, "--csv", "EVALSHA"])
            .args(script_args)
            .quiet()
            .read()
            .context("redis-benchmark failed")?;
        parse_redis_benchmark(&output)
    };
    let (ceiling, ceiling_p99_ms) = benchmark(&["-c", "1", "-P", CONCURRENCY])?;
    let (unpipelined, unpipelined_p99_ms) = benchmark(&["-c", CONCURRENCY])?;

    let url = redis.url();
    let output = on_client_core(server).args(["limiter", &url, CONCURRENCY, SECONDS]).quiet().read()?;
    let limiter = parse_limiter(&output)?;
    if limiter.errors > 0 {
        bail!("{} limiter decisions failed: the figures would be meaningless", limiter.errors);
    }
    eprintln!(
        "xtask: redis-benchmark EVALSHA pipelined {ceiling:.0}/s p99 {ceiling_p99_ms:.3} ms, unpipelined \
         {unpipelined:.0}/s p99 {unpipelined_p99_ms:.3} ms; Limiter {:.0}/s p99 {} us",
        limiter.per_second, limiter.p99_us
    );
    report.add("redis_benchmark_evalsha_pipelined", ceiling, "ops/s", Target::None);
    report.add("redis_benchmark_evalsha_pipelined_p99", ceiling_p99_ms, "ms", Target::None);
    report.add("redis_benchmark_evalsha_unpipelined", unpipelined, "ops/s", Target::None);
    report.add("redis_benchmark_evalsha_unpipelined_p99", unpipelined_p99_ms, "ms", Target::None);
    report.add("ratelimit_decisions", limiter.per_second, "ops/s", Target::None);
    report.add("ratelimit_vs_redis_pipelined", limiter.per_second / ceiling, "ratio", Target::AtLeast(0.9));
    report.add("ratelimit_vs_redis_unpipelined", limiter.per_second / unpipelined, "ratio", Target::None);
    report.add("ratelimit_decision_p99", f64::from(limiter.p99_us) / 1000.0, "ms", Target::AtMost(1.0));

    // At 64-way saturation latency is queueing (Little's law: 64 / throughput); the cost of
    // one decision shows at low concurrency.
    let output = on_client_core(server).args(["limiter", &url, LOW_CONCURRENCY, SECONDS]).quiet().read()?;
    let light = parse_limiter(&output)?;
    report.add(
        format!("ratelimit_decision_p99_c{LOW_CONCURRENCY}"),
        f64::from(light.p99_us) / 1000.0,
        "ms",
        Target::AtMost(1.0),
    );

    // A Cluster spreads keys over 3 masters (each its own process, all on this machine's
    // cores: the figure shows the client's cost of routing, not a 3-machine cluster).
    let keys = "64";
    let single =
        parse_limiter(&on_client_core(server).args(["limiter", &url, CONCURRENCY, SECONDS, keys]).quiet().read()?)?;
    let cluster = ebb_testkit::RedisCluster::start();
    let urls = cluster.urls();
    let spread =
        parse_limiter(&on_client_core(server).args(["limiter", &urls, CONCURRENCY, SECONDS, keys]).quiet().read()?)?;
    if spread.errors > 0 {
        bail!("{} limiter decisions failed on the Cluster", spread.errors);
    }
    eprintln!(
        "xtask: Limiter, 64 keys: one node {:.0}/s, 3-master Cluster {:.0}/s",
        single.per_second, spread.per_second
    );
    report.add("ratelimit_decisions_one_node_64_keys", single.per_second, "ops/s", Target::None);
    report.add("ratelimit_decisions_cluster_64_keys", spread.per_second, "ops/s", Target::None);
    report.add("ratelimit_cluster_vs_one_node", spread.per_second / single.per_second, "ratio", Target::None);
    Ok(())
}

/// `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms",...`
fn parse_redis_benchmark(csv: &str) -> anyhow::Result<(f64, f64)> {
    let line =
        csv.lines().find(|line| line.starts_with("\"EVALSHA")).with_context(|| format!("no EVALSHA row:\n{csv}"))?;
    // Every field must parse: skipping one would shift the next into its column.
    let fields = line
        .split(',')
        .skip(1)
        .map(|f| f.trim_matches('"').parse::<f64>().with_context(|| format!("field {f} of the row: {line}")))
        .collect::<anyhow::Result<Vec<f64>>>()?;
    match fields[..] {
        [rps, _avg, _min, _p50, _p95, p99, ..] => {
            Ok((positive("redis-benchmark's ops/s", rps)?, positive("redis-benchmark's p99", p99)?))
        }
        _ => bail!("unexpected redis-benchmark row: {line}"),
    }
}

struct LimiterRun {
    per_second: f64,
    p99_us: u32,
    errors: u64,
}

fn parse_limiter(output: &str) -> anyhow::Result<LimiterRun> {
    let field = |name: &str| -> anyhow::Result<f64> {
        output
            .split_whitespace()
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            .with_context(|| format!("no {name} in bench-server output: {output}"))
    };
    Ok(LimiterRun {
        per_second: positive("the limiter's decisions per second", field("decisions")? / field("seconds")?)?,
        p99_us: field("p99_us")? as u32,
        errors: field("errors")? as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_outputs() {
        let csv = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\
                   \"p99_latency_ms\",\"max_latency_ms\"\n\"EVALSHA abc 1 k 1 2 1\",\"74962.52\",\"0.800\",\"0.088\",\
                   \"0.791\",\"1.039\",\"1.295\",\"3.071\"\n";
        assert_eq!(parse_redis_benchmark(csv).expect("csv"), (74962.52, 1.295));
        let run = parse_limiter("decisions=300000 seconds=5.000 p50_us=700 p99_us=950 errors=0\n").expect("run");
        assert_eq!((run.per_second, run.p99_us, run.errors), (60000.0, 950, 0));
    }

    #[test]
    fn broken_outputs_are_refused() {
        // An empty field used to be skipped, moving p99 into the next column.
        let shifted = "\"EVALSHA abc\",\"74962.52\",\"\",\"0.088\",\"0.791\",\"1.039\",\"1.295\",\"3.071\"\n";
        assert!(parse_redis_benchmark(shifted).is_err());
        let idle = "\"EVALSHA abc\",\"0.00\",\"0\",\"0\",\"0\",\"0\",\"0\",\"0\"\n";
        assert!(parse_redis_benchmark(idle).is_err());
        assert!(parse_limiter("decisions=0 seconds=5.000 p99_us=950 errors=0\n").is_err());
        assert!(parse_limiter("decisions=100 seconds=0 p99_us=950 errors=0\n").is_err());
    }
}
