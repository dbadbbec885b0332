//! A request whose client went away: its own test binary, because `http_requests_in_flight`
//! has no labels and other tests running beside it in one process would move it.

use std::future::{Future, poll_fn};
use std::task::Poll;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use ebb_metrics::{Exporter, HttpMetricsLayer};
use http::Request;
use tower::{Service, ServiceExt};

mod common;
use common::sum;

#[tokio::test]
async fn a_request_dropped_before_its_answer_is_counted_as_499_and_leaves_no_one_in_flight() {
    let (handle, _upkeep) = Exporter::new().install().expect("the only install in this binary");
    let mut app =
        Router::new().route("/gone/never", get(std::future::pending::<&'static str>)).layer(HttpMetricsLayer::new());
    let request = Request::get("/gone/never").body(Body::empty()).expect("request");
    let ready = ServiceExt::<Request<Body>>::ready(&mut app).await.expect("infallible");
    let mut answer = Box::pin(ready.call(request));
    poll_fn(|cx| {
        assert!(answer.as_mut().poll(cx).is_pending(), "the handler never answers");
        Poll::Ready(())
    })
    .await;
    assert_eq!(sum(&handle.render(), "http_requests_in_flight", &[]), 1.0, "the request is in flight");

    // What hyper does when the client closes its connection: the response future is dropped.
    drop(answer);
    let text = handle.render();
    let route = "route=\"/gone/never\"";
    assert_eq!(sum(&text, "http_requests_total", &[route, "status=\"499\""]), 1.0, "{text}");
    assert_eq!(sum(&text, "http_requests_total", &[route]), 1.0, "only the 499: {text}");
    assert_eq!(sum(&text, "http_request_duration_seconds_count", &[route, "status=\"499\""]), 1.0, "{text}");
    assert_eq!(sum(&text, "http_requests_in_flight", &[]), 0.0, "{text}");
}
