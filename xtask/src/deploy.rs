//! `cargo xtask deploy --registry HOST[:PORT]/PATH [--overlay dev|prod|keda] [--dry-run]`:
//! image → push → render with the pushed digest → `kubectl apply --server-side` to the
//! current context. `--dry-run` stops before applying and prints what would be applied.

use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::json;
use xshell::{Shell, cmd};

use crate::image::{self, push};
use crate::manifests::definition;

const OVERLAYS: [&str; 3] = ["dev", "prod", "keda"];

struct Args {
    registry: String,
    overlay: String,
    dry_run: bool,
}

fn parse(args: &[String]) -> anyhow::Result<Args> {
    let mut registry = None;
    let mut overlay = "prod".to_owned();
    let mut dry_run = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--registry" => registry = Some(args.next().context("--registry needs HOST[:PORT]/PATH")?.clone()),
            "--overlay" => overlay = args.next().context("--overlay needs dev, prod or keda")?.clone(),
            "--dry-run" => dry_run = true,
            other => {
                bail!("unknown argument `{other}`: --registry HOST[:PORT]/PATH, --overlay dev|prod|keda, --dry-run")
            }
        }
    }
    let registry = registry.context("--registry HOST[:PORT]/PATH is required: where the images go")?;
    if !OVERLAYS.contains(&overlay.as_str()) {
        bail!("unknown overlay `{overlay}`: one of {}", OVERLAYS.join(", "));
    }
    Ok(Args { registry: registry.trim_end_matches('/').to_owned(), overlay, dry_run })
}

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let args = parse(args)?;
    let sh = Shell::new()?;
    let root = crate::workspace_root();
    sh.change_dir(&root);
    if let Err(why) = crate::tools::kubectl() {
        bail!("deploy needs kubectl 1.27 or newer (its built-in kustomize renders the overlay): {why}");
    }
    crate::manifests::run(&["--check".to_owned()]).context("the committed manifests are not current")?;

    let mut images = Vec::new();
    for service in definition::services() {
        let image = image::build(&sh, &root, service.name, &root.join("target/image").join(service.name))?;
        let version = image.reference.rsplit_once(':').map_or("latest", |(_, tag)| tag).to_owned();
        let pushed = push::push(&image, &format!("{}/{}:{version}", args.registry, service.name))?;
        let (name, digest) = pushed.split_once('@').context("push returned no digest")?;
        eprintln!("xtask: pushed {pushed}");
        images.push(json!({ "name": service.image, "newName": name, "digest": digest }));
    }

    let dir = root.join("target/deploy").join(&args.overlay);
    std::fs::create_dir_all(&dir)?;
    let kustomization = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [format!("../../../deploy/overlays/{}", args.overlay)],
        "images": images,
    });
    std::fs::write(dir.join("kustomization.yaml"), serde_yaml::to_string(&kustomization)?)?;
    let rendered = cmd!(sh, "kubectl kustomize {dir}").quiet().read().context("kubectl kustomize failed")?;
    for line in rendered.lines().map(str::trim).filter(|line| line.starts_with("image:")) {
        if !line.contains("@sha256:") || line.ends_with(":latest") {
            bail!("`{line}` is not pinned by digest: every image must be `name@sha256:...` when deploying");
        }
    }
    let manifests: PathBuf = dir.join("manifests.yaml");
    std::fs::write(&manifests, &rendered)?;

    if args.dry_run {
        print!("{rendered}");
        eprintln!(
            "xtask: dry run: would run `kubectl apply --server-side --field-manager=ebb-xtask -f {}`",
            manifests.display()
        );
        return Ok(());
    }
    let context = cmd!(sh, "kubectl config current-context").quiet().ignore_stderr().read().unwrap_or_default();
    if context.trim().is_empty() {
        bail!(
            "kubectl has no current context: choose a cluster with `kubectl config use-context NAME` (or use --dry-run)"
        );
    }
    eprintln!("xtask: applying to context {context}");
    cmd!(sh, "kubectl apply --server-side --field-manager=ebb-xtask -f {manifests}")
        .run()
        .context("kubectl apply failed")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn arguments() {
        let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let parsed = parse(&args(&["--registry", "127.0.0.1:5000/ebb/", "--dry-run"])).expect("valid");
        assert_eq!(
            (parsed.registry.as_str(), parsed.overlay.as_str(), parsed.dry_run),
            ("127.0.0.1:5000/ebb", "prod", true)
        );
        assert!(parse(&args(&["--dry-run"])).is_err(), "a registry is required");
        assert!(parse(&args(&["--registry", "r/x", "--overlay", "staging"])).is_err());
    }
}
