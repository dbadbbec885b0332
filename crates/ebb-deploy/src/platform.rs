//! What the manifests point at in the cluster beyond the services themselves: Prometheus
//! and the namespace of the monitoring stack, and the labels its Prometheus selects
//! ServiceMonitors by. The defaults are the Prometheus Operator's.

use std::collections::BTreeMap;

/// The cluster's monitoring, as the manifests refer to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Platform {
    /// What KEDA's Prometheus triggers query.
    pub(crate) prometheus: String,
    /// Where Prometheus and prometheus-adapter run: the metrics port admits Prometheus pods
    /// from here, and the adapter rules go here.
    pub(crate) monitoring_namespace: String,
    /// Added to every ServiceMonitor's labels.
    pub(crate) monitor_labels: BTreeMap<String, String>,
}

/// The Prometheus Operator's service for a Prometheus in [`MONITORING_NAMESPACE`].
pub(crate) const PROMETHEUS_ADDRESS: &str = "http://prometheus-operated.monitoring.svc:9090";
/// Where the monitoring stack runs unless the project says otherwise.
pub(crate) const MONITORING_NAMESPACE: &str = "monitoring";

impl Default for Platform {
    fn default() -> Self {
        Platform {
            prometheus: PROMETHEUS_ADDRESS.to_owned(),
            monitoring_namespace: MONITORING_NAMESPACE.to_owned(),
            monitor_labels: BTreeMap::new(),
        }
    }
}
