//! Uploads: a 1 GiB file through example-api (`PUT /files/...`, sent by curl) vs
//! object_store's own multipart put of the same file to the same S3 server (bench-server
//! `s3-put`), same part size and parallelism, paired rounds; and the service's peak RSS
//! growth during its upload. Both sides run one Tokio worker thread pinned to core 0 (the
//! service through `TOKIO_WORKER_THREADS`); the S3 server and curl share core 1.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ebb_testkit::{S3Server, ServiceProcess};
use xshell::cmd;

use super::Bench;
use super::measured::positive;
use super::process::status_kib;
use super::report::{Report, Target};
use crate::tools;

const SIZE: u64 = 1 << 30;
const ROUNDS: usize = 3;

pub(super) fn run(bench: &Bench, root: &Path, report: &mut Report) -> anyhow::Result<()> {
    let sh = &bench.sh;
    tools::ensure_s3s_fs(sh, root)?;
    cmd!(sh, "cargo build --release -q -p example-api").run()?;
    let file = input_file(root)?;
    let s3 = S3Server::start(&["bench"]);
    let env = s3.env("bench");
    let mut service_env = env.clone();
    service_env.push(("TOKIO_WORKER_THREADS", "1".to_owned()));
    let service = ServiceProcess::start(root.join("target/release/example-api"), &service_env);
    let pid = service.pid();
    // Pinned: the side doing the work on core 0, the S3 server and curl on core 1.
    let on_core = |core: &str| {
        if bench.pinned { vec!["taskset".to_owned(), "-c".to_owned(), core.to_owned()] } else { Vec::new() }
    };
    let (work_core, other_core) = (&on_core("0"), &on_core("1"));
    if bench.pinned {
        let s3_pid = s3.pid().context("s3s-fs is not running")?.to_string();
        let service_pid = pid.to_string();
        cmd!(sh, "taskset -a -p -c 0 {service_pid}").quiet().ignore_stdout().run()?;
        cmd!(sh, "taskset -a -p -c 1 {s3_pid}").quiet().ignore_stdout().run()?;
    }
    let url = service.url("/files/through-service.bin");
    let server = &bench.server;
    let write_out = "%{http_code} %{time_total}";
    // Writes need a login: the built-in demo user's session cookie, in a jar.
    let jar = root.join("target/bench/cookies.txt");
    let login_url = service.url("/login");
    let credentials = r#"{"username":"demo","password":"demo-password"}"#;
    cmd!(sh, "curl -sS -o /dev/null -c {jar} -H content-type:application/json -d {credentials} {login_url}")
        .quiet()
        .run()?;

    let (mut uploads, mut downloads) = (Paired::default(), Paired::default());
    let mut rss_growth_mib: f64 = 0.0;
    for round in 0..ROUNDS {
        let direct = || -> anyhow::Result<f64> {
            let mut command = cmd!(sh, "env {work_core...} {server} s3-put {file}");
            for (name, value) in &env {
                command = command.env(name, value);
            }
            let output = command.quiet().read()?;
            field(&output, "seconds")
        };
        let mut through = || -> anyhow::Result<f64> {
            let before = status_kib(pid, "VmRSS")?;
            let output = cmd!(sh, "env {other_core...} curl -sS -o /dev/null -b {jar} -w {write_out} -T {file} {url}")
                .quiet()
                .read()?;
            let (code, seconds) = output.split_once(' ').context("curl output")?;
            if code != "201" {
                bail!("the upload through the service answered {code}");
            }
            let peak = status_kib(pid, "VmHWM")?;
            rss_growth_mib = rss_growth_mib.max((peak as f64 - before as f64) / 1024.0);
            Ok(seconds.parse()?)
        };
        let (direct_s, service_s) = in_turn(round, direct, &mut through)?;
        uploads.record("upload", round, direct_s, service_s);

        // Downloads of the same 1 GiB: object_store's get vs curl through the service (which
        // checks the length and the SHA-256 of what it sends).
        let direct_get = || -> anyhow::Result<f64> {
            let mut command = cmd!(sh, "env {work_core...} {server} s3-get");
            for (name, value) in &env {
                command = command.env(name, value);
            }
            field(&command.quiet().read()?, "seconds")
        };
        let through_get = || -> anyhow::Result<f64> {
            let output = cmd!(sh, "env {other_core...} curl -sS -o /dev/null -w {write_out} {url}").quiet().read()?;
            let (code, seconds) = output.split_once(' ').context("curl output")?;
            if code != "200" {
                bail!("the download through the service answered {code}");
            }
            Ok(seconds.parse()?)
        };
        let (direct_s, service_s) = in_turn(round, direct_get, through_get)?;
        downloads.record("download", round, direct_s, service_s);
    }
    report.add("offload_direct_upload", median(&mut uploads.direct), "MiB/s", Target::None);
    report.add("offload_service_upload", median(&mut uploads.service), "MiB/s", Target::None);
    report.add("offload_vs_direct_throughput", median(&mut uploads.ratios), "ratio", Target::AtLeast(0.8));
    report.add("offload_peak_rss_growth", rss_growth_mib, "MiB", Target::AtMost(64.0));
    report.add("offload_direct_download", median(&mut downloads.direct), "MiB/s", Target::None);
    report.add("offload_service_download", median(&mut downloads.service), "MiB/s", Target::None);
    report.add("offload_download_vs_direct", median(&mut downloads.ratios), "ratio", Target::None);
    Ok(())
}

/// The two sides of one transfer, alternating which goes first, so that neither always
/// meets a warm (or cold) server: (direct seconds, through-the-service seconds).
fn in_turn(
    round: usize,
    mut direct: impl FnMut() -> anyhow::Result<f64>,
    mut through: impl FnMut() -> anyhow::Result<f64>,
) -> anyhow::Result<(f64, f64)> {
    let (direct_s, service_s) = if round.is_multiple_of(2) {
        let d = direct()?;
        (d, through()?)
    } else {
        let s = through()?;
        (direct()?, s)
    };
    // Every rate and ratio divides by these.
    Ok((
        positive("the direct transfer's seconds", direct_s)?,
        positive("the transfer's seconds through the service", service_s)?,
    ))
}

/// Rates and paired ratios of one kind of transfer over the rounds.
#[derive(Default)]
struct Paired {
    ratios: Vec<f64>,
    direct: Vec<f64>,
    service: Vec<f64>,
}

impl Paired {
    fn record(&mut self, what: &str, round: usize, direct_s: f64, service_s: f64) {
        let mib = SIZE as f64 / (1 << 20) as f64;
        eprintln!(
            "xtask: round {} {what} 1 GiB: direct {:.0} MiB/s, through the service {:.0} MiB/s",
            round + 1,
            mib / direct_s,
            mib / service_s
        );
        self.ratios.push(direct_s / service_s);
        self.direct.push(mib / direct_s);
        self.service.push(mib / service_s);
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A 1 GiB file of varied bytes under `target/bench`, made once.
fn input_file(root: &Path) -> anyhow::Result<PathBuf> {
    let path = root.join("target/bench/upload-1GiB.bin");
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == SIZE) {
        return Ok(path);
    }
    std::fs::create_dir_all(path.parent().context("a parent")?)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut block = vec![0_u8; 1 << 20];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..(SIZE >> 20) {
        for byte in &mut block {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state as u8;
        }
        out.write_all(&block)?;
    }
    out.flush()?;
    Ok(path)
}

fn field(output: &str, name: &str) -> anyhow::Result<f64> {
    output
        .split_whitespace()
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        .with_context(|| format!("no {name} in: {output}"))
}
