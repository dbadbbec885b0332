//! `cargo xtask image [--bin NAME] [--out DIR] [--load] [--push REGISTRY/REPO[:TAG]]`:
//! a small, reproducible OCI image of one binary, assembled without a container engine —
//! what ko does for Go and Jib for Java.
//!
//! The image holds the release binary (`/app/<bin>`), the shared libraries it links (read
//! from the binary itself), CA certificates, a `nonroot` user (65532) and nothing else: no
//! shell, no package manager. It is written as an OCI image layout and an archive under
//! `target/image/`, with an SPDX SBOM beside it; the digest is printed last. The same
//! sources give the same digest: fixed timestamps (`SOURCE_DATE_EPOCH`, else the commit's
//! time), sorted entries, fixed modes and owners.

mod elf;
mod layer;
mod oci;
pub(crate) mod push;
mod sbom;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use self::layer::Tree;

/// The user the image runs as (distroless' `nonroot`).
pub(crate) const NONROOT: u32 = 65532;
const CA_CERTIFICATES: &str = "/etc/ssl/certs/ca-certificates.crt";

struct Args {
    bin: String,
    out: Option<PathBuf>,
    load: bool,
    push: Option<String>,
}

fn parse(args: &[String]) -> anyhow::Result<Args> {
    let mut parsed = Args { bin: "example-api".to_owned(), out: None, load: false, push: None };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().cloned().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--bin" => parsed.bin = value("--bin")?,
            "--out" => parsed.out = Some(PathBuf::from(value("--out")?)),
            "--load" => parsed.load = true,
            "--push" => parsed.push = Some(value("--push")?),
            other => bail!("unknown argument `{other}`: --bin NAME, --out DIR, --load, --push REGISTRY/REPO[:TAG]"),
        }
    }
    if let Some(target) = &parsed.push {
        push::parse_target(target)?;
    }
    Ok(parsed)
}

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let args = parse(args)?;
    let sh = Shell::new()?;
    let root = crate::workspace_root();
    sh.change_dir(&root);
    let out = args.out.clone().unwrap_or_else(|| root.join("target/image").join(&args.bin));
    let image = build(&sh, &root, &args.bin, &out)?;
    if args.load {
        eprintln!("xtask: loading into the container engine");
        let archive = out.join(format!("{}.oci.tar", args.bin));
        cmd!(sh, "docker load -i {archive}").run().context("docker load failed: is a Docker engine running?")?;
    }
    let mut last = image.digest.clone();
    if let Some(target) = &args.push {
        last = push::push(&image, target)?;
    }
    println!("{last}");
    Ok(())
}

/// Builds `bin` in release mode and writes its image (layout, archive, SBOM, digest) to `out`.
pub(crate) fn build(sh: &Shell, root: &Path, bin: &str, out: &Path) -> anyhow::Result<oci::Image> {
    eprintln!("xtask: building {bin} (release)");
    let revision = cmd!(sh, "git rev-parse HEAD").quiet().ignore_stderr().read().unwrap_or_default();
    // Compiled in (`ebb_server::build_info!`): the image holds no checkout to read it from.
    cmd!(sh, "cargo build --release --locked -p {bin} --bin {bin}")
        .env(ebb_server::ENV_GIT_REVISION, &revision)
        .run()
        .with_context(|| format!("the release build of {bin} failed (see cargo's output above)"))?;
    let binary = root.join("target/release").join(bin);
    if !binary.is_file() {
        bail!("{} is missing after the build: is `{bin}` a binary of this workspace?", binary.display());
    }

    let epoch = source_date_epoch(sh);
    let created = rfc3339(epoch);
    let (tree, binary_size) = rootfs(bin, &binary)?;
    eprintln!("xtask: assembling the layer ({} entries, {:.1} MiB)", tree.len(), mib(tree.content_size()));
    let content_size = tree.content_size();
    let layer = layer::build(tree, epoch)?;

    let version = workspace_field(root, "version").unwrap_or_else(|| "0.0.0".to_owned());
    let labels = [
        ("org.opencontainers.image.title", bin.to_owned()),
        ("org.opencontainers.image.version", version.clone()),
        ("org.opencontainers.image.revision", revision),
        ("org.opencontainers.image.source", workspace_field(root, "repository").unwrap_or_default()),
        ("org.opencontainers.image.created", created.clone()),
    ];
    let entrypoint = format!("/app/{bin}");
    let env = [
        ("PATH", "/app"),
        ("EBB_HTTP_ADDR", "0.0.0.0:8080"),
        ("EBB_METRICS_ADDR", "0.0.0.0:9090"),
        ("SSL_CERT_FILE", CA_CERTIFICATES),
    ];
    let settings = oci::Settings {
        entrypoint: &entrypoint,
        env: &env,
        ports: &[8080, 9090],
        labels: &labels,
        user: NONROOT,
        created: created.clone(),
        reference: format!("ebb/{bin}:{version}"),
    };
    let image = oci::assemble(layer, &settings)?;

    std::fs::create_dir_all(out)?;
    let layout = out.join("oci");
    let archive = out.join(format!("{bin}.oci.tar"));
    image.write(&layout, &archive)?;
    std::fs::write(out.join("sbom.spdx.json"), sbom::spdx(sh, bin, &version, &created)?)?;
    std::fs::write(out.join("digest"), format!("{}\n", image.digest))?;

    let compressed = image.layer.gzip.len();
    eprintln!(
        "xtask: image {}: {:.1} MiB on disk ({:.1} MiB compressed); binary {:.1} MiB; {:.2}x the binary",
        image.reference,
        mib(content_size),
        mib(compressed),
        mib(binary_size),
        content_size as f64 / binary_size as f64
    );
    eprintln!("xtask: wrote {} (OCI layout), {} and the SBOM beside them", layout.display(), archive.display());
    Ok(image)
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
        Err(_) => eprintln!("xtask: warning: no {CA_CERTIFICATES} on this machine; TLS clients in the image will fail"),
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

/// `version = "..."` or `repository = "..."` from the root manifest's [workspace.package].
pub(crate) fn workspace_field(root: &Path, field: &str) -> Option<String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).ok()?;
    let section = manifest.split("[workspace.package]").nth(1)?.split("\n[").next()?;
    section.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == field).then(|| value.trim().trim_matches('"').to_owned())
    })
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

    #[test]
    fn arguments() {
        let args: Vec<String> = ["--bin", "example-minimal", "--load"].iter().map(|s| (*s).to_owned()).collect();
        let parsed = parse(&args).expect("valid");
        assert_eq!((parsed.bin.as_str(), parsed.load), ("example-minimal", true));
        assert!(parse(&["--frobnicate".to_owned()]).is_err());
        assert!(parse(&["--push".to_owned(), "nohost".to_owned()]).is_err());
    }
}
