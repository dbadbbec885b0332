//! `cargo xtask bench`: every figure is a ratio against a baseline measured in the same run,
//! on the same machine, with the server and the load generator pinned to separate cores.
//!
//! One file per benchmark; each adds its rows to one [`Report`], printed as a table and
//! written to `target/bench/report.json`.

mod callgrind;
mod coldbuild;
mod http;
mod measured;
mod offload;
mod pickup;
pub(crate) mod process;
mod ratelimit;
pub(crate) mod readme;
mod report;
mod startup;
mod worker;
pub(crate) mod wrk;

use anyhow::Context;
use ebb_testkit::RedisServer;
use xshell::{Shell, cmd};

pub(crate) use report::{Report, machine};

/// What every benchmark runs with.
pub(super) struct Bench {
    sh: Shell,
    /// The bench-server binary (release build).
    server: std::path::PathBuf,
    /// One throwaway Redis, on the server's core when pinned.
    redis: RedisServer,
    /// Whether servers run on core 0 and load generators on core 1.
    pinned: bool,
}

use crate::tools::{self, REDIS, VALGRIND, WRK};

/// `cargo xtask bench [NAME] [--check] [--save]`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// One benchmark (all but coldbuild when absent), or `readme` to regenerate xtask/README.md's table
    #[arg(value_parser = ["http", "callgrind", "ratelimit", "offload", "startup", "worker", "coldbuild", "readme"])]
    name: Option<String>,
    /// Exit non-zero when a target is missed
    #[arg(long)]
    check: bool,
    /// Merge into bench/report.json and regenerate xtask/README.md's table
    #[arg(long)]
    save: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    if args.name.as_deref() == Some("readme") {
        return readme::update(&root);
    }
    let (check, save, only) = (args.check, args.save, args.name.as_deref());
    let wanted = |name: &str| only.is_none_or(|only| only == name);
    let sh = Shell::new()?;
    sh.change_dir(&root);
    tools::ensure_apt(&sh, &[WRK, REDIS, VALGRIND])?;
    cmd!(sh, "cargo build --release -q -p bench-server").run()?;
    let pinned = std::thread::available_parallelism().map_or(1, usize::from) >= 2 && tools::which("taskset").is_some();
    if !pinned {
        eprintln!("xtask: fewer than 2 cores or no taskset: servers and clients are not pinned; expect noisy figures");
    }
    // One throwaway Redis for every benchmark that needs one, on the server's core.
    let redis = RedisServer::start();
    if let (true, Some(pid)) = (pinned, redis.pid()) {
        let pid = pid.to_string();
        cmd!(sh, "taskset -p -c 0 {pid}").quiet().ignore_stdout().run()?;
    }

    let bench = Bench { sh, server: root.join("target/release/bench-server"), redis, pinned };

    let mut report = Report::default();
    if wanted("http") {
        http::run(&bench, &mut report)?;
    }
    if wanted("callgrind") {
        callgrind::run(&bench, &mut report)?;
    }
    if wanted("ratelimit") {
        ratelimit::run(&bench, &mut report)?;
    }
    if wanted("offload") {
        offload::run(&bench, &root, &mut report)?;
    }
    if wanted("startup") {
        let bare_start = startup::run(&bench, &root, &mut report)?;
        worker::run(&bench, &root, bare_start, &mut report)?;
    }
    if wanted("worker") {
        pickup::run(&bench, &root, &mut report)?;
    }
    // Minutes of compiling from empty target directories: only when asked for by name.
    if only == Some("coldbuild") {
        coldbuild::run(&bench, &root, &mut report)?;
    }
    print!("{}", report.table());
    // Before anything is written: a NaN or infinite figure is a broken run, not a result.
    report.refuse_non_finite()?;
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("report.json"), report.json())?;
    eprintln!("xtask: wrote {}", out.join("report.json").display());
    if save {
        let committed = root.join("bench/report.json");
        // Unreadable is an error: merging over nothing would drop every figure this run
        // did not measure.
        let older = std::fs::read_to_string(&committed)
            .with_context(|| format!("cannot read {}: nothing to merge this run into", committed.display()))?;
        let merged = report.merged_over(Report::parse(&older)?);
        std::fs::create_dir_all(root.join("bench"))?;
        std::fs::write(&committed, merged.json())?;
        readme::update(&root)?;
        eprintln!("xtask: merged into {}; commit it with xtask/README.md", committed.display());
    }
    let missed = report.missed();
    if check && !missed.is_empty() {
        anyhow::bail!("{} target(s) missed: {}", missed.len(), missed.join(", "));
    }
    Ok(())
}
