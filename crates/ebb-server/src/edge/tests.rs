//! The edge in process (`tower::ServiceExt::oneshot`, Tokio's paused clock). Each
//! protection is checked twice: on, the check passes; off (the same edge without it, or
//! the router without the edge), the same check fails. So none of these tests can pass
//! with its protection gone.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use ebb_metrics::RequestMetrics;
use ebb_probes::Probes;
use ebb_shutdown::{Shutdown, ShutdownConfig};
use http::{Request, Response, StatusCode, Version, header};
use http_body_util::BodyExt;
use tokio::sync::Notify;
use tower::ServiceExt;

use super::{EdgeLayer, EdgeShared};

fn edge(shutdown: &Shutdown, max_in_flight: usize) -> EdgeLayer {
    let probes = Probes::builder().build();
    probes.mark_started();
    EdgeLayer::new(EdgeShared {
        shutdown: shutdown.clone(),
        probes,
        metrics: RequestMetrics::new().without_in_flight_gauge(),
        max_in_flight,
        body_timeout: Duration::from_secs(30),
        access_log: false,
        id_in_request: false,
    })
}

fn shutdown() -> Shutdown {
    Shutdown::new(ShutdownConfig::new())
}

fn get_request(path: &str, version: Version) -> Request<Body> {
    Request::builder().uri(path).version(version).body(Body::empty()).expect("request")
}

async fn text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A router whose `/` waits until `release` is notified, then answers `done` with a body
/// of known length.
fn held(release: &Arc<Notify>) -> Router {
    held_with(release, || Body::from("done"))
}

/// The same, with a body of unknown length (as a stream's).
fn held_stream(release: &Arc<Notify>) -> Router {
    held_with(release, || Body::new(UnknownLength(http_body_util::Full::new(bytes::Bytes::from_static(b"done")))))
}

fn held_with(release: &Arc<Notify>, body: fn() -> Body) -> Router {
    let release = release.clone();
    Router::new().route(
        "/",
        get(move || {
            let release = release.clone();
            async move {
                release.notified().await;
                body()
            }
        }),
    )
}

/// A router whose `/` takes an hour.
fn slow() -> Router {
    Router::new().route(
        "/",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            "late"
        }),
    )
}

/// Whether a second request is shed while a first one is held.
async fn second_is_shed(app: Router, release: &Arc<Notify>) -> bool {
    let first = tokio::spawn(app.clone().oneshot(get_request("/", Version::HTTP_11)));
    tokio::task::yield_now().await;
    let second = tokio::time::timeout(Duration::from_secs(1), app.clone().oneshot(get_request("/", Version::HTTP_11)));
    let shed = match second.await {
        Ok(Ok(response)) => {
            response.status() == StatusCode::SERVICE_UNAVAILABLE && response.headers().contains_key(header::RETRY_AFTER)
        }
        _ => false,
    };
    release.notify_waiters();
    let first = first.await.expect("task").expect("response");
    assert_eq!(first.status(), StatusCode::OK);
    shed
}

#[tokio::test(start_paused = true)]
async fn over_the_in_flight_cap_requests_are_shed_at_once() {
    let release = Arc::new(Notify::new());
    let shutdown = shutdown();
    assert!(second_is_shed(held(&release).layer(edge(&shutdown, 1)), &release).await);
    // Control: the same check without the cap sees no shedding.
    assert!(!second_is_shed(held(&release).layer(edge(&shutdown, usize::MAX)), &release).await);
    assert_eq!(shutdown.in_flight(), 0, "every slot released");
}

#[tokio::test]
async fn a_panicking_handler_becomes_a_500_in_our_words() {
    super::panic::install_hook();
    async fn panics() -> &'static str {
        panic!("secret internals")
    }
    let panicking = || Router::new().route("/", get(panics));
    let shutdown = shutdown();
    let response = panicking().layer(edge(&shutdown, 16)).oneshot(get_request("/", Version::HTTP_11)).await;
    let response = response.expect("answered");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(text(response).await, "internal server error\n");
    assert_eq!(shutdown.in_flight(), 0);
    // Control: without the edge the panic reaches the caller.
    let unguarded = tokio::spawn(panicking().oneshot(get_request("/", Version::HTTP_11))).await;
    assert!(unguarded.is_err_and(|error| error.is_panic()), "the control must see the panic");
}

#[tokio::test(start_paused = true)]
async fn a_handler_past_the_request_timeout_is_answered_503() {
    let shutdown = shutdown();
    let bounded = edge(&shutdown, 16).with_request_timeout(Duration::from_secs(1));
    let answered =
        tokio::time::timeout(Duration::from_secs(5), slow().layer(bounded).oneshot(get_request("/", Version::HTTP_11)));
    let response = answered.await.expect("answered within the timeout").expect("response");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(text(response).await, "the request took too long and was abandoned\n");
    // Control: the same edge without the timeout (a streaming route) is still waiting.
    let unbounded = tokio::time::timeout(
        Duration::from_secs(5),
        slow().layer(edge(&shutdown, 16)).oneshot(get_request("/", Version::HTTP_11)),
    );
    assert!(unbounded.await.is_err(), "the control must still be pending");
}

#[tokio::test]
async fn from_the_signal_on_http1_responses_say_connection_close() {
    let hello = || Router::new().route("/", get(|| async { "hello" }));
    let shutdown = shutdown();
    let closes = |response: &Response<Body>| response.headers().get(header::CONNECTION).is_some_and(|v| v == "close");
    // Control: before the signal, keep-alive stays.
    let before =
        hello().layer(edge(&shutdown, 16)).oneshot(get_request("/", Version::HTTP_11)).await.expect("response");
    assert!(!closes(&before));
    shutdown.trigger();
    let after = hello().layer(edge(&shutdown, 16)).oneshot(get_request("/", Version::HTTP_11)).await.expect("response");
    assert!(closes(&after), "{:?}", after.headers());
    let h2 = hello().layer(edge(&shutdown, 16)).oneshot(get_request("/", Version::HTTP_2)).await.expect("response");
    assert!(!closes(&h2), "HTTP/2 learns it from GOAWAY");
    // Every HTTP/1 answer says it, the edge's own too: a probe, and a shed request.
    let probe = hello().layer(edge(&shutdown, 16)).oneshot(get_request("/livez", Version::HTTP_11)).await;
    assert!(closes(&probe.expect("probe")), "a probe during the delay");
    let release = Arc::new(Notify::new());
    let full = held(&release).layer(edge(&shutdown, 1));
    let first = tokio::spawn(full.clone().oneshot(get_request("/", Version::HTTP_11)));
    wait_until(|| shutdown.in_flight() == 1).await;
    let shed = full.oneshot(get_request("/", Version::HTTP_11)).await.expect("shed");
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(closes(&shed), "a shed request during the delay");
    release.notify_waiters();
    drop(first.await.expect("task").expect("response"));
    // Control: the router alone (no edge) says nothing after the signal.
    let bare = hello().oneshot(get_request("/", Version::HTTP_11)).await.expect("response");
    assert!(!closes(&bare));
}

/// A body that does not tell its length, as a stream would not.
struct UnknownLength(http_body_util::Full<bytes::Bytes>);

impl http_body::Body for UnknownLength {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        std::pin::Pin::new(&mut self.0).poll_frame(cx)
    }
}

#[tokio::test]
async fn each_request_counts_once_until_its_body_ends() {
    let release = Arc::new(Notify::new());
    let shutdown = shutdown();
    let pending =
        tokio::spawn(held_stream(&release).layer(edge(&shutdown, 16)).oneshot(get_request("/", Version::HTTP_11)));
    wait_until(|| shutdown.in_flight() == 1).await;
    assert_eq!(shutdown.in_flight(), 1, "one count per request");
    release.notify_waiters();
    let response = pending.await.expect("task").expect("response");
    assert_eq!(shutdown.in_flight(), 1, "a body still to come still counts");
    assert_eq!(text(response).await, "done");
    assert_eq!(shutdown.in_flight(), 0);
    // A small body of known length is complete with the head: it stops counting then.
    let release_small = Arc::new(Notify::new());
    let small =
        tokio::spawn(held(&release_small).layer(edge(&shutdown, 16)).oneshot(get_request("/", Version::HTTP_11)));
    wait_until(|| shutdown.in_flight() == 1).await;
    release_small.notify_waiters();
    let response = small.await.expect("task").expect("response");
    assert_eq!(shutdown.in_flight(), 0);
    assert_eq!(text(response).await, "done");
    // Probes are not traffic: never counted.
    let probe = held(&release).layer(edge(&shutdown, 16)).oneshot(get_request("/livez", Version::HTTP_11)).await;
    assert_eq!(probe.expect("probe").status(), StatusCode::OK);
    assert_eq!(shutdown.in_flight(), 0);
    // Control: a second count on the same request (the drain layer as well) is seen.
    let doubled = held(&release).layer(shutdown.layer()).layer(edge(&shutdown, 16));
    let pending = tokio::spawn(doubled.oneshot(get_request("/", Version::HTTP_11)));
    wait_until(|| shutdown.in_flight() > 0).await;
    tokio::task::yield_now().await;
    assert_eq!(shutdown.in_flight(), 2, "the control must see the double count");
    release.notify_waiters();
    drop(pending.await.expect("task").expect("response"));
}

/// Yields until `ready` holds (bounded: 1000 yields).
async fn wait_until(ready: impl Fn() -> bool) {
    for _ in 0..1000 {
        if ready() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition not reached");
}

#[tokio::test(start_paused = true)]
async fn a_request_that_arrives_after_the_signal_is_cut_at_the_shutdown_deadline() {
    // The request timeout (30 s) is as long as the shutdown budget: a request that began
    // before the signal meets it first, but one that arrives after the signal does not.
    let config = ShutdownConfig::new().with_delay(Duration::from_secs(5)).with_timeout(Duration::from_secs(30));
    let shutdown = Shutdown::new(config);
    let run = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { shutdown.run(std::future::pending::<Result<(), std::convert::Infallible>>()).await }
    });
    shutdown.trigger();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let bounded = edge(&shutdown, 16).with_request_timeout(Duration::from_secs(30));
    let started = tokio::time::Instant::now();
    let response = slow().layer(bounded).oneshot(get_request("/", Version::HTTP_11)).await.expect("response");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_secs(27), "cut at the deadline, not at its own timeout");
    assert_eq!(text(response).await, ebb_shutdown::drain::CUT_MESSAGE);
    let report = run.await.expect("task").expect("report");
    assert_eq!(report.cut_requests, 1);
}

#[tokio::test]
async fn a_body_of_known_length_up_to_16_kib_stops_counting_with_its_head_and_a_larger_one_does_not() {
    let sized = |length: usize| Router::new().route("/", get(move || async move { vec![b'x'; length] }));
    let shutdown = shutdown();
    let small = sized(16 * 1024).layer(edge(&shutdown, 16)).oneshot(get_request("/", Version::HTTP_11)).await;
    assert_eq!(shutdown.in_flight(), 0, "16 KiB is sent with the head");
    drop(small);
    let large = sized(16 * 1024 + 1).layer(edge(&shutdown, 16)).oneshot(get_request("/", Version::HTTP_11)).await;
    assert_eq!(shutdown.in_flight(), 1, "a larger body counts until it ends");
    assert_eq!(text(large.expect("response")).await.len(), 16 * 1024 + 1);
    assert_eq!(shutdown.in_flight(), 0);
}

#[test]
fn only_requests_whose_timeout_can_outlast_the_shutdown_budget_watch_its_deadline() {
    let shutdown = Shutdown::new(ShutdownConfig::new().with_timeout(Duration::from_secs(30)));
    let layer = edge(&shutdown, 16);
    assert!(layer.watches_cut(), "streaming routes have no timeout of their own");
    assert!(!layer.with_request_timeout(Duration::from_secs(30)).watches_cut(), "met first, or at the same time");
    assert!(!layer.with_request_timeout(Duration::from_secs(5)).watches_cut());
    assert!(layer.with_request_timeout(Duration::from_secs(31)).watches_cut());
}

#[tokio::test]
async fn ids_are_kept_or_made_and_sent_back() {
    let hello = || Router::new().route("/", get(|| async { "hello" }));
    let shutdown = shutdown();
    let mut request = get_request("/", Version::HTTP_11);
    request.headers_mut().insert("x-request-id", "req-7".parse().expect("value"));
    let kept = hello().layer(edge(&shutdown, 16)).oneshot(request).await.expect("response");
    assert_eq!(kept.headers()["x-request-id"], "req-7");
    let made = hello().layer(edge(&shutdown, 16)).oneshot(get_request("/", Version::HTTP_11)).await.expect("response");
    assert_eq!(made.headers()["x-request-id"].len(), 32);
}
