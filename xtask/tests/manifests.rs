//! The committed manifests are what the definitions render, and they are consistent.

use std::process::{Command, Output};

fn check() -> Output {
    Command::new(env!("CARGO_BIN_EXE_ebb-xtask")).args(["manifests", "--check"]).output().expect("run xtask")
}

#[test]
fn committed_manifests_are_current() {
    let output = check();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}\n(run `cargo xtask manifests` and commit deploy/)");
    // The versions the rendered objects need are stated, since no check can know the cluster's.
    for floor in [
        "ebb-deploy: note: ScaledObject/example-worker needs KEDA >= 2.17: activationLagCount",
        "ebb-deploy: note: ScaledObject/example-worker needs KEDA >= 2.19",
        "ebb-deploy: note: ScaledObject/example-worker needs Redis >= 7: lagCount",
    ] {
        assert!(stderr.contains(floor), "{floor} missing in:\n{stderr}");
    }
    // A check that could not run says so (SKIPPED); nextest repeats this at the end.
    for line in stderr.lines().filter(|line| line.starts_with("SKIPPED")) {
        eprintln!("{line}");
    }
}

/// checkov on every built overlay: it checked something (passed > 0), failed nothing, and
/// skipped only the four documented checks (`crates/ebb-deploy/src/manifests/checkov.rs`),
/// once per Deployment. That checkov can still fail an overlay is pinned there, on a
/// Deployment without its securityContext and limits. Without checkov or kubectl, xtask
/// itself fails under `CI=true` and prints SKIPPED otherwise.
#[test]
fn checkov_finds_no_unskipped_failure_in_any_overlay() {
    let output = check();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let skipped: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("SKIPPED") && (line.contains("`checkov`") || line.contains("`kubectl`")))
        .collect();
    if !skipped.is_empty() {
        assert!(!ebb_testkit::in_ci(), "checkov or kubectl is missing and CI=true");
        eprintln!("SKIPPED checkov on the overlays: {}", skipped.join("; "));
        return;
    }
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/base");
    let services = std::fs::read_dir(&base).unwrap_or_else(|e| panic!("{}: {e}", base.display()));
    let deployments =
        services.filter(|dir| dir.as_ref().is_ok_and(|d| d.path().join("deployment.yaml").is_file())).count();
    assert!(deployments > 0, "no Deployment under {}", base.display());
    for overlay in ["dev", "prod", "keda"] {
        let prefix = format!("ebb-deploy: checkov deploy/overlays/{overlay}: ");
        let line = stderr.lines().find_map(|line| line.strip_prefix(&prefix));
        let line = line.unwrap_or_else(|| panic!("{prefix}... missing in:\n{stderr}"));
        let count = |what: &str| -> u64 {
            let before = line.split(&format!(" {what}")).next().unwrap_or_default();
            let number = before.rsplit(' ').next().unwrap_or_default();
            number.parse().unwrap_or_else(|_| panic!("no {what} count in {line:?}"))
        };
        assert!(count("passed") > 0, "checkov checked nothing in {overlay}: {line}");
        assert_eq!(count("failed"), 0, "{overlay}: {line}");
        assert_eq!(
            count("skipped"),
            4 * deployments as u64,
            "the 4 documented skips per Deployment in {overlay}: {line}"
        );
        assert!(
            line.contains("(CKV_K8S_11, CKV_K8S_15, CKV_K8S_35, CKV_K8S_43;"),
            "the documented skips, and no other, in {overlay}: {line}"
        );
    }
}

/// The rendered compose file and the repository's local additions make one valid project
/// for Docker Compose (checked offline by `docker-compose config`; no image is pulled).
#[test]
fn compose_files_are_valid_together() {
    let Some(compose) = ebb_deploy::tools::which("docker-compose") else {
        assert!(!ebb_testkit::in_ci(), "docker-compose is missing and CI=true");
        eprintln!("SKIPPED compose validation: no docker-compose here");
        return;
    };
    let deploy = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy");
    let output = Command::new(compose)
        .args(["-f", "compose.yaml", "-f", "compose.local.yaml", "config"])
        .current_dir(deploy)
        .env_remove("REDIS_URL")
        .output()
        .expect("docker-compose");
    let merged = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(merged.contains("image: ebb/example-api:0.1.0"), "{merged}");
    assert!(merged.contains("REDIS_URL: redis://redis:6379/"), "{merged}");
}
