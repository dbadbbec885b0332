use std::path::{Path, PathBuf};

/// Finds an executable: `$override_var` if set, then `<workspace>/.tools/*/bin/<name>`
/// (where `cargo xtask test` installs tools), then `PATH`. Panics with `install_hint` when
/// it is nowhere.
pub fn find_tool(name: &str, override_var: &str, install_hint: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(override_var) {
        return PathBuf::from(path);
    }
    let tools = workspace_root().join(".tools");
    if let Ok(entries) = std::fs::read_dir(&tools) {
        for entry in entries.flatten() {
            let candidate = entry.path().join("bin").join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    if let Some(found) = on_path(name) {
        return found;
    }
    panic!("`{name}` not found (set {override_var}, or put it on PATH): {install_hint}")
}

fn workspace_root() -> PathBuf {
    // crates/ebb-testkit -> the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).map(Path::to_path_buf).unwrap_or_default()
}

/// `name` on `PATH`, or in the sbin directories that a non-login `PATH` may lack (daemons
/// such as haproxy install there).
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Whether this is a CI run (`CI` is `true`, `1` or `yes`): there a missing tool fails a
/// test instead of skipping it.
pub fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true" | "1" | "yes"))
}
