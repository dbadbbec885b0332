//! Checks between a Deployment and what scales it (an HPA or a KEDA ScaledObject), on any
//! set of objects: one service's base, or a whole overlay as `kubectl kustomize` builds it.
//! Each failure names the objects, the field and the fix.

use serde_json::Value;

/// Problems among `objects`; none when they agree.
pub(crate) fn check<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Vec<String> {
    let objects: Vec<&Value> = objects.into_iter().collect();
    let of_kind = |kind: &'static str| objects.iter().copied().filter(move |o| o["kind"] == kind);
    let mut problems = Vec::new();
    for deployment in of_kind("Deployment") {
        let name = deployment["metadata"]["name"].as_str().unwrap_or_default();
        let scalers: Vec<&Value> = of_kind("HorizontalPodAutoscaler")
            .chain(of_kind("ScaledObject"))
            .filter(|scaler| scales(scaler, name))
            .collect();
        problems.extend(replicas_beside(deployment, name, &scalers));
        let has = |kind: &str| scalers.iter().any(|scaler| scaler["kind"] == kind);
        if has("HorizontalPodAutoscaler") && has("ScaledObject") {
            problems.push(format!(
                "Deployment/{name} has both an HPA and a KEDA ScaledObject; KEDA makes its own HPA — delete the HPA in this overlay"
            ));
        }
    }
    for hpa in of_kind("HorizontalPodAutoscaler") {
        problems.extend(hpa_min_replicas(hpa));
    }
    for scaled in of_kind("ScaledObject") {
        problems.extend(scale_to_zero_needs_activation(scaled));
    }
    problems
}

fn name(object: &Value) -> String {
    format!("{}/{}", object["kind"].as_str().unwrap_or("?"), object["metadata"]["name"].as_str().unwrap_or("?"))
}

fn scales(scaler: &Value, deployment: &str) -> bool {
    let target = &scaler["spec"]["scaleTargetRef"];
    target["name"] == deployment && (target["kind"].is_null() || target["kind"] == "Deployment")
}

/// Every `kubectl apply` of a Deployment with `spec.replicas` resets the count its
/// autoscaler chose: a scaled-out service drops to the manifest's number until the
/// autoscaler catches up. The autoscaler's minimum says how many run at least.
fn replicas_beside(deployment: &Value, name: &str, scalers: &[&Value]) -> Option<String> {
    let replicas = deployment["spec"].get("replicas")?;
    let scaler = scalers.first()?;
    let minimum = if scaler["kind"] == "ScaledObject" { "spec.minReplicaCount" } else { "spec.minReplicas" };
    Some(format!(
        "Deployment/{name}: spec.replicas is {replicas} while {} scales it; delete spec.replicas (each apply resets the autoscaler's count) and set {minimum} there instead",
        self::name(scaler)
    ))
}

/// An HPA cannot scale from zero (it has no pods to measure); scale to zero is KEDA's job.
fn hpa_min_replicas(hpa: &Value) -> Option<String> {
    let min = hpa["spec"]["minReplicas"].as_i64().unwrap_or(1);
    (min < 1).then(|| {
        format!(
            "{}: spec.minReplicas is {min}, must be >= 1 (an HPA cannot scale up from zero; scale to zero with a KEDA ScaledObject)",
            name(hpa)
        )
    })
}

/// At zero replicas only the activation threshold wakes the service: without one, KEDA's
/// default (0) may be right or wrong by accident, so it must be said.
fn scale_to_zero_needs_activation(scaled: &Value) -> Vec<String> {
    if scaled["spec"]["minReplicaCount"].as_i64() != Some(0) {
        return Vec::new();
    }
    let triggers = scaled["spec"]["triggers"].as_array().into_iter().flatten().enumerate();
    triggers
        .filter(|(_, trigger)| {
            !trigger["metadata"].as_object().is_some_and(|m| m.keys().any(|key| key.starts_with("activation")))
        })
        .map(|(index, _)| {
            format!(
                "{}: spec.minReplicaCount is 0 but spec.triggers[{index}].metadata has no activation threshold (activationThreshold, activationLagCount, ...): say what wakes it from zero",
                name(scaled)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::check;
    use crate::manifests::{definition, render};

    /// Renders `service`, breaks one thing with `edit`, and asserts that the check names it.
    fn assert_named(service: &str, edit: impl FnOnce(&mut Vec<Value>), needle: &str) {
        let service = definition::services().into_iter().find(|s| s.name == service).expect("service");
        let mut objects: Vec<Value> =
            render::render(&service).expect("render").into_iter().map(|file| file.object).collect();
        assert_eq!(check(&objects), Vec::<String>::new(), "the rendering passes");
        edit(&mut objects);
        let problems = check(&objects).join("\n");
        assert!(problems.contains(needle), "{needle} missing in:\n{problems}");
    }

    fn kind<'a>(objects: &'a mut [Value], kind: &str) -> &'a mut Value {
        objects.iter_mut().find(|o| o["kind"] == kind).expect(kind)
    }

    #[test]
    fn replicas_beside_an_hpa_are_refused() {
        assert_named(
            "example-api",
            |objects| kind(objects, "Deployment")["spec"]["replicas"] = 3.into(),
            "Deployment/example-api: spec.replicas is 3 while HorizontalPodAutoscaler/example-api scales it",
        );
    }

    #[test]
    fn replicas_beside_a_scaled_object_are_refused() {
        assert_named(
            "example-worker",
            |objects| kind(objects, "Deployment")["spec"]["replicas"] = 1.into(),
            "Deployment/example-worker: spec.replicas is 1 while ScaledObject/example-worker scales it; delete spec.replicas",
        );
    }

    #[test]
    fn an_hpa_with_min_replicas_zero_is_refused() {
        assert_named(
            "example-api",
            |objects| kind(objects, "HorizontalPodAutoscaler")["spec"]["minReplicas"] = 0.into(),
            "HorizontalPodAutoscaler/example-api: spec.minReplicas is 0, must be >= 1",
        );
    }

    #[test]
    fn the_worker_scales_to_zero_and_only_with_an_activation_threshold() {
        assert_named(
            "example-worker",
            |objects| {
                let scaled = kind(objects, "ScaledObject");
                assert_eq!(scaled["spec"]["minReplicaCount"], 0, "the example worker scales to zero");
                let metadata = scaled["spec"]["triggers"][0]["metadata"].as_object_mut().expect("metadata");
                metadata.remove("activationLagCount");
            },
            "ScaledObject/example-worker: spec.minReplicaCount is 0 but spec.triggers[0].metadata has no activation threshold",
        );
    }

    #[test]
    fn an_hpa_and_a_scaled_object_on_one_deployment_are_refused() {
        assert_named(
            "example-api",
            |objects| {
                objects.push(json!({ "kind": "ScaledObject", "metadata": { "name": "example-api" },
                    "spec": { "scaleTargetRef": { "name": "example-api" }, "minReplicaCount": 2 } }));
            },
            "Deployment/example-api has both an HPA and a KEDA ScaledObject",
        );
    }
}
