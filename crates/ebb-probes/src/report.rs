use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::Probe;

/// The outcome of one check within a probe.
#[derive(Clone, Debug, Serialize)]
pub struct CheckResult {
    /// The check's name.
    pub name: String,
    /// `Err(reason)` when it failed or timed out.
    #[serde(rename = "status", serialize_with = "status")]
    pub outcome: Result<(), String>,
    /// How long the check took when it last ran.
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    /// Whether the result came from the cache.
    pub cached: bool,
    /// Whether a failure fails the probe (`false` for advisory checks).
    pub critical: bool,
}

impl CheckResult {
    pub(crate) fn new(name: &str, outcome: Result<(), String>, duration: Duration, cached: bool) -> Self {
        Self { name: name.to_owned(), outcome, duration, cached, critical: true }
    }

    pub(crate) fn critical(mut self, critical: bool) -> Self {
        self.critical = critical;
        self
    }

    pub(crate) fn instant(name: &str, outcome: Result<(), String>) -> Self {
        Self::new(name, outcome, Duration::ZERO, false)
    }
}

fn status<S: serde::Serializer>(outcome: &Result<(), String>, serializer: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Status<'a> {
        ok: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<&'a str>,
    }
    Status { ok: outcome.is_ok(), error: outcome.as_ref().err().map(String::as_str) }.serialize(serializer)
}

fn millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64() * 1000.0)
}

/// The result of a probe: every check that ran, and those excluded.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeReport {
    /// Which probe.
    pub probe: Probe,
    /// Whether every check that ran passed.
    pub ok: bool,
    /// The checks that ran, in order.
    pub checks: Vec<CheckResult>,
    /// The checks skipped through `?exclude=`.
    pub excluded: Vec<String>,
    /// Facts about what runs (version, revision...): on `/startupz` only.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "info")]
    pub info: Vec<(String, String)>,
}

fn info<S: serde::Serializer>(info: &[(String, String)], serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(info.len()))?;
    for (key, value) in info {
        map.serialize_entry(key, value)?;
    }
    map.end()
}

impl ProbeReport {
    pub(crate) fn new(probe: Probe) -> Self {
        Self { probe, ok: true, checks: Vec::new(), excluded: Vec::new(), info: Vec::new() }
    }

    pub(crate) fn push(&mut self, result: CheckResult) {
        self.ok &= result.outcome.is_ok() || !result.critical;
        self.checks.push(result);
    }

    pub(crate) fn exclude(&mut self, name: String) {
        self.excluded.push(name);
    }

    /// Plain text in the Kubernetes API server's style. Not verbose: `ok`, or
    /// `readyz check failed` without naming any check. Verbose: one `[+]name ok` /
    /// `[-]name failed: reason` line per check, then the verdict.
    pub fn to_text(&self, verbose: bool) -> String {
        if !verbose {
            return if self.ok { "ok\n".to_owned() } else { format!("{} check failed\n", self.probe.name()) };
        }
        let mut text = String::new();
        for check in &self.checks {
            match &check.outcome {
                Ok(()) => {
                    let _ = writeln!(text, "[+]{} ok", check.name);
                }
                Err(reason) if check.critical => {
                    let _ = writeln!(text, "[-]{} failed: {reason}", check.name);
                }
                Err(reason) => {
                    let _ = writeln!(text, "[!]{} degraded (advisory): {reason}", check.name);
                }
            }
        }
        for name in &self.excluded {
            let _ = writeln!(text, "[+]{name} excluded: ok");
        }
        for (key, value) in &self.info {
            let _ = writeln!(text, "[i]{key}: {value}");
        }
        let verdict = if self.ok { "passed" } else { "failed" };
        let _ = writeln!(text, "{} check {verdict}", self.probe.name());
        text
    }

    /// JSON. Verbose: `{"probe":"readyz","ok":false,"checks":[{"name":..,"status":{"ok":..,
    /// "error":..},"duration_ms":..,"cached":..}],"excluded":[..]}`; otherwise only
    /// `{"probe":"readyz","ok":false}`.
    pub fn to_json(&self, verbose: bool) -> String {
        let json = if verbose {
            serde_json::to_string(self)
        } else {
            serde_json::to_string(&serde_json::json!({ "probe": self.probe, "ok": self.ok }))
        };
        json.unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"))
    }
}
