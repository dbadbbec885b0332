//! The load a scenario runs under, all through the balancer:
//! - wrk: keep-alive `GET /` from many client addresses (never rate limited);
//! - a mixed client: uploads (each with its own bytes), downloads read back and hashed,
//!   `GET /me` on a session made by another replica, and presigning `POST`s;
//! - arrivals: new clients, one connection per request, as an open internet sends them (a
//!   balancer that still routes new connections to a closed listener shows here first);
//! - a rate-limit checker: one client address as fast as it can, whose allowed count must
//!   stay between a lower and an upper bound while replicas come and go.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use sha2::{Digest, Sha256};

use crate::bench::wrk;

/// wrk sends each request as another client (`X-Forwarded-For: 10.x.y.z`).
const LOAD_SCRIPT: &str = "request = function()\n  local ip = \"10.\" .. math.random(0, 255) .. \".\" .. math.random(0, 255) .. \".\" .. math.random(0, 255)\n  return wrk.format(nil, nil, { [\"X-Forwarded-For\"] = ip })\nend\n";
/// Bytes per upload.
const UPLOAD_SIZE: usize = 64 << 10;

/// wrk running until [`Wrk::finish`] interrupts it (it prints its summary on SIGINT).
pub(super) struct Wrk {
    child: Child,
}

impl Wrk {
    pub(super) fn start(balancer: SocketAddr, script_dir: &std::path::Path) -> anyhow::Result<Self> {
        let script = script_dir.join("load.lua");
        std::fs::write(&script, LOAD_SCRIPT)?;
        let child = Command::new("wrk")
            .args(["-t1", "-c16", "-d300s", "--timeout", "5s", "--latency", "-s"])
            .arg(&script)
            .arg(format!("http://{balancer}/"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start wrk")?;
        Ok(Self { child })
    }

    /// (requests, errors, p99 in ms).
    pub(super) fn finish(mut self) -> anyhow::Result<(f64, f64, f64)> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().context("cannot interrupt wrk")?;
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            std::io::Read::read_to_string(&mut out, &mut stdout)?;
        }
        self.child.wait()?;
        let result = wrk::parse(&stdout)?;
        Ok((result.requests, result.non_2xx + result.socket_errors, result.p99_ms))
    }
}

impl Drop for Wrk {
    /// A scenario that fails early must not leave wrk loading the machine for minutes.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Logs in once (as [`LOGIN`](super::LOGIN)); the session cookie then works on every replica.
pub(super) fn login(balancer: SocketAddr) -> anyhow::Result<String> {
    let (username, password) = super::LOGIN;
    let credentials = serde_json::json!({"username": username, "password": password});
    let response = reqwest::blocking::Client::new()
        .post(format!("http://{balancer}/login"))
        .header("content-type", "application/json")
        .header("x-forwarded-for", "203.0.113.1")
        .body(credentials.to_string())
        .send()?;
    if response.status() != 200 {
        bail!("login answered {}", response.status());
    }
    let cookie = response.headers().get("set-cookie").and_then(|v| v.to_str().ok()).context("no session cookie")?;
    Ok(cookie.split(';').next().unwrap_or_default().to_owned())
}

/// What the mixed client saw.
#[derive(Default)]
pub(super) struct Mixed {
    pub(super) requests: u64,
    pub(super) errors: u64,
    /// Uploads answered 201, with the SHA-256 of their bytes.
    pub(super) stored: Vec<(String, [u8; 32])>,
}

/// A client on its own thread, repeating one step until finished (240 s at most).
pub(super) struct Looping<T> {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<T>,
}

impl<T: Send + 'static> Looping<T> {
    fn start(mut state: T, mut step: impl FnMut(&mut T) + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            let started = Instant::now();
            while !flag.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(240) {
                step(&mut state);
            }
            state
        });
        Self { stop, handle }
    }

    pub(super) fn finish(self) -> anyhow::Result<T> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().map_err(|_| anyhow!("a load thread panicked"))
    }
}

fn client(pooled: bool) -> reqwest::blocking::Client {
    let builder = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10));
    let builder = if pooled { builder } else { builder.pool_max_idle_per_host(0) };
    builder.build().expect("an HTTP client")
}

/// Requests and failures of a simple client.
#[derive(Default)]
pub(super) struct Count {
    pub(super) requests: u64,
    pub(super) errors: u64,
}

/// `GET /` as new clients: a new connection and a new client address for each request
/// (`172.<16 + lane>.x.y`, so that parallel lanes never share one).
pub(super) fn arrivals(balancer: SocketAddr, lane: u8) -> Looping<Count> {
    let client = client(false);
    let prefix = format!("172.{}", 16 + u16::from(lane));
    Looping::start(Count::default(), move |count| {
        count.requests += 1;
        let response = client
            .get(format!("http://{balancer}/"))
            .header("x-forwarded-for", client_ip(&prefix, count.requests))
            .send();
        if !response.is_ok_and(|r| r.status() == 200) {
            count.errors += 1;
        }
    })
}

/// Distinct bytes for upload `n`, so that a download of the wrong version cannot pass.
fn upload_body(tag: &str, n: u64) -> Vec<u8> {
    let mut state = Sha256::digest(format!("{tag}/{n}")).to_vec();
    let mut body = Vec::with_capacity(UPLOAD_SIZE);
    while body.len() < UPLOAD_SIZE {
        state = Sha256::digest(&state).to_vec();
        body.extend_from_slice(&state);
    }
    body.truncate(UPLOAD_SIZE);
    body
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A client address of its own for each request, so that only the checker meets the limit.
fn client_ip(prefix: &str, n: u64) -> String {
    format!("{prefix}.{}.{}", (n / 250) % 250, n % 250)
}

/// The mixed client: upload, download and hash, read the session, presign; in turn.
pub(super) fn mixed(balancer: SocketAddr, cookie: String, tag: String) -> Looping<Mixed> {
    let client = client(true);
    let base = format!("http://{balancer}/files/e2e/{tag}");
    let mut n = 0_u64;
    Looping::start(Mixed::default(), move |seen| {
        n += 1;
        let ip = client_ip("192.0", n);
        let (what, ok) = match n % 4 {
            0 | 1 if seen.stored.is_empty() || n.is_multiple_of(4) => {
                let (key, body) = (format!("{n}"), upload_body(&tag, n));
                let digest = sha256(&body);
                let response = client
                    .put(format!("{base}/{key}"))
                    .header("x-forwarded-for", ip)
                    .header("cookie", &cookie)
                    .body(body)
                    .send();
                let ok = response.is_ok_and(|r| r.status() == 201);
                if ok {
                    seen.stored.push((key, digest));
                }
                ("upload", ok)
            }
            1 => {
                let (key, digest) = &seen.stored[usize::try_from(n).unwrap_or(0) % seen.stored.len()];
                let response = client.get(format!("{base}/{key}")).header("x-forwarded-for", ip).send();
                let ok = response
                    .and_then(|r| Ok((r.status(), r.bytes()?)))
                    .is_ok_and(|(status, bytes)| status == 200 && sha256(&bytes) == *digest);
                ("download", ok)
            }
            2 => {
                let response = client
                    .get(format!("http://{balancer}/me"))
                    .header("x-forwarded-for", ip)
                    .header("cookie", &cookie)
                    .send();
                ("session", response.is_ok_and(|r| r.status() == 200))
            }
            _ => {
                let Some((key, _)) = seen.stored.last() else { return };
                let response = client
                    .post(format!("{base}/{key}/download-url"))
                    .header("x-forwarded-for", ip)
                    .header("cookie", &cookie)
                    .send();
                ("presign", response.is_ok_and(|r| r.status() == 200))
            }
        };
        seen.requests += 1;
        if !ok {
            if seen.errors < 5 {
                eprintln!("xtask: e2e: a {what} request failed");
            }
            seen.errors += 1;
        }
    })
}

/// Uploads answered 201 that cannot be read back with the same bytes.
pub(super) fn lost_uploads(balancer: SocketAddr, tag: &str, stored: &[(String, [u8; 32])]) -> anyhow::Result<u64> {
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let mut lost = 0;
    for (i, (key, digest)) in stored.iter().enumerate() {
        let response = client
            .get(format!("http://{balancer}/files/e2e/{tag}/{key}"))
            .header("x-forwarded-for", client_ip("198.18", i as u64))
            .send()?;
        let status = response.status();
        let bytes = response.bytes()?;
        if status != 200 || sha256(&bytes) != *digest {
            if lost < 5 {
                eprintln!("xtask: e2e: upload {tag}/{key} reads back as {status}, {} bytes", bytes.len());
            }
            lost += 1;
        }
    }
    Ok(lost)
}

/// The rate-limit checker's count.
pub(super) struct LimitCheck {
    pub(super) requests: u32,
    pub(super) allowed: u32,
    pub(super) errors: u32,
    pub(super) elapsed: Duration,
}

/// One client (`X-Forwarded-For: 198.51.100.7`) asking every 5 ms.
pub(super) fn checker(balancer: SocketAddr) -> Looping<LimitCheck> {
    let client = client(true);
    let started = Instant::now();
    let check = LimitCheck { requests: 0, allowed: 0, errors: 0, elapsed: Duration::ZERO };
    Looping::start(check, move |check| {
        let response = client.get(format!("http://{balancer}/")).header("x-forwarded-for", "198.51.100.7").send();
        check.requests += 1;
        match response.map(|r| r.status().as_u16()) {
            Ok(200) => check.allowed += 1,
            Ok(429) => {}
            _ => check.errors += 1,
        }
        check.elapsed = started.elapsed();
        thread::sleep(Duration::from_millis(5));
    })
}
