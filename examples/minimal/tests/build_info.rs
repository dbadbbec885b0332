//! What runs, where an operator looks: the `build_info` gauge and `/startupz?verbose`.

use ebb_testkit::ServiceProcess;

const BIN: &str = env!("CARGO_BIN_EXE_example-minimal");

#[test]
fn version_revision_and_compiler_are_exported_and_shown_at_startup() {
    let service = ServiceProcess::start(BIN, &[("EBB_SHUTDOWN_DELAY", "0s".to_owned())]);
    let metrics = reqwest::blocking::get(service.metrics_url()).expect("scrape").text().expect("text");
    let line = metrics.lines().find(|line| line.starts_with("build_info{")).unwrap_or_else(|| panic!("{metrics}"));
    assert!(line.ends_with(" 1"), "{line}");
    for label in ["name=\"example-minimal\"", &format!("version=\"{}\"", env!("CARGO_PKG_VERSION")), "rustc=\"rustc 1."]
    {
        assert!(line.contains(label), "{label} not in {line}");
    }
    // Built in a checkout (or with EBB_GIT_REVISION): a revision, not `unknown`.
    assert!(!line.contains("revision=\"unknown\""), "{line}");

    let url = format!("http://{}/startupz?verbose", service.metrics);
    let text = reqwest::blocking::get(url).expect("startupz").text().expect("text");
    assert!(text.contains(&format!("[i]version: {}", env!("CARGO_PKG_VERSION"))), "{text}");
    assert!(text.contains("[i]revision: ") && text.contains("[i]rustc: rustc 1."), "{text}");
    assert!(text.ends_with("startupz check passed\n"), "{text}");
}
