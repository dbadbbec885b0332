//! grpc.health.v1 over the same probe state, through a real tonic server and client.

use std::time::Duration;

use ebb_probes::{CancellationToken, Probes};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

async fn serve(probes: Probes) -> HealthClient<tonic::transport::Channel> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let service = ebb_probes::grpc::health_server(probes);
    tokio::spawn(tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    HealthClient::new(channel)
}

fn ask(service: &str) -> HealthCheckRequest {
    HealthCheckRequest { service: service.to_owned() }
}

#[tokio::test]
async fn check_follows_readiness_liveness_and_startup() {
    let shutdown = CancellationToken::new();
    let probes = Probes::builder().with_shutdown_signal(shutdown.clone()).with_cache_ttl(Duration::ZERO).build();
    let mut client = serve(probes.clone()).await;
    let status = |response: tonic::Response<tonic_health::pb::HealthCheckResponse>| response.into_inner().status;

    assert_eq!(status(client.check(ask("")).await.expect("check")), ServingStatus::NotServing as i32);
    assert_eq!(status(client.check(ask("startup")).await.expect("check")), ServingStatus::NotServing as i32);
    probes.mark_started();
    assert_eq!(status(client.check(ask("")).await.expect("check")), ServingStatus::Serving as i32);
    assert_eq!(status(client.check(ask("readiness")).await.expect("check")), ServingStatus::Serving as i32);
    shutdown.cancel();
    assert_eq!(status(client.check(ask("")).await.expect("check")), ServingStatus::NotServing as i32);
    assert_eq!(status(client.check(ask("liveness")).await.expect("check")), ServingStatus::Serving as i32);

    let unknown = client.check(ask("payments")).await.expect_err("unknown service");
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn watch_sends_the_status_then_each_change() {
    let shutdown = CancellationToken::new();
    let probes = Probes::builder().with_shutdown_signal(shutdown.clone()).started().build();
    let mut client = serve(probes).await;
    let mut updates = client.watch(ask("")).await.expect("watch").into_inner();
    let first = updates.next().await.expect("first").expect("ok");
    assert_eq!(first.status, ServingStatus::Serving as i32);
    shutdown.cancel();
    let next = tokio::time::timeout(Duration::from_secs(5), updates.next()).await.expect("a change within 5 s");
    assert_eq!(next.expect("item").expect("ok").status, ServingStatus::NotServing as i32);
}
