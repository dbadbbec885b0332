//! gRPC answers counted by their gRPC status, not by HTTP's 200: from the response head
//! (tonic's trailers-only errors) and from the trailers (streams and successes), with a
//! stream's duration measured to its end. A process of its own: its own recorder.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use http_body::Frame;
use tonic::Status;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

mod common;
use common::{handle, sum};

type Codec = tonic_prost::ProstCodec<HealthCheckResponse, HealthCheckRequest>;

/// A unary method that always fails with INTERNAL (tonic sends it trailers-only).
struct Internal;

impl tonic::server::UnaryService<HealthCheckRequest> for Internal {
    type Response = HealthCheckResponse;
    type Future = std::future::Ready<Result<tonic::Response<HealthCheckResponse>, Status>>;

    fn call(&mut self, _: tonic::Request<HealthCheckRequest>) -> Self::Future {
        std::future::ready(Err(Status::internal("boom")))
    }
}

/// A server stream that sends one message, then fails with INTERNAL (in the trailers).
struct FailingStream;

type Items = tokio_stream::Iter<std::vec::IntoIter<Result<HealthCheckResponse, Status>>>;

impl tonic::server::ServerStreamingService<HealthCheckRequest> for FailingStream {
    type Response = HealthCheckResponse;
    type ResponseStream = Items;
    type Future = std::future::Ready<Result<tonic::Response<Items>, Status>>;

    fn call(&mut self, _: tonic::Request<HealthCheckRequest>) -> Self::Future {
        let items = vec![Ok(HealthCheckResponse { status: 1 }), Err(Status::internal("half way"))];
        std::future::ready(Ok(tonic::Response::new(tokio_stream::iter(items))))
    }
}

/// A gRPC-shaped answer whose trailers (`OK`) come 300 ms after its head.
struct SlowStream {
    sent_data: bool,
    delay: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for SlowStream {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if !self.sent_data {
            self.sent_data = true;
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&[0, 0, 0, 0, 0])))));
        }
        std::task::ready!(self.delay.as_mut().poll(cx));
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }
}

async fn server() -> tonic::transport::Channel {
    let (_reporter, health) = tonic_health::server::health_reporter();
    let router = tonic::service::Routes::new(health)
        .into_axum_router()
        .route(
            "/test.Failing/Internal",
            axum::routing::post(|request: http::Request<Body>| async move {
                tonic::server::Grpc::new(Codec::default()).unary(Internal, request).await.map(Body::new)
            }),
        )
        .route(
            "/test.Failing/Stream",
            axum::routing::post(|request: http::Request<Body>| async move {
                tonic::server::Grpc::new(Codec::default()).server_streaming(FailingStream, request).await.map(Body::new)
            }),
        )
        .route(
            "/test.Slow/Stream",
            axum::routing::post(|| async {
                let body =
                    SlowStream { sent_data: false, delay: Box::pin(tokio::time::sleep(Duration::from_millis(300))) };
                let mut response = Response::new(Body::new(body));
                response.headers_mut().insert("content-type", HeaderValue::from_static("application/grpc"));
                response
            }),
        );
    common::grpc_channel(tonic::service::Routes::from(router)).await
}

/// Calls `path` (unary or server streaming) and returns the final status code.
async fn call(channel: &tonic::transport::Channel, path: &'static str, streaming: bool) -> tonic::Code {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("ready");
    let codec = tonic_prost::ProstCodec::<HealthCheckRequest, HealthCheckResponse>::default();
    let request = tonic::Request::new(HealthCheckRequest { service: "no-such-service".to_owned() });
    let path = http::uri::PathAndQuery::from_static(path);
    if !streaming {
        return grpc.unary(request, path, codec).await.map_or_else(|status| status.code(), |_| tonic::Code::Ok);
    }
    let mut stream = match grpc.server_streaming(request, path, codec).await {
        Ok(response) => response.into_inner(),
        Err(status) => return status.code(),
    };
    loop {
        match stream.message().await {
            Ok(Some(_)) => {}
            Ok(None) => return tonic::Code::Ok,
            Err(status) => return status.code(),
        }
    }
}

#[tokio::test]
async fn grpc_errors_are_counted_by_their_status_not_as_successes() {
    let handle = handle();
    let channel = server().await;
    assert_eq!(call(&channel, "/grpc.health.v1.Health/Check", false).await, tonic::Code::NotFound);
    assert_eq!(call(&channel, "/test.Failing/Internal", false).await, tonic::Code::Internal);
    assert_eq!(call(&channel, "/test.Failing/Stream", true).await, tonic::Code::Internal);
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    client.check(HealthCheckRequest { service: String::new() }).await.expect("the server itself is served");

    let text = handle.render();
    let count = |route: &str, status: &str| {
        sum(&text, "http_requests_total", &[&format!("route=\"{route}\""), &format!("grpc_status=\"{status}\"")])
    };
    assert_eq!(count("/grpc.health.v1.Health/Check", "NOT_FOUND"), 1.0, "{text}");
    assert_eq!(count("/grpc.health.v1.Health/Check", "OK"), 1.0, "a success, from the trailers:\n{text}");
    assert_eq!(count("/test.Failing/Internal", "INTERNAL"), 1.0, "{text}");
    assert_eq!(count("/test.Failing/Stream", "INTERNAL"), 1.0, "an error in the trailers:\n{text}");
    assert_eq!(count("/test.Failing/Stream", "OK"), 0.0, "{text}");
}

#[tokio::test]
async fn a_stream_is_timed_to_its_end_and_in_flight_until_then() {
    let handle = handle();
    let channel = server().await;
    assert_eq!(call(&channel, "/test.Slow/Stream", true).await, tonic::Code::Ok);
    let text = handle.render();
    let labels = ["route=\"/test.Slow/Stream\"", "grpc_status=\"OK\""];
    assert_eq!(sum(&text, "http_requests_total", &labels), 1.0, "{text}");
    let seconds = sum(&text, "http_request_duration_seconds_sum", &labels);
    assert!(seconds >= 0.3, "the stream took 300 ms, recorded {seconds} s");

    // A client that drops the stream before its end: CANCELLED, as a client gone (499).
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("ready");
    let codec = tonic_prost::ProstCodec::<HealthCheckRequest, HealthCheckResponse>::default();
    let request = tonic::Request::new(HealthCheckRequest { service: String::new() });
    let path = http::uri::PathAndQuery::from_static("/test.Slow/Stream");
    let mut stream = grpc.server_streaming(request, path, codec).await.expect("stream").into_inner();
    stream.message().await.expect("first message").expect("a message");
    drop(stream);
    let cancelled = ["route=\"/test.Slow/Stream\"", "status=\"499\"", "grpc_status=\"CANCELLED\""];
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while sum(&handle.render(), "http_requests_total", &cancelled) < 1.0 {
        assert!(std::time::Instant::now() < deadline, "a dropped stream was not counted:\n{}", handle.render());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sum(&handle.render(), "http_requests_total", &labels), 1.0, "the dropped stream is not an OK");
}
