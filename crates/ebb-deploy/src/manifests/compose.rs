//! `deploy/compose.yaml`: the same services for Docker Compose on one machine, from the same
//! definition and running the images `cargo xtask image --load` builds (no Dockerfile to
//! drift). The settings are the ConfigMap's; each secret variable is passed through from the
//! shell when set there (a key without value), or set by a second compose file of your own (`-f`) that also
//! adds what the services need (Redis, an S3 server).

use std::collections::BTreeMap;

use serde::Serialize;

use super::render::{grace_seconds, settings};
use crate::image::NONROOT;
use crate::service::Service;

#[derive(Serialize)]
pub(crate) struct Compose {
    services: BTreeMap<String, ComposeService>,
}

#[derive(Serialize)]
struct ComposeService {
    image: String,
    /// `None`: passed through from the shell when set there (compose's value-less key).
    environment: BTreeMap<String, Option<String>>,
    ports: Vec<String>,
    read_only: bool,
    tmpfs: Vec<String>,
    user: String,
    cap_drop: Vec<String>,
    stop_signal: String,
    stop_grace_period: String,
}

/// Service `index` publishes its application port on `127.0.0.1:8080 + index`; the metrics
/// port stays inside the compose network (Prometheus scrapes it there).
pub(crate) fn compose(services: &[Service]) -> Compose {
    let services = services
        .iter()
        .enumerate()
        .map(|(index, service)| {
            let mut environment: BTreeMap<String, Option<String>> =
                settings(service).into_iter().map(|(variable, value)| (variable, Some(value))).collect();
            // Text logs for a terminal; the cluster's ConfigMap keeps JSON.
            environment.insert(ebb_core::names::ENV_LOG_FORMAT.to_owned(), Some("text".to_owned()));
            for secret in &service.secret_env {
                environment.insert(secret.variable.clone(), None);
            }
            let host_port = 8080 + u16::try_from(index).unwrap_or(0);
            let compose = ComposeService {
                image: service.image_reference(),
                environment,
                ports: vec![format!("127.0.0.1:{host_port}:{}", service.http_port)],
                read_only: true,
                tmpfs: vec!["/tmp".to_owned()],
                user: NONROOT.to_string(),
                cap_drop: vec!["ALL".to_owned()],
                stop_signal: "SIGTERM".to_owned(),
                stop_grace_period: format!("{}s", grace_seconds(service)),
            };
            (service.name.clone(), compose)
        })
        .collect();
    Compose { services }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service;

    #[test]
    fn compose_runs_the_built_images_with_the_manifests_settings() {
        let services = service::examples();
        let compose = serde_json::to_value(compose(&services)).expect("json");
        let api = &compose["services"]["example-api"];
        assert_eq!(api["image"], "ebb/example-api:0.1.0");
        assert_eq!(api["environment"]["EBB_SHUTDOWN_DELAY"], "5s");
        assert_eq!(api["environment"]["EBB_RATELIMIT_RATE"], "100/1s");
        assert!(api["environment"]["REDIS_URL"].is_null(), "secrets are never written, only passed through");
        assert_eq!(api["stop_grace_period"], "40s", "the pod's terminationGracePeriodSeconds");
        assert_eq!(api["ports"][0], "127.0.0.1:8080:8080");
        assert_eq!(compose["services"]["example-worker"]["ports"][0], "127.0.0.1:8081:8080", "one host port each");
        assert_eq!(api["user"], "65532");
    }
}
