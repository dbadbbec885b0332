//! Typed models of the custom resources we render — the fields we use of KEDA's
//! `ScaledObject` (keda.sh/v1alpha1) and the Prometheus Operator's `ServiceMonitor`
//! (monitoring.coreos.com/v1), as their published CRDs define them. Unknown fields are
//! errors, so a typo fails `--check` instead of being ignored by the cluster.

// Many fields are only there to be checked by deserialization, never read.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Metadata {
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ScaledObject {
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: ScaledObjectSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ScaledObjectSpec {
    scale_target_ref: ScaleTarget,
    min_replica_count: i32,
    max_replica_count: i32,
    fallback: Fallback,
    advanced: Option<Value>,
    triggers: Vec<Trigger>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ScaleTarget {
    api_version: Option<String>,
    kind: Option<String>,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Fallback {
    failure_threshold: i32,
    replicas: i32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Trigger {
    #[serde(rename = "type")]
    type_: String,
    metadata: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PrometheusTrigger {
    server_address: String,
    query: String,
    threshold: String,
    activation_threshold: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RedisStreamsTrigger {
    address: String,
    stream: String,
    consumer_group: String,
    lag_count: String,
    activation_lag_count: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceMonitor {
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: ServiceMonitorSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceMonitorSpec {
    selector: Value,
    endpoints: Vec<Endpoint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Endpoint {
    port: String,
    path: String,
    interval: String,
}

/// Problems with a custom resource, or none; `None` for kinds this does not model.
pub(crate) fn check(object: &Value) -> Option<Vec<String>> {
    let name = object["metadata"]["name"].as_str().unwrap_or("?").to_owned();
    let mut problems = Vec::new();
    match object["kind"].as_str()? {
        "ScaledObject" => match ScaledObject::deserialize(object) {
            Ok(scaled) => {
                if scaled.api_version != "keda.sh/v1alpha1" || scaled.kind != "ScaledObject" {
                    problems.push(format!("ScaledObject/{name}: apiVersion must be keda.sh/v1alpha1"));
                }
                let spec = &scaled.spec;
                if spec.fallback.replicas < 1 || spec.min_replica_count > spec.max_replica_count {
                    problems.push(format!(
                        "ScaledObject/{name}: fallback.replicas >= 1 and minReplicaCount <= maxReplicaCount"
                    ));
                }
                for trigger in &spec.triggers {
                    let checked = match trigger.type_.as_str() {
                        "prometheus" => {
                            PrometheusTrigger::deserialize(&trigger.metadata).map_err(|e| e.to_string()).and_then(|t| {
                                t.threshold
                                    .parse::<f64>()
                                    .map(|_| ())
                                    .map_err(|_| "threshold must be a number".to_owned())
                            })
                        }
                        "redis-streams" => RedisStreamsTrigger::deserialize(&trigger.metadata)
                            .map_err(|e| e.to_string())
                            .and_then(|t| {
                                t.lag_count
                                    .parse::<u64>()
                                    .map(|_| ())
                                    .map_err(|_| "lagCount must be a whole number".to_owned())
                            }),
                        other => Err(format!("trigger type `{other}` is not modelled (prometheus, redis-streams)")),
                    };
                    if let Err(reason) = checked {
                        problems.push(format!("ScaledObject/{name}: trigger {}: {reason}", trigger.type_));
                    }
                }
            }
            Err(error) => problems.push(format!("ScaledObject/{name}: not what KEDA's CRD accepts: {error}")),
        },
        "ServiceMonitor" => match ServiceMonitor::deserialize(object) {
            Ok(monitor) => {
                if monitor.api_version != "monitoring.coreos.com/v1" || monitor.kind != "ServiceMonitor" {
                    problems.push(format!("ServiceMonitor/{name}: apiVersion must be monitoring.coreos.com/v1"));
                }
                for endpoint in &monitor.spec.endpoints {
                    if !endpoint.path.starts_with('/') || !endpoint.interval.ends_with('s') || endpoint.port.is_empty()
                    {
                        problems.push(format!(
                            "ServiceMonitor/{name}: endpoints need a port name, a /path and an interval in seconds"
                        ));
                    }
                }
            }
            Err(error) => problems.push(format!("ServiceMonitor/{name}: not what the operator's CRD accepts: {error}")),
        },
        _ => return None,
    }
    Some(problems)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::check;

    #[test]
    fn typos_in_custom_resources_are_caught() {
        let monitor = json!({
            "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": { "name": "api" },
            "spec": { "selector": {}, "endpoints": [{ "port": "metrics", "path": "/metrics", "intervall": "15s" }] },
        });
        let problems = check(&monitor).expect("modelled");
        assert!(problems[0].contains("intervall"), "{problems:?}");
        assert!(check(&json!({ "kind": "ConfigMap" })).is_none());
    }
}
