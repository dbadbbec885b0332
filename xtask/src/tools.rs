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
/// `htpasswd -B`: the bcrypt users file of the password-protected registry in the tests.
pub(crate) const HTPASSWD: AptTool = AptTool { binary: "htpasswd", package: "apache2-utils" };
/// `docker-compose config`: the rendered compose file with the local one.
pub(crate) const DOCKER_COMPOSE: AptTool = AptTool { binary: "docker-compose", package: "docker-compose" };
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

pub(crate) use ebb_deploy::tools::{missing, which};

fn is_root(sh: &Shell) -> bool {
    cmd!(sh, "id -u").quiet().read().is_ok_and(|uid| uid.trim() == "0")
}
