//! `checkov --framework kubernetes` on every built overlay, and the checks we skip on
//! purpose — each with its reason, rendered into the Deployments as checkov's own skip
//! annotations so that the reason travels with the manifest. A report of any other shape
//! than checkov's (no summary, counts that disagree with the lists, nothing checked) is an
//! error, never a pass; so is a skipped check that is not one of [`SKIPS`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, bail};
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

/// What checkov reported on one file: its counts, the checks that failed (id, name,
/// resource) and the ids of those skipped.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) passed: u64,
    pub(crate) failed: Vec<[String; 3]>,
    pub(crate) skipped: Vec<String>,
}

/// Runs checkov on one built overlay (`built`, as `kubectl kustomize` printed it) and
/// returns a problem per failed check or undocumented skip; prints the counts.
///
/// # Errors
/// When checkov cannot run or prints anything but a report of the expected shape.
pub(crate) fn check(sh: &Shell, checkov: &Path, overlay: &str, built: &str) -> anyhow::Result<Vec<String>> {
    let report = run(sh, checkov, overlay, built)?;
    let skipped: BTreeSet<&str> = report.skipped.iter().map(String::as_str).collect();
    eprintln!(
        "ebb-deploy: checkov {overlay}: {} passed, {} failed, {} skipped ({}; reasons in the annotations)",
        report.passed,
        report.failed.len(),
        report.skipped.len(),
        skipped.iter().copied().collect::<Vec<_>>().join(", "),
    );
    Ok(problems(overlay, &report))
}

/// A problem per failed check and per skip that [`SKIPS`] does not document.
fn problems(overlay: &str, report: &Report) -> Vec<String> {
    let failed = report.failed.iter().map(|[id, name, resource]| {
        format!(
            "{overlay}: checkov {id} ({name}) fails on {resource}: fix it in the service definition, or, where it does not apply, skip it with its reason (ebb-deploy's checkov::SKIPS)"
        )
    });
    let undocumented = report
        .skipped
        .iter()
        .filter(|id| SKIPS.iter().all(|(documented, _)| documented != id))
        .map(|id| format!("{overlay}: checkov {id} is skipped without a reason in ebb-deploy's checkov::SKIPS"));
    failed.chain(undocumented).collect()
}

/// checkov's report on `built`, parsed.
fn run(sh: &Shell, checkov: &Path, overlay: &str, built: &str) -> anyhow::Result<Report> {
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
    parse(&String::from_utf8_lossy(&output.stdout)).with_context(|| {
        format!("{overlay}: checkov printed no usable report: {}", String::from_utf8_lossy(&output.stderr).trim())
    })
}

/// Reads checkov's JSON report; anything of another shape is an error.
fn parse(text: &str) -> anyhow::Result<Report> {
    let report = match serde_json::from_str(text).with_context(|| format!("not JSON:\n{text}"))? {
        // One report per framework; we ask for one.
        Value::Array(mut reports) if reports.len() == 1 => reports.swap_remove(0),
        Value::Array(reports) => bail!("{} reports where one was asked for:\n{text}", reports.len()),
        report => report,
    };
    let count = |field: &str| {
        report["summary"][field].as_u64().with_context(|| format!("no summary.{field} count in:\n{text}"))
    };
    let (passed, failed, skipped) = (count("passed")?, count("failed")?, count("skipped")?);
    if count("resource_count")? == 0 || passed + failed + skipped == 0 {
        bail!("checkov checked nothing:\n{text}");
    }
    let list = |field: &str| {
        report["results"][field].as_array().with_context(|| format!("no results.{field} list in:\n{text}"))
    };
    let field = |check: &Value, name: &str| {
        check[name].as_str().map(str::to_owned).with_context(|| format!("a check without {name} in:\n{text}"))
    };
    let failed_checks = list("failed_checks")?
        .iter()
        .map(|check| Ok([field(check, "check_id")?, field(check, "check_name")?, field(check, "resource")?]))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let skipped_checks =
        list("skipped_checks")?.iter().map(|check| field(check, "check_id")).collect::<anyhow::Result<Vec<_>>>()?;
    if failed_checks.len() as u64 != failed || skipped_checks.len() as u64 != skipped {
        bail!(
            "the summary counts {failed} failed and {skipped} skipped, the lists hold {} and {}:\n{text}",
            failed_checks.len(),
            skipped_checks.len()
        );
    }
    Ok(Report { passed, failed: failed_checks, skipped: skipped_checks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::Platform;
    use crate::service as definition;
    use crate::tools;

    /// The example service's objects as ebb-deploy renders them, in a namespace as the
    /// overlays put them, its Deployment through `change`: one built overlay, as YAML.
    fn overlay(change: impl FnOnce(&mut Value)) -> String {
        let service = definition::examples().remove(0);
        let mut files = super::super::render::render(&service, &Platform::default()).expect("renders");
        let deployment = files.iter_mut().find(|file| file.name == "deployment.yaml").expect("a Deployment");
        change(&mut deployment.object);
        let documents = files.into_iter().map(|mut file| {
            file.object["metadata"]["namespace"] = "ebb".into();
            serde_yaml::to_string(&file.object).expect("yaml")
        });
        documents.collect::<Vec<_>>().join("---\n")
    }

    /// The protection off: no securityContext on the pod or its containers, no limits.
    fn insecure(deployment: &mut Value) {
        let pod = &mut deployment["spec"]["template"]["spec"];
        pod.as_object_mut().expect("a pod spec").remove("securityContext");
        for container in pod["containers"].as_array_mut().expect("containers") {
            container.as_object_mut().expect("a container").remove("securityContext");
            container["resources"].as_object_mut().expect("resources").remove("limits");
        }
    }

    /// checkov still finds failures: the rendered objects pass with exactly the four
    /// documented skips, and the same objects with a Deployment without its securityContext
    /// and limits fail, their skips unchanged. Needs checkov (`.tools/` or PATH).
    #[test]
    fn checkov_fails_an_insecure_deployment_and_passes_the_rendered_objects() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let Some(checkov) = tools::pip_tool(&root, &tools::CHECKOV) else {
            tools::missing("checkov", "checkov on a known-bad Deployment").expect("checkov is needed under CI=true");
            return;
        };
        let sh = Shell::new().expect("shell");
        let documented: BTreeSet<&str> = SKIPS.iter().map(|(id, _)| *id).collect();

        let good = run(&sh, &checkov, "rendered", &overlay(|_| ())).expect("a report");
        assert!(good.passed > 0 && good.failed.is_empty(), "{good:?}");
        assert_eq!(good.skipped.iter().map(String::as_str).collect::<BTreeSet<_>>(), documented, "{good:?}");
        assert_eq!(good.skipped.len(), SKIPS.len(), "{good:?}");
        assert!(problems("rendered", &good).is_empty());

        let bad = run(&sh, &checkov, "insecure", &overlay(insecure)).expect("a report");
        let failed: BTreeSet<&str> = bad.failed.iter().map(|[id, ..]| id.as_str()).collect();
        assert!(bad.passed > 0, "{bad:?}");
        for expected in ["CKV_K8S_20", "CKV_K8S_13"] {
            assert!(failed.contains(expected), "{expected} (privilege escalation, memory limit) not failed: {bad:?}");
        }
        assert_eq!(bad.skipped.len(), SKIPS.len(), "{bad:?}");
        let problems = problems("insecure", &bad);
        assert_eq!(problems.len(), bad.failed.len(), "one problem per failed check: {problems:?}");
        eprintln!("checkov, rendered: {good:?}\ncheckov, insecure: {bad:?}");
    }

    #[test]
    fn a_report_of_another_shape_is_an_error_not_a_pass() {
        let summary = r#""summary": {"passed": 3, "failed": 1, "skipped": 0, "resource_count": 1}"#;
        let failure = r#"{"check_id": "CKV_K8S_20", "check_name": "n", "resource": "Deployment.default.api"}"#;
        let good = format!(r#"{{"results": {{"failed_checks": [{failure}], "skipped_checks": []}}, {summary}}}"#);
        let report = parse(&good).expect("checkov's shape");
        assert_eq!((report.passed, report.failed.len()), (3, 1));
        assert!(parse(&format!("[{good}]")).is_ok(), "a list of one report");
        let unexpected = [
            "checkov: error".to_owned(),
            "[]".to_owned(),
            format!("[{good}, {good}]"),
            // What checkov prints for a file with no resources: a bare summary.
            r#"{"passed": 0, "failed": 0, "skipped": 0, "resource_count": 0}"#.to_owned(),
            good.replace(r#""resource_count": 1"#, r#""resource_count": 0"#),
            good.replace(r#""failed": 1"#, r#""failed": "1""#),
            good.replace(r#""failed": 1"#, r#""failed": 2"#),
            good.replace(r#""failed_checks""#, r#""failures""#),
            good.replace(r#""check_id""#, r#""id""#),
        ];
        for text in unexpected {
            assert!(parse(&text).is_err(), "accepted: {text}");
        }
    }
}
