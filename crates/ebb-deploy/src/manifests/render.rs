//! The Kubernetes objects of one [`Service`], from k8s-openapi's typed structs (and, for
//! the custom resources, from the typed models of `crds.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use ebb_core::names::{
    ENV_SHUTDOWN_DELAY as ENV_DELAY, ENV_SHUTDOWN_TIMEOUT as ENV_TIMEOUT, LIVEZ_PATH, READYZ_PATH, STARTUPZ_PATH,
};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerSpec, MetricIdentifier, MetricSpec, MetricTarget,
    PodsMetricSource, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EmptyDirVolumeSource, EnvFromSource, EnvVar,
    EnvVarSource, HTTPGetAction, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
    SeccompProfile, SecretKeySelector, SecurityContext, Service as KubeService, ServicePort, ServiceSpec,
    TopologySpreadConstraint, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::crds::{Endpoint, Metadata, ServiceMonitor, ServiceMonitorSpec};
use crate::egress::DNS_PORT;
use crate::image::NONROOT;
use crate::platform::Platform;
use crate::service::{GRACE_MARGIN, Scaler, Service};

/// The name of the container and Service port of the application listener.
pub(crate) const HTTP_PORT: &str = "http";
/// The readiness probe's period: how long a terminating pod may still get new connections.
pub const READINESS_PERIOD_SECONDS: i32 = 2;
/// One failed readiness check takes the pod out of the Service.
pub const READINESS_FAILURE_THRESHOLD: i32 = 1;

/// The name of the container and Service port of the metrics listener, which also answers
/// the probes and has its own connection cap.
pub(crate) const METRICS_PORT: &str = "metrics";

/// One rendered file: its name under `deploy/base/<service>/` and its objects.
pub(crate) struct File {
    pub(crate) name: &'static str,
    pub(crate) object: Value,
}

pub(crate) fn render(service: &Service, platform: &Platform) -> anyhow::Result<Vec<File>> {
    let mut files = vec![
        File { name: "configmap.yaml", object: serde_json::to_value(config_map(service))? },
        File { name: "deployment.yaml", object: serde_json::to_value(deployment(service))? },
        File { name: "service.yaml", object: serde_json::to_value(kube_service(service))? },
        File { name: "pdb.yaml", object: serde_json::to_value(pdb(service))? },
        File { name: "networkpolicy.yaml", object: serde_json::to_value(network_policy(service, platform))? },
        File { name: "servicemonitor.yaml", object: serde_json::to_value(service_monitor(service, platform))? },
    ];
    match &service.scaler {
        Scaler::Hpa { .. } => files.push(File { name: "hpa.yaml", object: serde_json::to_value(hpa(service))? }),
        scaler => {
            if scaler.reads_redis() {
                let authentication = super::scaling::redis_authentication(service).with_context(|| {
                    format!(
                        "{}: a Redis trigger needs REDIS_URL, REDIS_CLUSTER_URLS or REDIS_SENTINEL_URLS from a Secret (`with_secret_env`)",
                        service.name
                    )
                })?;
                files.push(File { name: "triggerauthentication.yaml", object: serde_json::to_value(authentication)? });
            }
            files.push(File {
                name: "scaledobject.yaml",
                object: serde_json::to_value(super::scaling::scaled_object(service, None, "", platform))?,
            });
        }
    }
    Ok(files)
}

fn labels(service: &Service) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), service.name.to_owned()),
        // Who renders it, not what it belongs to: that is the user's to say.
        ("app.kubernetes.io/managed-by".to_owned(), "ebb-deploy".to_owned()),
    ])
}

fn selector(service: &Service) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([("app.kubernetes.io/name".to_owned(), service.name.to_owned())])),
        ..LabelSelector::default()
    }
}

fn meta(service: &Service, name: String) -> ObjectMeta {
    ObjectMeta { name: Some(name), labels: Some(labels(service)), ..ObjectMeta::default() }
}

fn config_map_name(service: &Service) -> String {
    format!("{}-env", service.name)
}

/// The plain settings, with the service's real shutdown delay and timeout: the delay runs
/// in the application (no preStop sleep), so that it sees SIGTERM at once and sends
/// `Connection: close` while the endpoints drop the pod.
fn config_map(service: &Service) -> ConfigMap {
    ConfigMap {
        metadata: meta(service, config_map_name(service)),
        data: Some(settings(service)),
        ..ConfigMap::default()
    }
}

/// The plain settings of the service (its ConfigMap's data; compose's environment).
pub(crate) fn settings(service: &Service) -> BTreeMap<String, String> {
    let mut data: BTreeMap<String, String> = service.env.iter().cloned().collect();
    data.insert(ebb_core::names::ENV_HTTP_ADDR.to_owned(), format!("0.0.0.0:{}", service.http_port));
    data.insert(ebb_core::names::ENV_METRICS_ADDR.to_owned(), format!("0.0.0.0:{}", service.metrics_port));
    data.insert(ENV_DELAY.to_owned(), env_duration(service.shutdown_delay));
    data.insert(ENV_TIMEOUT.to_owned(), env_duration(service.shutdown_timeout));
    // One JSON object per line: what log platforms ingest without a parser of their own.
    data.insert(ebb_core::names::ENV_LOG_FORMAT.to_owned(), "json".to_owned());
    data
}

/// A duration as the service parses it (humantime): whole seconds where exact, else
/// milliseconds, so that the value in the pod is the one in the definition.
pub(crate) fn env_duration(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// `terminationGracePeriodSeconds`: the delay, the service's own deadline (the timeout) and
/// a margin, rounded up to whole seconds, so that the kubelet's SIGKILL never comes before
/// the service has cut and reported what was left.
pub(crate) fn grace_seconds(service: &Service) -> i64 {
    let total = service.shutdown_delay.saturating_add(service.shutdown_timeout).saturating_add(GRACE_MARGIN);
    let seconds = total.as_secs() + u64::from(total.subsec_nanos() > 0);
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

/// An HTTP probe on the named container port.
fn probe(path: &str, port: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String(port.to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(2),
        ..Probe::default()
    }
}

fn quantity(value: &str) -> Quantity {
    Quantity(value.to_owned())
}

fn deployment(service: &Service) -> Deployment {
    let resources = &service.resources;
    let mut limits = BTreeMap::from([("memory".to_owned(), quantity(&resources.memory_limit))]);
    if let Some(cpu) = &resources.cpu_limit {
        limits.insert("cpu".to_owned(), quantity(cpu));
    }
    let secret_env = service
        .secret_env
        .iter()
        .map(|env| EnvVar {
            name: env.variable.clone(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: env.secret.clone(),
                    key: env.key.clone(),
                    optional: Some(false),
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        })
        .collect();
    let container = Container {
        name: service.name.to_owned(),
        image: Some(service.image_reference()),
        ports: Some(vec![
            ContainerPort {
                name: Some(HTTP_PORT.to_owned()),
                container_port: i32::from(service.http_port),
                ..ContainerPort::default()
            },
            ContainerPort {
                name: Some(METRICS_PORT.to_owned()),
                container_port: i32::from(service.metrics_port),
                ..ContainerPort::default()
            },
        ]),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource { name: config_map_name(service), optional: Some(false) }),
            ..EnvFromSource::default()
        }]),
        env: Some(secret_env),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_owned(), quantity(&resources.cpu_request)),
                ("memory".to_owned(), quantity(&resources.memory_request)),
            ])),
            limits: Some(limits),
            ..ResourceRequirements::default()
        }),
        // Every probe on the metrics listener: the application port's caps and per-client
        // shares (the kubelet probes every pod of a node from one address) must never
        // restart a healthy pod or take it out of the Service. Readiness there fails from
        // the signal on, as on the application port.
        startup_probe: Some(probe(STARTUPZ_PATH, METRICS_PORT, 1, 30)),
        liveness_probe: Some(probe(LIVEZ_PATH, METRICS_PORT, 10, 3)),
        readiness_probe: Some(probe(READYZ_PATH, METRICS_PORT, READINESS_PERIOD_SECONDS, READINESS_FAILURE_THRESHOLD)),
        // No preStop hook: a sleep there would hide SIGTERM from the service, which then
        // could not send `Connection: close` during the delay (EBB_SHUTDOWN_DELAY does it).
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities { drop: Some(vec!["ALL".to_owned()]), ..Capabilities::default() }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".to_owned(),
            mount_path: "/tmp".to_owned(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    let pod = PodSpec {
        containers: vec![container],
        termination_grace_period_seconds: Some(grace_seconds(service)),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(i64::from(NONROOT)),
            run_as_group: Some(i64::from(NONROOT)),
            seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".to_owned(), ..SeccompProfile::default() }),
            ..PodSecurityContext::default()
        }),
        topology_spread_constraints: Some(vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "kubernetes.io/hostname".to_owned(),
            when_unsatisfiable: "ScheduleAnyway".to_owned(),
            label_selector: Some(selector(service)),
            ..TopologySpreadConstraint::default()
        }]),
        volumes: Some(vec![Volume {
            name: "tmp".to_owned(),
            // Bounded: the kubelet evicts a pod past it instead of letting it fill the node.
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(quantity(&service.resources.tmp_size_limit)),
                ..EmptyDirVolumeSource::default()
            }),
            ..Volume::default()
        }]),
        automount_service_account_token: Some(false),
        ..PodSpec::default()
    };
    Deployment {
        metadata: ObjectMeta {
            annotations: Some(super::checkov::skip_annotations()),
            ..meta(service, service.name.to_owned())
        },
        spec: Some(DeploymentSpec {
            // No replicas: the autoscaler owns the count (each apply would reset it).
            selector: selector(service),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString::Int(0)),
                    max_surge: Some(IntOrString::Int(1)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels(service)), ..ObjectMeta::default() }),
                spec: Some(pod),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn kube_service(service: &Service) -> KubeService {
    let port = |name: &str, number: u16| ServicePort {
        name: Some(name.to_owned()),
        port: i32::from(number),
        target_port: Some(IntOrString::String(name.to_owned())),
        ..ServicePort::default()
    };
    KubeService {
        metadata: meta(service, service.name.to_owned()),
        spec: Some(ServiceSpec {
            selector: selector(service).match_labels,
            ports: Some(vec![port(HTTP_PORT, service.http_port), port(METRICS_PORT, service.metrics_port)]),
            ..ServiceSpec::default()
        }),
        ..KubeService::default()
    }
}

fn pdb(service: &Service) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(service, service.name.to_owned()),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(selector(service)),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

/// Who may connect: the application port from anywhere (in-cluster clients, the ingress
/// controller); the metrics port, which also serves `/loglevel` and the other operator
/// endpoints, only from Prometheus in the monitoring namespace. The kubelet's probes come
/// from the node, which NetworkPolicies do not govern.
///
/// Where the pod may connect: DNS, and each dependency of the definition by port (to its
/// CIDRs when it gives them); nothing else, so a compromised pod cannot reach the rest of
/// the cluster or the internet.
fn network_policy(service: &Service, platform: &Platform) -> NetworkPolicy {
    let port = |name: &str| NetworkPolicyPort {
        port: Some(IntOrString::String(name.to_owned())),
        protocol: Some("TCP".to_owned()),
        ..NetworkPolicyPort::default()
    };
    let by_name = |key: &str, value: &str| LabelSelector {
        match_labels: Some(BTreeMap::from([(key.to_owned(), value.to_owned())])),
        ..LabelSelector::default()
    };
    let prometheus = NetworkPolicyPeer {
        namespace_selector: Some(by_name("kubernetes.io/metadata.name", &platform.monitoring_namespace)),
        pod_selector: Some(by_name("app.kubernetes.io/name", "prometheus")),
        ..NetworkPolicyPeer::default()
    };
    let number = |port: u16, protocol: &str| NetworkPolicyPort {
        port: Some(IntOrString::Int(i32::from(port))),
        protocol: Some(protocol.to_owned()),
        ..NetworkPolicyPort::default()
    };
    let dns = NetworkPolicyEgressRule { ports: Some(vec![number(DNS_PORT, "UDP"), number(DNS_PORT, "TCP")]), to: None };
    let dependencies = service.egress.iter().map(|egress| NetworkPolicyEgressRule {
        ports: Some(vec![number(egress.port, "TCP")]),
        to: (!egress.cidrs.is_empty()).then(|| {
            let block = |cidr: &String| NetworkPolicyPeer {
                ip_block: Some(IPBlock { cidr: cidr.clone(), except: None }),
                ..NetworkPolicyPeer::default()
            };
            egress.cidrs.iter().map(block).collect()
        }),
    });
    NetworkPolicy {
        metadata: meta(service, service.name.to_owned()),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector(service)),
            policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
            ingress: Some(vec![
                NetworkPolicyIngressRule { ports: Some(vec![port(HTTP_PORT)]), from: None },
                NetworkPolicyIngressRule { ports: Some(vec![port(METRICS_PORT)]), from: Some(vec![prometheus]) },
            ]),
            egress: Some(std::iter::once(dns).chain(dependencies).collect()),
        }),
    }
}

pub(crate) fn hpa(service: &Service) -> HorizontalPodAutoscaler {
    let scaling = &service.scaling;
    let rules = |window: i32, policies: Vec<HPAScalingPolicy>| HPAScalingRules {
        stabilization_window_seconds: Some(window),
        select_policy: Some("Max".to_owned()),
        policies: Some(policies),
        ..HPAScalingRules::default()
    };
    let policy = |type_: &str, value: i32, period: i32| HPAScalingPolicy {
        type_: type_.to_owned(),
        value,
        period_seconds: period,
    };
    HorizontalPodAutoscaler {
        metadata: meta(service, service.name.to_owned()),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".to_owned()),
                kind: "Deployment".to_owned(),
                name: service.name.to_owned(),
            },
            min_replicas: Some(scaling.min_replicas),
            max_replicas: scaling.max_replicas,
            metrics: Some(hpa_metrics(service)),
            // Up fast (double, or +4 pods, every 15 s); down slowly, after 5 stable minutes.
            behavior: Some(HorizontalPodAutoscalerBehavior {
                scale_up: Some(rules(0, vec![policy("Percent", 100, 15), policy("Pods", 4, 15)])),
                scale_down: Some(rules(300, vec![policy("Percent", 50, 60)])),
            }),
        }),
        ..HorizontalPodAutoscaler::default()
    }
}

/// The HPA's targets: CPU utilisation and/or the custom requests-per-second Pods metric.
fn hpa_metrics(service: &Service) -> Vec<MetricSpec> {
    let Scaler::Hpa { cpu_percent, requests_per_second } = &service.scaler else {
        return Vec::new();
    };
    let cpu = cpu_percent.map(|percent| MetricSpec {
        type_: "Resource".to_owned(),
        resource: Some(ResourceMetricSource {
            name: "cpu".to_owned(),
            target: MetricTarget {
                type_: "Utilization".to_owned(),
                average_utilization: Some(percent),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    });
    let requests = requests_per_second.as_deref().map(|per_pod| MetricSpec {
        type_: "Pods".to_owned(),
        pods: Some(PodsMetricSource {
            metric: MetricIdentifier { name: service.custom_metric.clone(), selector: None },
            target: MetricTarget {
                type_: "AverageValue".to_owned(),
                average_value: Some(quantity(per_pod)),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    });
    cpu.into_iter().chain(requests).collect()
}

/// Prometheus Operator's ServiceMonitor (monitoring.coreos.com/v1) for the metrics port.
fn service_monitor(service: &Service, platform: &Platform) -> ServiceMonitor {
    ServiceMonitor::new(
        Metadata {
            name: service.name.to_owned(),
            labels: labels(service).into_iter().chain(platform.monitor_labels.clone()).collect(),
        },
        ServiceMonitorSpec {
            selector: selector(service),
            endpoints: vec![Endpoint {
                port: METRICS_PORT.to_owned(),
                path: ebb_core::names::METRICS_PATH.to_owned(),
                interval: "15s".to_owned(),
            }],
        },
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::service as definition;

    #[test]
    fn the_metrics_port_admits_only_prometheus_and_the_app_port_everyone() {
        let service = definition::examples().remove(0);
        let policy = serde_json::to_value(network_policy(&service, &Platform::default())).expect("json");
        let rules = &policy["spec"]["ingress"];
        assert_eq!(rules[0]["ports"][0]["port"], HTTP_PORT);
        assert!(rules[0]["from"].is_null(), "from anywhere");
        assert_eq!(rules[1]["ports"][0]["port"], METRICS_PORT);
        let peer = &rules[1]["from"][0];
        assert_eq!(peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"], "monitoring");
        assert_eq!(peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"], "prometheus");
        assert_eq!(rules.as_array().map(Vec::len), Some(2), "no other port is open");
    }

    #[test]
    fn the_grace_period_rounds_up_and_durations_stay_exact() {
        let mut service = definition::examples().remove(0);
        service.shutdown_delay = Duration::from_millis(1500);
        service.shutdown_timeout = Duration::from_secs(30);
        assert_eq!(grace_seconds(&service), 37, "1.5 s + 30 s + 5 s, rounded up");
        assert_eq!(env_duration(service.shutdown_delay), "1500ms");
        assert_eq!(env_duration(service.shutdown_timeout), "30s");
    }
}
