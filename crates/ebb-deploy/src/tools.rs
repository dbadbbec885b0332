//! The programs the commands run: kubectl (overlays, deploy) and the pinned checkers of
//! `manifests --check`, looked up on PATH or in `<workspace>/.tools/`. A check that cannot
//! run is an error under `CI=true` and a `SKIPPED` line otherwise.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

/// A checker from PyPI, pinned, installed into its own virtual environment under `.tools/`.
#[derive(Clone, Copy, Debug)]
pub struct PipTool {
    /// The script in the environment's `bin/`, also the directory's name.
    pub script: &'static str,
    /// `name==version`, as pip takes it.
    pub requirement: &'static str,
}

/// Offline schema validation (kubernetes-validate 1.37 carries the schemas up to 1.37).
pub const KUBERNETES_VALIDATE: PipTool =
    PipTool { script: "kubernetes-validate", requirement: "kubernetes-validate==1.37.0" };
/// Policy checks of the built overlays (`checkov --framework kubernetes`).
pub const CHECKOV: PipTool = PipTool { script: "checkov", requirement: "checkov==3.3.30" };

/// Both checkers `manifests --check` runs.
pub const CHECKERS: [PipTool; 2] = [KUBERNETES_VALIDATE, CHECKOV];

/// The tool's script in `<root>/.tools/<script>/bin/`, else on PATH.
pub(crate) fn pip_tool(root: &Path, tool: &PipTool) -> Option<PathBuf> {
    let script = root.join(".tools").join(tool.script).join("bin").join(tool.script);
    if script.is_file() { Some(script) } else { which(tool.script) }
}

/// Installs `tool` into a virtual environment under `<root>/.tools/` unless it is there.
pub fn install(root: &Path, tool: &PipTool) -> anyhow::Result<PathBuf> {
    let script = root.join(".tools").join(tool.script).join("bin").join(tool.script);
    if script.is_file() {
        return Ok(script);
    }
    let sh = Shell::new()?;
    let venv = root.join(".tools").join(tool.script);
    let requirement = tool.requirement;
    eprintln!("ebb-deploy: installing {requirement} into {}", venv.display());
    cmd!(sh, "python3 -m venv {venv}").run().context("python3 -m venv failed: install python3 and python3-venv")?;
    let pip = venv.join("bin/pip");
    cmd!(sh, "{pip} install --quiet {requirement}")
        .run()
        .with_context(|| format!("pip install {requirement} failed"))?;
    if !script.is_file() {
        bail!("{} is still missing after pip install", tool.script);
    }
    Ok(script)
}

/// A program on PATH (or in sbin, which a non-login PATH may lack).
pub fn which(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(binary))
        .find(|candidate| candidate.is_file())
}

/// Whether this runs in CI (`CI` is `true`, `1` or `yes`), where no check may be skipped.
pub fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true" | "1" | "yes"))
}

/// A check that cannot run because `tool` is missing: an error under `CI=true`, else a
/// `SKIPPED` line.
pub fn missing(tool: &str, check: &str) -> anyhow::Result<()> {
    if in_ci() {
        bail!("{check}: `{tool}` is missing and CI=true; a missing tool must not pass silently");
    }
    eprintln!("SKIPPED {check}: `{tool}` is not installed");
    Ok(())
}

/// A kubectl whose built-in kustomize renders the overlays: inline `patches` and a
/// NamespaceTransformer with `unsetOnly` (kustomize v5, kubectl 1.27 or newer). Debian
/// bookworm's `kubernetes-client` is kubectl 1.20 with kustomize v2, which cannot.
pub fn kubectl() -> Result<PathBuf, String> {
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
