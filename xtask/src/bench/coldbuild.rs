//! What a user's first build costs: a fresh workspace that depends on `ebb-probes` and
//! `ebb-shutdown` only, next to one on `ebb-server` with every part (`full`), each built in
//! release from an empty target directory, one after the other, in the same run. The
//! dependencies resolve from this repository's Cargo.lock; the ebb crates by path.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use xshell::cmd;

use super::Bench;
use super::report::{Report, Target};

/// A user workspace: its dependencies and a `main` that touches each crate.
struct User {
    /// The figures' prefix, and the workspace's directory.
    name: &'static str,
    dependencies: &'static [(&'static str, &'static str)],
    main: &'static str,
}

const PROBES_AND_SHUTDOWN: User = User {
    name: "probes_shutdown",
    dependencies: &[("ebb-probes", ""), ("ebb-shutdown", "")],
    main: "fn main() {\n    println!(\"{} {:?}\", ebb_probes::READYZ_PATH, ebb_shutdown::DEFAULT_TIMEOUT);\n}\n",
};

const SERVER_FULL: User = User {
    name: "server_full",
    dependencies: &[("ebb-server", ", features = [\"full\"]")],
    main: "fn main() {\n    println!(\"{}\", ebb_server::DEFAULT_HTTP_PORT);\n}\n",
};

pub(super) fn run(bench: &Bench, root: &Path, report: &mut Report) -> anyhow::Result<()> {
    let mut seconds = Vec::new();
    for user in [PROBES_AND_SHUTDOWN, SERVER_FULL] {
        let dir = root.join("target/bench/coldbuild").join(user.name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(dir.join("src"))?;
        let dependencies: String = user
            .dependencies
            .iter()
            .map(|(name, extra)| {
                format!("{name} = {{ path = \"{}\"{extra} }}\n", root.join("crates").join(name).display())
            })
            .collect();
        let manifest = format!(
            "[package]\nname = \"user-{}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n\n[dependencies]\n{dependencies}",
            user.name.replace('_', "-")
        );
        std::fs::write(dir.join("Cargo.toml"), manifest)?;
        std::fs::write(dir.join("src/main.rs"), user.main)?;
        std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock"))?;
        let sh = &bench.sh;
        let _dir = sh.push_dir(&dir);
        let _target = sh.push_env("CARGO_TARGET_DIR", dir.join("target"));
        // Resolve (and download) first, so that the figure is compiling only.
        cmd!(sh, "cargo fetch -q").run().context("cargo fetch")?;
        let crates = cmd!(sh, "cargo tree -e normal,build --prefix none").quiet().read()?;
        let mut crates: Vec<&str> = crates.lines().map(|line| line.trim_end_matches(" (*)")).collect();
        crates.sort_unstable();
        crates.dedup();
        let started = Instant::now();
        cmd!(sh, "cargo build --release -q").run().with_context(|| format!("the cold build of {}", user.name))?;
        let took = started.elapsed().as_secs_f64();
        eprintln!("xtask: cold release build of {}: {took:.1} s, {} crates", user.name, crates.len());
        report.add(format!("cold_build_{}", user.name), took, "s", Target::None);
        report.add(format!("cold_build_{}_crates", user.name), crates.len() as f64, "crates", Target::None);
        std::fs::remove_dir_all(dir.join("target"))?;
        seconds.push(took);
    }
    report.add("cold_build_server_full_vs_probes_shutdown", seconds[1] / seconds[0], "x", Target::None);
    Ok(())
}
