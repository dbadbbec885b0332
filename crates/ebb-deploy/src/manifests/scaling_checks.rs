//! Checks between a Deployment and what scales it (an HPA or a KEDA ScaledObject, and the
//! TriggerAuthentication and Secret a trigger reads), on any set of objects: one service's
//! base, or a whole overlay as `kubectl kustomize` builds it. Each failure names the
//! objects, the field and the fix.

use serde_json::Value;

use crate::service::REDIS_URL;

/// Problems among `objects`; none when they agree. `documented_secrets` are the Secrets the
/// docs ask the operator to create (`example_secrets.rs`), for those not among `objects`.
pub(crate) fn check<'a>(objects: impl IntoIterator<Item = &'a Value>, documented_secrets: &[Value]) -> Vec<String> {
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
        problems.extend(bounds(hpa, "minReplicas", "maxReplicas"));
    }
    for scaled in of_kind("ScaledObject") {
        problems.extend(bounds(scaled, "minReplicaCount", "maxReplicaCount"));
        problems.extend(scale_to_zero_needs_activation(scaled));
        problems.extend(redis_authentication(scaled, &objects, documented_secrets));
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

/// The API server refuses a minimum above the maximum, at apply time; an overlay's patch
/// can make one that the schemas accept.
fn bounds(scaler: &Value, min: &str, max: &str) -> Option<String> {
    let (low, high) = (scaler["spec"][min].as_i64().unwrap_or(1), scaler["spec"][max].as_i64()?);
    (low > high).then(|| format!("{}: spec.{min} {low} is above spec.{max} {high}", name(scaler)))
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

/// A Redis trigger must reach Redis as the service does: through a TriggerAuthentication
/// on the Secret of the target's `REDIS_URL`, whose keys exist. Without it KEDA connects
/// without password and TLS (and fails, or reads another Redis); a host written into the
/// trigger drifts from the service's.
fn redis_authentication(scaled: &Value, objects: &[&Value], documented_secrets: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let find =
        |kind: &str, name: &str| objects.iter().copied().find(|o| o["kind"] == kind && o["metadata"]["name"] == name);
    let triggers = scaled["spec"]["triggers"].as_array().into_iter().flatten().enumerate();
    for (index, trigger) in triggers.filter(|(_, t)| t["type"].as_str().is_some_and(|t| t.starts_with("redis"))) {
        let field = format!("{}: spec.triggers[{index}]", name(scaled));
        for key in ["address", "host", "addresses", "hosts"].iter().filter(|key| !trigger["metadata"][**key].is_null())
        {
            problems.push(format!(
                "{field}.metadata.{key} hard-codes Redis; take `address` from the TriggerAuthentication (the Secret of {REDIS_URL})"
            ));
        }
        let Some(auth_name) = trigger["authenticationRef"]["name"].as_str() else {
            problems.push(format!(
                "{field} ({}) has no authenticationRef: KEDA would reach Redis without the service's address, password and TLS; reference a TriggerAuthentication on the Secret of {REDIS_URL}",
                trigger["type"].as_str().unwrap_or_default()
            ));
            continue;
        };
        let Some(auth) = find("TriggerAuthentication", auth_name) else {
            problems.push(format!(
                "{field}.authenticationRef names TriggerAuthentication/{auth_name}, which is not rendered"
            ));
            continue;
        };
        let target = scaled["spec"]["scaleTargetRef"]["name"].as_str().unwrap_or_default();
        let Some(secret_name) = find("Deployment", target).and_then(redis_secret) else {
            problems
                .push(format!("Deployment/{target} reads no {REDIS_URL} from a Secret for {} to share", name(auth)));
            continue;
        };
        let secret = match find("Secret", secret_name) {
            Some(secret) => Some((secret, "the rendered")),
            None => {
                documented_secrets.iter().find(|s| s["metadata"]["name"] == secret_name).map(|s| (s, "the documented"))
            }
        };
        problems.extend(secret_target_refs(auth, target, secret_name, secret));
    }
    problems
}

/// Each of the TriggerAuthentication's `secretTargetRef`s reads an existing key of the
/// Secret of the target's `REDIS_URL` (`secret`: that Secret and whose it is), and one
/// gives KEDA the `address`.
fn secret_target_refs(auth: &Value, target: &str, secret_name: &str, secret: Option<(&Value, &str)>) -> Vec<String> {
    let mut problems = Vec::new();
    let whose = secret.map_or("the", |(_, whose)| whose);
    let keys: Vec<&str> = secret
        .into_iter()
        .flat_map(|(s, _)| [&s["data"], &s["stringData"]])
        .filter_map(Value::as_object)
        .flat_map(|map| map.keys().map(String::as_str))
        .collect();
    let refs = auth["spec"]["secretTargetRef"].as_array().map(Vec::as_slice).unwrap_or_default();
    for (position, reference) in refs.iter().enumerate() {
        let (secret, key) =
            (reference["name"].as_str().unwrap_or_default(), reference["key"].as_str().unwrap_or_default());
        let at = format!("{}: spec.secretTargetRef[{position}]", name(auth));
        if secret != secret_name {
            problems.push(format!(
                "{at} reads Secret/{secret}, but Deployment/{target} reads {REDIS_URL} from Secret/{secret_name}: use that one"
            ));
        } else if !keys.contains(&key) {
            problems.push(format!(
                "{at} reads key `{key}` that {whose} Secret/{secret_name} does not have (it has {keys:?})"
            ));
        }
    }
    if !refs.iter().any(|reference| reference["parameter"] == "address") {
        problems.push(format!(
            "{}: spec.secretTargetRef has no `address` parameter: KEDA has no Redis to reach",
            name(auth)
        ));
    }
    problems
}

/// The Secret a Deployment's first container reads `REDIS_URL` from.
fn redis_secret(deployment: &Value) -> Option<&str> {
    let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"].as_array()?;
    env.iter().find(|e| e["name"] == REDIS_URL)?["valueFrom"]["secretKeyRef"]["name"].as_str()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::check;
    use crate::manifests::{example_secrets, render};
    use crate::service as definition;

    /// Renders `service`, breaks one thing with `edit`, and asserts that the check names it.
    fn assert_named(service: &str, edit: impl FnOnce(&mut Vec<Value>), needle: &str) {
        let services = definition::examples();
        let secrets: Vec<Value> = example_secrets::example_secrets(&services)
            .into_values()
            .map(|secret| serde_json::to_value(secret).expect("json"))
            .collect();
        let service = services.iter().find(|s| s.name == service).expect("service");
        let mut objects: Vec<Value> =
            render::render(service, &Default::default()).expect("render").into_iter().map(|file| file.object).collect();
        assert_eq!(check(&objects, &secrets), Vec::<String>::new(), "the rendering passes");
        edit(&mut objects);
        let problems = check(&objects, &secrets).join("\n");
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
    fn a_minimum_above_the_maximum_is_refused() {
        // What an overlay's patch can do and the schemas accept (the rendering passes first).
        assert_named(
            "example-api",
            |objects| kind(objects, "HorizontalPodAutoscaler")["spec"]["minReplicas"] = 11.into(),
            "HorizontalPodAutoscaler/example-api: spec.minReplicas 11 is above spec.maxReplicas 10",
        );
        assert_named(
            "example-worker",
            |objects| kind(objects, "ScaledObject")["spec"]["maxReplicaCount"] = (-1).into(),
            "ScaledObject/example-worker: spec.minReplicaCount 0 is above spec.maxReplicaCount -1",
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

    fn redis_trigger(objects: &mut [Value]) -> &mut Value {
        &mut kind(objects, "ScaledObject")["spec"]["triggers"][0]
    }

    #[test]
    fn a_redis_trigger_without_authentication_is_refused() {
        assert_named(
            "example-worker",
            |objects| {
                redis_trigger(objects).as_object_mut().expect("trigger").remove("authenticationRef");
            },
            "ScaledObject/example-worker: spec.triggers[0] (redis-streams) has no authenticationRef",
        );
    }

    #[test]
    fn a_hard_coded_redis_host_is_refused() {
        assert_named(
            "example-worker",
            |objects| redis_trigger(objects)["metadata"]["address"] = "redis.default.svc:6379".into(),
            "ScaledObject/example-worker: spec.triggers[0].metadata.address hard-codes Redis",
        );
    }

    #[test]
    fn the_trigger_authentication_reads_keys_of_the_secret_of_redis_url() {
        assert_named(
            "example-worker",
            |objects| {
                kind(objects, "TriggerAuthentication")["spec"]["secretTargetRef"][2]["key"] = "redis-password".into()
            },
            "TriggerAuthentication/example-worker-redis: spec.secretTargetRef[2] reads key `redis-password` that the documented Secret/example-worker does not have",
        );
        assert_named(
            "example-worker",
            |objects| kind(objects, "TriggerAuthentication")["spec"]["secretTargetRef"][0]["name"] = "redis".into(),
            "TriggerAuthentication/example-worker-redis: spec.secretTargetRef[0] reads Secret/redis, but Deployment/example-worker reads REDIS_URL from Secret/example-worker",
        );
        assert_named(
            "example-worker",
            |objects| {
                objects.push(
                    json!({ "kind": "Secret", "metadata": { "name": "example-worker" }, "data": { "redis-url": "" } }),
                );
            },
            "reads key `address` that the rendered Secret/example-worker does not have",
        );
    }
}
