//! The committed manifests are what the definitions render, and they are consistent.

use std::process::Command;

#[test]
fn committed_manifests_are_current() {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask")).args(["manifests", "--check"]).output().expect("run xtask");
    assert!(
        output.status.success(),
        "{}\n(run `cargo xtask manifests` and commit deploy/)",
        String::from_utf8_lossy(&output.stderr)
    );
}
