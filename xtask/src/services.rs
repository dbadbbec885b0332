//! This repository's deployable services, as any user of ebb-deploy writes them. Defaults
//! (ports, shutdown budget, metric names) are the ebb crates' own constants.

use ebb_deploy::{Egress, Resources, Scaler, Service};

/// The namespace the overlays put the examples in.
pub(crate) const NAMESPACE: &str = "ebb";

/// A placeholder for the ingress controller's pods, whose `X-Forwarded-For` the rate limit
/// and the login limit believe: the private range that holds most clusters' pod CIDRs
/// (kind's `10.244.0.0/16`, k3s' `10.42.0.0/16`). Narrow it to your ingress controller's
/// pods: any pod inside it could choose the address it is limited as.
const INGRESS_PODS: &str = "10.0.0.0/8";

pub(crate) fn services() -> Vec<Service> {
    vec![
        Service::new("example-api")
            .with_image("ebb/example-api")
            .with_replicas(3, 10)
            .with_scaler(Scaler::cpu_and_requests_per_second(70, 100))
            .with_env("EBB_RATELIMIT_RATE", "100/1s")
            .with_env("AWS_REGION", "us-east-1")
            .with_env("AWS_BUCKET", "files")
            .with_secret_env("REDIS_URL", "example-api", "redis-url")
            .with_secret_env("AWS_ACCESS_KEY_ID", "example-api", "aws-access-key-id")
            .with_secret_env("AWS_SECRET_ACCESS_KEY", "example-api", "aws-secret-access-key")
            .with_secret_env("EBB_JWT_SECRET", "example-api", "jwt-secret")
            // The one login, which may write and delete every object: never the built-in pair.
            .with_secret_env("EBB_DEMO_USERNAME", "example-api", "demo-username")
            .with_secret_env("EBB_DEMO_PASSWORD", "example-api", "demo-password")
            .with_trusted_proxies(INGRESS_PODS)
            .with_egress(Egress::redis())
            .with_egress(Egress::object_store())
            .with_egress(Egress::otlp()),
        // Scales to zero: KEDA wakes it when the group's lag rises above zero; it starts in
        // milliseconds (`cargo xtask bench startup`).
        Service::new("example-worker")
            .with_image("ebb/example-worker")
            .with_resources(Resources::new("100m", "32Mi", "128Mi"))
            .with_replicas(0, 20)
            .with_scaler(Scaler::redis_stream("ebb:{jobs}", "workers", 20))
            .with_env("EBB_WORKER_QUEUE", "ebb:{jobs}")
            .with_env("EBB_WORKER_GROUP", "workers")
            .with_secret_env("REDIS_URL", "example-worker", "redis-url")
            .with_egress(Egress::redis()),
    ]
}

/// The project: this workspace with its services, in [`NAMESPACE`].
pub(crate) fn project() -> anyhow::Result<ebb_deploy::Project> {
    Ok(ebb_deploy::Project::at(&crate::workspace_root(), &services())?.with_namespace(NAMESPACE))
}
