//! The commands a user's `cargo xtask` gets, parsed by clap: `image`, `manifests`, `deploy`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// What `ebb_deploy` does for a workspace.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// A small, reproducible OCI image of a service's binary, with an SPDX SBOM, built
    /// without a container engine; prints its digest (or the pushed reference) last
    Image(ImageArgs),
    /// Render deploy/ (bases, overlays dev|prod|keda) from the service definitions
    Manifests(ManifestsArgs),
    /// Images -> push -> manifests pinned by digest -> kubectl apply to the current context
    Deploy(DeployArgs),
}

/// `image`'s arguments.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// The service, or any binary of the workspace (then with ebb's defaults); default: the
    /// first service
    #[arg(long, visible_alias = "bin", value_name = "NAME")]
    pub service: Option<String>,
    /// Where the layout, archive, SBOM and digest go; default: `target/image/SERVICE`
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// `docker load` the archive into the local engine
    #[arg(long)]
    pub load: bool,
    /// Push to an OCI registry, with the credentials of the Docker config
    #[arg(long, value_name = "REGISTRY/REPO[:TAG]", value_parser = parse_push_target)]
    pub push: Option<String>,
}

/// `manifests`' arguments.
#[derive(Debug, Args)]
pub struct ManifestsArgs {
    /// Render nothing; fail when deploy/ is stale or inconsistent (schemas, checkov, scaling)
    #[arg(long)]
    pub check: bool,
    /// First install the pinned checkers (kubernetes-validate, checkov) into .tools/ with pip
    #[arg(long)]
    pub install_checkers: bool,
}

/// `deploy`'s arguments.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Where the images go: `HOST[:PORT]/PATH`, each service as `PATH/SERVICE`
    #[arg(long, value_name = "HOST[:PORT]/PATH", value_parser = parse_registry)]
    pub registry: String,
    /// The overlay to apply
    #[arg(long, default_value = "prod", value_parser = ["dev", "prod", "keda"])]
    pub overlay: String,
    /// Build and push the images, render the pinned overlay, print it, and stop before applying
    #[arg(long)]
    pub dry_run: bool,
}

fn parse_push_target(target: &str) -> Result<String, String> {
    crate::image::push::parse_target(target).map(|_| target.to_owned()).map_err(|error| error.to_string())
}

fn parse_registry(registry: &str) -> Result<String, String> {
    let registry = registry.trim_end_matches('/');
    if !registry.contains('/') || registry.starts_with('/') {
        return Err("expected HOST[:PORT]/PATH, e.g. 127.0.0.1:5000/shop".to_owned());
    }
    Ok(registry.to_owned())
}
