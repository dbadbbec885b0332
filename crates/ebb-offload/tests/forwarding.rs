//! The store calls a request makes through the HTTP routes carry its `traceparent`,
//! `tracestate` and `x-request-id`, read off the wire between the routes and a real S3 server
//! (`s3s-fs`, SigV4 checked). Negative control: the same routes over an S3 client built
//! without ebb's connector send the same request, signed and accepted, without them — so
//! the headers on the wire come from the connector, and a search that saw them anyway fails.

use std::sync::Arc;

use ebb_offload::{MemoryMetadata, Offload, OffloadConfig, StoreConfig};
use ebb_testkit::{FreezingProxy, S3Server};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// What the store must see of the request, header by header.
const FORWARDED: [&str; 3] = [
    "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "tracestate: vendor=1",
    "x-request-id: upload-42",
];

/// The settings of `s3`, its endpoint replaced by `proxy`'s.
fn config(s3: &S3Server, proxy: &FreezingProxy) -> OffloadConfig {
    let mut env = s3.env("files");
    env.retain(|(name, _)| *name != "AWS_ENDPOINT");
    env.push(("AWS_ENDPOINT", proxy.url()));
    OffloadConfig::from_lookup(|name| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
        .expect("valid settings")
}

/// The store ebb builds from `config`: with the forwarding connector.
fn with_connector(config: &OffloadConfig) -> Offload {
    Offload::from_config(config, Arc::new(MemoryMetadata::new())).expect("store")
}

/// The same S3 settings given to object_store's builder by hand: its own client, no connector.
fn without_connector(config: &OffloadConfig) -> Offload {
    let StoreConfig::S3(vars) = &config.store else { panic!("an S3 configuration") };
    let mut builder = AmazonS3Builder::new();
    for (name, value) in vars {
        if let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
            builder = builder.with_config(key, value);
        }
    }
    let s3 = Arc::new(builder.build().expect("object_store builds it"));
    Offload::new(s3.clone(), Some(s3), Arc::new(MemoryMetadata::new()), config.clone())
}

/// Uploads one traced object through the routes served over `offload`; what the store got.
async fn traced_upload(offload: Offload, proxy: &FreezingProxy) -> String {
    let app = axum::Router::new().nest("/files", ebb_offload::http::routes(offload));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let put = reqwest::Client::new()
        .put(format!("http://{addr}/files/traced.txt"))
        .header("x-request-id", "upload-42")
        .header("traceparent", TRACEPARENT)
        .header("tracestate", "vendor=1")
        .body("traced")
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), reqwest::StatusCode::CREATED, "S3 accepts the signed request");
    server.abort();
    proxy.sent()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_calls_carry_the_request_trace_headers_only_through_the_connector() {
    let s3 = S3Server::start(&["files"]);

    let proxy = FreezingProxy::start(s3.addr());
    let wire = traced_upload(with_connector(&config(&s3, &proxy)), &proxy).await;
    for header in FORWARDED {
        assert!(wire.contains(header), "{header:?} never reached the store:\n{wire}");
    }

    // Negative control: the connector removed, the same upload reaches the store (the search
    // reads the right bytes) and carries none of them.
    let proxy = FreezingProxy::start(s3.addr());
    let wire = traced_upload(without_connector(&config(&s3, &proxy)), &proxy).await;
    assert!(wire.contains("PUT /files/"), "the upload went through the proxy:\n{wire}");
    for header in FORWARDED {
        assert!(!wire.contains(header), "{header:?} reached the store without the connector:\n{wire}");
    }
}
