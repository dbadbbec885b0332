//! `cargo xtask bench`: every figure is a ratio against a baseline measured in the same run,
//! on the same machine, with the server and the load generator pinned to separate cores.
//!
//! One file per benchmark; each adds its rows to one [`Report`], printed as a table and
//! written to `target/bench/report.json`.

mod http;
mod process;
mod report;
mod wrk;

use xshell::Shell;

pub(crate) use report::Report;

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let only = args.first().map(String::as_str);
    let sh = Shell::new()?;
    let root = crate::workspace_root();
    sh.change_dir(&root);
    let mut report = Report::default();
    if only.is_none_or(|name| name == "http") {
        http::run(&sh, &root, &mut report)?;
    }
    print!("{}", report.table());
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("report.json"), report.json())?;
    eprintln!("xtask: wrote {}", out.join("report.json").display());
    Ok(())
}
