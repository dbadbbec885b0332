//! The RED layer and the exporter, through the public API. The recorder is process-wide,
//! so every test looks at its own routes or at deltas.

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use ebb_metrics::HttpMetricsLayer;
use http::{Request, StatusCode};
use tower::ServiceExt;

mod common;
use common::{handle, sum};

async fn send(app: &Router, request: Request<Body>) -> StatusCode {
    app.clone().oneshot(request).await.expect("infallible").status()
}

#[tokio::test]
async fn a_scanner_cannot_grow_the_label_sets() {
    let handle = handle();
    let app = Router::new().route("/scan/items/{id}", get(|| async { "item" })).layer(HttpMetricsLayer::new());
    let before = handle.render();
    let ours = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("http_requests_total{") && (l.contains("/scan") || l.contains("unmatched")))
            .filter(|l| l.contains("method=\"GET\"") || l.contains("method=\"OTHER\""))
            .count()
    };
    let series_before = ours(&before);
    let unmatched_before = sum(&before, "http_requests_total", &["route=\"unmatched\"", "method=\"GET\""]);

    for i in 0..3000u32 {
        let path = format!("/scan/{:x}/{}", i.wrapping_mul(2_654_435_761), i);
        assert_eq!(send(&app, Request::get(path).body(Body::empty()).expect("request")).await, StatusCode::NOT_FOUND);
    }
    for id in 0..50 {
        let request = Request::get(format!("/scan/items/{id}")).body(Body::empty()).expect("request");
        assert_eq!(send(&app, request).await, StatusCode::OK);
    }
    let bogus = Request::builder().method("BREW").uri("/scan/items/1").body(Body::empty()).expect("request");
    send(&app, bogus).await;

    let after = handle.render();
    let unmatched = sum(&after, "http_requests_total", &["route=\"unmatched\"", "method=\"GET\""]) - unmatched_before;
    assert_eq!(unmatched, 3000.0);
    assert_eq!(sum(&after, "http_requests_total", &["route=\"/scan/items/{id}\"", "status=\"200\""]), 50.0);
    assert!(after.contains("method=\"OTHER\""), "unknown methods fold into OTHER");
    let series_after = ours(&after);
    assert!(series_after - series_before <= 3, "3000 random paths added {} series", series_after - series_before);
}

#[tokio::test]
async fn the_label_set_cap_folds_the_rest_into_overflow() {
    let handle = handle();
    let overflow_before = sum(&handle.render(), "http_requests_label_overflow_total", &[]);
    // A (broken) gRPC service that claims to serve every path is the worst case.
    let app = tower::ServiceBuilder::new().layer(HttpMetricsLayer::with_max_label_sets(5)).service_fn(
        |_req: Request<Body>| async {
            let mut response = http::Response::new(Body::empty());
            response.headers_mut().insert("content-type", http::HeaderValue::from_static("application/grpc"));
            Ok::<_, std::convert::Infallible>(response)
        },
    );
    for i in 0..200 {
        let request = Request::post(format!("/cap.Svc{i}/Method"))
            .header("content-type", "application/grpc")
            .body(Body::empty())
            .expect("request");
        app.clone().oneshot(request).await.expect("infallible");
    }
    let text = handle.render();
    let capped = text.lines().filter(|l| l.starts_with("http_requests_total{") && l.contains("/cap.Svc")).count();
    assert_eq!(capped, 5);
    assert_eq!(sum(&text, "http_requests_label_overflow_total", &[]) - overflow_before, 195.0);
    assert!(sum(&text, "http_requests_total", &["route=\"overflow\"", "method=\"POST\""]) >= 195.0);
}

#[tokio::test]
async fn statuses_from_inner_layers_and_histogram_buckets_are_exported() {
    let handle = handle();
    let app = Router::new()
        .route("/hist/limited", get(|| async { (StatusCode::TOO_MANY_REQUESTS, "slow down") }))
        .layer(HttpMetricsLayer::new());
    for _ in 0..3 {
        send(&app, Request::get("/hist/limited").body(Body::empty()).expect("request")).await;
    }
    handle.run_upkeep();
    let text = handle.render();
    let labels = ["route=\"/hist/limited\"", "status=\"429\""];
    assert_eq!(sum(&text, "http_requests_total", &labels), 3.0);
    assert_eq!(sum(&text, "http_request_duration_seconds_count", &labels), 3.0);
    assert!(text.contains("http_request_duration_seconds_bucket{"), "a histogram, not a summary");
    assert!(text.contains("le=\"+Inf\""));
    // README: "buckets 0.5 ms … 30 s".
    let bounds: Vec<&str> = text
        .lines()
        .filter(|line| {
            line.starts_with("http_request_duration_seconds_bucket{") && labels.iter().all(|l| line.contains(l))
        })
        .filter_map(|line| line.split("le=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(
        (bounds.first(), bounds.iter().rev().nth(1), bounds.last()),
        (Some(&"0.0005"), Some(&"30"), Some(&"+Inf")),
        "{bounds:?}"
    );
    assert!(text.contains("# TYPE http_request_duration_seconds histogram"));
    assert!(text.contains("# TYPE http_requests_in_flight gauge"));
    assert!(text.contains("process_resident_memory_bytes "));
}

#[tokio::test]
async fn output_passes_promtool() {
    let handle = handle();
    let app = Router::new().route("/lint/{id}", get(|| async { "x" })).layer(HttpMetricsLayer::new());
    send(&app, Request::get("/lint/1").body(Body::empty()).expect("request")).await;
    send(&app, Request::delete("/nowhere").body(Body::empty()).expect("request")).await;
    let text = handle.render();
    if let Err(said) = ebb_testkit::promtool_check(&text) {
        panic!("promtool check metrics failed:\n{said}\n--- input ---\n{text}");
    }
}

#[tokio::test]
async fn made_up_grpc_paths_add_no_series() {
    let handle = handle();
    let before = handle.render();
    let ours = |text: &str| text.lines().filter(|l| l.starts_with("http_requests_total{")).count();
    // An axum app without gRPC: a 404 for every made-up path, gRPC content type or not.
    let app = Router::new().route("/flood/ok", get(|| async { "x" })).layer(HttpMetricsLayer::new());
    for i in 0..300 {
        let request = Request::post(format!("/flood{i}.Svc/Method"))
            .header("content-type", "application/grpc")
            .body(Body::empty())
            .expect("request");
        send(&app, request).await;
    }
    // A service that refuses (429) before any gRPC code runs proves no method either.
    let limited = tower::ServiceBuilder::new().layer(HttpMetricsLayer::new()).service_fn(|_req: Request<Body>| async {
        let mut response = http::Response::new(Body::from("slow down"));
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        Ok::<_, std::convert::Infallible>(response)
    });
    for i in 0..300 {
        let request = Request::post(format!("/limited{i}.Svc/Method"))
            .header("content-type", "application/grpc")
            .body(Body::empty())
            .expect("request");
        limited.clone().oneshot(request).await.expect("infallible");
    }
    let after = handle.render();
    assert!(!after.contains(".Svc/Method"), "made-up paths became labels");
    assert!(!after.contains("/limited"), "rejected requests made labels");
    assert!(ours(&after) - ours(&before) <= 4, "{} new series", ours(&after) - ours(&before));
}

/// tonic's health service behind the metrics layer, and a channel to it.
async fn health_server() -> tonic::transport::Channel {
    let (_reporter, health) = tonic_health::server::health_reporter();
    common::grpc_channel(tonic::service::Routes::new(health)).await
}

#[tokio::test]
async fn tonic_answers_unknown_methods_unimplemented_and_they_stay_unmatched() {
    let handle = handle();
    let channel = health_server().await;
    let mut grpc = tonic::client::Grpc::new(channel);
    for i in 0..20 {
        grpc.ready().await.expect("ready");
        let path: http::uri::PathAndQuery = format!("/made.Up{i}/Nothing").parse().expect("path");
        let codec = tonic_prost::ProstCodec::<
            tonic_health::pb::HealthCheckRequest,
            tonic_health::pb::HealthCheckResponse,
        >::default();
        let request = tonic::Request::new(tonic_health::pb::HealthCheckRequest { service: String::new() });
        let status = grpc.unary(request, path, codec).await.expect_err("no such method");
        assert_eq!(status.code(), tonic::Code::Unimplemented);
    }
    let text = handle.render();
    assert!(!text.contains("/made.Up"), "{text}");
}

#[tokio::test]
async fn tonic_services_are_counted_by_grpc_method() {
    let handle = handle();
    let channel = health_server().await;
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
    for _ in 0..4 {
        let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
        client.check(request).await.expect("check");
    }
    let text = handle.render();
    let labels = ["route=\"/grpc.health.v1.Health/Check\"", "method=\"POST\"", "status=\"200\""];
    assert_eq!(sum(&text, "http_requests_total", &labels), 4.0, "{text}");
}

#[tokio::test]
async fn an_interceptor_answering_every_path_cannot_crowd_out_http_routes() {
    let handle = handle();
    // Like a tonic service behind an authentication interceptor: every path, real or not,
    // gets a gRPC answer (UNAUTHENTICATED) before any method lookup.
    let grpc = tower::ServiceBuilder::new().layer(HttpMetricsLayer::new()).service_fn(|_req: Request<Body>| async {
        let mut response = http::Response::new(Body::empty());
        response.headers_mut().insert("content-type", http::HeaderValue::from_static("application/grpc"));
        response.headers_mut().insert("grpc-status", http::HeaderValue::from_static("16"));
        Ok::<_, std::convert::Infallible>(response)
    });
    for i in 0..300 {
        let request = Request::post(format!("/intercepted.Svc/M{i}"))
            .header("content-type", "application/grpc")
            .body(Body::empty())
            .expect("request");
        grpc.clone().oneshot(request).await.expect("infallible");
    }
    let app = Router::new().route("/after/flood", get(|| async { "x" })).layer(HttpMetricsLayer::new());
    send(&app, Request::get("/after/flood").body(Body::empty()).expect("request")).await;
    let text = handle.render();
    let grpc_series =
        text.lines().filter(|l| l.starts_with("http_requests_total{") && l.contains("/intercepted.Svc/")).count();
    assert!(grpc_series <= 100, "{grpc_series} gRPC series");
    assert!(text.contains(r#"route="/after/flood""#), "a real route was crowded out:\n{text}");
}
