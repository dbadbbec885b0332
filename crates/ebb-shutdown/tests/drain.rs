//! The drain layer and the phased sequence, in process, with a real server on loopback.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use ebb_shutdown::{Shutdown, ShutdownCause, ShutdownConfig};
use http_body::Frame;

/// A body that sends a chunk every 20 ms, forever: an SSE stream or a huge download.
struct Endless(tokio::time::Interval);

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_tick(cx).map(|_| Some(Ok(Frame::data(Bytes::from_static(b"data: tick\n\n")))))
    }
}

async fn start(
    shutdown: &Shutdown,
) -> (String, tokio::task::JoinHandle<std::io::Result<ebb_shutdown::ShutdownReport>>) {
    let app = Router::new()
        .route("/stream", get(|| async { Body::new(Endless(tokio::time::interval(Duration::from_millis(20)))) }))
        .route("/", get(|| async { "hello" }))
        .layer(shutdown.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.stop_accepting());
    let runner = shutdown.clone();
    (url, tokio::spawn(async move { runner.run(server).await }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cannot_hold_the_drain_past_the_deadline() {
    let config = ShutdownConfig::new().with_delay(Duration::ZERO).with_timeout(Duration::from_millis(500));
    let shutdown = Shutdown::new(config);
    let (url, run) = start(&shutdown).await;

    let mut stream = reqwest::get(format!("{url}/stream")).await.expect("stream starts");
    assert!(stream.chunk().await.expect("first chunk").is_some());
    assert_eq!(shutdown.in_flight(), 1, "a streaming body counts as in flight");

    let started = Instant::now();
    shutdown.trigger();
    let outcome = loop {
        match stream.chunk().await {
            Ok(Some(_)) => continue,
            other => break other,
        }
    };
    assert!(outcome.is_err(), "a cut stream must end as an error, never as a complete body: {outcome:?}");
    let report = run.await.expect("join").expect("server ok");
    assert_eq!(report.cut_requests, 1);
    assert_eq!(report.cause, ShutdownCause::Triggered);
    assert!(!report.is_clean());
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(shutdown.in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_tasks_are_stopped_after_the_drain_and_stragglers_are_counted() {
    let config = ShutdownConfig::new().with_delay(Duration::ZERO).with_timeout(Duration::from_millis(400));
    let shutdown = Shutdown::new(config);
    let (order_tx, mut order_rx) = tokio::sync::mpsc::unbounded_channel();
    let polite = order_tx.clone();
    shutdown.spawn_task(|stop| async move {
        stop.cancelled().await;
        let _ = polite.send("polite task stopped");
    });
    shutdown.spawn_task(|_stop| async move {
        // Ignores the token: must be counted as cut, not waited for.
        tokio::time::sleep(Duration::from_secs(3600)).await;
    });
    let (url, run) = start(&shutdown).await;
    assert_eq!(reqwest::get(&url).await.expect("serves").status(), 200);

    shutdown.trigger();
    let report = run.await.expect("join").expect("server ok");
    assert_eq!(order_rx.recv().await, Some("polite task stopped"));
    assert_eq!(report.cut_tasks, 1);
    assert_eq!(report.cut_requests, 0);
    drop(order_tx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_service_shuts_down_cleanly_after_the_delay() {
    let config = ShutdownConfig::new().with_delay(Duration::from_millis(100)).with_timeout(Duration::from_secs(5));
    let shutdown = Shutdown::new(config);
    let (url, run) = start(&shutdown).await;
    let client = reqwest::Client::new();
    assert_eq!(client.get(&url).send().await.expect("serves").status(), 200);
    shutdown.trigger();
    assert!(shutdown.is_shutting_down());
    // Still accepting during the delay.
    assert_eq!(reqwest::get(&url).await.expect("serves during the delay").status(), 200);
    let report = run.await.expect("join").expect("server ok");
    assert!(report.is_clean(), "{report}");
    assert!(report.elapsed >= Duration::from_millis(100) && report.elapsed < Duration::from_secs(2), "{report}");
    // And closed afterwards.
    assert!(reqwest::get(&url).await.is_err(), "the listener must be closed");
}

/// Sends `GET /` on `stream` (HTTP/1.1, keep-alive) and returns the response head.
async fn get_on(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n").await.expect("write");
    let mut response = Vec::new();
    let mut buffer = [0u8; 1024];
    // `hello` has a content length: the head and the 5-byte body end the response.
    while !response.ends_with(b"\r\n\r\nhello") {
        let read = stream.read(&mut buffer).await.expect("read");
        assert!(read > 0, "the server closed the connection: {}", String::from_utf8_lossy(&response));
        response.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8_lossy(&response).to_ascii_lowercase()
}

/// Whether a keep-alive request sent during the delay, on a connection opened before the
/// signal, is answered with `Connection: close`, by `axum::serve` around `app`.
async fn keep_alive_request_during_the_delay_closes(app: Router, shutdown: &Shutdown) -> bool {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.stop_accepting());
    let runner = shutdown.clone();
    let run = tokio::spawn(async move { runner.run(server).await });
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let before = get_on(&mut stream).await;
    assert!(!before.contains("connection: close"), "before the signal keep-alive stays: {before}");
    shutdown.trigger();
    let during = get_on(&mut stream).await;
    drop(stream);
    let report = run.await.expect("join").expect("server ok");
    assert!(report.is_clean(), "{report}");
    during.contains("connection: close")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alone_on_axum_serve_the_drain_layer_moves_keep_alive_clients_away_during_the_delay() {
    let config = ShutdownConfig::new().with_delay(Duration::from_millis(300)).with_timeout(Duration::from_secs(5));
    let hello = || Router::new().route("/", get(|| async { "hello" }));
    let shutdown = Shutdown::new(config);
    assert!(keep_alive_request_during_the_delay_closes(hello().layer(shutdown.layer()), &shutdown).await);
    // Control: the same server without the drain layer keeps the connection open, so an L4
    // balancer would keep sending this client here until the listener closes.
    let unlayered = Shutdown::new(config);
    assert!(!keep_alive_request_during_the_delay_closes(hello(), &unlayered).await);
}
