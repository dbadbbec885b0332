//! `cargo xtask deploy --registry HOST[:PORT]/PATH [--overlay dev|prod|keda] [--dry-run]`:
//! image → push → render with the pushed digest → `kubectl apply --server-side` to the
//! current context. `--dry-run` stops before applying and prints what would be applied.

use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::json;
use xshell::{Shell, cmd};

use crate::cli::DeployArgs;
use crate::image::push;
use crate::project::Project;
use crate::tools;

pub(crate) fn run(project: &Project, args: &DeployArgs) -> anyhow::Result<()> {
    let sh = Shell::new()?;
    let root = &project.root;
    sh.change_dir(root);
    if let Err(why) = tools::kubectl() {
        bail!("deploy needs kubectl 1.27 or newer (its built-in kustomize renders the overlay): {why}");
    }
    crate::manifests::run(project, true).context("the committed manifests are not current")?;

    let mut images = Vec::new();
    for service in &project.services {
        let image = project.build_image(service, &root.join("target/image").join(&service.name))?;
        let tag = service.tag.as_deref().context("no tag")?;
        let pushed = push::push(&image.image, &format!("{}/{}:{tag}", args.registry, service.name))?;
        let (name, digest) = pushed.split_once('@').context("push returned no digest")?;
        eprintln!("ebb-deploy: pushed {pushed}");
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
            "ebb-deploy: dry run: would run `kubectl apply --server-side --field-manager=ebb-deploy -f {}`",
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
    eprintln!("ebb-deploy: applying to context {context}");
    cmd!(sh, "kubectl apply --server-side --field-manager=ebb-deploy -f {manifests}")
        .run()
        .context("kubectl apply failed")?;
    Ok(())
}
