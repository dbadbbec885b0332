//! `cargo xtask image [--service NAME] [--out DIR] [--load] [--push REGISTRY/REPO[:TAG]]`:
//! a small, reproducible OCI image of one binary, assembled without a container engine —
//! what ko does for Go and Jib for Java.
//!
//! The image holds the release binary (`/app/<bin>`), the shared libraries it links (read
//! from the binary itself), CA certificates, a `nonroot` user (65532) and nothing else: no
//! shell, no package manager. It is written as an OCI image layout and an archive under
//! `target/image/<service>/`, with an SPDX SBOM beside it; the digest is printed last. The same
//! sources give the same digest: fixed timestamps (`SOURCE_DATE_EPOCH`, else the commit's
//! time), sorted entries, fixed modes and owners.
//!
//! What it assumes: a Linux host building for itself (no `build.target`), with the linked
//! libraries in the usual glibc directories (`/lib`, `/usr/lib`, their multiarch
//! subdirectories), as on Debian and Ubuntu; a statically linked (musl) binary needs none.
//! The release build runs with `--locked`: commit `Cargo.lock`.

mod credentials;
mod elf;
mod layer;
mod oci;
pub(crate) mod push;
mod sbom;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use self::layer::Tree;
use crate::cli::ImageArgs;
use crate::project::{DefinitionErrors, Project};
use crate::service::Service;

/// The user the image runs as (distroless' `nonroot`).
pub(crate) const NONROOT: u32 = 65532;
const CA_CERTIFICATES: &str = "/etc/ssl/certs/ca-certificates.crt";

/// An image built by [`Project::build_image`]: where its files are and its digest.
pub struct BuiltImage {
    /// `sha256:...` of the manifest.
    pub digest: String,
    /// `repository:tag` it was built as.
    pub reference: String,
    /// The directory holding `oci/`, `<binary>.oci.tar`, `sbom.spdx.json` and `digest`.
    pub dir: PathBuf,
    /// The archive `docker load` takes.
    pub archive: PathBuf,
    pub(crate) image: oci::Image,
}

pub(crate) fn run(project: &Project, args: &ImageArgs) -> anyhow::Result<()> {
    let service = match &args.service {
        Some(name) => project.service(name).cloned().map_or_else(|| project.any_binary(name), Ok)?,
        None => project.services[0].clone(),
    };
    let out = args.out.clone().unwrap_or_else(|| project.root.join("target/image").join(&service.name));
    let image = project.build_image(&service, &out)?;
    if args.load {
        image.load()?;
    }
    let mut last = image.digest.clone();
    if let Some(target) = &args.push {
        let tag = service.tag.as_deref().unwrap_or("latest");
        last = push::push(&image.image, &push::with_default_tag(target, tag))?;
    }
    println!("{last}");
    Ok(())
}

impl BuiltImage {
    /// `docker load`s the archive into the local engine.
    pub fn load(&self) -> anyhow::Result<()> {
        eprintln!("ebb-deploy: loading {} into the container engine", self.reference);
        let sh = Shell::new()?;
        let archive = &self.archive;
        cmd!(sh, "docker load -i {archive}").run().context("docker load failed: is a Docker engine running?")?;
        Ok(())
    }
}

impl Project {
    /// A binary of the workspace that is no service, with ebb's defaults (its package must
    /// have the same name).
    fn any_binary(&self, name: &str) -> anyhow::Result<Service> {
        let names: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
        match Project::at(&self.root, &[Service::new(name)]) {
            Ok(project) => Ok(project.services[0].clone()),
            // One line with the reason: the name is unknown, or not usable as an image.
            Err(error) => {
                let reason = match error.downcast_ref::<DefinitionErrors>() {
                    Some(DefinitionErrors(problems)) => problems.join("; "),
                    None => error.to_string(),
                };
                bail!(
                    "`{name}` is neither a service ({}) nor usable as a binary of its own package: {reason}",
                    names.join(", ")
                )
            }
        }
    }

    /// Builds the service's binary in release mode and writes its image (OCI layout,
    /// archive, SBOM, digest) to `out`.
    pub fn build_image(&self, service: &Service, out: &Path) -> anyhow::Result<BuiltImage> {
        let sh = Shell::new()?;
        sh.change_dir(&self.root);
        let (package, bin) = (&service.package, &service.binary);
        eprintln!("ebb-deploy: building {bin} (release)");
        let revision = cmd!(sh, "git rev-parse HEAD").quiet().ignore_stderr().read().unwrap_or_default();
        // Compiled in (ebb-server's `build_info!`): the image holds no checkout to read it from.
        let cargo = cargo();
        cmd!(sh, "{cargo} build --release --locked -p {package} --bin {bin}")
            .env(ebb_core::names::ENV_GIT_REVISION, &revision)
            .run()
            .with_context(|| format!("the release build of {bin} failed (see cargo's output above)"))?;
        let binary = self.target_dir.join("release").join(bin);
        if !binary.is_file() {
            bail!("{} is missing after the build", binary.display());
        }

        let epoch = source_date_epoch(&sh);
        let created = rfc3339(epoch);
        let (tree, binary_size) = rootfs(bin, &binary)?;
        eprintln!("ebb-deploy: assembling the layer ({} entries, {:.1} MiB)", tree.len(), mib(tree.content_size()));
        let content_size = tree.content_size();
        let layer = layer::build(tree, epoch)?;

        let version = service.tag.clone().unwrap_or_default();
        let labels = [
            ("org.opencontainers.image.title", service.name.clone()),
            ("org.opencontainers.image.version", version.clone()),
            ("org.opencontainers.image.revision", revision),
            ("org.opencontainers.image.source", self.repository.clone()),
            ("org.opencontainers.image.created", created.clone()),
        ];
        let entrypoint = format!("/app/{bin}");
        let (http, metrics) = (format!("0.0.0.0:{}", service.http_port), format!("0.0.0.0:{}", service.metrics_port));
        let env = [
            ("PATH", "/app"),
            (ebb_core::names::ENV_HTTP_ADDR, &http),
            (ebb_core::names::ENV_METRICS_ADDR, &metrics),
            ("SSL_CERT_FILE", CA_CERTIFICATES),
        ];
        let settings = oci::Settings {
            entrypoint: &entrypoint,
            env: &env,
            ports: &[service.http_port, service.metrics_port],
            labels: &labels,
            user: NONROOT,
            created: created.clone(),
            reference: service.image_reference(),
        };
        let image = oci::assemble(layer, &settings)?;

        std::fs::create_dir_all(out)?;
        let layout = out.join("oci");
        let archive = out.join(format!("{bin}.oci.tar"));
        image.write(&layout, &archive)?;
        std::fs::write(out.join("sbom.spdx.json"), sbom::spdx(&sh, package, &version, &created)?)?;
        std::fs::write(out.join("digest"), format!("{}\n", image.digest))?;

        let compressed = image.layer.gzip.len();
        eprintln!(
            "ebb-deploy: image {}: {:.1} MiB on disk ({:.1} MiB compressed); binary {:.1} MiB; {:.2}x the binary",
            image.reference,
            mib(content_size),
            mib(compressed),
            mib(binary_size),
            content_size as f64 / binary_size as f64
        );
        eprintln!(
            "ebb-deploy: wrote {} (OCI layout), {} and the SBOM beside them",
            layout.display(),
            archive.display()
        );
        Ok(BuiltImage {
            digest: image.digest.clone(),
            reference: image.reference.clone(),
            dir: out.to_owned(),
            archive,
            image,
        })
    }
}

/// The cargo that runs this (`cargo xtask` sets `CARGO`), else the one on PATH.
pub(crate) fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// The binary and what it needs, with the user, certificates and writable /tmp.
fn rootfs(bin: &str, binary: &Path) -> anyhow::Result<(Tree, usize)> {
    let mut tree = Tree::default();
    let data = std::fs::read(binary)?;
    let binary_size = data.len();
    tree.file(&format!("/app/{bin}"), data, 0o755);
    for library in elf::runtime_files(binary)? {
        let data = std::fs::read(&library).with_context(|| format!("cannot read {}", library.display()))?;
        tree.file(&library.display().to_string(), data, 0o755);
    }
    match std::fs::read(CA_CERTIFICATES) {
        Ok(certificates) => tree.file(CA_CERTIFICATES, certificates, 0o644),
        Err(_) => {
            eprintln!("ebb-deploy: warning: no {CA_CERTIFICATES} on this machine; TLS clients in the image will fail")
        }
    }
    let passwd = format!(
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n"
    );
    tree.file("/etc/passwd", passwd.into_bytes(), 0o644);
    tree.file("/etc/group", format!("root:x:0:\nnonroot:x:{NONROOT}:\n").into_bytes(), 0o644);
    tree.dir("/home/nonroot", 0o700, NONROOT);
    tree.dir("/tmp", 0o1777, 0);
    Ok((tree, binary_size))
}

/// `SOURCE_DATE_EPOCH`, else the time of the commit checked out, else 0.
fn source_date_epoch(sh: &Shell) -> u64 {
    if let Some(epoch) = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.parse().ok()) {
        return epoch;
    }
    cmd!(sh, "git log -1 --format=%ct")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn rfc3339(epoch: u64) -> String {
    let days = epoch / 86_400;
    let (hour, minute, second) = ((epoch % 86_400) / 3600, (epoch % 3600) / 60, epoch % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_764_036_000), "2025-11-25T02:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
