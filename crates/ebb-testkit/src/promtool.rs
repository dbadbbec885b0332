//! `promtool check metrics`, Prometheus' own linter of an exposition (names, types, a HELP
//! line per metric, counters ending in `_total`), for every test that scrapes `/metrics`.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::find_tool;

/// What promtool said about `exposition`: `Ok` when it found nothing, else its complaint.
pub fn promtool_check(exposition: &str) -> Result<(), String> {
    let promtool = find_tool(
        "promtool",
        "EBB_PROMTOOL",
        "install it with `apt-get install prometheus`, or run `cargo xtask test`",
    );
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child.stdin.take().expect("stdin").write_all(exposition.as_bytes()).expect("write to promtool");
    let output = child.wait_with_output().expect("promtool runs");
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if output.status.success() { Ok(()) } else { Err(said) }
}
