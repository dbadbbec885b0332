//! What turns the service's counter into a scaling signal: prometheus-adapter rules (for the
//! HPA's `requests_per_second` Pods metric) and, as the alternative, a KEDA ScaledObject on
//! the same rate.

use ebb_metrics::names::REQUESTS_PER_SECOND_QUERY;
use serde_json::{Value, json};

use super::definition::{Scaler, Service};

/// prometheus-adapter's rules for `custom.metrics.k8s.io`, as a ConfigMap for the adapter
/// (`--config=/etc/adapter/config.yaml`). The rate window and grouping are those of
/// DESIGN.md's query (`ebb_metrics::names::REQUESTS_PER_SECOND_QUERY`).
pub(crate) fn adapter_rules(service: &Service) -> anyhow::Result<Value> {
    debug_assert!(REQUESTS_PER_SECOND_QUERY.contains("[1m]"));
    let rules = json!({
        "rules": [{
            "seriesQuery": format!("{}{{namespace!=\"\",pod!=\"\"}}", service.request_counter),
            "resources": { "overrides": {
                "namespace": { "resource": "namespace" },
                "pod": { "resource": "pod" },
            }},
            "name": { "matches": format!("^{}$", service.request_counter), "as": service.custom_metric },
            "metricsQuery": "sum(rate(<<.Series>>{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>)",
        }],
    });
    Ok(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": "prometheus-adapter-rules", "labels": { "app.kubernetes.io/part-of": "ebb" } },
        "data": { "config.yaml": serde_yaml::to_string(&rules)? },
    }))
}

/// Prometheus as the operator deploys it (`prometheus-operated`); overlays may patch it.
pub(crate) const PROMETHEUS_ADDRESS: &str = "http://prometheus-operated.monitoring.svc:9090";

/// A KEDA ScaledObject: for request-driven services the alternative to the HPA (the same
/// rate and bounds), for queue consumers the length of their list. Always a fallback, so that
/// a metrics outage never scales to zero, and an activation threshold.
pub(crate) fn scaled_object(service: &Service, behavior: &Value) -> Value {
    let scaling = &service.scaling;
    let trigger = match &service.scaler {
        Scaler::Requests => json!({
            "type": "prometheus",
            "metadata": {
                "serverAddress": PROMETHEUS_ADDRESS,
                // The ServiceMonitor's job label is the Service's name.
                "query": format!("sum(rate({}{{job=\"{}\"}}[1m]))", service.request_counter, service.name),
                "threshold": scaling.requests_per_second,
                "activationThreshold": "1",
            },
        }),
        // The group's lag: jobs not yet delivered. Pending (in-flight) jobs stay with their
        // consumers; lag also works from zero replicas, where pending entries stay 0.
        Scaler::RedisStream { address, stream, group, lag_per_replica } => json!({
            "type": "redis-streams",
            "metadata": {
                "address": address,
                "stream": stream,
                "consumerGroup": group,
                "lagCount": lag_per_replica,
                "activationLagCount": "0",
            },
        }),
    };
    let advanced = if behavior.is_null() {
        json!({})
    } else {
        json!({ "horizontalPodAutoscalerConfig": { "behavior": behavior } })
    };
    json!({
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": { "name": service.name, "labels": { "app.kubernetes.io/name": service.name } },
        "spec": {
            "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": service.name },
            "minReplicaCount": scaling.min_replicas,
            "maxReplicaCount": scaling.max_replicas,
            "fallback": { "failureThreshold": 3, "replicas": scaling.min_replicas },
            "advanced": advanced,
            "triggers": [trigger],
        },
    })
}
