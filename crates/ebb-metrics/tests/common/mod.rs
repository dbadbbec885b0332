//! Helpers the metrics test binaries share. Each binary compiles its own copy, so each has
//! its own recorder.

#![allow(dead_code)]

use std::sync::OnceLock;

use ebb_metrics::{Exporter, HttpMetricsLayer, MetricsHandle};

/// This binary's recorder, installed once.
pub(crate) fn handle() -> MetricsHandle {
    static HANDLE: OnceLock<MetricsHandle> = OnceLock::new();
    HANDLE.get_or_init(|| Exporter::new().install().expect("first install").0).clone()
}

/// Sum of every sample of `name` whose labels contain all of `labels`.
pub(crate) fn sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} ")))
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `routes` served by tonic behind the metrics layer on a loopback port, and a channel to it.
pub(crate) async fn grpc_channel(routes: tonic::service::Routes) -> tonic::transport::Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(HttpMetricsLayer::new())
            .add_routes(routes)
            .serve_with_incoming(incoming),
    );
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect")
}
