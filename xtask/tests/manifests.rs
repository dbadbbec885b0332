//! The committed manifests are what the definitions render, and they are consistent.

use std::process::Command;

#[test]
fn committed_manifests_are_current() {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask")).args(["manifests", "--check"]).output().expect("run xtask");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}\n(run `cargo xtask manifests` and commit deploy/)");
    // A check that could not run says so (SKIPPED); nextest repeats this at the end.
    for line in stderr.lines().filter(|line| line.starts_with("SKIPPED")) {
        eprintln!("{line}");
    }
}
