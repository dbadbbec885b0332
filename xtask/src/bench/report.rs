//! The one report every benchmark writes into: named figures with their target, printed as
//! a table and written as JSON (`target/bench/report.json`). `--save` merges a run into the
//! committed `bench/report.json`, which the performance table of `xtask/README.md` is generated from
//! (`cargo xtask bench readme`; a test keeps the two equal).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Whether a figure must stay above or below its target.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Target {
    AtLeast(f64),
    AtMost(f64),
    None,
}

impl Target {
    pub(crate) fn met(self, value: f64) -> Option<bool> {
        match self {
            Self::AtLeast(t) => Some(value >= t),
            Self::AtMost(t) => Some(value <= t),
            Self::None => None,
        }
    }

    pub(crate) fn describe(self) -> String {
        match self {
            Self::AtLeast(t) => format!(">= {t}"),
            Self::AtMost(t) => format!("<= {t}"),
            Self::None => String::new(),
        }
    }
}

/// One measured figure, with where and when it was measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Figure {
    pub(crate) value: f64,
    pub(crate) unit: String,
    pub(crate) target: Target,
    /// The machine and date of the run (see [`machine`]).
    pub(crate) measured: String,
}

/// Figures by name, in a stable order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Report {
    pub(crate) figures: BTreeMap<String, Figure>,
    /// Insertion order of this run, for the printed table.
    #[serde(skip)]
    order: Vec<String>,
}

impl Report {
    pub(crate) fn add(&mut self, name: impl Into<String>, value: f64, unit: &'static str, target: Target) {
        let name = name.into();
        let figure = Figure { value, unit: unit.to_owned(), target, measured: machine() };
        self.order.push(name.clone());
        self.figures.insert(name, figure);
    }

    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        let width = self.order.iter().map(String::len).max().unwrap_or(0);
        for name in &self.order {
            let f = &self.figures[name];
            let verdict = match f.target.met(f.value) {
                Some(true) => "ok",
                Some(false) => "MISSED",
                None => "",
            };
            let target = f.target.describe();
            let _ = writeln!(out, "{name:<width$}: {:>12.3} {:<6} {target:>10} {verdict}", f.value, f.unit);
        }
        out
    }

    /// Names of the figures that missed their target.
    pub(crate) fn missed(&self) -> Vec<String> {
        self.figures.iter().filter(|(_, f)| f.target.met(f.value) == Some(false)).map(|(n, _)| n.clone()).collect()
    }

    /// An error naming every figure that is not a finite number (NaN passes no gate by
    /// accident but gates nothing either, infinity passes every `AtLeast`; neither can be
    /// written as JSON).
    pub(crate) fn refuse_non_finite(&self) -> anyhow::Result<()> {
        let broken: Vec<String> = self
            .figures
            .iter()
            .filter(|(_, figure)| !figure.value.is_finite())
            .map(|(name, figure)| format!("{name} = {}", figure.value))
            .collect();
        if !broken.is_empty() {
            anyhow::bail!("the run measured figures that are not numbers, so it is broken: {}", broken.join(", "));
        }
        Ok(())
    }

    pub(crate) fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    pub(crate) fn parse(json: &str) -> anyhow::Result<Self> {
        Ok(serde_json::from_str(json)?)
    }

    /// This run's figures over `older`'s: a partial run updates only what it measured.
    pub(crate) fn merged_over(&self, older: Self) -> Self {
        let mut figures = older.figures;
        figures.extend(self.figures.clone());
        Self { figures, order: Vec::new() }
    }
}

/// `<CPU model>, <n> cores, <date>`: enough to tell runs on different machines apart.
pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|(_, m)| m.trim().to_owned()))
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let date = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {date}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_targets_are_named_and_runs_merge() {
        let mut old = Report::default();
        old.add("kept", 1.0, "x", Target::None);
        old.add("replaced", 0.5, "ratio", Target::AtLeast(0.9));
        let mut new = Report::default();
        new.add("replaced", 0.95, "ratio", Target::AtLeast(0.9));
        new.add("slow", 2.0, "ms", Target::AtMost(1.0));
        let merged = new.merged_over(old);
        assert_eq!(merged.figures.len(), 3);
        assert_eq!(merged.missed(), ["slow"]);
        let again = Report::parse(&merged.json()).expect("round trip");
        assert_eq!(again.figures, merged.figures);
    }

    #[test]
    fn a_figure_that_is_not_a_number_stops_the_run() {
        let mut report = Report::default();
        report.add("fine", 1.0, "x", Target::None);
        assert!(report.refuse_non_finite().is_ok());
        // Ungated, a NaN would have been printed and saved as `null`; gated `AtLeast`,
        // infinity would have passed.
        report.add("ungated", f64::NAN, "x", Target::None);
        report.add("gated", f64::INFINITY, "ratio", Target::AtLeast(0.9));
        assert_eq!(report.missed(), Vec::<String>::new(), "what the gate alone sees");
        let error = report.refuse_non_finite().expect_err("refused").to_string();
        assert!(error.contains("ungated = NaN") && error.contains("gated = inf"), "{error}");
    }
}
