//! `limiter` mode: `concurrency` tasks call `Limiter::check` for `seconds` — on one key, or
//! task `i` on key `k<i % keys>` — then print
//! `decisions=<n> seconds=<s> p50_us=<..> p99_us=<..> errors=<n>`. A URL list with commas
//! is a Redis Cluster.

use std::time::{Duration, Instant};

use ebb_server::ebb_ratelimit::{Limiter, Policy};

pub(crate) async fn run(url: &str, concurrency: usize, seconds: f64, keys: usize) -> Result<(), String> {
    let config = if url.contains(',') {
        ebb_server::RedisConfig::cluster(&url.split(',').collect::<Vec<_>>())
    } else {
        ebb_server::RedisConfig::from_url(url)
    };
    let config = config.map_err(|e| e.to_string())?;
    let redis = ebb_server::Redis::new(&config).map_err(|e| e.to_string())?;
    // Every decision goes to Redis: this measures the store, not the local refusals.
    let limiter = Limiter::redis(redis).with_timeout(Duration::from_secs(1)).with_deny_cache(0);
    // The key and arguments `cargo xtask bench` gives redis-benchmark: ebb:rl:{bench:k}.
    let policy = Policy::new("bench", "1000000/1s".parse().map_err(|e| format!("{e}"))?)
        .with_burst(1_000_000_000)
        .map_err(|e| e.to_string())?;
    limiter.check("k", &policy).await.map_err(|e| format!("first decision: {e}"))?;
    let run_for = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let (limiter, policy) = (limiter.clone(), policy.clone());
            let key = if keys <= 1 { "k".to_owned() } else { format!("k{}", task % keys) };
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(65_536);
                let mut errors = 0_u64;
                while started.elapsed() < run_for {
                    let at = Instant::now();
                    match limiter.check(&key, &policy).await {
                        Ok(_) => latencies.push(at.elapsed().as_micros() as u32),
                        Err(_) => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mine, failed) = task.await.map_err(|e| e.to_string())?;
        latencies.extend(mine);
        errors += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let at = |q: f64| latencies.get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)));
    let (p50, p99) = (at(0.50).copied().unwrap_or(0), at(0.99).copied().unwrap_or(0));
    println!("decisions={} seconds={elapsed:.3} p50_us={p50} p99_us={p99} errors={errors}", latencies.len());
    Ok(())
}
