//! `cargo xtask test`: every test of the workspace, with the real servers they need.

use std::path::Path;

use xshell::{Shell, cmd};

use crate::tools::{
    self, DOCKER_COMPOSE, DOCKER_REGISTRY, HAPROXY, HTPASSWD, OPENSSL, PROMETHEUS, PROMTOOL, REDIS, REDIS_CLI, WRK,
};

/// `cargo xtask test [-- NEXTEST ARGS]`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Passed on to `cargo nextest run` (or `cargo test`), e.g. a filter
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let args = &args.rest;
    let sh = Shell::new()?;
    let root = crate::workspace_root();
    sh.change_dir(&root);
    prepare(&sh, &root)?;
    if tools::which("cargo-nextest").is_some() {
        cmd!(sh, "cargo nextest run --workspace --no-fail-fast {args...}").run()?;
        // nextest does not run doc tests.
        cmd!(sh, "cargo test --workspace --doc -q").run()?;
    } else {
        cmd!(sh, "cargo test --workspace --no-fail-fast {args...}").run()?;
    }
    Ok(())
}

/// Installs what the tests need and sets, on `sh`, the variables that point the harness at
/// it (also for `cargo xtask mutants`, whose mutants run the same tests).
pub(crate) fn prepare(sh: &Shell, root: &Path) -> anyhow::Result<()> {
    // haproxy and wrk: the rolling-restart test behind an L4 balancer; htpasswd: the
    // password-protected registry of the push tests.
    let apt =
        [REDIS, REDIS_CLI, OPENSSL, PROMETHEUS, PROMTOOL, DOCKER_REGISTRY, HTPASSWD, HAPROXY, WRK, DOCKER_COMPOSE];
    tools::ensure_apt(sh, &apt)?;
    let s3s_fs = tools::ensure_s3s_fs(sh, root)?;
    for checker in &ebb_deploy::tools::CHECKERS {
        ebb_deploy::tools::install(root, checker)?;
    }
    // Neither can be installed from the package sources here (see tools::kubectl): say so
    // now, and under CI=true stop before a test could pass without them.
    if let Err(why) = ebb_deploy::tools::kubectl() {
        tools::missing("kubectl", &format!("the overlay and deploy checks ({why})"))?;
    }
    if !crate::e2e::engine_answers() {
        tools::missing("docker engine", "the image and container tests")?;
    }
    // The harness finds them itself; the variables make the choice explicit in CI logs.
    sh.set_var("EBB_REDIS_SERVER", tools::which(REDIS.binary).unwrap_or_default());
    sh.set_var("EBB_S3S_FS", &s3s_fs);
    Ok(())
}
