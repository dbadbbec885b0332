//! This repository's deployable services, as any user of ebb-deploy writes them. Defaults
//! (ports, shutdown budget, metric names) are the ebb crates' own constants.

use ebb_deploy::{Resources, Scaler, Service};

/// The namespace the overlays put the examples in.
pub(crate) const NAMESPACE: &str = "ebb";

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
            .with_secret_env("EBB_JWT_SECRET", "example-api", "jwt-secret"),
        // Scales to zero: KEDA wakes it when the group's lag rises above zero; it starts in
        // milliseconds (`cargo xtask bench startup`).
        Service::new("example-worker")
            .with_image("ebb/example-worker")
            .with_resources(Resources::new("100m", "32Mi", "128Mi"))
            .with_replicas(0, 20)
            .with_scaler(Scaler::redis_stream("ebb:{jobs}", "workers", 20))
            .with_env("EBB_WORKER_QUEUE", "ebb:{jobs}")
            .with_env("EBB_WORKER_GROUP", "workers")
            .with_secret_env("REDIS_URL", "example-worker", "redis-url"),
    ]
}

/// The project: this workspace with its services, in [`NAMESPACE`].
pub(crate) fn project() -> anyhow::Result<ebb_deploy::Project> {
    Ok(ebb_deploy::Project::at(&crate::workspace_root(), &services())?.with_namespace(NAMESPACE))
}
