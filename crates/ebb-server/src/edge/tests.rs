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

use super::slow_body::BodyPace;
use super::{EdgeLayer, EdgeShared};
use crate::client_share::{ClientShares, Clients};
use ebb_core::client::TrustedProxies;

/// The edge with no per-client share (one client is all these tests have).
fn edge(shutdown: &Shutdown, max_in_flight: usize) -> EdgeLayer {
    edge_with_share(shutdown, max_in_flight, usize::MAX)
}

/// The edge with each client's share of `max_in_flight` at `share`.
fn edge_with_share(shutdown: &Shutdown, max_in_flight: usize, share: usize) -> EdgeLayer {
    let in_flight_shares = (share < max_in_flight).then(|| ClientShares::new(share));
    EdgeLayer::new(EdgeShared { max_in_flight, in_flight_shares, ..shared_for(shutdown) })
}

/// What the edge shares, with ebb-server's defaults and no per-client share.
fn shared_for(shutdown: &Shutdown) -> EdgeShared {
    let probes = Probes::builder().build();
    probes.mark_started();
    EdgeShared {
        shutdown: shutdown.clone(),
        probes,
        metrics: RequestMetrics::new().without_in_flight_gauge(),
        max_in_flight: 1024,
        clients: Clients::new(TrustedProxies::default()),
        in_flight_shares: None,
        probe_shares: ClientShares::new(crate::PROBES_IN_FLIGHT_PER_CLIENT),
        body_pace: BodyPace {
            progress: Duration::from_secs(30),
            min_rate: 1024,
            deadline: Some(Duration::from_secs(20)),
        },
        access_log: false,
        id_in_request: false,
    }
}

fn hello() -> Router {
    Router::new().route("/", get(|| async { "hello" }))
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
    let shutdown = shutdown();
    let mut request = get_request("/", Version::HTTP_11);
    request.headers_mut().insert("x-request-id", "req-7".parse().expect("value"));
    let kept = hello().layer(edge(&shutdown, 16)).oneshot(request).await.expect("response");
    assert_eq!(kept.headers()["x-request-id"], "req-7");
    let made = hello().layer(edge(&shutdown, 16)).oneshot(get_request("/", Version::HTTP_11)).await.expect("response");
    assert_eq!(made.headers()["x-request-id"].len(), 32);
}

/// A request from `peer`, as the listener hands it over.
fn from(peer: &str, path: &str) -> Request<Body> {
    let mut req = get_request(path, Version::HTTP_11);
    let peer: std::net::SocketAddr = peer.parse().expect("address");
    req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
    req
}

/// `/` waits for `release`; `/hello` answers at once.
fn held_and_hello(release: &Arc<Notify>) -> Router {
    held(release).route("/hello", get(|| async { "hello" }))
}

/// Starts `req` on `app` and lets it reach its handler (the edge admits it there).
async fn started(
    app: &Router,
    req: Request<Body>,
) -> tokio::task::JoinHandle<Result<Response<Body>, std::convert::Infallible>> {
    let task = tokio::spawn(app.clone().oneshot(req));
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
    task
}

/// Statuses of requests from two clients: `greedy` first has `taken` requests held in the
/// handler, then sends one more; then `other` sends one. Returns the last two statuses.
async fn greedy_then_other(edge: EdgeLayer, taken: usize) -> (StatusCode, StatusCode) {
    let release = Arc::new(Notify::new());
    let app = held_and_hello(&release).layer(edge);
    let mut held = Vec::new();
    for _ in 0..taken {
        held.push(started(&app, from("198.51.100.1:4000", "/")).await);
    }
    let greedy = app.clone().oneshot(from("198.51.100.1:4001", "/hello")).await.expect("response").status();
    let other = app.clone().oneshot(from("203.0.113.7:5000", "/hello")).await.expect("response").status();
    release.notify_waiters();
    for task in held {
        assert_eq!(task.await.expect("task").expect("response").status(), StatusCode::OK);
    }
    (greedy, other)
}

#[tokio::test]
async fn a_client_at_its_share_is_refused_and_others_are_still_served() {
    let shutdown = shutdown();
    // A cap of 3, a share of 2: the greedy client's third is refused, the other one is served.
    let (greedy, other) = greedy_then_other(edge_with_share(&shutdown, 3, 2), 2).await;
    assert_eq!((greedy, other), (StatusCode::TOO_MANY_REQUESTS, StatusCode::OK));
    assert_eq!(shutdown.in_flight(), 0, "a refusal takes no slot, and every slot is given back");
    // Control: without a share the greedy client takes the whole cap, and the other is shed.
    let (greedy, other) = greedy_then_other(edge(&shutdown, 3), 3).await;
    assert_eq!((greedy, other), (StatusCode::SERVICE_UNAVAILABLE, StatusCode::SERVICE_UNAVAILABLE));
}

#[tokio::test]
async fn a_refused_client_is_told_why_and_when_to_retry() {
    let shutdown = shutdown();
    let release = Arc::new(Notify::new());
    let app = held_and_hello(&release).layer(edge_with_share(&shutdown, 16, 1));
    let first = started(&app, from("198.51.100.1:4000", "/")).await;
    let refused = app.clone().oneshot(from("198.51.100.1:4001", "/hello")).await.expect("response");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
    assert!(text(refused).await.contains("too many requests from your address"));
    release.notify_waiters();
    drop(first.await);
}

/// A readiness check that takes an hour: probes on it stay in flight.
struct Hangs;

impl ebb_probes::Check for Hangs {
    fn check(&self) -> ebb_probes::check::CheckFuture<'_> {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        })
    }
}

#[tokio::test]
async fn a_client_may_have_a_few_probes_in_flight_on_this_port_and_no_more() {
    let shutdown = shutdown();
    let probes =
        Probes::builder().with_readiness_check("hangs", Hangs).with_check_timeout(Duration::from_secs(3600)).build();
    probes.mark_started();
    let app = hello().layer(EdgeLayer::new(EdgeShared { probes, ..shared_for(&shutdown) }));
    let limit = crate::PROBES_IN_FLIGHT_PER_CLIENT;
    let mut held = Vec::new();
    for _ in 0..limit {
        held.push(started(&app, from("198.51.100.1:4000", "/readyz")).await);
    }
    let refused = app.clone().oneshot(from("198.51.100.1:4000", "/livez")).await.expect("response");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client's probe, and the same client's traffic, are not held up by it.
    let other = app.clone().oneshot(from("203.0.113.7:5000", "/livez")).await.expect("response");
    assert_eq!(other.status(), StatusCode::OK);
    let traffic = app.clone().oneshot(from("198.51.100.1:4000", "/")).await.expect("response");
    assert_eq!(traffic.status(), StatusCode::OK);
    // Given back when they end.
    for probe in held {
        probe.abort();
        let _ = probe.await;
    }
    let again = app.clone().oneshot(from("198.51.100.1:4000", "/livez")).await.expect("response");
    assert_eq!(again.status(), StatusCode::OK);
    // Control: without the share, the same client's next probe gets through too.
    let probes =
        Probes::builder().with_readiness_check("hangs", Hangs).with_check_timeout(Duration::from_secs(3600)).build();
    probes.mark_started();
    let unbounded = EdgeShared { probes, probe_shares: ClientShares::new(usize::MAX), ..shared_for(&shutdown) };
    let app = hello().layer(EdgeLayer::new(unbounded));
    let mut held = Vec::new();
    for _ in 0..limit {
        held.push(started(&app, from("198.51.100.1:4000", "/readyz")).await);
    }
    let through = app.clone().oneshot(from("198.51.100.1:4000", "/livez")).await.expect("response");
    assert_eq!(through.status(), StatusCode::OK);
    held.iter().for_each(tokio::task::JoinHandle::abort);
}

#[tokio::test]
async fn verbose_probes_on_this_port_tell_nothing_but_the_verdict() {
    let shutdown = shutdown();
    let probes = Probes::builder().with_info("version", "9.9.9-secret").build();
    probes.mark_started();
    let shared = EdgeShared { probes: probes.clone(), ..shared_for(&shutdown) };
    let app = hello().layer(EdgeLayer::new(shared));
    for path in ["/livez?verbose", "/readyz?verbose", "/startupz?verbose", "/healthz?verbose&json"] {
        let answer = app.clone().oneshot(get_request(path, Version::HTTP_11)).await.expect("response");
        let body = text(answer).await;
        assert!(!body.contains("9.9.9-secret"), "{path}: {body}");
    }
    // Control: the same probes with details (the metrics port's way) do tell.
    let req = get_request("/startupz?verbose", Version::HTTP_11);
    let detailed = probes.answer(ebb_probes::Probe::Startup, &req, ebb_probes::Details::Always).await;
    let body = String::from_utf8(detailed.into_body().collect().await.expect("body").to_bytes().to_vec());
    assert!(body.expect("utf-8").contains("9.9.9-secret"));
}
