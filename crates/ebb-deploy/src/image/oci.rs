//! The OCI image: config, manifest and index as JSON blobs, written as an image layout
//! directory and as one archive. The archive also holds Docker's `manifest.json`, so that
//! `docker load` of engines without OCI-archive support takes it too.

use std::path::Path;

use serde_json::{Value, json};

use super::layer::{Layer, sha256};

pub(crate) const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Every blob of the image, and the names it goes by.
pub(crate) struct Image {
    pub(crate) config: Vec<u8>,
    pub(crate) layer: Layer,
    pub(crate) manifest: Vec<u8>,
    /// `sha256:...` of the manifest: the image's digest.
    pub(crate) digest: String,
    /// `name:tag` for `docker load`.
    pub(crate) reference: String,
}

pub(crate) struct Settings<'a> {
    pub(crate) entrypoint: &'a str,
    pub(crate) env: &'a [(&'a str, &'a str)],
    pub(crate) ports: &'a [u16],
    pub(crate) labels: &'a [(&'a str, String)],
    pub(crate) user: u32,
    pub(crate) created: String,
    pub(crate) reference: String,
}

pub(crate) fn assemble(layer: Layer, settings: &Settings<'_>) -> anyhow::Result<Image> {
    let env: Vec<String> = settings.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let ports: serde_json::Map<String, Value> =
        settings.ports.iter().map(|p| (format!("{p}/tcp"), json!({}))).collect();
    let labels: serde_json::Map<String, Value> =
        settings.labels.iter().map(|(k, v)| ((*k).to_owned(), Value::String(v.clone()))).collect();
    let config = json!({
        "architecture": architecture(),
        "os": "linux",
        "created": settings.created,
        "config": {
            "User": format!("{0}:{0}", settings.user),
            "Entrypoint": [settings.entrypoint],
            "Env": env,
            "ExposedPorts": ports,
            "Labels": labels,
            "StopSignal": "SIGTERM",
            "WorkingDir": "/",
        },
        "rootfs": { "type": "layers", "diff_ids": [layer.diff_id] },
        "history": [{ "created": settings.created, "created_by": "cargo xtask image" }],
    });
    let config = serde_json::to_vec(&config)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": { "mediaType": CONFIG, "digest": sha256(&config), "size": config.len() },
        "layers": [{ "mediaType": LAYER, "digest": layer.digest, "size": layer.gzip.len() }],
        "annotations": labels,
    });
    let manifest = serde_json::to_vec(&manifest)?;
    Ok(Image { digest: sha256(&manifest), config, layer, manifest, reference: settings.reference.clone() })
}

fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    }
}

impl Image {
    /// The blobs by digest, config first.
    pub(crate) fn blobs(&self) -> [(String, &[u8]); 3] {
        [
            (sha256(&self.config), &self.config),
            (self.layer.digest.clone(), &self.layer.gzip),
            (self.digest.clone(), &self.manifest),
        ]
    }

    /// Writes the OCI image layout into `dir` (replacing it) and the archive to `archive`.
    pub(crate) fn write(&self, dir: &Path, archive: &Path) -> anyhow::Result<()> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for (digest, bytes) in self.blobs() {
            files.push((blob_path(&digest), bytes.to_vec()));
        }
        let (name, tag) = self.reference.rsplit_once(':').unwrap_or((&self.reference, "latest"));
        let index = json!({
            "schemaVersion": 2,
            "mediaType": INDEX,
            "manifests": [{
                "mediaType": MANIFEST,
                "digest": self.digest,
                "size": self.manifest.len(),
                "annotations": {
                    "org.opencontainers.image.ref.name": tag,
                    "io.containerd.image.name": format!("{name}:{tag}"),
                },
            }],
        });
        files.push(("index.json".to_owned(), serde_json::to_vec(&index)?));
        files.push(("oci-layout".to_owned(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()));
        let docker = json!([{
            "Config": blob_path(&sha256(&self.config)),
            "RepoTags": [self.reference],
            "Layers": [blob_path(&self.layer.digest)],
        }]);
        files.push(("manifest.json".to_owned(), serde_json::to_vec(&docker)?));
        files.sort();

        let mut tar = tar::Builder::new(Vec::new());
        for (path, bytes) in &files {
            let target = dir.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&target, bytes)?;
            let mut header = tar::Header::new_ustar();
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_size(bytes.len() as u64);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, path, bytes.as_slice())?;
        }
        std::fs::write(archive, tar.into_inner()?)?;
        Ok(())
    }
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}
