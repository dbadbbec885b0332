//! The standard `grpc.health.v1.Health` service, backed by the same [`Probes`], so that a
//! Kubernetes `grpc:` probe asks exactly what `/readyz` answers.
//!
//! The requested `service` name selects the probe:
//!
//! | `service`                   | probe                  |
//! |-----------------------------|------------------------|
//! | `""` (the default)          | readiness (`/readyz`)  |
//! | `readiness`                 | readiness              |
//! | `liveness`                  | liveness (`/livez`)    |
//! | `startup`                   | startup (`/startupz`)  |
//! | anything else               | `NOT_FOUND`            |
//!
//! In a Pod spec: `livenessProbe: {grpc: {port: 8080, service: liveness}}`,
//! `readinessProbe: {grpc: {port: 8080}}`.
//!
//! # Example
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let probes = ebb_probes::Probes::builder().started().build();
//! let health = ebb_probes::grpc::health_server(probes);
//! // tonic::transport::Server::builder().add_service(health).serve(addr).await?;
//! # drop(health); Ok(()) }
//! ```

use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
pub use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::{Probe, Probes};

/// How often `Watch` re-evaluates the probe (results are cached for the probes' TTL anyway).
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// The gRPC health service for `probes`.
pub fn health_server(probes: Probes) -> HealthServer<GrpcHealth> {
    HealthServer::new(GrpcHealth { probes })
}

/// Implements `grpc.health.v1.Health` over [`Probes`]. Made by [`health_server`].
#[derive(Clone, Debug)]
pub struct GrpcHealth {
    probes: Probes,
}

fn probe_for(service: &str) -> Result<Probe, Status> {
    match service {
        "" | "readiness" => Ok(Probe::Ready),
        "liveness" => Ok(Probe::Live),
        "startup" => Ok(Probe::Startup),
        other => Err(Status::not_found(format!(
            "unknown health service {other:?}: ask \"\", \"readiness\", \"liveness\" or \"startup\""
        ))),
    }
}

async fn status_of(probes: &Probes, probe: Probe) -> ServingStatus {
    if probes.evaluate(probe, &[]).await.ok { ServingStatus::Serving } else { ServingStatus::NotServing }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for GrpcHealth {
    async fn check(&self, request: Request<HealthCheckRequest>) -> Result<Response<HealthCheckResponse>, Status> {
        let probe = probe_for(&request.get_ref().service)?;
        let status = status_of(&self.probes, probe).await;
        Ok(Response::new(HealthCheckResponse { status: status.into() }))
    }

    type WatchStream = WatchStream;

    async fn watch(&self, request: Request<HealthCheckRequest>) -> Result<Response<Self::WatchStream>, Status> {
        let probe = probe_for(&request.get_ref().service)?;
        let probes = self.probes.clone();
        let mut ticker = tokio::time::interval(WATCH_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Sends the current status at once, then every change.
        let stream =
            futures_util::stream::unfold((probes, ticker, None), move |(probes, mut ticker, last)| async move {
                loop {
                    ticker.tick().await;
                    let status = status_of(&probes, probe).await;
                    if last != Some(status) {
                        let response = HealthCheckResponse { status: status.into() };
                        return Some((Ok(response), (probes, ticker, Some(status))));
                    }
                }
            });
        Ok(Response::new(Box::pin(stream)))
    }
}
