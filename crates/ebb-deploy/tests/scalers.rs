//! Every kind of scaler, alone and mixed, renders overlays that build and pass `--check`
//! (kubectl kustomize, the schemas, checkov, the scaling checks), in a scratch workspace of
//! empty binaries: a project of KEDA-scaled services only, and one with each HPA shape.

use std::path::Path;
use std::process::Command;

use ebb_deploy::{Command as Deploy, Egress, ManifestsArgs, Project, Scaler, Service};
use ebb_testkit::TempDir;

/// A workspace with one package whose binaries are `bins`, and the repository's pinned
/// checkers linked into its `.tools/` (where `cargo xtask test` installed them).
fn workspace(bins: &[&str]) -> TempDir {
    let dir = TempDir::new("ebb-deploy-scalers");
    let root = dir.path();
    let manifest = "[package]\nname = \"jobs\"\nversion = \"1.2.3\"\nedition = \"2024\"\n\n[workspace]\n";
    std::fs::write(root.join("Cargo.toml"), manifest).expect("manifest");
    std::fs::create_dir_all(root.join("src/bin")).expect("src/bin");
    for bin in bins {
        std::fs::write(root.join("src/bin").join(format!("{bin}.rs")), "fn main() {}\n").expect("bin");
    }
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools");
    std::fs::create_dir_all(root.join(".tools")).expect(".tools");
    for tool in ["checkov", "kubernetes-validate"] {
        if tools.join(tool).is_dir() {
            let target = tools.join(tool).canonicalize().expect("tool");
            std::os::unix::fs::symlink(target, root.join(".tools").join(tool)).expect("link");
        }
    }
    dir
}

fn manifests(project: &Project, check: bool) -> anyhow::Result<()> {
    project.run(&Deploy::Manifests(ManifestsArgs { check, install_checkers: false }))
}

fn kustomize(dir: &Path) -> String {
    let output = Command::new("kubectl").arg("kustomize").arg(dir).output().expect("kubectl");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn has_kubectl() -> bool {
    ebb_deploy::tools::kubectl().is_ok() || {
        assert!(!ebb_deploy::tools::in_ci(), "kubectl 1.27+ is missing and CI=true");
        eprintln!("SKIPPED: no kubectl 1.27+ here");
        false
    }
}

#[test]
fn keda_only_services_render_overlays_without_the_adapter() {
    let dir = workspace(&["list-worker", "query-worker", "sentinel-worker"]);
    let services = [
        // Behind Sentinel, on TLS with a private CA and database 2: KEDA is told all of it.
        Service::new("sentinel-worker")
            .with_package("jobs")
            .with_replicas(0, 5)
            .with_scaler(Scaler::redis_stream("jobs:stream", "workers", 10))
            .with_secret_env("REDIS_SENTINEL_URLS", "jobs", "redis-sentinel-urls")
            .with_env("REDIS_SENTINEL_MASTER", "mymaster")
            .with_secret_env("REDIS_SENTINEL_PASSWORD", "jobs", "redis-sentinel-password")
            .with_env("EBB_REDIS_CA_FILE", "/etc/redis/ca.pem")
            .with_redis_database(2)
            .with_egress(Egress::redis()),
        Service::new("list-worker")
            .with_package("jobs")
            .with_replicas(0, 5)
            .with_scaler(Scaler::redis_list("jobs:pending", 10))
            .with_secret_env("REDIS_URL", "jobs", "redis-url")
            .with_egress(Egress::redis()),
        Service::new("query-worker")
            .with_package("jobs")
            .with_replicas(0, 3)
            .with_scaler(Scaler::prometheus("sum(queue_depth{queue=\"q\"})", "25")),
    ];
    let project = Project::at(dir.path(), &services).expect("project").with_namespace("jobs");
    manifests(&project, false).expect("render");
    assert!(!dir.path().join("deploy/base/monitoring").exists(), "no HPA on requests, no adapter rules");
    if !has_kubectl() {
        return;
    }
    manifests(&project, true).expect("--check");
    let prod = kustomize(&dir.path().join("deploy/overlays/prod"));
    assert!(prod.contains("type: redis\n") && prod.contains("listName: jobs:pending"), "{prod}");
    assert!(prod.contains("authenticationRef:") && !prod.contains("address: "), "{prod}");
    assert!(prod.contains("ignoreNullValues: \"false\""), "{prod}");
    for needle in
        ["type: redis-sentinel-streams", "sentinelMaster: mymaster", "databaseIndex: \"2\"", "parameter: ca\n"]
    {
        assert!(prod.contains(needle), "{needle} missing in:\n{prod}");
    }
    assert!(prod.contains("image: list-worker:1.2.3"), "tagged with the package's version:\n{prod}");
    assert!(!prod.contains("HorizontalPodAutoscaler"));
}

#[test]
fn every_hpa_shape_renders_and_the_keda_overlay_keeps_cpu_and_the_namespace() {
    let dir = workspace(&["cpu-api", "rate-api", "both-api"]);
    let api =
        |name: &str, scaler: Scaler| Service::new(name).with_package("jobs").with_replicas(1, 2).with_scaler(scaler);
    let services = [
        api("cpu-api", Scaler::cpu(60)),
        api("rate-api", Scaler::requests_per_second(50)).with_request_metrics("rpc_calls_total", "rpc_per_second"),
        api("both-api", Scaler::cpu_and_requests_per_second(70, 80)),
    ];
    let project = Project::at(dir.path(), &services)
        .expect("project")
        .with_namespace("shop")
        .with_prometheus("http://prometheus.observability.svc:9090")
        .with_monitoring_namespace("observability")
        .with_service_monitor_label("release", "kps");
    manifests(&project, false).expect("render");
    let monitor =
        std::fs::read_to_string(dir.path().join("deploy/base/rate-api/servicemonitor.yaml")).expect("monitor");
    assert!(monitor.contains("release: kps"), "{monitor}");
    let policy = std::fs::read_to_string(dir.path().join("deploy/base/rate-api/networkpolicy.yaml")).expect("policy");
    assert!(policy.contains("kubernetes.io/metadata.name: observability"), "{policy}");
    let rules = std::fs::read_to_string(dir.path().join("deploy/base/monitoring/prometheus-adapter-rules.yaml"))
        .expect("adapter rules");
    for metric in ["rpc_per_second", "requests_per_second"] {
        assert!(rules.contains(metric), "one rule per metric the HPAs use:\n{rules}");
    }
    if !has_kubectl() {
        return;
    }
    manifests(&project, true).expect("--check");
    // prod keeps the definitions' minimum (1, under the maximum of 2); dev starts from 1.
    let prod = kustomize(&dir.path().join("deploy/overlays/prod"));
    assert!(prod.contains("maxReplicas: 2") && prod.contains("minReplicas: 1") && !prod.contains("minReplicas: 3"));
    let keda = kustomize(&dir.path().join("deploy/overlays/keda"));
    assert!(keda.contains("kind: HorizontalPodAutoscaler"), "the CPU-only HPA stays:\n{keda}");
    assert!(keda.contains("type: cpu") && keda.contains("value: \"70\""), "both-api keeps its CPU target:\n{keda}");
    assert!(keda.contains(r#"job="both-api",namespace="shop""#), "the rate of this namespace only:\n{keda}");
    assert!(keda.contains("serverAddress: http://prometheus.observability.svc:9090"), "{keda}");
    assert!(prod.contains("name: prometheus-adapter-rules\n  namespace: observability"), "{prod}");
}

#[test]
fn stale_files_and_wrong_definitions_are_refused() {
    let dir = workspace(&["a", "b"]);
    let a = Service::new("a").with_package("jobs");
    let b = Service::new("b").with_package("jobs").with_scaler(Scaler::cpu(50));
    let project = Project::at(dir.path(), &[a.clone(), b.clone()]).expect("project");
    manifests(&project, false).expect("render");
    // b moves to KEDA: its hpa.yaml is rendered from nothing now.
    let b = b
        .with_replicas(0, 4)
        .with_scaler(Scaler::redis_list("q", 5))
        .with_secret_env("REDIS_URL", "b", "redis-url")
        .with_egress(Egress::redis());
    let project = Project::at(dir.path(), &[a, b]).expect("project");
    let error = format!("{:#}", manifests(&project, true).expect_err("stale"));
    assert!(error.contains("deploy/base/b/hpa.yaml is rendered from no definition"), "{error}");
    manifests(&project, false).expect("render again");
    assert!(!dir.path().join("deploy/base/b/hpa.yaml").exists(), "a rendering removes it");

    let wrong = [
        Service::new("1st").with_package("jobs"),
        Service::new("a").with_package("jobs").with_image("reg:5000/a"),
        Service::new("b").with_package("jobs").with_image("d"),
        Service::new("c").with_package("nope"),
        Service::new("d").with_package("jobs").with_binary("a").with_scaler(Scaler::prometheus("up", "lots")),
    ];
    let error = format!("{:#}", Project::at(dir.path(), &wrong).expect_err("wrong definitions"));
    for expected in [
        "service name `1st` is not a Kubernetes name",
        "image `reg:5000/a` must be a repository without registry",
        "services `b` and `d` share the image `d`",
        "no package `nope`",
        "the Prometheus threshold must be a number above 0, not `lots`",
    ] {
        assert!(error.contains(expected), "{expected} missing in:\n{error}");
    }
}
