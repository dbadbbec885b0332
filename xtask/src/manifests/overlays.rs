//! Kustomize overlays over the base: `dev` (one replica), `prod` (three at least) and `keda`
//! (the KEDA ScaledObject instead of the HPA — never both on one Deployment: KEDA makes its
//! own HPA).

use serde_json::{Value, json};

use super::definition::Service;

fn replicas_patch(service: &Service, replicas: i32) -> Value {
    json!([
        {
            "target": { "kind": "Deployment", "name": service.name },
            "patch": format!("- op: replace\n  path: /spec/replicas\n  value: {replicas}\n"),
        },
        {
            "target": { "kind": "HorizontalPodAutoscaler", "name": service.name },
            "patch": format!("- op: replace\n  path: /spec/minReplicas\n  value: {replicas}\n"),
        },
    ])
}

fn kustomization(resources: &[String], patches: Value) -> Value {
    json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
        "patches": patches,
    })
}

/// One overlay: its directory name, its kustomization and the files beside it.
pub(crate) struct Overlay {
    pub(crate) name: &'static str,
    pub(crate) kustomization: Value,
    pub(crate) files: Vec<(&'static str, Value)>,
}

pub(crate) fn overlays(service: &Service, scaled_object: Value) -> Vec<Overlay> {
    let base = format!("../../base/{}", service.name);
    let monitoring = "../../base/monitoring".to_owned();
    let delete_hpa = json!([{
        "target": { "kind": "HorizontalPodAutoscaler", "name": service.name },
        "patch": format!(
            "$patch: delete\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: {}\n",
            service.name
        ),
    }]);
    vec![
        Overlay {
            name: "dev",
            kustomization: kustomization(&[base.clone(), monitoring.clone()], replicas_patch(service, 1)),
            files: Vec::new(),
        },
        Overlay {
            name: "prod",
            kustomization: kustomization(&[base.clone(), monitoring], replicas_patch(service, 3)),
            files: Vec::new(),
        },
        Overlay {
            name: "keda",
            kustomization: kustomization(&[base, "scaledobject.yaml".to_owned()], delete_hpa),
            files: vec![("scaledobject.yaml", scaled_object)],
        },
    ]
}
