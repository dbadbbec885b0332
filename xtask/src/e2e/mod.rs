//! `cargo xtask e2e`: elasticity end to end. Three example-api replicas (processes) share one
//! Redis and one S3 server behind HAProxy balancing as kube-proxy does (`mode tcp`, no
//! retries, no redispatch), health-checking `/readyz` every second as a kubelet does. A
//! negative control replaces a replica started with `EBB_SHUTDOWN_DELAY=0s` and must see
//! errors, or the run fails: it could not have seen the problem. Under a bounded wrk load, and while uploads run, every replica is replaced
//! one by one (SIGTERM, exit, start, ready); then the service scales 1 → 3 → 1. Prints
//! requests, errors, lost uploads and p99 (steady vs during changes); writes
//! `target/e2e/report.json`. Target: 0 failed requests, 0 lost uploads.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ebb_testkit::{RedisServer, S3Server, ServiceProcess, TcpBalancer, TempDir, free_port, poll_until};
use xshell::{Shell, cmd};

use crate::bench::wrk;
use crate::tools::{self, HAPROXY, REDIS, WRK};

const REPLICAS: usize = 3;
/// HAProxy's health check interval: a kubelet's readiness probe period.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Longer than the check interval, so that the balancer stops sending new connections to a
/// terminating replica well before it closes its listener.
const SHUTDOWN_DELAY: &str = "3s";
/// The rate limit every replica shares, per client address.
const CHECK_RATE: u32 = 5;
const CHECK_BURST: u32 = 5;
/// wrk sends each request as another client (`X-Forwarded-For: 10.x.y.z`), so that the load
/// itself is never limited.
const LOAD_SCRIPT: &str = "request = function()\n  local ip = \"10.\" .. math.random(0, 255) .. \".\" .. math.random(0, 255) .. \".\" .. math.random(0, 255)\n  return wrk.format(nil, nil, { [\"X-Forwarded-For\"] = ip })\nend\n";

struct Cluster {
    binary: std::path::PathBuf,
    env: Vec<(&'static str, String)>,
    ports: Vec<u16>,
    replicas: Vec<Option<ServiceProcess>>,
}

impl Cluster {
    fn start(&mut self, slot: usize) {
        self.start_with(slot, &[]);
    }

    fn start_with(&mut self, slot: usize, extra: &[(&'static str, String)]) {
        let mut env = self.env.clone();
        env.extend_from_slice(extra);
        env.push(("EBB_HTTP_ADDR", format!("127.0.0.1:{}", self.ports[slot])));
        let replica = ServiceProcess::start(&self.binary, &env);
        let ready = replica.url("/readyz");
        poll_until("a new replica to be ready", Duration::from_secs(10), || {
            reqwest::blocking::get(&ready).ok().filter(|r| r.status() == 200).map(|_| ())
        });
        self.replicas[slot] = Some(replica);
        // More than HAProxy's check interval, so that it has seen the replica up.
        thread::sleep(CHECK_INTERVAL + Duration::from_millis(500));
    }

    fn stop(&mut self, slot: usize) -> anyhow::Result<()> {
        if let Some(mut replica) = self.replicas[slot].take() {
            replica.signal("TERM");
            let exit = replica.wait_exit(Duration::from_secs(20));
            if exit.code != Some(0) {
                bail!("replica {slot} exited with {exit:?} after SIGTERM; log:\n{}", replica.log());
            }
        }
        Ok(())
    }
}

struct Load {
    requests: f64,
    errors: f64,
    p99_ms: f64,
}

pub(crate) fn run(_args: &[String]) -> anyhow::Result<()> {
    let sh = Shell::new()?;
    let root = crate::workspace_root();
    sh.change_dir(&root);
    tools::ensure_apt(&sh, &[REDIS, WRK, HAPROXY])?;
    tools::ensure_s3s_fs(&sh, &root)?;
    cmd!(sh, "cargo build --release -q -p example-api").run()?;

    let redis = RedisServer::start();
    let s3 = S3Server::start(&["files"]);
    let mut env = s3.env("files");
    env.push(("REDIS_URL", redis.url()));
    // One limit for every replica. HAProxy is the trusted proxy that appends the client's
    // address; the load spreads over many client addresses (see LOAD_SCRIPT), the checker is one.
    env.push(("EBB_RATELIMIT_RATE", format!("{CHECK_RATE}/1s")));
    env.push(("EBB_RATELIMIT_BURST", CHECK_BURST.to_string()));
    env.push(("EBB_RATELIMIT_TRUSTED_PROXIES", "127.0.0.0/8".to_owned()));
    env.push(("EBB_SHUTDOWN_DELAY", SHUTDOWN_DELAY.to_owned()));
    env.push(("EBB_SHUTDOWN_TIMEOUT", "15s".to_owned()));
    let ports: Vec<u16> = (0..REPLICAS).map(|_| free_port()).collect();
    let mut cluster =
        Cluster { binary: root.join("target/release/example-api"), env, ports: ports.clone(), replicas: Vec::new() };
    cluster.replicas = (0..REPLICAS).map(|_| None).collect();
    for slot in 0..REPLICAS {
        cluster.start(slot);
    }

    // As kube-proxy: connections, not requests; no retry, no redispatch, no
    // shutdown-sessions. The checker, the load and the uploads send their own X-Forwarded-For.
    let haproxy = tools::which(HAPROXY.binary).context("haproxy is not installed")?;
    let backends: Vec<SocketAddr> = ports.iter().map(|port| SocketAddr::from(([127, 0, 0, 1], *port))).collect();
    let proxy = TcpBalancer::start(&haproxy, &backends, CHECK_INTERVAL, 1);
    let balancer = proxy.addr;
    let dir = TempDir::new("ebb-e2e");
    poll_until("HAProxy to forward", Duration::from_secs(10), || {
        reqwest::blocking::get(format!("http://{balancer}/")).ok().filter(|r| r.status() == 200).map(|_| ())
    });

    let script = dir.path().join("load.lua");
    std::fs::write(&script, LOAD_SCRIPT)?;
    let script = script.display().to_string();
    let steady = load(&sh, balancer, "5s", &script)?;
    eprintln!("xtask: steady: {} requests, {} errors, p99 {:.2} ms", steady.requests, steady.errors, steady.p99_ms);

    // Rolling restart under load, with uploads.
    let uploads = Uploads::start(balancer);
    let checker = thread::spawn(move || check_limit(balancer, Duration::from_secs(14)));
    let restart = {
        let handle = {
            let (sh, script) = (sh.clone(), script.clone());
            thread::spawn(move || load(&sh, balancer, "18s", &script))
        };
        thread::sleep(Duration::from_millis(500));
        for slot in 0..REPLICAS {
            cluster.stop(slot)?;
            cluster.start(slot);
            eprintln!("xtask: replaced replica {slot}");
        }
        handle.join().map_err(|_| anyhow::anyhow!("the load thread panicked"))??
    };
    let (sent, lost) = uploads.finish()?;
    let (allowed, expected) = checker.join().map_err(|_| anyhow::anyhow!("the checker panicked"))??;
    eprintln!("xtask: rate limit through the restarts: {allowed} allowed, burst + rate x elapsed = {expected:.1}");
    eprintln!(
        "xtask: rolling restart: {} requests, {} errors, p99 {:.2} ms; uploads {sent}, lost {lost}",
        restart.requests, restart.errors, restart.p99_ms
    );

    // Scale 1 -> 3 -> 1 under load.
    for slot in 1..REPLICAS {
        cluster.stop(slot)?;
    }
    let scaling = {
        let handle = {
            let sh = sh.clone();
            let script = script.clone();
            thread::spawn(move || load(&sh, balancer, "14s", &script))
        };
        thread::sleep(Duration::from_secs(1));
        for slot in 1..REPLICAS {
            cluster.start(slot);
        }
        thread::sleep(Duration::from_secs(1));
        for slot in 1..REPLICAS {
            cluster.stop(slot)?;
        }
        handle.join().map_err(|_| anyhow::anyhow!("the load thread panicked"))??
    };
    eprintln!(
        "xtask: scale 1->3->1: {} requests, {} errors, p99 {:.2} ms",
        scaling.requests, scaling.errors, scaling.p99_ms
    );

    // Negative control: a replica without a shutdown delay, replaced under the same load,
    // must lose requests behind this balancer; if it does not, the scenario proves nothing.
    cluster.stop(0)?;
    cluster.start_with(0, &[("EBB_SHUTDOWN_DELAY", "0s".to_owned())]);
    let control = {
        let handle = {
            let (sh, script) = (sh.clone(), script.clone());
            thread::spawn(move || load(&sh, balancer, "5s", &script))
        };
        thread::sleep(Duration::from_secs(1));
        cluster.stop(0)?;
        cluster.start(0);
        handle.join().map_err(|_| anyhow::anyhow!("the load thread panicked"))??
    };
    eprintln!("xtask: negative control (delay 0s): {} requests, {} errors", control.requests, control.errors);
    if control.errors == 0.0 {
        bail!("the negative control (EBB_SHUTDOWN_DELAY=0s) lost nothing: this scenario cannot see lost requests");
    }

    let report = format!(
        "{{\n  \"negative_control\": {{ \"requests\": {}, \"errors\": {} }},\n  \"steady\": {{ \"requests\": {}, \"errors\": {}, \"p99_ms\": {:.3} }},\n  \
         \"rolling_restart\": {{ \"requests\": {}, \"errors\": {}, \"p99_ms\": {:.3}, \"uploads\": {sent}, \"lost_uploads\": {lost} }},\n  \
         \"scale_1_3_1\": {{ \"requests\": {}, \"errors\": {}, \"p99_ms\": {:.3} }},\n  \
         \"rate_limit\": {{ \"allowed\": {allowed}, \"expected\": {expected:.1} }}\n}}\n",
        control.requests,
        control.errors,
        steady.requests,
        steady.errors,
        steady.p99_ms,
        restart.requests,
        restart.errors,
        restart.p99_ms,
        scaling.requests,
        scaling.errors,
        scaling.p99_ms
    );
    let out = root.join("target/e2e");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("report.json"), &report)?;
    println!("{report}");
    let failed = steady.errors + restart.errors + scaling.errors;
    if failed > 0.0 || lost > 0 {
        bail!("{failed} failed requests and {lost} lost uploads (target: 0 and 0)");
    }
    if f64::from(allowed) > expected + 1.0 {
        bail!("the rate limit did not hold across replicas: {allowed} allowed, at most {expected:.1} expected");
    }
    Ok(())
}

/// One client (`X-Forwarded-For: 198.51.100.7`) asks as fast as it can for `period` while
/// replicas come and go; returns (allowed, burst + rate x elapsed).
fn check_limit(balancer: SocketAddr, period: Duration) -> anyhow::Result<(u32, f64)> {
    let client = reqwest::blocking::Client::new();
    let started = Instant::now();
    let mut allowed = 0;
    while started.elapsed() < period {
        let response = client.get(format!("http://{balancer}/")).header("x-forwarded-for", "198.51.100.7").send()?;
        match response.status().as_u16() {
            200 => allowed += 1,
            429 => {}
            other => bail!("the rate-limit checker got {other}"),
        }
        thread::sleep(Duration::from_millis(5));
    }
    Ok((allowed, f64::from(CHECK_BURST) + f64::from(CHECK_RATE) * started.elapsed().as_secs_f64()))
}

fn load(sh: &Shell, balancer: SocketAddr, duration: &str, script: &str) -> anyhow::Result<Load> {
    let url = format!("http://{balancer}/");
    let output = cmd!(sh, "wrk -t1 -c16 -d {duration} --latency -s {script} {url}").quiet().read()?;
    let result = wrk::parse(&output)?;
    Ok(Load { requests: result.requests, errors: result.non_2xx + result.socket_errors, p99_ms: result.p99_ms })
}

/// 256 KiB uploads through the balancer, one after another, until finished; then each is
/// read back.
struct Uploads {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<anyhow::Result<Vec<String>>>,
    balancer: SocketAddr,
    failed: Arc<AtomicU64>,
}

impl Uploads {
    fn start(balancer: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(AtomicU64::new(0));
        let (flag, failures) = (stop.clone(), failed.clone());
        let handle = thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            // Writes need a login: the built-in demo user's session, valid on every replica.
            let credentials = serde_json::json!({"username": "demo", "password": "demo-password"});
            let login = client
                .post(format!("http://{balancer}/login"))
                .header("content-type", "application/json")
                .body(credentials.to_string())
                .send()?;
            anyhow::ensure!(login.status() == 200, "login for uploads answered {}", login.status());
            let cookie = login
                .headers()
                .get("set-cookie")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .unwrap_or_default()
                .to_owned();
            let body = vec![7_u8; 256 << 10];
            let mut stored = Vec::new();
            let started = Instant::now();
            let mut n = 0;
            while !flag.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(60) {
                let key = format!("e2e/upload-{n}");
                n += 1;
                // Each upload as another client, so that the rate limit is not what stops it.
                let client_ip = format!("192.0.{}.{}", (n / 250) % 250, n % 250);
                let request = client
                    .put(format!("http://{balancer}/files/{key}"))
                    .header("x-forwarded-for", client_ip)
                    .header("cookie", &cookie);
                match request.body(body.clone()).send() {
                    Ok(response) if response.status() == 201 => stored.push(key),
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Ok(stored)
        });
        Self { stop, handle, balancer, failed }
    }

    /// (uploads answered 201, uploads that failed or cannot be read back).
    fn finish(self) -> anyhow::Result<(usize, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        let stored = self.handle.join().map_err(|_| anyhow::anyhow!("the upload thread panicked"))??;
        let client = reqwest::blocking::Client::new();
        let mut lost = self.failed.load(Ordering::Relaxed);
        for (i, key) in stored.iter().enumerate() {
            // Each read as another client too.
            let client_ip = format!("198.18.{}.{}", (i / 250) % 250, i % 250);
            let response = client
                .get(format!("http://{}/files/{key}", self.balancer))
                .header("x-forwarded-for", client_ip)
                .send()?;
            let status = response.status();
            let length = response.bytes()?.len();
            if status != 200 || length != 256 << 10 {
                if lost == self.failed.load(Ordering::Relaxed) {
                    eprintln!("xtask: upload {key} cannot be read back: {status}, {length} bytes");
                }
                lost += 1;
            }
        }
        Ok((stored.len(), lost))
    }
}
