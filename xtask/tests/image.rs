//! `cargo xtask image` for real: reproducible digests, a real registry, a real container
//! engine. Uses example-minimal (the smallest service) to keep the release build short.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ebb_testkit::{RegistryServer, TempDir, poll_until};

#[path = "support/readme_claims.rs"]
mod readme_claims;

const XTASK: &str = env!("CARGO_BIN_EXE_ebb-xtask");
const BIN: &str = "example-minimal";

fn image(out: &Path, extra: &[&str]) -> Output {
    let output = Command::new(XTASK)
        .args(["image", "--bin", BIN, "--out"])
        .arg(out)
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run xtask");
    assert!(output.status.success(), "xtask image failed:\n{}", String::from_utf8_lossy(&output.stderr));
    output
}

fn last_line(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().to_owned()
}

#[test]
fn the_same_sources_give_the_same_digest_and_an_sbom() {
    let (first, second) = (TempDir::new("ebb-image-a"), TempDir::new("ebb-image-b"));
    let digest = last_line(&image(first.path(), &[]));
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    assert_eq!(last_line(&image(second.path(), &[])), digest, "two builds, two digests");
    let archive = format!("{BIN}.oci.tar");
    let bytes = |dir: &TempDir| std::fs::read(dir.path().join(&archive)).expect("archive");
    assert!(bytes(&first) == bytes(&second), "the archives differ");

    let layout = first.path().join("oci");
    assert!(layout.join("oci-layout").is_file() && layout.join("index.json").is_file());
    let blob = layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(blob).expect("manifest")).expect("json");
    assert_eq!(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert!(manifest["annotations"]["org.opencontainers.image.revision"].as_str().is_some());

    let sbom = std::fs::read_to_string(first.path().join("sbom.spdx.json")).expect("sbom");
    let sbom: serde_json::Value = serde_json::from_str(&sbom).expect("json");
    assert_eq!(sbom["spdxVersion"], "SPDX-2.3");
    let purls: Vec<&str> = sbom["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
        .collect();
    assert!(purls.iter().any(|p| p.starts_with("pkg:cargo/axum@")), "{purls:?}");
    assert!(!purls.iter().any(|p| p.starts_with("pkg:cargo/reqwest@")), "dev-dependencies are not in the image");
}

#[test]
fn push_goes_to_a_real_registry_and_refusals_are_clear() {
    let registry = RegistryServer::start();
    let out = TempDir::new("ebb-image-push");
    let target = format!("{}/ebb/{BIN}:test", registry.addr());
    let pushed = last_line(&image(out.path(), &["--push", &target]));
    let digest = std::fs::read_to_string(out.path().join("digest")).expect("digest");
    assert_eq!(pushed, format!("{}/ebb/{BIN}@{}", registry.addr(), digest.trim()));

    // The registry serves the manifest under the tag, with the same digest.
    let url = format!("http://{}/v2/ebb/{BIN}/manifests/test", registry.addr());
    let response = reqwest::blocking::Client::new()
        .get(url)
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .expect("manifest");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["docker-content-digest"], digest.trim());

    // Nobody listening: a clear error, not a hang.
    let dead = format!("127.0.0.1:{}/ebb/{BIN}", ebb_testkit::free_port());
    let output =
        Command::new(XTASK).args(["image", "--bin", BIN, "--out"]).arg(out.path()).args(["--push", &dead]).output();
    let output = output.expect("run xtask");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot reach"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_binary_that_does_not_exist_is_a_clear_error() {
    let output = Command::new(XTASK).args(["image", "--bin", "no-such-binary"]).output().expect("run xtask");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`no-such-binary` is neither a service (example-api, example-worker)"), "{stderr}");
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("docker")
}

#[test]
fn the_image_runs_as_nonroot_on_a_read_only_root_and_stops_cleanly() {
    if !docker(&["info"]).status.success() {
        assert!(!ebb_testkit::in_ci(), "no Docker engine answers and CI=true");
        eprintln!("SKIPPED: no Docker engine answers here");
        return;
    }
    let out = TempDir::new("ebb-image-run");
    image(out.path(), &["--load"]);
    let name = format!("ebb-image-test-{}", std::process::id());
    let started = Instant::now();
    let run = docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--read-only",
        "-p",
        "127.0.0.1::8080",
        "-p",
        "127.0.0.1::9090",
        "-e",
        "EBB_SHUTDOWN_DELAY=1s",
        "-e",
        "EBB_SHUTDOWN_TIMEOUT=10s",
        // Not a service of services.rs: ebb-deploy's defaults, the binary's name as image.
        &format!("{BIN}:0.1.0"),
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let _cleanup = Cleanup(name.clone());
    let published = |port: &str| {
        let out = String::from_utf8_lossy(&docker(&["port", &name, port]).stdout).trim().to_owned();
        out.lines().next().expect("a published port").to_owned()
    };
    let (app, metrics) = (published("8080/tcp"), published("9090/tcp"));
    let ready_url = format!("http://{app}/readyz");
    poll_until("/readyz through the published port", Duration::from_secs(20), || {
        reqwest::blocking::get(&ready_url).ok().filter(|r| r.status() == 200).map(|_| ())
    });
    let ready = started.elapsed();
    // README's figure, with room for a busy machine: twice it.
    let claimed = readme_claims::figure("image is ready about ", " s after `docker run`");
    eprintln!("start to ready (docker run included): {ready:?} (README: about {claimed} s)");
    assert!(ready.as_secs_f64() <= 2.0 * claimed, "ready after {ready:?}, README says about {claimed} s");

    let pid =
        String::from_utf8_lossy(&docker(&["inspect", "--format", "{{.State.Pid}}", &name]).stdout).trim().to_owned();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).expect("uid line");
    assert_eq!(uid.split_whitespace().next(), Some("65532"), "{uid}");

    // A request in flight when `docker stop` sends SIGTERM completes.
    let stopping = Instant::now();
    let status = stop_during_a_slow_request(&name, &app, &metrics, "15");
    let took = stopping.elapsed();
    assert_eq!(status, Some(200), "docker stop must drain the request in flight");
    let exit = String::from_utf8_lossy(&docker(&["inspect", "--format", "{{.State.ExitCode}}", &name]).stdout)
        .trim()
        .to_owned();
    assert_eq!(exit, "0", "SIGTERM to PID 1 must drain and exit 0");
    assert!(took < Duration::from_secs(10), "docker stop took {took:?}");
    let logs = docker(&["logs", &name]);
    assert!(
        String::from_utf8_lossy(&logs.stderr).contains("shutdown complete"),
        "{}",
        String::from_utf8_lossy(&logs.stderr)
    );

    // Negative control: a grace period shorter than the request (SIGKILL after 1 s) cuts it,
    // and the check above sees that.
    assert!(docker(&["start", &name]).status.success());
    let (app, metrics) = (published("8080/tcp"), published("9090/tcp"));
    let ready_url = format!("http://{app}/readyz");
    poll_until("/readyz after docker start", Duration::from_secs(20), || {
        reqwest::blocking::get(&ready_url).ok().filter(|r| r.status() == 200).map(|_| ())
    });
    assert_eq!(stop_during_a_slow_request(&name, &app, &metrics, "1"), None, "a SIGKILL mid-request must show");
}

/// Sends a 2.5 s request, waits until it is in flight, runs `docker stop -t grace`, and
/// returns the request's status (`None` when its connection was cut).
fn stop_during_a_slow_request(name: &str, app: &str, metrics: &str, grace: &str) -> Option<u16> {
    let slow_url = format!("http://{app}/slow?ms=2500");
    let slow = std::thread::spawn(move || reqwest::blocking::get(slow_url).map(|r| r.status().as_u16()));
    let metrics_url = format!("http://{metrics}/metrics");
    poll_until("the slow request to be in flight", Duration::from_secs(10), || {
        let text = reqwest::blocking::get(&metrics_url).ok()?.text().ok()?;
        text.lines().any(|l| l.starts_with("http_requests_in_flight") && !l.ends_with(" 0")).then_some(())
    });
    assert!(docker(&["stop", "-t", grace, name]).status.success());
    slow.join().expect("the slow request's thread").ok()
}

struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}
