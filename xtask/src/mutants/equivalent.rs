//! Missed mutants that no test can kill because they change nothing observable, each with
//! its reason. A missed mutant not listed here fails `cargo xtask mutants`.

use super::Module;

/// (module, the mutant as cargo-mutants names it without its line, why it is equivalent).
const EQUIVALENT: &[(&str, &str, &str)] = &[];

/// The missed mutants of `module` with no reason here.
pub(super) fn unexplained(module: &Module, missed: &[String]) -> Vec<String> {
    missed
        .iter()
        .filter(|mutant| !EQUIVALENT.iter().any(|(name, known, _)| *name == module.name && mutant.ends_with(known)))
        .cloned()
        .collect()
}
