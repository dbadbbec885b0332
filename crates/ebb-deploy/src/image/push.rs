//! `--push REGISTRY/REPO[:TAG]`: the OCI distribution API — each blob unless the registry
//! has it (HEAD, then POST + PUT monolithic upload), then the manifest under the tag.

use anyhow::{Context, bail};
use reqwest::StatusCode;
use reqwest::blocking::Client;

use super::oci::{Image, MANIFEST};

/// `host[:port]/repo/path[:tag]` split into (registry, repository, tag).
pub(crate) fn parse_target(target: &str) -> anyhow::Result<(String, String, String)> {
    let (registry, rest) =
        target.split_once('/').context("expected REGISTRY/REPO[:TAG], e.g. 127.0.0.1:5000/ebb/api")?;
    let (repository, tag) = match rest.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, tag),
        _ => (rest, "latest"),
    };
    if repository.is_empty()
        || !repository.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b))
    {
        bail!("`{repository}` is not a repository name (lowercase letters, digits, `._-/`)");
    }
    Ok((registry.to_owned(), repository.to_owned(), tag.to_owned()))
}

/// Pushes `image` and returns `registry/repo@sha256:...`.
pub(crate) fn push(image: &Image, target: &str) -> anyhow::Result<String> {
    let (registry, repository, tag) = parse_target(target)?;
    let scheme = if registry.starts_with("127.") || registry.starts_with("localhost") || registry.starts_with("[::1]") {
        "http"
    } else {
        "https"
    };
    let base = format!("{scheme}://{registry}/v2/{repository}");
    let client = Client::builder().timeout(std::time::Duration::from_secs(300)).build()?;
    let [config, layer, _manifest] = image.blobs();
    for (digest, bytes) in [config, layer] {
        let exists =
            client.head(format!("{base}/blobs/{digest}")).send().with_context(|| format!("cannot reach {registry}"))?;
        if exists.status() == StatusCode::OK {
            eprintln!("ebb-deploy: {digest} already in {registry}");
            continue;
        }
        let started = client.post(format!("{base}/blobs/uploads/")).send()?;
        if started.status() != StatusCode::ACCEPTED {
            bail!("{registry} refused to start an upload: {} {}", started.status(), started.text().unwrap_or_default());
        }
        let location = started.headers().get("location").and_then(|v| v.to_str().ok()).context("no upload location")?;
        let location =
            if location.starts_with("http") { location.to_owned() } else { format!("{scheme}://{registry}{location}") };
        let separator = if location.contains('?') { '&' } else { '?' };
        eprintln!("ebb-deploy: pushing {digest} ({} KiB)", bytes.len() / 1024);
        let put = client
            .put(format!("{location}{separator}digest={digest}"))
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()?;
        if put.status() != StatusCode::CREATED {
            bail!("{registry} refused blob {digest}: {} {}", put.status(), put.text().unwrap_or_default());
        }
    }
    let put = client
        .put(format!("{base}/manifests/{tag}"))
        .header("content-type", MANIFEST)
        .body(image.manifest.clone())
        .send()?;
    if put.status() != StatusCode::CREATED {
        bail!("{registry} refused the manifest: {} {}", put.status(), put.text().unwrap_or_default());
    }
    Ok(format!("{registry}/{repository}@{}", image.digest))
}

#[cfg(test)]
mod tests {
    use super::parse_target;

    #[test]
    fn targets() {
        let parse = |t| parse_target(t).expect("valid");
        assert_eq!(parse("127.0.0.1:5000/ebb/api:1.0"), ("127.0.0.1:5000".into(), "ebb/api".into(), "1.0".into()));
        assert_eq!(parse("registry.example/ebb/api"), ("registry.example".into(), "ebb/api".into(), "latest".into()));
        assert!(parse_target("no-slash").is_err());
        assert!(parse_target("host/Upper").is_err());
    }
}
