//! The one report every benchmark writes into: named figures with their target, printed as
//! a table and written as JSON.

use std::fmt::Write as _;

/// Whether a figure must stay above or below its target.
#[derive(Clone, Copy)]
pub(crate) enum Target {
    AtLeast(f64),
    AtMost(f64),
    None,
}

struct Figure {
    name: String,
    value: f64,
    unit: &'static str,
    target: Target,
}

#[derive(Default)]
pub(crate) struct Report {
    figures: Vec<Figure>,
}

impl Report {
    pub(crate) fn add(&mut self, name: impl Into<String>, value: f64, unit: &'static str, target: Target) {
        self.figures.push(Figure { name: name.into(), value, unit, target });
    }

    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        let width = self.figures.iter().map(|f| f.name.len()).max().unwrap_or(0);
        for f in &self.figures {
            let (target, verdict) = match f.target {
                Target::AtLeast(t) => (format!(">= {t}"), if f.value >= t { "ok" } else { "MISSED" }),
                Target::AtMost(t) => (format!("<= {t}"), if f.value <= t { "ok" } else { "MISSED" }),
                Target::None => (String::new(), ""),
            };
            let _ = writeln!(out, "{:<width$}: {:>12.3} {:<6} {:>10} {verdict}", f.name, f.value, f.unit, target);
        }
        out
    }

    pub(crate) fn json(&self) -> String {
        let mut out = String::from("{\n");
        for (i, f) in self.figures.iter().enumerate() {
            let comma = if i + 1 < self.figures.len() { "," } else { "" };
            let _ = writeln!(out, "  \"{}\": {{ \"value\": {:.4}, \"unit\": \"{}\" }}{comma}", f.name, f.value, f.unit);
        }
        out.push_str("}\n");
        out
    }
}
