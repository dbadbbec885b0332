//! `cargo xtask <command>`: the workspace's own tooling. `image`, `manifests` and `deploy`
//! are ebb-deploy's, as any user gets them (`services.rs` is the definition); `test`,
//! `bench`, `e2e` and `mutants` are this repository's. This file only parses and dispatches.

// A command-line tool: its report goes to stdout.
#![allow(clippy::print_stdout)]

mod bench;
mod e2e;
mod mutants;
mod services;
mod test;
mod tools;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", about = "The ebb workspace's tooling")]
enum Xtask {
    #[command(flatten)]
    Deploy(ebb_deploy::Command),
    /// Install what the tests need (redis-server, s3s-fs, prometheus, ...), then run every test
    Test(test::Args),
    /// Benchmarks as ratios against baselines measured in the same run
    Bench(bench::Args),
    /// Replicas (containers and processes) behind HAProxy as kube-proxy: rolling restart,
    /// 1->3->1, and negative controls (delay 0, SIGKILL) that must see errors
    E2e(e2e::Args),
    /// Mutation testing (cargo-mutants) of the core modules, or of one crate or file: every
    /// missed mutant needs a test that kills it or a written reason
    Mutants(mutants::Args),
}

fn main() -> ExitCode {
    let result = match Xtask::parse() {
        Xtask::Deploy(command) => services::project().and_then(|project| project.run(&command)),
        Xtask::Test(args) => test::run(&args),
        Xtask::Bench(args) => bench::run(&args),
        Xtask::E2e(args) => e2e::run(&args),
        Xtask::Mutants(args) => mutants::run(&args),
    };
    ebb_deploy::report(result)
}

/// The workspace root (the parent of `xtask/`).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}
