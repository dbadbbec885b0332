//! ebb-deploy from outside this repository: the files README's "Use it" shows, written into a
//! fresh workspace (their crates.io dependencies on ebb turned into path dependencies on this
//! checkout), where `cargo xtask manifests`, `manifests --check` and `image --load` run; the
//! image then runs in Docker and answers `/readyz`.
//!
//! What it proves: a workspace outside this one, made of README's files alone, compiles its
//! own `xtask` and its own `hello`, and ebb-deploy run from there renders and checks its
//! manifests and builds an image of *its* binary that runs and gets ready. What it shares
//! with this repository, to keep the release build from compiling every dependency again
//! (`hello`'s dependencies are example-worker's, which the deploy test builds): the target
//! directory this test's own binaries are in, Cargo.lock (copied), and this repository's
//! `[profile.*]` tables, in a `.cargo/config.toml` of the directory above the workspace, as
//! a user's own cargo configuration would be (without them no compiled dependency matches:
//! README's workspace has cargo's default profiles). Cargo still
//! decides what is fresh: the user's crates always compile, and a dependency is reused only
//! when cargo's own fingerprint of it matches. What it does not prove: a build with cargo's
//! default profiles. This repository's xtask package is `ebb-xtask`, so the user's `xtask`
//! binary never replaces it in the shared directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ebb_testkit::{TempDir, poll_until};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository").to_owned()
}

/// The target directory this test's binaries were built in (`target/debug/ebb-xtask`):
/// wherever `CARGO_TARGET_DIR` or a config put it, so no second directory starts cold.
fn target_dir() -> PathBuf {
    let xtask = Path::new(env!("CARGO_BIN_EXE_ebb-xtask"));
    xtask.ancestors().nth(2).expect("target/<profile>/ebb-xtask").to_owned()
}

/// This repository's `[profile.*]` tables, as they stand in its Cargo.toml: a cargo
/// configuration file takes them as they are.
fn profiles() -> String {
    let manifest = std::fs::read_to_string(repository().join("Cargo.toml")).expect("Cargo.toml");
    let mut inside = false;
    let mut tables = String::new();
    for line in manifest.lines() {
        if line.starts_with('[') {
            inside = line.starts_with("[profile.");
        }
        if inside {
            tables.push_str(line);
            tables.push('\n');
        }
    }
    assert!(tables.contains("[profile.release]"), "no [profile.release] in Cargo.toml");
    tables
}

/// Every `<!-- file: PATH -->` of README and the fenced block after it.
fn readme_files() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(repository().join("README.md")).expect("README.md");
    let mut files = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let Some(path) = line.strip_prefix("<!-- file: ").and_then(|rest| rest.strip_suffix(" -->")) else {
            continue;
        };
        let fence = lines.next().expect("a fenced block after the file marker");
        assert!(fence.starts_with("```"), "{path}: expected a fenced block, got {fence:?}");
        let body: Vec<&str> = lines.by_ref().take_while(|line| *line != "```").collect();
        files.push((path.to_owned(), format!("{}\n", body.join("\n"))));
    }
    files
}

/// `ebb-server = "0.1"` -> the same with a path into this checkout.
fn with_path_dependencies(manifest: &str) -> String {
    let crates = repository().join("crates");
    manifest
        .lines()
        .map(|line| match line.split_once(" = \"") {
            Some((name, version)) if name.starts_with("ebb-") => {
                let version = version.trim_end_matches('"');
                format!("{name} = {{ version = \"{version}\", path = \"{}\" }}", crates.join(name).display())
            }
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `workspace/` holds README's files; beside it, `.cargo/config.toml` holds this
/// repository's build profiles, which cargo reads in every directory below.
struct Workspace {
    outer: TempDir,
}

impl Workspace {
    fn from_readme() -> Self {
        let outer = TempDir::new("ebb-outside");
        std::fs::create_dir_all(outer.path().join(".cargo")).expect("mkdir");
        std::fs::write(outer.path().join(".cargo/config.toml"), profiles()).expect("profiles");
        let dir = outer.path().join("workspace");
        let files = readme_files();
        let names: Vec<&str> = files.iter().map(|(path, _)| path.as_str()).collect();
        for expected in
            ["Cargo.toml", ".cargo/config.toml", "hello/src/main.rs", "xtask/Cargo.toml", "xtask/src/main.rs"]
        {
            assert!(names.contains(&expected), "README's Use it shows no {expected}: {names:?}");
        }
        for (path, text) in files {
            let text = if path.ends_with("Cargo.toml") { with_path_dependencies(&text) } else { text };
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        std::fs::copy(repository().join("Cargo.lock"), dir.join("Cargo.lock")).expect("Cargo.lock");
        Workspace { outer }
    }

    fn xtask(&self, args: &[&str]) -> Output {
        let repository = repository();
        // The pinned checkers this repository's `cargo xtask test` installed, on PATH as a
        // user would have them.
        let tools = ["checkov", "kubernetes-validate"].map(|tool| repository.join(".tools").join(tool).join("bin"));
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(tools.iter().cloned().chain(std::env::split_paths(&path))).expect("PATH");
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
            .arg("xtask")
            .args(args)
            .current_dir(self.dir())
            .env("CARGO_TARGET_DIR", target_dir())
            .env("PATH", path)
            .output()
            .expect("run cargo xtask")
    }

    fn dir(&self) -> PathBuf {
        self.outer.path().join("workspace")
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.dir().join(path)).unwrap_or_else(|error| panic!("{path}: {error}"))
    }
}

fn succeeded(output: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{what} failed:\n{stderr}");
    for line in stderr.lines().filter(|line| line.starts_with("SKIPPED")) {
        eprintln!("{line}");
    }
    stderr
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("docker")
}

struct Remove(Vec<String>);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f"]).args(&self.0).output();
    }
}

#[test]
fn a_fresh_workspace_gets_manifests_an_image_and_a_ready_container() {
    let workspace = Workspace::from_readme();
    let began = std::time::SystemTime::now();

    let started = Instant::now();
    succeeded(&workspace.xtask(&["manifests"]), "cargo xtask manifests");
    eprintln!("manifests (first build of the workspace's xtask): {:?}", started.elapsed());
    let deployment = workspace.read("deploy/base/hello/deployment.yaml");
    assert!(deployment.contains("image: shop/hello:0.3.0"), "tagged with hello's version:\n{deployment}");
    assert!(!deployment.contains("replicas:"), "the HPA owns the count:\n{deployment}");
    let hpa = workspace.read("deploy/base/hello/hpa.yaml");
    assert!(hpa.contains("minReplicas: 2") && hpa.contains("maxReplicas: 8"), "{hpa}");
    assert!(workspace.read("deploy/overlays/prod/kustomization.yaml").contains("namespace: hello"));
    assert!(workspace.read("deploy/overlays/dev/example-secret-hello.yaml").contains("redis-url"));

    // Schemas (1.30 and 1.37), checkov and the scaling checks; under CI=true none may skip.
    let stderr = succeeded(&workspace.xtask(&["manifests", "--check"]), "cargo xtask manifests --check");
    assert!(stderr.contains("manifests are current and consistent"), "{stderr}");
    if ebb_testkit::in_ci() {
        assert!(!stderr.contains("SKIPPED"), "{stderr}");
    }
    // Negative control: a hand edit makes the check fail, naming the file.
    let path = workspace.dir().join("deploy/base/hello/hpa.yaml");
    std::fs::write(&path, hpa.replace("maxReplicas: 8", "maxReplicas: 80")).expect("edit");
    let output = workspace.xtask(&["manifests", "--check"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("deploy/base/hello/hpa.yaml is stale"), "{stderr}");
    std::fs::write(&path, hpa).expect("restore");

    // A name that is neither a service nor a binary: one clear line, exit 1.
    let output = workspace.xtask(&["image", "--service", "nope"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("`nope` is neither a service (hello)"), "{stderr}");

    if !docker(&["info"]).status.success() {
        assert!(!ebb_testkit::in_ci(), "no Docker engine answers and CI=true");
        eprintln!("SKIPPED the image half: no Docker engine answers here");
        return;
    }
    let started = Instant::now();
    let output = workspace.xtask(&["image", "--load"]);
    succeeded(&output, "cargo xtask image --load");
    eprintln!("image --load (release build included): {:?}", started.elapsed());
    let digest = String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().to_owned();
    assert!(digest.starts_with("sha256:"), "{digest}");
    // The shared target directory gave dependencies only: `hello` was linked by this run.
    let hello = std::fs::metadata(target_dir().join("release/hello")).and_then(|m| m.modified());
    assert!(
        hello.as_ref().is_ok_and(|built| *built >= began),
        "hello's binary was not built by this workspace: {hello:?}"
    );
    let sbom = workspace.read("target/image/hello/sbom.spdx.json");
    assert!(sbom.contains("pkg:cargo/ebb-server@"), "the SBOM lists the service's dependencies");

    let name = format!("ebb-outside-{}", std::process::id());
    let run = docker(&["run", "-d", "--name", &name, "--read-only", "-p", "127.0.0.1::9090", "shop/hello:0.3.0"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let _remove = Remove(vec![name.clone()]);
    let port = String::from_utf8_lossy(&docker(&["port", &name, "9090/tcp"]).stdout).lines().next().map(str::to_owned);
    let url = format!("http://{}/readyz", port.expect("a published port"));
    poll_until("the user's image to answer /readyz", Duration::from_secs(20), || {
        reqwest::blocking::get(&url).ok().filter(|r| r.status() == 200).map(|_| ())
    });
    let _ = docker(&["rmi", "-f", "shop/hello:0.3.0"]);
}
