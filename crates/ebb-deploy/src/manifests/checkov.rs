//! `checkov --framework kubernetes` on every built overlay, and the checks we skip on
//! purpose — each with its reason, rendered into the Deployments as checkov's own skip
//! annotations so that the reason travels with the manifest.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use xshell::{Shell, cmd};

/// The checks a platform team would not fix here, and why.
pub(crate) const SKIPS: [(&str, &str); 4] = [
    (
        "CKV_K8S_11",
        "CPU limits are left unset on purpose: CFS throttling adds latency at the p99 while the node has idle CPU; the request reserves CPU and the HPA scales on it",
    ),
    (
        "CKV_K8S_35",
        "the services are configured by environment (12-factor, REDIS_URL and AWS_* as the libraries read them); the values come from Secrets by reference, never inlined",
    ),
    (
        "CKV_K8S_43",
        "the base carries the crate version as tag; cargo xtask deploy pins the pushed digest and refuses any image without one",
    ),
    (
        "CKV_K8S_15",
        "images are pinned by digest when deployed, which no push can change; Always would only make every scale-out wait on the registry",
    ),
];

/// `checkov.io/skipN: CHECK=reason`, checkov's annotation for skipping a check on an object.
pub(crate) fn skip_annotations() -> BTreeMap<String, String> {
    SKIPS
        .iter()
        .enumerate()
        .map(|(index, (check, reason))| (format!("checkov.io/skip{}", index + 1), format!("{check}={reason}")))
        .collect()
}

/// Runs checkov on one built overlay (`built`, as `kubectl kustomize` printed it) and
/// returns a problem per failed check; prints the counts.
pub(crate) fn check(sh: &Shell, checkov: &Path, overlay: &str, built: &str) -> anyhow::Result<Vec<String>> {
    let name = overlay.replace('/', "-");
    let file = std::env::temp_dir().join(format!("ebb-checkov-{}-{name}.yaml", std::process::id()));
    std::fs::write(&file, built)?;
    // --skip-download: no policies from the network, only the pinned release's own.
    let output = cmd!(sh, "{checkov} --framework kubernetes --skip-download --compact -o json -f {file}")
        .quiet()
        .ignore_status()
        .output();
    std::fs::remove_file(&file)?;
    let output = output?;
    let text = String::from_utf8_lossy(&output.stdout);
    let report: Value = match serde_json::from_str(&text) {
        // One report per framework; we ask for one.
        Ok(Value::Array(mut reports)) if !reports.is_empty() => reports.swap_remove(0),
        Ok(report) => report,
        Err(_) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Ok(vec![format!("{overlay}: checkov printed no report:\n{text}{stderr}")]);
        }
    };
    let summary = &report["summary"];
    eprintln!(
        "ebb-deploy: checkov {overlay}: {} passed, {} failed, {} skipped (reasons in the annotations)",
        summary["passed"], summary["failed"], summary["skipped"]
    );
    let failed = report["results"]["failed_checks"].as_array().cloned().unwrap_or_default();
    Ok(failed
        .iter()
        .map(|check| {
            format!(
                "{overlay}: checkov {} ({}) fails on {}: fix it in the service definition, or, where it does not apply, skip it with its reason (ebb-deploy's checkov::SKIPS)",
                check["check_id"].as_str().unwrap_or("?"),
                check["check_name"].as_str().unwrap_or("?"),
                check["resource"].as_str().unwrap_or("?"),
            )
        })
        .collect())
}
