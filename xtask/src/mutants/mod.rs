//! `cargo xtask mutants [CRATE|FILE]`: mutation testing (cargo-mutants) of the modules whose
//! tests must bite. Each mutant (a function body replaced, an operator flipped) is built and
//! its package's tests run against it: a mutant that no test catches is a protection nothing
//! pins. Every missed mutant of [`CORE`] gets a test that kills it, or a reason it is
//! equivalent in [`equivalent.rs`](equivalent).
//!
//! It mutates the checkout in place (cargo-mutants restores each file after its mutant), so
//! the shared `target/` stays warm: a copy would rebuild the workspace cold for every module.
//! That is why it refuses to start on a file with uncommitted changes.
//!
//! Not in CI: each mutant rebuilds its package and reruns its tests (5–60 s), so the core
//! modules take hours, and a CI run on a clean clone does not know which commits are new.
//! Before landing, `--since main` runs only the mutants on changed lines.

mod equivalent;
mod modules;
mod outcomes;

use std::path::Path;

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

pub(crate) use modules::CORE;
use modules::Module;
use outcomes::Counts;

/// cargo-mutants, installed into `.tools/` like s3s-fs when absent.
const CARGO_MUTANTS_VERSION: &str = "27.1.0";

/// `cargo xtask mutants [CRATE|FILE] [--since REV] [--timeout S] [--list]`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// A crate of the core list (`ebb-shutdown`), a module's name (`drain`) or a file
    /// (`crates/ebb-shutdown/src/drain.rs`); none: every module of the core list
    target: Option<String>,
    /// Only mutants on lines changed since this git revision (e.g. `main`)
    #[arg(long)]
    since: Option<String>,
    /// Seconds a mutant's tests may run before it counts as a timeout (its build may take
    /// up to 900)
    #[arg(long, default_value_t = 180)]
    timeout: u64,
    /// List the mutants and test nothing
    #[arg(long)]
    list: bool,
    /// Test again only what the last run did not catch (after adding tests)
    #[arg(long)]
    iterate: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let sh = Shell::new()?;
    let root = crate::workspace_root();
    sh.change_dir(&root);
    let modules = select(args.target.as_deref())?;
    let cargo_mutants = ensure_cargo_mutants(&sh, &root)?;
    if !args.list {
        crate::test::prepare(&sh, &root)?;
    }
    let out = root.join("target/mutants");
    sh.create_dir(&out)?;
    // A target dir of its own: no waiting on the locks of other builds (that wait would
    // count against a mutant's timeout), at the price of one cold build of each package.
    sh.set_var("CARGO_TARGET_DIR", out.join("target"));
    let diff = match &args.since {
        Some(since) => {
            let diff = out.join("since.diff");
            let text = cmd!(sh, "git diff {since} --").read()?;
            sh.write_file(&diff, text)?;
            Some(diff)
        }
        None => None,
    };
    let mut report = Vec::new();
    for module in &modules {
        refuse_uncommitted(&sh, module)?;
        let dir = out.join(module.name);
        let package = module.package;
        let mut command = cmd!(sh, "{cargo_mutants} mutants --in-place --no-shuffle --package {package}")
            .args(module.files.iter().flat_map(|file| ["--file", file]))
            // No `--cap-lints`: it changes RUSTFLAGS, which would rebuild every dependency in
            // the shared target dir (and the next normal build again). Our lints only warn.
            .args(["--test-tool", "nextest", "--baseline", "skip", "--build-timeout", "900"])
            .arg("--timeout")
            .arg(args.timeout.to_string())
            .args(module.test_packages.iter().flat_map(|package| ["--test-package", package]))
            .args(["--cargo-test-arg=-E", &format!("--cargo-test-arg={}", module.test_filter)])
            .args(["--output"])
            .arg(&dir);
        if args.iterate {
            command = command.arg("--iterate");
        }
        if let Some(diff) = &diff {
            command = command.arg("--in-diff").arg(diff);
        }
        if args.list {
            command.arg("--list").run()?;
            continue;
        }
        eprintln!("xtask: mutants of {} ({})", module.name, module.files.join(", "));
        // cargo-mutants exits non-zero when a mutant is missed: the counts decide below.
        let _ = command.ignore_status().run();
        let counts = outcomes::read(&dir.join("mutants.out/outcomes.json"))
            .with_context(|| format!("cargo-mutants left no outcomes for {}", module.name))?;
        let unexplained = equivalent::unexplained(module, &counts.missed);
        eprintln!("xtask: {}: {counts}", module.name);
        report.push((module, counts, unexplained));
    }
    if args.list {
        return Ok(());
    }
    print_report(&report);
    let unexplained: usize = report.iter().map(|(_, _, unexplained)| unexplained.len()).sum();
    if unexplained > 0 {
        bail!("{unexplained} missed mutant(s) with neither a test that kills them nor a reason (above)");
    }
    Ok(())
}

/// The modules `target` names: all of [`CORE`], one by name or crate, or an ad-hoc file.
fn select(target: Option<&str>) -> anyhow::Result<Vec<Module>> {
    let Some(target) = target else { return Ok(CORE.to_vec()) };
    let chosen: Vec<Module> =
        CORE.iter().filter(|module| module.name == target || module.package == target).copied().collect();
    if !chosen.is_empty() {
        return Ok(chosen);
    }
    if let Some(module) = modules::for_file(target) {
        return Ok(vec![module]);
    }
    let names: Vec<&str> = CORE.iter().map(|module| module.name).collect();
    bail!(
        "{target:?} is neither a core module ({}), a crate of them, nor a file under crates/ or examples/",
        names.join(", ")
    )
}

/// In place, cargo-mutants rewrites and restores each file: a file with uncommitted work
/// would come back as committed only if something went wrong, so start from a clean one.
fn refuse_uncommitted(sh: &Shell, module: &Module) -> anyhow::Result<()> {
    let files = module.files;
    let changed = cmd!(sh, "git status --porcelain -- {files...}").read()?;
    if !changed.trim().is_empty() {
        bail!("commit or stash these first (mutants are made in place):\n{changed}");
    }
    Ok(())
}

fn print_report(report: &[(&Module, Counts, Vec<String>)]) {
    println!("{:<10} {:>6} {:>6} {:>9} {:>8} {:>9}", "module", "caught", "missed", "unviable", "timeout", "explained");
    for (module, counts, unexplained) in report {
        let explained = counts.missed.len() - unexplained.len();
        println!(
            "{:<10} {:>6} {:>6} {:>9} {:>8} {:>9}",
            module.name,
            counts.caught,
            counts.missed.len(),
            counts.unviable,
            counts.timeout,
            explained
        );
    }
    for (module, _, unexplained) in report {
        for mutant in unexplained {
            println!("missed in {}: {mutant}", module.name);
        }
    }
}

/// cargo-mutants under `.tools/cargo-mutants/bin`, installed through cargo if absent.
fn ensure_cargo_mutants(sh: &Shell, root: &Path) -> anyhow::Result<std::path::PathBuf> {
    if let Some(found) = crate::tools::which("cargo-mutants") {
        return Ok(found);
    }
    let install_root = root.join(".tools/cargo-mutants");
    let binary = install_root.join("bin/cargo-mutants");
    if binary.is_file() {
        return Ok(binary);
    }
    eprintln!("xtask: installing cargo-mutants {CARGO_MUTANTS_VERSION} (takes a few minutes once)");
    let spec = format!("cargo-mutants@{CARGO_MUTANTS_VERSION}");
    cmd!(sh, "cargo install {spec} --locked --root {install_root}")
        .run()
        .context("cargo install cargo-mutants failed")?;
    Ok(binary)
}
