//! What cargo-mutants found, read from its `outcomes.json`.

use std::fmt;
use std::path::Path;

use anyhow::Context;
use serde_json::Value;

/// The counts of one module's run, and each missed mutant as `file:line: description`.
pub(super) struct Counts {
    pub(super) caught: u64,
    pub(super) unviable: u64,
    pub(super) timeout: u64,
    pub(super) missed: Vec<String>,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} caught, {} missed, {} unviable, {} timeouts",
            self.caught,
            self.missed.len(),
            self.unviable,
            self.timeout
        )
    }
}

pub(super) fn read(path: &Path) -> anyhow::Result<Counts> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text).with_context(|| format!("unexpected outcomes in {}", path.display()))
}

fn parse(text: &str) -> anyhow::Result<Counts> {
    let json: Value = serde_json::from_str(text)?;
    let count = |key: &str| json[key].as_u64().with_context(|| format!("no count {key:?}"));
    let outcomes = json["outcomes"].as_array().context("no outcomes list")?;
    let missed: Vec<String> = outcomes
        .iter()
        .filter(|outcome| outcome["summary"] == "MissedMutant")
        .map(|outcome| describe(&outcome["scenario"]["Mutant"]))
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(missed.len() as u64 == count("missed")?, "the missed list and count disagree");
    Ok(Counts { caught: count("caught")?, unviable: count("unviable")?, timeout: count("timeout")?, missed })
}

/// `file:line: replace f -> bool with true`, as cargo-mutants prints it.
fn describe(mutant: &Value) -> anyhow::Result<String> {
    let file = mutant["file"].as_str().context("a mutant without its file")?;
    let line = mutant["span"]["start"]["line"].as_u64().context("a mutant without its line")?;
    let name = mutant["name"].as_str().context("a mutant without its name")?;
    // `name` starts with `file:line:col: ` in the versions that include it.
    let description = name.rsplit_once(": ").map_or(name, |(_, description)| description);
    Ok(format!("{file}:{line}: {description}"))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn an_outcome_file_without_counts_is_an_error_not_zero() {
        assert!(parse(r#"{"outcomes": []}"#).is_err());
        assert!(parse("not json").is_err());
    }
}
