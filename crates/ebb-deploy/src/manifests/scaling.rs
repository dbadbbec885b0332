//! What turns the service's counter into a scaling signal: prometheus-adapter rules (for the
//! HPA's `requests_per_second` Pods metric) and, as the alternative, a KEDA ScaledObject on
//! the same rate.

use std::collections::BTreeMap;

use ebb_core::names::REQUESTS_PER_SECOND_QUERY;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerBehavior;
use serde_json::{Value, json};

use super::crds::{
    Advanced, AuthenticationRef, CpuTrigger, Fallback, HpaConfig, Metadata, PrometheusTrigger, RedisListTrigger,
    RedisStreamsTrigger, ScaleTarget, ScaledObject, ScaledObjectSpec, SecretTargetRef, Trigger, TriggerAuthentication,
    TriggerAuthenticationSpec,
};
use super::redis_trigger;
use crate::platform::Platform;
use crate::redis::RedisTopology;
use crate::service::{Scaler, Service};

/// The name of the adapter rules' ConfigMap (and file).
pub(crate) const ADAPTER_RULES: &str = "prometheus-adapter-rules";

/// prometheus-adapter's rules for `custom.metrics.k8s.io`, as a ConfigMap for the adapter
/// (`--config=/etc/adapter/config.yaml`): one rule per (counter, metric) pair the
/// request-rate HPAs use; `None` when no HPA scales on requests. The rate window and
/// grouping are those of the query the runtime documents (`ebb_core::names::REQUESTS_PER_SECOND_QUERY`).
pub(crate) fn adapter_rules(services: &[Service], platform: &Platform) -> anyhow::Result<Option<Value>> {
    debug_assert!(REQUESTS_PER_SECOND_QUERY.contains("[1m]"));
    let mut pairs: Vec<(&str, &str)> = services
        .iter()
        .filter(|service| service.scaler.on_request_rate())
        .map(|service| (service.request_counter.as_str(), service.custom_metric.as_str()))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    if pairs.is_empty() {
        return Ok(None);
    }
    let rules: Vec<Value> = pairs
        .iter()
        .map(|(counter, metric)| {
            json!({
                "seriesQuery": format!("{counter}{{namespace!=\"\",pod!=\"\"}}"),
                "resources": { "overrides": {
                    "namespace": { "resource": "namespace" },
                    "pod": { "resource": "pod" },
                }},
                "name": { "matches": format!("^{counter}$"), "as": metric },
                "metricsQuery": "sum(rate(<<.Series>>{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>)",
            })
        })
        .collect();
    let rules = json!({ "rules": rules });
    Ok(Some(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        // The adapter reads its rules from its own namespace, not the services'.
        "metadata": {
            "name": ADAPTER_RULES,
            "namespace": platform.monitoring_namespace,
            "labels": { "app.kubernetes.io/managed-by": "ebb-deploy" },
        },
        "data": { "config.yaml": serde_yaml::to_string(&rules)? },
    })))
}

/// A KEDA ScaledObject: for request-driven services the alternative to the HPA (the same
/// rate, bounds and `behavior`), for queue consumers the lag of their consumer group.
/// Always a fallback, so that a metrics outage never scales to zero, and an activation
/// threshold.
///
/// `namespace` is where the `keda` overlay puts the service: its rate query counts that
/// namespace's pods only (another environment of the same service may share Prometheus).
pub(crate) fn scaled_object(
    service: &Service,
    behavior: Option<HorizontalPodAutoscalerBehavior>,
    namespace: &str,
    platform: &Platform,
) -> ScaledObject {
    let scaling = &service.scaling;
    let settings = service.redis_settings();
    let topology = settings.as_ref().map_or(RedisTopology::Single, |settings| settings.topology);
    let mut triggers = Vec::new();
    // An HPA's CPU target goes along as KEDA's cpu trigger (KEDA scales on the larger).
    if let Scaler::Hpa { cpu_percent: Some(percent), .. } = &service.scaler {
        triggers.push(Trigger::Cpu {
            metric_type: "Utilization".to_owned(),
            metadata: CpuTrigger { value: percent.to_string() },
        });
    }
    let trigger = match &service.scaler {
        Scaler::Hpa { requests_per_second, .. } => Trigger::Prometheus {
            metadata: PrometheusTrigger {
                server_address: platform.prometheus.clone(),
                // The ServiceMonitor's job label is the Service's name.
                query: format!(
                    "sum(rate({}{{job=\"{}\",namespace=\"{namespace}\"}}[1m]))",
                    service.request_counter, service.name
                ),
                threshold: requests_per_second.clone().unwrap_or_default(),
                activation_threshold: Some("1".to_owned()),
                // An empty result (Prometheus restarted, the series not yet scraped) is an
                // error, so KEDA uses the fallback; `true` would read it as 0 and scale to
                // the minimum in the middle of the traffic.
                ignore_null_values: Some("false".to_owned()),
            },
        },
        Scaler::Prometheus { query, threshold, activation } => Trigger::Prometheus {
            metadata: PrometheusTrigger {
                server_address: platform.prometheus.clone(),
                query: query.clone(),
                threshold: threshold.clone(),
                activation_threshold: Some(activation.clone()),
                ignore_null_values: Some("false".to_owned()),
            },
        },
        // The group's lag: jobs not yet delivered. Pending (in-flight) jobs stay with their
        // consumers; lag also works from zero replicas, where pending entries stay 0.
        Scaler::RedisStream { stream, group, lag_per_replica } => {
            let redis = redis_trigger::metadata(settings.as_ref());
            let metadata = RedisStreamsTrigger {
                stream: stream.clone(),
                consumer_group: group.clone(),
                lag_count: lag_per_replica.clone(),
                activation_lag_count: Some("0".to_owned()),
                database_index: redis.database_index,
                sentinel_master: redis.sentinel_master,
                sentinel_username: redis.sentinel_username,
            };
            let authentication_ref = Some(AuthenticationRef { name: redis_authentication_name(service) });
            match topology {
                RedisTopology::Single => Trigger::RedisStreams { metadata, authentication_ref },
                RedisTopology::Cluster => Trigger::RedisClusterStreams { metadata, authentication_ref },
                RedisTopology::Sentinel => Trigger::RedisSentinelStreams { metadata, authentication_ref },
            }
        }
        Scaler::RedisList { list, length_per_replica } => {
            let redis = redis_trigger::metadata(settings.as_ref());
            let metadata = RedisListTrigger {
                list_name: list.clone(),
                list_length: length_per_replica.clone(),
                activation_list_length: Some("0".to_owned()),
                database_index: redis.database_index,
                sentinel_master: redis.sentinel_master,
                sentinel_username: redis.sentinel_username,
            };
            let authentication_ref = Some(AuthenticationRef { name: redis_authentication_name(service) });
            match topology {
                RedisTopology::Single => Trigger::Redis { metadata, authentication_ref },
                RedisTopology::Cluster => Trigger::RedisCluster { metadata, authentication_ref },
                RedisTopology::Sentinel => Trigger::RedisSentinel { metadata, authentication_ref },
            }
        }
    };
    let metadata = Metadata {
        name: service.name.to_owned(),
        labels: BTreeMap::from([("app.kubernetes.io/name".to_owned(), service.name.to_owned())]),
    };
    ScaledObject::new(
        metadata,
        ScaledObjectSpec {
            scale_target_ref: ScaleTarget {
                api_version: "apps/v1".to_owned(),
                kind: "Deployment".to_owned(),
                name: service.name.to_owned(),
            },
            min_replica_count: scaling.min_replicas,
            max_replica_count: scaling.max_replicas,
            // Never zero: while the metric fails, keep a replica working; and never fewer
            // than are running: a static fallback would scale a loaded service down to
            // `replicas` (a CPU trigger beside it does not stop that: fallback skips it, and
            // the CPU of a service busy waiting on I/O may be low).
            fallback: Fallback {
                failure_threshold: 3,
                replicas: scaling.min_replicas.max(1),
                behavior: Some(FALLBACK_BEHAVIOR.to_owned()),
            },
            advanced: behavior.map(|behavior| Advanced { horizontal_pod_autoscaler_config: HpaConfig { behavior } }),
            triggers: {
                triggers.push(trigger);
                triggers
            },
        },
    )
}

fn redis_authentication_name(service: &Service) -> String {
    format!("{}-redis", service.name)
}

/// The fallback's `behavior`: the larger of `fallback.replicas` and the running replicas.
pub(crate) const FALLBACK_BEHAVIOR: &str = "currentReplicasIfHigher";

/// How KEDA reaches the Redis the service uses: the parameters of `redis_trigger.rs`, read
/// from the Secret of the service's Redis variable (and from the keys of the Sentinel
/// settings it reads from Secrets). `None` when the service reads no Redis variable from a
/// Secret.
pub(crate) fn redis_authentication(service: &Service) -> Option<TriggerAuthentication> {
    let settings = service.redis_settings()?;
    let refs = redis_trigger::secret_parameters(&settings)
        .into_iter()
        .map(|parameter| SecretTargetRef {
            parameter: parameter.parameter.to_owned(),
            name: parameter.secret.to_owned(),
            key: parameter.key.to_owned(),
        })
        .collect();
    let metadata = Metadata {
        name: redis_authentication_name(service),
        labels: BTreeMap::from([("app.kubernetes.io/name".to_owned(), service.name.to_owned())]),
    };
    Some(TriggerAuthentication::new(metadata, TriggerAuthenticationSpec { secret_target_ref: refs }))
}
