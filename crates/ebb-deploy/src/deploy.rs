//! `cargo xtask deploy --registry HOST[:PORT]/PATH [--overlay dev|prod|keda] [--dry-run]`:
//! image → push → render with the pushed digest → `kubectl apply --server-side` to the
//! current context. `--dry-run` stops before applying and prints what would be applied.

use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::Deserialize;
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
    // kustomize takes no absolute paths and resolves symbolic links (a `target` that is a
    // link) first: the path between the two real directories.
    let overlay = relative(&dir.canonicalize()?, &root.join("deploy/overlays").join(&args.overlay).canonicalize()?);
    let kustomization = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [overlay],
        "images": images,
    });
    std::fs::write(dir.join("kustomization.yaml"), serde_yaml::to_string(&kustomization)?)?;
    let rendered = cmd!(sh, "kubectl kustomize {dir}").quiet().read().context("kubectl kustomize failed")?;
    for document in serde_yaml::Deserializer::from_str(&rendered) {
        let object = serde_json::Value::deserialize(document)?;
        if let Some(image) = images_of(&object).into_iter().find(|image| !image.contains("@sha256:")) {
            bail!("`{image}` is not pinned by digest: every image must be `name@sha256:...` when deploying");
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

/// Every container image of an object (pod templates, init containers included).
fn images_of(value: &serde_json::Value) -> Vec<String> {
    let mut images = Vec::new();
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                if key == "containers" || key == "initContainers" {
                    let containers = value.as_array().into_iter().flatten();
                    images.extend(containers.filter_map(|c| c["image"].as_str().map(str::to_owned)));
                } else {
                    images.extend(images_of(value));
                }
            }
        }
        serde_json::Value::Array(items) => images.extend(items.iter().flat_map(images_of)),
        _ => {}
    }
    images
}

/// `to` relative to `from` (both absolute and canonical), with `/` separators.
fn relative(from: &std::path::Path, to: &std::path::Path) -> String {
    let (from, to): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let up = std::iter::repeat_n("..".to_owned(), from.len() - common);
    let down = to[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned());
    up.chain(down).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::{images_of, relative};

    #[test]
    fn paths_between_real_directories() {
        assert_eq!(
            relative(Path::new("/w/target/deploy/prod"), Path::new("/w/deploy/overlays/prod")),
            "../../../deploy/overlays/prod"
        );
        assert_eq!(
            relative(Path::new("/scratch/t/deploy/prod"), Path::new("/w/deploy/overlays/prod")),
            "../../../../w/deploy/overlays/prod"
        );
    }

    #[test]
    fn every_container_image_is_found() {
        let deployment = json!({ "spec": { "template": { "spec": {
            "initContainers": [{ "image": "init:1" }],
            "containers": [{ "name": "a", "image": "a@sha256:00" }, { "image": "b:latest" }],
        }}}});
        assert_eq!(images_of(&deployment), ["a@sha256:00", "b:latest", "init:1"]);
    }
}
