//! Checks between a Deployment and what scales it (an HPA or a KEDA ScaledObject, and the
//! TriggerAuthentication and Secret a trigger reads), on any set of objects: one service's
//! base, or a whole overlay as `kubectl kustomize` builds it. Each failure names the
//! objects, the field and the fix.

use ebb_core::names::{ENV_REDIS_CA_FILE, ENV_REDIS_CLIENT_CERT_FILE};
use serde_json::Value;

use super::scaling::FALLBACK_BEHAVIOR;
use crate::redis::RedisTopology;
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
        problems.extend(fallback_beside_a_resource_trigger(scaled));
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

/// KEDA's fallback skips cpu and memory triggers; with the default `static` behavior a
/// failing metric beside one sets its part of the count to `fallback.replicas`, and a
/// loaded service whose CPU is low (busy waiting on I/O) is scaled down in the middle of
/// its traffic. `currentReplicasIfHigher` never goes below what runs.
fn fallback_beside_a_resource_trigger(scaled: &Value) -> Option<String> {
    let fallback = scaled["spec"].get("fallback")?;
    let triggers = scaled["spec"]["triggers"].as_array()?;
    let resource = triggers.iter().find(|t| t["type"] == "cpu" || t["type"] == "memory")?;
    (fallback["behavior"] != FALLBACK_BEHAVIOR).then(|| {
        format!(
            "{}: spec.fallback.behavior is {}, beside a {} trigger it must be {FALLBACK_BEHAVIOR}: a failing metric would otherwise scale a loaded service down to fallback.replicas (KEDA's fallback skips {} triggers)",
            name(scaled),
            fallback["behavior"].as_str().map_or("unset (static)".to_owned(), |b| format!("`{b}`")),
            resource["type"].as_str().unwrap_or_default(),
            resource["type"].as_str().unwrap_or_default(),
        )
    })
}

/// A Redis trigger must reach Redis as the service does: through a TriggerAuthentication
/// on the Secret of the target's Redis variable (`REDIS_URL`, `REDIS_CLUSTER_URLS` or
/// `REDIS_SENTINEL_URLS`), whose keys exist, with the trigger of that topology and the CA
/// and client certificate the service uses. Without it KEDA connects without password and
/// TLS (and fails, or reads another Redis); a host written into the trigger drifts from the
/// service's.
fn redis_authentication(scaled: &Value, objects: &[&Value], documented_secrets: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let find =
        |kind: &str, name: &str| objects.iter().copied().find(|o| o["kind"] == kind && o["metadata"]["name"] == name);
    let triggers = scaled["spec"]["triggers"].as_array().into_iter().flatten().enumerate();
    for (index, trigger) in triggers.filter(|(_, t)| t["type"].as_str().is_some_and(|t| t.starts_with("redis"))) {
        let field = format!("{}: spec.triggers[{index}]", name(scaled));
        let kind = trigger["type"].as_str().unwrap_or_default();
        for key in ["address", "host", "addresses", "hosts"].iter().filter(|key| !trigger["metadata"][**key].is_null())
        {
            problems.push(format!(
                "{field}.metadata.{key} hard-codes Redis; take `{}` from the TriggerAuthentication (the Secret of the service's Redis variable)",
                address_parameter(kind)
            ));
        }
        let Some(auth_name) = trigger["authenticationRef"]["name"].as_str() else {
            problems.push(format!(
                "{field} ({kind}) has no authenticationRef: KEDA would reach Redis without the service's address, password and TLS; reference a TriggerAuthentication on the Secret of {REDIS_URL}"
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
        let Some(deployment) = find("Deployment", target) else { continue };
        let Some((topology, secret_name)) = redis_secret(deployment) else {
            problems.push(format!(
                "Deployment/{target} reads no {REDIS_URL}, {} or {} from a Secret for {} to share",
                RedisTopology::Cluster.variable(),
                RedisTopology::Sentinel.variable(),
                name(auth)
            ));
            continue;
        };
        let expected = trigger_type(topology, kind.ends_with("streams"));
        if kind != expected {
            problems.push(format!(
                "{field} is `{kind}` but Deployment/{target} reads {}: use `{expected}`, or KEDA talks to {} as if it were one plain server",
                topology.variable(),
                match topology {
                    RedisTopology::Single => "it",
                    RedisTopology::Cluster => "one node of the Cluster",
                    RedisTopology::Sentinel => "a sentinel",
                }
            ));
        }
        let secret = |secret_name: &str| match find("Secret", secret_name) {
            Some(secret) => Some((secret, "the rendered")),
            None => {
                documented_secrets.iter().find(|s| s["metadata"]["name"] == secret_name).map(|s| (s, "the documented"))
            }
        };
        let context = Target { name: target, deployment, secret_name, topology };
        problems.extend(secret_target_refs(auth, &context, secret));
        let has = |parameter: &str| {
            auth["spec"]["secretTargetRef"].as_array().into_iter().flatten().any(|r| r["parameter"] == parameter)
        };
        for (variable, parameters) in [(ENV_REDIS_CA_FILE, &["ca"][..]), (ENV_REDIS_CLIENT_CERT_FILE, &["cert", "key"])]
        {
            for parameter in parameters.iter().filter(|p| sets(deployment, objects, variable) && !has(p)) {
                problems.push(format!(
                    "{}: Deployment/{target} sets {variable} but spec.secretTargetRef has no `{parameter}`: KEDA's TLS handshake would fail where the service's succeeds",
                    name(auth)
                ));
            }
        }
        if topology == RedisTopology::Sentinel
            && trigger["metadata"]["sentinelMaster"].is_null()
            && !has("sentinelMaster")
        {
            problems.push(format!(
                "{field} has no sentinelMaster (in its metadata or {}): KEDA cannot ask the sentinels for the master",
                name(auth)
            ));
        }
    }
    problems
}

/// KEDA's parameter for where Redis is, by trigger type.
fn address_parameter(kind: &str) -> &'static str {
    if kind.starts_with("redis-cluster") || kind.starts_with("redis-sentinel") { "addresses" } else { "address" }
}

/// The KEDA trigger type for a topology, for streams or for lists.
fn trigger_type(topology: RedisTopology, streams: bool) -> &'static str {
    match (topology, streams) {
        (RedisTopology::Single, true) => "redis-streams",
        (RedisTopology::Cluster, true) => "redis-cluster-streams",
        (RedisTopology::Sentinel, true) => "redis-sentinel-streams",
        (RedisTopology::Single, false) => "redis",
        (RedisTopology::Cluster, false) => "redis-cluster",
        (RedisTopology::Sentinel, false) => "redis-sentinel",
    }
}

/// The scale target of a Redis trigger, and the Secret of its Redis variable.
struct Target<'a> {
    name: &'a str,
    deployment: &'a Value,
    secret_name: &'a str,
    topology: RedisTopology,
}

/// Each of the TriggerAuthentication's `secretTargetRef`s reads an existing key of the
/// Secret of the target's Redis variable, or a Secret key the Deployment reads itself (a
/// Sentinel setting); `secret` finds a Secret and says whose it is. One gives KEDA the
/// `address` (`addresses` for a Cluster or Sentinel).
fn secret_target_refs<'a>(
    auth: &Value,
    target: &Target<'_>,
    secret: impl Fn(&str) -> Option<(&'a Value, &'static str)>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let (secret_name, variable) = (target.secret_name, target.topology.variable());
    let refs = auth["spec"]["secretTargetRef"].as_array().map(Vec::as_slice).unwrap_or_default();
    for (position, reference) in refs.iter().enumerate() {
        let (secret_ref, key) =
            (reference["name"].as_str().unwrap_or_default(), reference["key"].as_str().unwrap_or_default());
        let at = format!("{}: spec.secretTargetRef[{position}]", name(auth));
        if secret_ref != secret_name {
            if !reads_secret_key(target.deployment, secret_ref, key) {
                problems.push(format!(
                    "{at} reads Secret/{secret_ref}, but Deployment/{} reads {variable} from Secret/{secret_name}: use that one",
                    target.name
                ));
            }
            continue;
        }
        let found = secret(secret_name);
        let whose = found.map_or("the", |(_, whose)| whose);
        let keys: Vec<&str> = found
            .into_iter()
            .flat_map(|(s, _)| [&s["data"], &s["stringData"]])
            .filter_map(Value::as_object)
            .flat_map(|map| map.keys().map(String::as_str))
            .collect();
        if !keys.contains(&key) {
            problems.push(format!(
                "{at} reads key `{key}` that {whose} Secret/{secret_name} does not have (it has {keys:?})"
            ));
        }
    }
    let address = match target.topology {
        RedisTopology::Single => "address",
        RedisTopology::Cluster | RedisTopology::Sentinel => "addresses",
    };
    if !refs.iter().any(|reference| reference["parameter"] == address) {
        problems.push(format!(
            "{}: spec.secretTargetRef has no `{address}` parameter: KEDA has no Redis to reach",
            name(auth)
        ));
    }
    problems
}

fn container(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

/// The topology and the Secret of the Redis variable a Deployment's first container reads.
fn redis_secret(deployment: &Value) -> Option<(RedisTopology, &str)> {
    let env = container(deployment)["env"].as_array()?;
    env.iter().find_map(|e| {
        let topology = RedisTopology::of_variable(e["name"].as_str()?)?;
        Some((topology, e["valueFrom"]["secretKeyRef"]["name"].as_str()?))
    })
}

/// Whether the Deployment's first container reads key `key` of Secret `secret` itself.
fn reads_secret_key(deployment: &Value, secret: &str, key: &str) -> bool {
    let env = container(deployment)["env"].as_array().into_iter().flatten();
    env.map(|e| &e["valueFrom"]["secretKeyRef"]).any(|r| r["name"] == secret && r["key"] == key)
}

/// Whether the Deployment's first container sets `variable`: in its `env`, or in a
/// ConfigMap among `objects` that it reads with `envFrom`.
fn sets(deployment: &Value, objects: &[&Value], variable: &str) -> bool {
    let container = container(deployment);
    let in_env = container["env"].as_array().into_iter().flatten().any(|e| e["name"] == variable);
    let config_maps =
        container["envFrom"].as_array().into_iter().flatten().filter_map(|e| e["configMapRef"]["name"].as_str());
    in_env
        || config_maps.into_iter().any(|map| {
            objects
                .iter()
                .any(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == map && !o["data"][variable].is_null())
        })
}

/// The oldest KEDA and Redis the rendered ScaledObjects work with, and why: one line per
/// object and reason. Notes, not failures: the cluster's versions are not known here.
pub(crate) fn floors<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Vec<String> {
    let mut notes = Vec::new();
    for scaled in objects.into_iter().filter(|o| o["kind"] == "ScaledObject") {
        let object = name(scaled);
        let spec = &scaled["spec"];
        let triggers: Vec<&Value> = spec["triggers"].as_array().into_iter().flatten().collect();
        if triggers.iter().any(|t| t["metadata"]["activationLagCount"] == "0") {
            notes.push(format!(
                "{object} needs KEDA >= 2.17: activationLagCount \"0\" (KEDA 2.16 and older refuse it: \"activationLagCount required for Redis lag\")"
            ));
        }
        if !spec["fallback"]["behavior"].is_null() {
            notes.push(format!("{object} needs KEDA >= 2.17: fallback.behavior (older CRDs do not have the field)"));
        }
        if spec["minReplicaCount"] == 0 && spec["fallback"]["replicas"].as_i64().is_some_and(|r| r > 0) {
            notes.push(format!(
                "{object} needs KEDA >= 2.19 for its fallback to start a replica from zero (older KEDA applies the fallback only to a running workload: while the trigger fails, it stays at zero)"
            ));
        }
        if triggers
            .iter()
            .any(|t| t["type"].as_str().is_some_and(|t| t.ends_with("streams")) && !t["metadata"]["lagCount"].is_null())
        {
            notes.push(format!(
                "{object} needs Redis >= 7: lagCount reads the consumer group's lag from XINFO GROUPS, which Redis 6 does not report"
            ));
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use ebb_core::names::{
        ENV_REDIS_CA_FILE, ENV_REDIS_CLIENT_CERT_FILE, ENV_REDIS_CLIENT_KEY_FILE, ENV_REDIS_CLUSTER_URLS,
        ENV_REDIS_SENTINEL_MASTER, ENV_REDIS_SENTINEL_PASSWORD, ENV_REDIS_SENTINEL_URLS,
    };

    use super::{check, floors};
    use crate::manifests::{example_secrets, render, scaling};
    use crate::service::{self as definition, REDIS_URL};
    use crate::{Egress, Scaler, Service, redis};

    /// Renders `service` of `services` and its documented Secrets; asserts that they pass.
    fn rendered(services: &[Service], service: &str) -> (Vec<Value>, Vec<Value>) {
        let secrets: Vec<Value> = example_secrets::example_secrets(services)
            .into_values()
            .map(|secret| serde_json::to_value(secret).expect("json"))
            .collect();
        let service = services.iter().find(|s| s.name == service).expect("service");
        assert_eq!(redis::invalid_redis(service), Vec::<String>::new(), "a valid definition");
        let objects: Vec<Value> =
            render::render(service, &Default::default()).expect("render").into_iter().map(|file| file.object).collect();
        assert_eq!(check(&objects, &secrets), Vec::<String>::new(), "the rendering passes");
        (objects, secrets)
    }

    /// Renders `service` of `services`, breaks one thing with `edit`, and asserts that the
    /// check names it.
    fn assert_named_in(services: &[Service], service: &str, edit: impl FnOnce(&mut Vec<Value>), needle: &str) {
        let (mut objects, secrets) = rendered(services, service);
        edit(&mut objects);
        let problems = check(&objects, &secrets).join("\n");
        assert!(problems.contains(needle), "{needle} missing in:\n{problems}");
    }

    /// [`assert_named_in`] on the repository's examples.
    fn assert_named(service: &str, edit: impl FnOnce(&mut Vec<Value>), needle: &str) {
        assert_named_in(&definition::examples(), service, edit, needle);
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

    /// A queue worker on Redis, whose Redis the caller describes with `redis`.
    fn worker(redis: impl FnOnce(Service) -> Service) -> Vec<Service> {
        let worker = Service::new("worker")
            .with_tag("1.0.0")
            .with_replicas(0, 10)
            .with_scaler(Scaler::redis_stream("jobs", "workers", 10))
            .with_egress(Egress::redis());
        vec![redis(worker)]
    }

    fn yaml(objects: &[Value], kind: &str) -> String {
        serde_yaml::to_string(objects.iter().find(|o| o["kind"] == kind).expect(kind)).expect("yaml")
    }

    fn parameters(objects: &[Value]) -> Vec<String> {
        let auth = objects.iter().find(|o| o["kind"] == "TriggerAuthentication").expect("TriggerAuthentication");
        let refs = auth["spec"]["secretTargetRef"].as_array().expect("refs");
        refs.iter().map(|r| r["parameter"].as_str().expect("parameter").to_owned()).collect()
    }

    #[test]
    fn a_private_ca_and_a_client_certificate_reach_keda() {
        let ca =
            |w: Service| w.with_secret_env(REDIS_URL, "redis", "url").with_env(ENV_REDIS_CA_FILE, "/etc/redis/ca.pem");
        let (objects, _) = rendered(&worker(ca), "worker");
        assert_eq!(parameters(&objects), ["address", "username", "password", "tls", "ca"]);
        let mtls = |w: Service| {
            ca(w)
                .with_env(ENV_REDIS_CLIENT_CERT_FILE, "/etc/redis/client.pem")
                .with_env(ENV_REDIS_CLIENT_KEY_FILE, "/etc/redis/client.key")
        };
        let (objects, _) = rendered(&worker(mtls), "worker");
        assert_eq!(parameters(&objects), ["address", "username", "password", "tls", "ca", "cert", "key"]);
        let auth = yaml(&objects, "TriggerAuthentication");
        assert!(auth.contains("parameter: ca\n") && auth.contains("key: ca\n"), "{auth}");
        // Negative control: the rendering without `ca` fails the check.
        assert_named_in(
            &worker(ca),
            "worker",
            |objects| {
                let auth = objects.iter_mut().find(|o| o["kind"] == "TriggerAuthentication").expect("auth");
                auth["spec"]["secretTargetRef"].as_array_mut().expect("refs").retain(|r| r["parameter"] != "ca");
            },
            "TriggerAuthentication/worker-redis: Deployment/worker sets EBB_REDIS_CA_FILE but spec.secretTargetRef has no `ca`",
        );
    }

    #[test]
    fn the_database_goes_to_the_trigger() {
        let (objects, secrets) =
            rendered(&worker(|w| w.with_secret_env(REDIS_URL, "redis", "url").with_redis_database(2)), "worker");
        let scaled = yaml(&objects, "ScaledObject");
        assert!(scaled.contains("databaseIndex: '2'") || scaled.contains("databaseIndex: \"2\""), "{scaled}");
        let secret = serde_json::to_string(&secrets[0]).expect("json");
        assert!(secret.contains("@redis:6379/2"), "the example URL selects the same database: {secret}");
        let (objects, _) = rendered(&worker(|w| w.with_secret_env(REDIS_URL, "redis", "url")), "worker");
        assert!(!yaml(&objects, "ScaledObject").contains("databaseIndex"), "database 0 is KEDA's default");
    }

    #[test]
    fn a_cluster_gets_the_cluster_trigger() {
        let cluster = |w: Service| w.with_secret_env(ENV_REDIS_CLUSTER_URLS, "redis", "cluster-urls");
        let (objects, _) = rendered(&worker(cluster), "worker");
        assert!(yaml(&objects, "ScaledObject").contains("type: redis-cluster-streams"));
        assert_eq!(parameters(&objects), ["addresses", "username", "password", "tls"]);
        assert_named_in(
            &worker(cluster),
            "worker",
            |objects| redis_trigger(objects)["type"] = "redis-streams".into(),
            "ScaledObject/worker: spec.triggers[0] is `redis-streams` but Deployment/worker reads REDIS_CLUSTER_URLS: use `redis-cluster-streams`",
        );
        let list = |w: Service| cluster(w).with_scaler(Scaler::redis_list("jobs", 5));
        let (objects, _) = rendered(&worker(list), "worker");
        assert!(yaml(&objects, "ScaledObject").contains("type: redis-cluster\n"));
    }

    #[test]
    fn sentinel_gets_the_sentinel_trigger_with_its_master() {
        let sentinel = |w: Service| {
            w.with_secret_env(ENV_REDIS_SENTINEL_URLS, "redis", "sentinel-urls")
                .with_env(ENV_REDIS_SENTINEL_MASTER, "mymaster")
                .with_secret_env(ENV_REDIS_SENTINEL_PASSWORD, "redis", "sentinel-password")
        };
        let (objects, secrets) = rendered(&worker(sentinel), "worker");
        let scaled = yaml(&objects, "ScaledObject");
        assert!(
            scaled.contains("type: redis-sentinel-streams") && scaled.contains("sentinelMaster: mymaster"),
            "{scaled}"
        );
        assert_eq!(parameters(&objects), ["addresses", "username", "password", "tls", "sentinelPassword"]);
        // The example Secret: the Deployment's keys and KEDA's, nothing else.
        let keys: Vec<&String> = secrets[0]["stringData"].as_object().expect("data").keys().collect();
        assert_eq!(keys, ["addresses", "password", "sentinel-password", "sentinel-urls", "tls", "username"]);
        assert_named_in(
            &worker(sentinel),
            "worker",
            |objects| {
                redis_trigger(objects)["metadata"].as_object_mut().expect("metadata").remove("sentinelMaster");
            },
            "ScaledObject/worker: spec.triggers[0] has no sentinelMaster",
        );
        // A master read from a Secret is read by KEDA from the same key.
        let secret_master = |w: Service| {
            w.with_secret_env(ENV_REDIS_SENTINEL_URLS, "redis", "sentinel-urls").with_secret_env(
                ENV_REDIS_SENTINEL_MASTER,
                "redis",
                "sentinel-master",
            )
        };
        let (objects, _) = rendered(&worker(secret_master), "worker");
        assert!(yaml(&objects, "TriggerAuthentication").contains("key: sentinel-master\n"));
    }

    #[test]
    fn a_fallback_beside_a_cpu_trigger_never_scales_down() {
        let api = definition::examples().remove(0);
        let scaled =
            serde_json::to_value(scaling::scaled_object(&api, None, "ebb", &Default::default())).expect("json");
        assert!(scaled["spec"]["triggers"].as_array().expect("triggers").iter().any(|t| t["type"] == "cpu"));
        assert_eq!(scaled["spec"]["fallback"]["behavior"], "currentReplicasIfHigher");
        assert_eq!(check([&scaled], &[]), Vec::<String>::new());
        for behavior in [None, Some("static")] {
            let mut broken = scaled.clone();
            let fallback = broken["spec"]["fallback"].as_object_mut().expect("fallback");
            match behavior {
                Some(behavior) => fallback.insert("behavior".to_owned(), behavior.into()),
                None => fallback.remove("behavior"),
            };
            let problems = check([&broken], &[]).join("\n");
            let needle = "ScaledObject/example-api: spec.fallback.behavior is";
            assert!(problems.contains(needle) && problems.contains("must be currentReplicasIfHigher"), "{problems}");
        }
    }

    #[test]
    fn the_version_floors_are_stated() {
        let (objects, _) = rendered(&definition::examples(), "example-worker");
        let notes = floors(&objects).join("\n");
        for needle in [
            "ScaledObject/example-worker needs KEDA >= 2.17: activationLagCount \"0\"",
            "ScaledObject/example-worker needs KEDA >= 2.17: fallback.behavior",
            "ScaledObject/example-worker needs KEDA >= 2.19 for its fallback to start a replica from zero",
            "ScaledObject/example-worker needs Redis >= 7: lagCount",
        ] {
            assert!(notes.contains(needle), "{needle} missing in:\n{notes}");
        }
        let (objects, _) = rendered(&definition::examples(), "example-api");
        assert_eq!(floors(&objects), Vec::<String>::new(), "an HPA needs neither");
    }
}
