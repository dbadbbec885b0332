//! What `cargo xtask e2e` saw, as a report: written to `target/e2e/report.json` by every run,
//! merged into the committed `e2e/report.json` by `--save` (a run of one runtime keeps the
//! other's figures), and rendered as the end-to-end table of `xtask/README.md` (a test keeps
//! the two equal, as for the bench table).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::bench::readme::Section;

/// README's end-to-end table.
pub(crate) const SECTION: Section = Section { name: "e2e", source: "e2e/report.json" };

/// The committed report, from the workspace root.
pub(crate) const COMMITTED: &str = SECTION.source;

/// The runtimes, in README's column order.
const RUNTIMES: [&str; 2] = ["processes", "containers"];

/// The scenarios, in README's row order, with their row title.
const SCENARIOS: [(&str, &str); 5] = [
    ("steady", "steady"),
    ("rolling_restart", "rolling restart"),
    ("scale_1_3_1", "scale 1 → 3 → 1"),
    ("control_shutdown_delay_0s", "control: delay 0 s"),
    ("control_sigkill", "control: SIGKILL"),
];

/// Every runtime's last run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct E2eReport {
    pub(crate) runtimes: BTreeMap<String, RuntimeRun>,
}

/// One runtime's run: where and when, and what each scenario saw.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RuntimeRun {
    /// The machine and date of the run, or where the figures came from.
    pub(crate) measured: String,
    pub(crate) scenarios: BTreeMap<String, ScenarioFigures>,
}

/// What one scenario saw. The figures a report copied from an older README did not keep
/// are absent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ScenarioFigures {
    pub(crate) requests: f64,
    pub(crate) errors: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) errors_by_client: Option<ErrorsByClient>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) p99_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) uploads: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) lost_uploads: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rate_limit: Option<RateLimitCheck>,
}

/// The errors by client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ErrorsByClient {
    pub(crate) wrk_keep_alive: f64,
    pub(crate) mixed: f64,
    pub(crate) arrivals: f64,
    pub(crate) rate_limit_checker: f64,
}

/// What the shared rate limit allowed, and the bounds it had to fall in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RateLimitCheck {
    pub(crate) allowed: u32,
    pub(crate) lower: f64,
    pub(crate) upper: f64,
}

impl E2eReport {
    pub(crate) fn parse(json: &str) -> anyhow::Result<Self> {
        Ok(serde_json::from_str(json)?)
    }

    pub(crate) fn json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }

    /// This run's runtimes over `older`'s.
    pub(crate) fn merged_over(&self, older: Self) -> Self {
        let mut runtimes = older.runtimes;
        runtimes.extend(self.runtimes.clone());
        Self { runtimes }
    }

    /// README's table: a row per scenario, a column per runtime, then where each column was
    /// measured.
    pub(crate) fn render(&self) -> String {
        let runtimes: Vec<&str> = RUNTIMES.into_iter().filter(|name| self.runtimes.contains_key(*name)).collect();
        let mut out = format!("| scenario | {} |\n|---|{}\n", runtimes.join(" | "), "---|".repeat(runtimes.len()));
        for (key, title) in SCENARIOS {
            let cells: Vec<String> = runtimes
                .iter()
                .map(|runtime| self.runtimes[*runtime].scenarios.get(key).map_or_else(|| "—".to_owned(), cell))
                .collect();
            let _ = writeln!(out, "| {title} | {} |", cells.join(" | "));
        }
        out.push('\n');
        for runtime in runtimes {
            let _ = writeln!(out, "- {runtime}: {}", self.runtimes[runtime].measured);
        }
        out
    }
}

/// `58k requests, 0 errors, 108 uploads (0 lost), p99 5.7 ms; limit 161 in [129, 163]`.
fn cell(figures: &ScenarioFigures) -> String {
    let mut out = format!("{} requests, {} errors", thousands(figures.requests), figures.errors);
    if let Some(uploads) = figures.uploads {
        let lost = figures.lost_uploads.map_or_else(|| "?".to_owned(), |lost| lost.to_string());
        let _ = write!(out, ", {uploads} uploads ({lost} lost)");
    }
    if let Some(p99) = figures.p99_ms {
        let _ = if p99 >= 10.0 { write!(out, ", p99 {p99:.0} ms") } else { write!(out, ", p99 {p99:.1} ms") };
    }
    if let Some(limit) = &figures.rate_limit {
        let _ = write!(out, "; limit {} in [{:.0}, {:.0}]", limit.allowed, limit.lower, limit.upper);
    }
    out
}

fn thousands(count: f64) -> String {
    if count >= 1000.0 { format!("{:.0}k", count / 1000.0) } else { format!("{count:.0}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(requests: f64, errors: f64) -> ScenarioFigures {
        ScenarioFigures {
            requests,
            errors,
            errors_by_client: None,
            p99_ms: Some(5.73),
            uploads: Some(108),
            lost_uploads: Some(0),
            rate_limit: Some(RateLimitCheck { allowed: 161, lower: 129.0, upper: 163.0 }),
        }
    }

    #[test]
    fn renders_a_row_per_scenario_and_a_column_per_runtime() {
        let mut report = E2eReport::default();
        let scenarios = BTreeMap::from([("steady".to_owned(), scenario(58_300.0, 0.0))]);
        report.runtimes.insert("processes".to_owned(), RuntimeRun { measured: "here, today".to_owned(), scenarios });
        let table = report.render();
        assert!(
            table.contains(
                "| steady | 58k requests, 0 errors, 108 uploads (0 lost), p99 5.7 ms; limit 161 in [129, 163] |"
            ),
            "{table}"
        );
        assert!(table.contains("| rolling restart | — |"), "a scenario the run lacks shows as missing: {table}");
        assert!(table.ends_with("- processes: here, today\n"), "{table}");
        assert_eq!(E2eReport::parse(&report.json().expect("json")).expect("round trip"), report);
    }

    #[test]
    fn a_run_of_one_runtime_keeps_the_other() {
        let run = |measured: &str| RuntimeRun { measured: measured.to_owned(), scenarios: BTreeMap::new() };
        let older = E2eReport {
            runtimes: BTreeMap::from([("processes".to_owned(), run("old")), ("containers".to_owned(), run("old"))]),
        };
        let new = E2eReport { runtimes: BTreeMap::from([("processes".to_owned(), run("new"))]) };
        let merged = new.merged_over(older);
        assert_eq!(merged.runtimes["processes"].measured, "new");
        assert_eq!(merged.runtimes["containers"].measured, "old");
    }
}
