//! `cargo xtask <command>`: the workspace's own tooling. This file only dispatches; each
//! command lives in its own file.

// A command-line tool: its report goes to stdout.
#![allow(clippy::print_stdout)]

mod bench;
mod deploy;
mod e2e;
mod image;
mod manifests;
mod test;
mod tools;

use std::path::{Path, PathBuf};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test     install what the tests need (redis-server, s3s-fs, prometheus), then run every test
  bench    benchmarks as ratios against baselines measured in the same run
           [http|callgrind|ratelimit|offload|startup] [--check: fail on a missed target]
           [--save: merge into bench/report.json and regenerate README's table]; `bench readme`
  manifests  render deploy/base/ from the service definitions [--check: fail when stale or inconsistent]
  deploy     image -> push -> manifests pinned by digest -> kubectl apply --registry HOST/PATH [--overlay dev|prod|keda] [--dry-run]
  e2e        3 replicas (containers and processes) behind HAProxy as kube-proxy: rolling restart, 1->3->1,
             and negative controls (delay 0, SIGKILL) that must see errors [--runtime processes|containers]
  image    a small reproducible OCI image of a binary [--bin NAME] [--out DIR] [--load] [--push REGISTRY/REPO[:TAG]]
";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        std::process::exit(2);
    };
    match command.as_str() {
        "test" => test::run(rest),
        "bench" => bench::run(rest),
        "image" => image::run(rest),
        "manifests" => manifests::run(rest),
        "deploy" => deploy::run(rest),
        "e2e" => e2e::run(rest),
        "help" | "--help" | "-h" => {
            eprint!("{USAGE}");
            Ok(())
        }
        other => {
            eprint!("unknown command `{other}`\n\n{USAGE}");
            std::process::exit(2);
        }
    }
}

/// The workspace root (the parent of `xtask/`).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}
