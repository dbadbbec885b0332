//! Cross-checks of the rendered objects against the service and each other. Each failure
//! names the object, the field and the fix.

use ebb_probes::{LIVEZ_PATH, READYZ_PATH, STARTUPZ_PATH};

use super::definition::Service;
use super::render::File;

pub(crate) fn check(service: &Service, files: &[File]) -> Vec<String> {
    let mut problems = Vec::new();
    let object = |kind: &str| files.iter().map(|f| &f.object).find(|o| o["kind"] == kind);
    let Some(deployment) = object("Deployment") else {
        return vec![format!("{}: no Deployment rendered", service.name)];
    };
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let ports: Vec<&str> =
        container["ports"].as_array().into_iter().flatten().filter_map(|p| p["name"].as_str()).collect();

    for (field, path) in
        [("startupProbe", STARTUPZ_PATH), ("livenessProbe", LIVEZ_PATH), ("readinessProbe", READYZ_PATH)]
    {
        let probe = &container[field]["httpGet"];
        if probe["path"] != path {
            problems.push(format!(
                "Deployment/{}: {field}.httpGet.path is {}, the service answers {path}",
                service.name, probe["path"]
            ));
        }
        if let Some(port) = probe["port"].as_str().filter(|port| !ports.contains(port)) {
            problems.push(format!(
                "Deployment/{}: {field}.httpGet.port `{port}` is no container port (have {ports:?})",
                service.name
            ));
        }
    }
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(0);
    let needed = (service.shutdown_delay + service.shutdown_timeout).as_secs();
    if grace <= needed {
        problems.push(format!(
            "Deployment/{}: terminationGracePeriodSeconds {grace} must exceed preStop ({}s) + EBB_SHUTDOWN_TIMEOUT ({}s); raise it",
            service.name,
            service.shutdown_delay.as_secs(),
            service.shutdown_timeout.as_secs()
        ));
    }
    if container["image"].as_str().is_some_and(|image| image.ends_with(":latest")) {
        problems.push(format!("Deployment/{}: the image must not use the `latest` tag; pin a digest", service.name));
    }
    if let Some(kube_service) = object("Service") {
        for port in kube_service["spec"]["ports"].as_array().into_iter().flatten() {
            if let Some(target) = port["targetPort"].as_str().filter(|target| !ports.contains(target)) {
                problems.push(format!("Service/{}: targetPort `{target}` is no container port", service.name));
            }
        }
    }
    if let Some(hpa) = object("HorizontalPodAutoscaler") {
        if hpa["spec"]["scaleTargetRef"]["name"] != service.name {
            problems.push(format!(
                "HorizontalPodAutoscaler/{}: scaleTargetRef.name must be {}",
                service.name, service.name
            ));
        }
        let pods_metrics = hpa["spec"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["pods"]["metric"]["name"].as_str());
        for metric in pods_metrics {
            if metric != service.custom_metric {
                problems.push(format!(
                    "HorizontalPodAutoscaler/{}: scales on `{metric}`, but the adapter serves `{}` (from {})",
                    service.name, service.custom_metric, service.request_counter
                ));
            }
        }
        if hpa["spec"]["minReplicas"].as_i64().unwrap_or(0) < 1 {
            problems.push(format!(
                "HorizontalPodAutoscaler/{}: minReplicas must be >= 1 (scale to zero is KEDA's job)",
                service.name
            ));
        }
    }
    if object("ServiceMonitor").is_some_and(|monitor| monitor["spec"]["endpoints"][0]["port"] != "metrics")
        || !ports.contains(&"metrics")
    {
        problems.push(format!("ServiceMonitor/{}: must scrape the container port named `metrics`", service.name));
    }
    problems
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::manifests::{definition, render};

    fn rendered() -> (Service, Vec<File>) {
        let service = definition::services().remove(0);
        let files = render::render(&service).expect("render");
        (service, files)
    }

    fn deployment(files: &mut [File]) -> &mut Value {
        &mut files.iter_mut().find(|f| f.object["kind"] == "Deployment").expect("deployment").object
    }

    #[test]
    fn the_rendered_objects_pass() {
        let (service, files) = rendered();
        assert_eq!(check(&service, &files), Vec::<String>::new());
    }

    #[test]
    fn each_break_is_named_with_its_fix() {
        let (service, mut files) = rendered();
        let pod = &mut deployment(&mut files)["spec"]["template"]["spec"];
        pod["terminationGracePeriodSeconds"] = 30.into();
        pod["containers"][0]["readinessProbe"]["httpGet"]["port"] = "web".into();
        pod["containers"][0]["livenessProbe"]["httpGet"]["path"] = "/health".into();
        pod["containers"][0]["image"] = "ebb/example-api:latest".into();
        let problems = check(&service, &files).join("\n");
        for needle in [
            "terminationGracePeriodSeconds 30",
            "readinessProbe.httpGet.port `web`",
            "livenessProbe.httpGet.path",
            "`latest`",
        ] {
            assert!(problems.contains(needle), "{needle} missing in:\n{problems}");
        }
    }
}
