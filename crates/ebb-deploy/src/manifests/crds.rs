//! Typed models of the custom resources we render — the fields we use of KEDA's
//! `ScaledObject` and `TriggerAuthentication` (keda.sh/v1alpha1) and the Prometheus Operator's `ServiceMonitor`
//! (monitoring.coreos.com/v1), as their published CRDs define them. The renderers build
//! these structs, and [`check`] reads every rendered file back through them: unknown fields
//! are errors, so a typo fails `--check` instead of being ignored by the cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerBehavior;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Metadata {
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) labels: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ScaledObject {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: Metadata,
    pub(crate) spec: ScaledObjectSpec,
}

impl ScaledObject {
    pub(crate) fn new(metadata: Metadata, spec: ScaledObjectSpec) -> Self {
        Self { api_version: KEDA_API_VERSION.to_owned(), kind: "ScaledObject".to_owned(), metadata, spec }
    }
}

const KEDA_API_VERSION: &str = "keda.sh/v1alpha1";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ScaledObjectSpec {
    pub(crate) scale_target_ref: ScaleTarget,
    pub(crate) min_replica_count: i32,
    pub(crate) max_replica_count: i32,
    pub(crate) fallback: Fallback,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) advanced: Option<Advanced>,
    pub(crate) triggers: Vec<Trigger>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ScaleTarget {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) name: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Fallback {
    pub(crate) failure_threshold: i32,
    pub(crate) replicas: i32,
    /// `static` (KEDA's default: exactly `replicas`) or `currentReplicasIfHigher` (never
    /// fewer than are running), ...; KEDA >= 2.17.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) behavior: Option<String>,
}

/// The behavior of the HPA that KEDA makes.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Advanced {
    pub(crate) horizontal_pod_autoscaler_config: HpaConfig,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct HpaConfig {
    pub(crate) behavior: HorizontalPodAutoscalerBehavior,
}

/// A trigger, told apart by its `type`; other types are not modelled and fail the check.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) enum Trigger {
    Prometheus {
        metadata: PrometheusTrigger,
    },
    /// KEDA's CPU scaler: average utilisation of the pods' CPU requests.
    Cpu {
        #[serde(rename = "metricType")]
        metric_type: String,
        metadata: CpuTrigger,
    },
    RedisStreams {
        metadata: RedisStreamsTrigger,
        #[serde(rename = "authenticationRef", default, skip_serializing_if = "Option::is_none")]
        authentication_ref: Option<AuthenticationRef>,
    },
    /// The streams scaler on a Redis Cluster (`addresses`: the seed nodes).
    RedisClusterStreams {
        metadata: RedisStreamsTrigger,
        #[serde(rename = "authenticationRef", default, skip_serializing_if = "Option::is_none")]
        authentication_ref: Option<AuthenticationRef>,
    },
    /// The streams scaler behind Sentinel (`addresses`: the sentinels; `sentinelMaster`).
    RedisSentinelStreams {
        metadata: RedisStreamsTrigger,
        #[serde(rename = "authenticationRef", default, skip_serializing_if = "Option::is_none")]
        authentication_ref: Option<AuthenticationRef>,
    },
    /// KEDA's Redis list scaler (`type: redis`).
    Redis {
        metadata: RedisListTrigger,
        #[serde(rename = "authenticationRef", default, skip_serializing_if = "Option::is_none")]
        authentication_ref: Option<AuthenticationRef>,
    },
    RedisCluster {
        metadata: RedisListTrigger,
        #[serde(rename = "authenticationRef", default, skip_serializing_if = "Option::is_none")]
        authentication_ref: Option<AuthenticationRef>,
    },
    RedisSentinel {
        metadata: RedisListTrigger,
        #[serde(rename = "authenticationRef", default, skip_serializing_if = "Option::is_none")]
        authentication_ref: Option<AuthenticationRef>,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AuthenticationRef {
    pub(crate) name: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PrometheusTrigger {
    pub(crate) server_address: String,
    pub(crate) query: String,
    pub(crate) threshold: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) activation_threshold: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ignore_null_values: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RedisStreamsTrigger {
    pub(crate) stream: String,
    pub(crate) consumer_group: String,
    pub(crate) lag_count: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) activation_lag_count: Option<String>,
    /// The database (KEDA reads 0 without it); never on a Cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) database_index: Option<String>,
    /// Sentinel: the master set, when the definition sets it plainly (else from the
    /// TriggerAuthentication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sentinel_master: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sentinel_username: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CpuTrigger {
    pub(crate) value: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RedisListTrigger {
    pub(crate) list_name: String,
    pub(crate) list_length: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) activation_list_length: Option<String>,
    /// The database (KEDA reads 0 without it); never on a Cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) database_index: Option<String>,
    /// Sentinel: the master set, when the definition sets it plainly (else from the
    /// TriggerAuthentication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sentinel_master: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sentinel_username: Option<String>,
}

/// Where a KEDA trigger gets its connection settings and credentials: Secret keys.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct TriggerAuthentication {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: Metadata,
    pub(crate) spec: TriggerAuthenticationSpec,
}

impl TriggerAuthentication {
    pub(crate) fn new(metadata: Metadata, spec: TriggerAuthenticationSpec) -> Self {
        Self { api_version: KEDA_API_VERSION.to_owned(), kind: "TriggerAuthentication".to_owned(), metadata, spec }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct TriggerAuthenticationSpec {
    pub(crate) secret_target_ref: Vec<SecretTargetRef>,
}

/// The trigger parameter `parameter` comes from key `key` of Secret `name`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SecretTargetRef {
    pub(crate) parameter: String,
    pub(crate) name: String,
    pub(crate) key: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ServiceMonitor {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) metadata: Metadata,
    pub(crate) spec: ServiceMonitorSpec,
}

impl ServiceMonitor {
    pub(crate) fn new(metadata: Metadata, spec: ServiceMonitorSpec) -> Self {
        Self { api_version: MONITORING_API_VERSION.to_owned(), kind: "ServiceMonitor".to_owned(), metadata, spec }
    }
}

const MONITORING_API_VERSION: &str = "monitoring.coreos.com/v1";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ServiceMonitorSpec {
    pub(crate) selector: LabelSelector,
    pub(crate) endpoints: Vec<Endpoint>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Endpoint {
    pub(crate) port: String,
    pub(crate) path: String,
    pub(crate) interval: String,
}

/// Problems with a custom resource, or none; `None` for kinds this does not model.
pub(crate) fn check(object: &Value) -> Option<Vec<String>> {
    let name = object["metadata"]["name"].as_str().unwrap_or("?").to_owned();
    let problems = match object["kind"].as_str()? {
        "ScaledObject" => match ScaledObject::deserialize(object) {
            Ok(scaled) => scaled_object(&name, &scaled),
            Err(error) => vec![format!("ScaledObject/{name}: not what KEDA's CRD accepts: {error}")],
        },
        "TriggerAuthentication" => match TriggerAuthentication::deserialize(object) {
            Ok(auth) if auth.api_version != KEDA_API_VERSION => {
                vec![format!("TriggerAuthentication/{name}: apiVersion must be {KEDA_API_VERSION}")]
            }
            Ok(_) => Vec::new(),
            Err(error) => vec![format!("TriggerAuthentication/{name}: not what KEDA's CRD accepts: {error}")],
        },
        "ServiceMonitor" => match ServiceMonitor::deserialize(object) {
            Ok(monitor) => service_monitor(&name, &monitor),
            Err(error) => vec![format!("ServiceMonitor/{name}: not what the operator's CRD accepts: {error}")],
        },
        _ => return None,
    };
    Some(problems)
}

fn scaled_object(name: &str, scaled: &ScaledObject) -> Vec<String> {
    let mut problems = Vec::new();
    if scaled.api_version != KEDA_API_VERSION {
        problems.push(format!("ScaledObject/{name}: apiVersion must be {KEDA_API_VERSION}"));
    }
    let spec = &scaled.spec;
    if spec.fallback.replicas < 1 || spec.min_replica_count > spec.max_replica_count {
        problems.push(format!("ScaledObject/{name}: fallback.replicas >= 1 and minReplicaCount <= maxReplicaCount"));
    }
    for (index, trigger) in spec.triggers.iter().enumerate() {
        let field = format!("ScaledObject/{name}: spec.triggers[{index}].metadata");
        match trigger {
            Trigger::Prometheus { metadata } => {
                if metadata.threshold.parse::<f64>().is_err() {
                    problems.push(format!("{field}.threshold must be a number"));
                }
                if metadata.ignore_null_values.as_deref() != Some("false") {
                    problems.push(format!(
                        "{field}.ignoreNullValues is {:?}, must be \"false\": an empty result must fail over to spec.fallback, not count as 0 and scale to the minimum",
                        metadata.ignore_null_values.as_deref().unwrap_or("unset (true)")
                    ));
                }
            }
            Trigger::RedisStreams { metadata, .. }
            | Trigger::RedisClusterStreams { metadata, .. }
            | Trigger::RedisSentinelStreams { metadata, .. } => {
                if metadata.lag_count.parse::<u64>().is_err() {
                    problems.push(format!("{field}.lagCount must be a whole number"));
                }
                problems.extend(database_index(&field, metadata.database_index.as_deref()));
            }
            Trigger::Cpu { metric_type, metadata } => {
                if metric_type != "Utilization" || metadata.value.parse::<u32>().map_or(true, |v| v == 0) {
                    problems.push(format!("{field}: a cpu trigger needs metricType Utilization and a value > 0"));
                }
            }
            Trigger::Redis { metadata, .. }
            | Trigger::RedisCluster { metadata, .. }
            | Trigger::RedisSentinel { metadata, .. } => {
                if metadata.list_length.parse::<u64>().is_err() {
                    problems.push(format!("{field}.listLength must be a whole number"));
                }
                problems.extend(database_index(&field, metadata.database_index.as_deref()));
            }
        }
    }
    problems
}

/// KEDA parses `databaseIndex` as a whole number; anything else fails the trigger.
fn database_index(field: &str, index: Option<&str>) -> Option<String> {
    let index = index?;
    index.parse::<u32>().is_err().then(|| format!("{field}.databaseIndex must be a whole number, not {index:?}"))
}

fn service_monitor(name: &str, monitor: &ServiceMonitor) -> Vec<String> {
    let mut problems = Vec::new();
    if monitor.api_version != MONITORING_API_VERSION {
        problems.push(format!("ServiceMonitor/{name}: apiVersion must be {MONITORING_API_VERSION}"));
    }
    for endpoint in &monitor.spec.endpoints {
        if !endpoint.path.starts_with('/') || !endpoint.interval.ends_with('s') || endpoint.port.is_empty() {
            problems
                .push(format!("ServiceMonitor/{name}: endpoints need a port name, a /path and an interval in seconds"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::check;
    use crate::manifests::scaling;
    use crate::service as definition;

    #[test]
    fn a_prometheus_trigger_without_ignore_null_values_false_is_refused() {
        let service = definition::examples().remove(0);
        let rendered =
            serde_json::to_value(scaling::scaled_object(&service, None, "ebb", &Default::default())).expect("json");
        assert_eq!(check(&rendered), Some(Vec::new()), "the rendering passes");
        let triggers = rendered["spec"]["triggers"].as_array().expect("triggers");
        let index = triggers.iter().position(|t| t["type"] == "prometheus").expect("a prometheus trigger");
        for value in [None, Some("true")] {
            let mut scaled = rendered.clone();
            let metadata = scaled["spec"]["triggers"][index]["metadata"].as_object_mut().expect("metadata");
            match value {
                Some(value) => metadata.insert("ignoreNullValues".to_owned(), value.into()),
                None => metadata.remove("ignoreNullValues"),
            };
            let problems = check(&scaled).expect("modelled").join("\n");
            let needle = format!("ScaledObject/example-api: spec.triggers[{index}].metadata.ignoreNullValues is");
            assert!(problems.contains(&needle), "{needle} missing in:\n{problems}");
        }
    }

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
