//! The workspace the commands work in: its root (where `deploy/` and `target/` are), the
//! services with their image tags resolved from their packages' versions, and the namespace
//! the overlays put them in.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::platform::Platform;
use crate::service::Service;

/// A cargo workspace and the services deployed from it.
#[derive(Clone, Debug)]
pub struct Project {
    pub(crate) root: PathBuf,
    pub(crate) namespace: String,
    pub(crate) services: Vec<Service>,
    pub(crate) platform: Platform,
    /// Cargo's target directory (`CARGO_TARGET_DIR` or `build.target-dir` may move it).
    pub(crate) target_dir: PathBuf,
    /// `[workspace.package] repository` or the first service package's, for the image label.
    pub(crate) repository: String,
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_root: PathBuf,
    target_directory: PathBuf,
}

/// Every problem of a set of definitions, found at once.
#[derive(Debug)]
pub(crate) struct DefinitionErrors(pub(crate) Vec<String>);

impl std::fmt::Display for DefinitionErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the service definitions are wrong:\n  - {}", self.0.join("\n  - "))
    }
}

impl std::error::Error for DefinitionErrors {}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    repository: Option<String>,
    targets: Vec<Target>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

impl Project {
    /// The cargo workspace around the current directory (what `cargo xtask` runs in).
    pub fn discover(services: &[Service]) -> anyhow::Result<Project> {
        Project::at(&std::env::current_dir()?, services)
    }

    /// The cargo workspace holding `dir`. Checks that every service names a binary of the
    /// workspace and a valid Kubernetes name, and tags each image with its package's version
    /// unless the service sets a tag.
    pub fn at(dir: &Path, services: &[Service]) -> anyhow::Result<Project> {
        let output = std::process::Command::new(crate::image::cargo())
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .current_dir(dir)
            .output()
            .context("cannot run `cargo metadata`")?;
        if !output.status.success() {
            bail!("`cargo metadata` failed in {}:\n{}", dir.display(), String::from_utf8_lossy(&output.stderr));
        }
        let metadata: Metadata = serde_json::from_slice(&output.stdout).context("cannot read `cargo metadata`")?;
        let mut problems = Vec::new();
        let mut resolved = Vec::new();
        if services.is_empty() {
            problems.push("no services: pass at least one `Service`".to_owned());
        }
        for service in services {
            problems.extend(invalid_names(service));
            if services.iter().filter(|other| other.name == service.name).count() > 1 {
                problems.push(format!("service `{}` is defined twice", service.name));
            }
            // deploy maps each image name to its own pushed digest: one name, one image.
            if let Some(other) =
                services.iter().find(|other| other.image == service.image && other.name != service.name)
            {
                problems.push(format!(
                    "services `{}` and `{}` share the image `{}`: give each its own `with_image`",
                    service.name, other.name, service.image
                ));
            }
            let Some(package) = metadata.packages.iter().find(|p| p.name == service.package) else {
                problems.push(format!(
                    "service `{}`: no package `{}` in this workspace (set it with `with_package`)",
                    service.name, service.package
                ));
                continue;
            };
            if !package.targets.iter().any(|t| t.name == service.binary && t.kind.iter().any(|k| k == "bin")) {
                problems.push(format!(
                    "service `{}`: package `{}` has no binary `{}` (set it with `with_binary`)",
                    service.name, service.package, service.binary
                ));
            }
            let mut service = service.clone();
            service.tag.get_or_insert_with(|| package.version.clone());
            resolved.push(service);
        }
        if !problems.is_empty() {
            let mut seen = std::collections::HashSet::new();
            problems.retain(|problem| seen.insert(problem.clone()));
            return Err(DefinitionErrors(problems).into());
        }
        let repository = metadata
            .packages
            .iter()
            .filter(|p| resolved.iter().any(|s| s.package == p.name))
            .find_map(|p| p.repository.clone())
            .unwrap_or_default();
        let namespace = resolved[0].name.clone();
        Ok(Project {
            root: metadata.workspace_root,
            namespace,
            services: resolved,
            platform: Platform::default(),
            target_dir: metadata.target_directory,
            repository,
        })
    }

    /// The namespace the overlays put every service in. Default: the first service's name.
    #[must_use]
    pub fn with_namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_owned();
        self
    }

    /// Where KEDA's Prometheus triggers query. Default:
    /// `http://prometheus-operated.monitoring.svc:9090` (the Prometheus Operator's service).
    #[must_use]
    pub fn with_prometheus(mut self, address: &str) -> Self {
        self.platform.prometheus = address.to_owned();
        self
    }

    /// Where Prometheus and prometheus-adapter run: the metrics port admits Prometheus pods
    /// (`app.kubernetes.io/name: prometheus`) from this namespace only, and the adapter
    /// rules go there. Default: `monitoring`.
    #[must_use]
    pub fn with_monitoring_namespace(mut self, namespace: &str) -> Self {
        self.platform.monitoring_namespace = namespace.to_owned();
        self
    }

    /// A label on every ServiceMonitor, for a Prometheus that selects them by label (the
    /// kube-prometheus-stack chart's selects `release: <its release name>`). Default: none.
    #[must_use]
    pub fn with_service_monitor_label(mut self, key: &str, value: &str) -> Self {
        self.platform.monitor_labels.insert(key.to_owned(), value.to_owned());
        self
    }

    /// The namespace the overlays put the services in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The workspace root: `deploy/` and `target/image/` are under it.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The services, with their tags resolved.
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// The service called `name`.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}

/// Kubernetes names (RFC 1123 labels) and image repositories accept less than Rust does.
fn invalid_names(service: &Service) -> Vec<String> {
    let mut problems = Vec::new();
    let name = &service.name;
    // A Service's name is an RFC 1035 label: it starts with a letter.
    let label = |s: &str| {
        s.len() <= 63
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.ends_with('-')
    };
    if !label(name) {
        problems.push(format!(
            "service name `{name}` is not a Kubernetes name: 1-63 lowercase letters, digits and `-`, starting with a letter, not ending with `-`"
        ));
    }
    let image = &service.image;
    if image.is_empty()
        || image.contains(':')
        || image.contains('@')
        || !image.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b))
    {
        problems.push(format!(
            "service `{name}`: image `{image}` must be a repository without registry, tag or digest (lowercase letters, digits, `._-/`): `deploy --registry` adds the registry, `with_tag` the tag"
        ));
    }
    if service.scaling.min_replicas < 0 || service.scaling.max_replicas < service.scaling.min_replicas.max(1) {
        problems.push(format!(
            "service `{name}`: replicas {}..{} are not a range (0 <= min <= max, max >= 1)",
            service.scaling.min_replicas, service.scaling.max_replicas
        ));
    }
    problems.extend(invalid_scaler(name, &service.scaler));
    problems.extend(crate::redis::invalid_redis(service));
    for egress in &service.egress {
        if egress.port == 0 {
            problems.push(format!("service `{name}`: the egress to {} has port 0", egress.name));
        }
        for cidr in egress.cidrs.iter().filter(|cidr| !crate::egress::is_cidr(cidr)) {
            problems.push(format!(
                "service `{name}`: the egress to {} names `{cidr}`, which is no CIDR (`10.0.3.0/24`, `2001:db8::/64`): a NetworkPolicy cannot name hosts",
                egress.name
            ));
        }
    }
    if service.http_port == service.metrics_port {
        problems.push(format!("service `{name}`: the HTTP and metrics ports are both {}", service.http_port));
    }
    problems
}

/// Targets KEDA or the HPA controller would refuse (or divide by) only in the cluster.
fn invalid_scaler(name: &str, scaler: &crate::Scaler) -> Vec<String> {
    use crate::Scaler;
    let positive = |what: &str, value: &str| {
        (!value.parse::<f64>().is_ok_and(|v| v.is_finite() && v > 0.0))
            .then(|| format!("service `{name}`: {what} must be a number above 0, not `{value}`"))
    };
    match scaler {
        Scaler::Hpa { cpu_percent: None, requests_per_second: None } => {
            vec![format!("service `{name}`: an HPA needs a CPU or a requests-per-second target")]
        }
        Scaler::Hpa { cpu_percent, requests_per_second } => {
            let cpu = cpu_percent
                .filter(|p| *p <= 0)
                .map(|p| format!("service `{name}`: the CPU target must be above 0 %, not {p}"));
            cpu.into_iter()
                .chain(requests_per_second.as_deref().and_then(|r| positive("requests per second", r)))
                .collect()
        }
        Scaler::Prometheus { query, threshold, activation } => {
            let mut problems: Vec<String> = positive("the Prometheus threshold", threshold).into_iter().collect();
            if query.trim().is_empty() {
                problems.push(format!("service `{name}`: the Prometheus query is empty"));
            }
            if !activation.parse::<f64>().is_ok_and(|v| v.is_finite() && v >= 0.0) {
                problems.push(format!(
                    "service `{name}`: the activation threshold must be a number >= 0, not `{activation}`"
                ));
            }
            problems
        }
        Scaler::RedisStream { stream, group, lag_per_replica } => {
            let mut problems: Vec<String> = positive("the lag per replica", lag_per_replica).into_iter().collect();
            if stream.is_empty() || group.is_empty() {
                problems.push(format!("service `{name}`: the stream and the group need names"));
            }
            problems
        }
        Scaler::RedisList { list, length_per_replica } => {
            let mut problems: Vec<String> =
                positive("the length per replica", length_per_replica).into_iter().collect();
            if list.is_empty() {
                problems.push(format!("service `{name}`: the list needs a name"));
            }
            problems
        }
    }
}
