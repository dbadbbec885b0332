//! Figures ebb-deploy's README claims about images, read from README itself, so that a test
//! checks the figure README states and the two cannot drift apart.

use std::path::Path;

/// The number README writes between `before` and `after` (`"ready about "`, `" s after"`).
pub(crate) fn figure(before: &str, after: &str) -> f64 {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/ebb-deploy/README.md");
    let readme = std::fs::read_to_string(&path).expect("ebb-deploy's README");
    // README wraps lines: one space for any run of whitespace.
    let readme = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    let start = readme.find(before).unwrap_or_else(|| panic!("README no longer says `{before}`")) + before.len();
    let rest = &readme[start..];
    let end = rest.find(after).unwrap_or_else(|| panic!("README no longer says `{before}N{after}`"));
    rest[..end].parse().unwrap_or_else(|_| panic!("`{}` in README is no number", &rest[..end]))
}
