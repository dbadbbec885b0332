//! Kustomize overlays over every service's base: `dev` (HPAs from one replica), `prod`
//! (the definitions' minimums) and `keda` (request-driven services scaled by a KEDA ScaledObject instead of the
//! HPA — never both on one Deployment: KEDA makes its own HPA). Queue consumers are scaled
//! by KEDA in every overlay (their ScaledObject is in their base).

use serde_json::{Value, json};

use super::example_secrets::example_secrets;
use super::{render, scaling};
use crate::platform::Platform;
use crate::service::Service;

/// One overlay: its directory name, its kustomization and the files beside it.
pub(crate) struct Overlay {
    pub(crate) name: &'static str,
    pub(crate) kustomization: Value,
    pub(crate) files: Vec<(String, Value)>,
}

/// `dev`'s HPAs start from one replica: never the Deployments' replicas, which the
/// autoscalers own. `prod` keeps the definition's minimum; KEDA-scaled services keep
/// theirs in every overlay.
fn min_replicas_patches(services: &[Service], min_replicas: i32) -> Vec<Value> {
    services
        .iter()
        .filter(|service| !service.scaler.is_keda())
        .map(|service| {
            json!({
                "target": { "kind": "HorizontalPodAutoscaler", "name": service.name },
                "patch": format!("- op: replace\n  path: /spec/minReplicas\n  value: {min_replicas}\n"),
            })
        })
        .collect()
}

/// Every object without a namespace goes to `namespace`; the monitoring objects keep
/// theirs (`unsetOnly`; kustomize's `namespace:` field would move them too).
fn kustomization(resources: &[String], patches: Vec<Value>, namespace: &str) -> Value {
    let namespace = format!(
        "apiVersion: builtin\nkind: NamespaceTransformer\nmetadata:\n  name: namespace\n  namespace: {namespace}\nunsetOnly: true\n"
    );
    json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
        "patches": patches,
        "transformers": [namespace],
    })
}

pub(crate) fn overlays(services: &[Service], namespace: &str, platform: &Platform) -> anyhow::Result<Vec<Overlay>> {
    let bases: Vec<String> = services.iter().map(|s| format!("../../base/{}", s.name)).collect();
    let mut with_monitoring = bases.clone();
    // The adapter rules exist only for HPAs on the request rate.
    if services.iter().any(|s| s.scaler.on_request_rate()) {
        with_monitoring.push("../../base/monitoring".to_owned());
    }

    let mut keda_resources = bases;
    let mut keda_patches = Vec::new();
    let mut keda_files = Vec::new();
    // A CPU-only HPA stays: KEDA's rate trigger needs a requests-per-second target.
    for service in services.iter().filter(|s| s.scaler.on_request_rate()) {
        let file = format!("scaledobject-{}.yaml", service.name);
        keda_resources.push(file.clone());
        // The HPA's own behavior, so that both scale alike.
        let behavior = render::hpa(service).spec.and_then(|spec| spec.behavior);
        keda_files.push((file, serde_json::to_value(scaling::scaled_object(service, behavior, namespace, platform))?));
        keda_patches.push(json!({
            "target": { "kind": "HorizontalPodAutoscaler", "name": service.name },
            "patch": format!(
                "$patch: delete\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: {}\n",
                service.name
            ),
        }));
    }
    Ok(vec![
        Overlay {
            name: "dev",
            kustomization: kustomization(&with_monitoring, min_replicas_patches(services, 1), namespace),
            // Beside the overlay, not among its resources: see example_secrets.rs.
            files: example_secrets(services)
                .into_iter()
                .map(|(name, secret)| Ok((format!("example-secret-{name}.yaml"), serde_json::to_value(secret)?)))
                .collect::<anyhow::Result<_>>()?,
        },
        Overlay {
            name: "prod",
            kustomization: kustomization(&with_monitoring, Vec::new(), namespace),
            files: Vec::new(),
        },
        Overlay {
            name: "keda",
            kustomization: kustomization(&keda_resources, keda_patches, namespace),
            files: keda_files,
        },
    ])
}
