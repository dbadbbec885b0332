//! Finds, or installs, the programs the tests and benchmarks run: Debian packages through
//! apt when root, s3s-fs through cargo into `.tools/`. Otherwise says exactly what to install.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

/// s3s-fs 0.14.1 is the newest that builds with our rustc.
const S3S_FS_VERSION: &str = "0.14.1";

/// A program from a Debian package.
pub(crate) struct AptTool {
    pub(crate) binary: &'static str,
    pub(crate) package: &'static str,
}

pub(crate) const REDIS: AptTool = AptTool { binary: "redis-server", package: "redis-server" };
pub(crate) const PROMETHEUS: AptTool = AptTool { binary: "prometheus", package: "prometheus" };
pub(crate) const PROMTOOL: AptTool = AptTool { binary: "promtool", package: "prometheus" };
pub(crate) const DOCKER_REGISTRY: AptTool = AptTool { binary: "docker-registry", package: "docker-registry" };
pub(crate) const HAPROXY: AptTool = AptTool { binary: "haproxy", package: "haproxy" };
pub(crate) const WRK: AptTool = AptTool { binary: "wrk", package: "wrk" };
/// Cluster set-up in tests (`redis-cli --cluster create`).
pub(crate) const REDIS_CLI: AptTool = AptTool { binary: "redis-cli", package: "redis-tools" };
/// Throwaway CAs and certificates for the TLS Redis of the tests.
pub(crate) const OPENSSL: AptTool = AptTool { binary: "openssl", package: "openssl" };
pub(crate) const VALGRIND: AptTool = AptTool { binary: "valgrind", package: "valgrind" };

/// Makes sure every tool in `tools` is on PATH, installing the missing ones with one
/// `apt-get install` when running as root.
pub(crate) fn ensure_apt(sh: &Shell, tools: &[AptTool]) -> anyhow::Result<()> {
    let mut missing: Vec<&str> = tools.iter().filter(|tool| which(tool.binary).is_none()).map(|t| t.package).collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root(sh) {
        bail!("missing programs; install them with:\n  sudo apt-get install -y {}", missing.join(" "));
    }
    eprintln!("xtask: installing {} with apt-get", missing.join(" "));
    cmd!(sh, "apt-get update -qq").env("DEBIAN_FRONTEND", "noninteractive").run()?;
    cmd!(sh, "apt-get install -y -qq --no-install-recommends {missing...}")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()
        .context("apt-get install failed")?;
    for tool in tools {
        if which(tool.binary).is_none() {
            bail!("`{}` is still missing after installing {}", tool.binary, tool.package);
        }
    }
    Ok(())
}

/// A program from PyPI, pinned, installed into its own virtual environment under `.tools/`.
pub(crate) struct PipTool {
    /// The script in the environment's `bin/`, also the directory's name.
    pub(crate) script: &'static str,
    /// `name==version`, as pip takes it.
    pub(crate) requirement: &'static str,
}

/// The newest Kubernetes schemas kubernetes-validate 1.37 carries are 1.37's.
pub(crate) const KUBERNETES_VALIDATE: PipTool =
    PipTool { script: "kubernetes-validate", requirement: "kubernetes-validate==1.37.0" };
/// Policy checks of the built overlays (`checkov --framework kubernetes`).
pub(crate) const CHECKOV: PipTool = PipTool { script: "checkov", requirement: "checkov==3.3.30" };

/// The tool's script in `.tools/<script>/bin/`, if installed.
pub(crate) fn pip_tool(root: &Path, tool: &PipTool) -> Option<PathBuf> {
    let script = root.join(".tools").join(tool.script).join("bin").join(tool.script);
    script.is_file().then_some(script)
}

/// Installs the tool into a virtual environment under `.tools/` (once).
pub(crate) fn ensure_pip(sh: &Shell, root: &Path, tool: &PipTool) -> anyhow::Result<PathBuf> {
    if let Some(script) = pip_tool(root, tool) {
        return Ok(script);
    }
    let venv = root.join(".tools").join(tool.script);
    let requirement = tool.requirement;
    eprintln!("xtask: installing {requirement} into {}", venv.display());
    cmd!(sh, "python3 -m venv {venv}").run().context("python3 -m venv failed: install python3 and python3-venv")?;
    let pip = venv.join("bin/pip");
    cmd!(sh, "{pip} install --quiet {requirement}")
        .run()
        .with_context(|| format!("pip install {requirement} failed"))?;
    pip_tool(root, tool).with_context(|| format!("{} is still missing after pip install", tool.script))
}

/// The s3s-fs binary under `.tools/s3s-fs/bin`, installed through cargo if absent (~3 min).
pub(crate) fn ensure_s3s_fs(sh: &Shell, root: &Path) -> anyhow::Result<PathBuf> {
    let install_root = root.join(".tools/s3s-fs");
    let binary = install_root.join("bin/s3s-fs");
    if binary.is_file() {
        return Ok(binary);
    }
    eprintln!("xtask: installing s3s-fs {S3S_FS_VERSION} into {} (takes a few minutes once)", install_root.display());
    let spec = format!("s3s-fs@{S3S_FS_VERSION}");
    cmd!(sh, "cargo install {spec} --locked --features binary --root {install_root}")
        .run()
        .context("cargo install s3s-fs failed")?;
    Ok(binary)
}

pub(crate) fn which(binary: &str) -> Option<PathBuf> {
    // Daemons such as haproxy install into sbin, which a non-login PATH may lack.
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(binary))
        .find(|candidate| candidate.is_file())
}

fn is_root(sh: &Shell) -> bool {
    cmd!(sh, "id -u").quiet().read().is_ok_and(|uid| uid.trim() == "0")
}

/// A check that cannot run because `tool` is missing: an error under `CI=true`, else a
/// `SKIPPED` line that the summary shows.
pub(crate) fn missing(tool: &str, check: &str) -> anyhow::Result<()> {
    if ebb_testkit::in_ci() {
        bail!("{check}: `{tool}` is missing and CI=true; a missing tool must not pass silently");
    }
    eprintln!("SKIPPED {check}: `{tool}` is not installed");
    Ok(())
}

/// A kubectl whose built-in kustomize renders our overlays: inline `patches` and a
/// NamespaceTransformer with `unsetOnly` (kustomize v5, kubectl 1.27 or newer). Debian bookworm's `kubernetes-client` is kubectl 1.20 with kustomize v2, which
/// cannot: no package source this machine reaches has a newer one, so it is not installed
/// for the user; a CI machine must bring its own (the machines here do).
pub(crate) fn kubectl() -> Result<PathBuf, String> {
    let binary = which("kubectl").ok_or("kubectl is not installed")?;
    let output = std::process::Command::new(&binary)
        .args(["version", "--client"])
        .output()
        .map_err(|error| format!("kubectl cannot run: {error}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    // kubectl prints its kustomize's version from 1.24 on; older ones are too old anyway.
    let kustomize = text.lines().find_map(|line| line.trim().strip_prefix("Kustomize Version:"));
    let major = kustomize.and_then(|v| v.trim().trim_start_matches('v').split('.').next()?.parse::<u32>().ok());
    match major {
        Some(major) if major >= 5 => Ok(binary),
        _ => Err("kubectl is older than 1.27: its kustomize (before v5) cannot build the overlays".to_owned()),
    }
}
