//! Start-up and memory of example-api: exec to the first `200` from `/readyz` (median of 20,
//! no dependencies to wait for: in-process fallbacks, a local object directory), idle RSS,
//! and RSS after a wrk load — next to the bare axum server of bench-server, measured the
//! same way in the same run. The bare server's median start is returned: the worker's cold
//! start (`worker.rs`) is read against it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::bail;
use ebb_testkit::TempDir;
use xshell::cmd;

use super::Bench;
use super::process::{KillOnDrop, free_addr, rss_kib};
use super::report::{Report, Target};
use super::wrk;

const STARTS: usize = 20;

struct Run {
    ready: Duration,
    idle_kib: u64,
    loaded_kib: u64,
}

pub(super) fn run(bench: &Bench, root: &Path, report: &mut Report) -> anyhow::Result<Duration> {
    let sh = &bench.sh;
    cmd!(sh, "cargo build --release -q -p example-api").run()?;
    let api = root.join("target/release/example-api");
    let objects = TempDir::new("ebb-bench-startup");
    let measure = |service: bool, load: bool| -> anyhow::Result<Run> {
        let (app, metrics) = (free_addr()?, free_addr()?);
        let mut command = if service {
            let mut command = Command::new(&api);
            command
                .env("EBB_HTTP_ADDR", app.to_string())
                .env("EBB_METRICS_ADDR", metrics.to_string())
                .env("EBB_OFFLOAD_DIR", objects.path())
                .env("EBB_RATELIMIT_RATE", "off");
            command
        } else {
            let mut command = Command::new(&bench.server);
            command.args(["bare", &app.to_string(), &metrics.to_string()]);
            command
        };
        let started = Instant::now();
        let child = command.env("RUST_LOG", "warn").stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        let child = KillOnDrop(child);
        let path = if service { "/readyz" } else { "/" };
        while !answers_200(app, path) {
            if started.elapsed() > Duration::from_secs(10) {
                bail!("no 200 from {path} within 10 s");
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let ready = started.elapsed();
        std::thread::sleep(Duration::from_millis(200));
        let idle_kib = rss_kib(child.0.id())?;
        let mut loaded_kib = idle_kib;
        if load {
            wrk::run(sh, &format!("http://{app}/"), "5s", bench.pinned)?;
            loaded_kib = rss_kib(child.0.id())?;
        }
        Ok(Run { ready, idle_kib, loaded_kib })
    };
    let mut service_ready = Vec::new();
    let mut bare_ready = Vec::new();
    for _ in 0..STARTS {
        service_ready.push(measure(true, false)?.ready);
        bare_ready.push(measure(false, false)?.ready);
    }
    service_ready.sort();
    bare_ready.sort();
    let bare_start = bare_ready[STARTS / 2];
    let (service_ms, bare_ms) = (ms(service_ready[STARTS / 2]), ms(bare_start));
    let service = measure(true, true)?;
    let bare = measure(false, true)?;
    let mib = |kib: u64| kib as f64 / 1024.0;
    report.add("api_start_to_ready", service_ms, "ms", Target::AtMost(50.0));
    report.add("bare_start_to_first_200", bare_ms, "ms", Target::None);
    report.add("api_idle_rss", mib(service.idle_kib), "MiB", Target::AtMost(16.0));
    report.add("bare_idle_rss", mib(bare.idle_kib), "MiB", Target::None);
    report.add("api_loaded_rss", mib(service.loaded_kib), "MiB", Target::None);
    report.add("bare_loaded_rss", mib(bare.loaded_kib), "MiB", Target::None);
    Ok(bare_start)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// One plain HTTP/1.1 GET; whether the answer is `200`.
fn answers_200(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(50)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    let mut status = [0_u8; 12];
    stream.write_all(request.as_bytes()).is_ok() && stream.read_exact(&mut status).is_ok() && &status[9..12] == b"200"
}
