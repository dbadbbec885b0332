//! The edge in process, where the behaviour needs a handler of the test's own: a panicking
//! handler, and an upgraded connection that ignores the shutdown.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::get;
use ebb_server::ebb_metrics::{Exporter, MetricsHandle};
use ebb_server::ebb_shutdown::ShutdownConfig;
use ebb_server::{Server, ServerConfig};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Log lines of this test binary, captured.
type Captured = ebb_testkit::CapturedLog;

/// One exporter and one log capture per process.
fn globals() -> &'static (MetricsHandle, Captured) {
    static GLOBALS: OnceLock<(MetricsHandle, Captured)> = OnceLock::new();
    GLOBALS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).init();
        let (handle, _upkeep) = Exporter::new().install().expect("exporter");
        (handle, captured)
    })
}

fn server(shutdown: ShutdownConfig) -> (Server, SocketAddr) {
    let app = SocketAddr::from(([127, 0, 0, 1], ebb_testkit::free_port()));
    let config = ServerConfig {
        http_addr: app,
        metrics_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        shutdown,
        ..ServerConfig::default()
    };
    (Server::new(config).expect("valid parts").with_metrics_handle(globals().0.clone()), app)
}

async fn raw_request(addr: SocketAddr, request: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.expect("answer").expect("read");
    (stream, String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn wait_listening(addr: SocketAddr) {
    ebb_testkit::poll_until("the server to listen", Duration::from_secs(5), || std::net::TcpStream::connect(addr).ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_answers_500_is_counted_and_logged_once_with_its_route() {
    let (server, addr) = server(ShutdownConfig::new().with_delay(Duration::ZERO));
    let shutdown = server.shutdown().clone();
    let router = Router::new().route(
        "/boom/{id}",
        get(move || async move {
            if addr.port() != 0 {
                panic!("the handler's secret panic text");
            }
            ""
        }),
    );
    let serving = tokio::spawn(server.serve(router));
    wait_listening(addr);
    for _ in 0..3 {
        let (_, answer) = raw_request(addr, "GET /boom/7 HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
        assert!(!answer.contains("secret"), "the panic text reached the client: {answer}");
    }
    let metrics = globals().0.render();
    assert!(metrics.contains(r#"http_requests_total{method="GET",route="/boom/{id}",status="500"} 3"#), "{metrics}");
    let log = globals().1.text();
    let lines: Vec<_> = log.lines().filter(|line| line.contains("the handler's secret panic text")).collect();
    assert_eq!(lines.len(), 3, "one line per panic:\n{log}");
    assert!(lines.iter().all(|line| line.contains("/boom/{id}") && line.contains("panicked")), "{log}");
    shutdown.trigger();
    let report = serving.await.expect("join").expect("served");
    assert!(report.is_clean(), "{report}");
}

/// Switches to an echo protocol and echoes until the peer goes away, ignoring shutdown, as
/// a careless WebSocket handler would.
async fn upgrade(req: Request) -> Response {
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(req).await else { return };
        let mut io = TokioIo::new(upgraded);
        let mut buf = [0u8; 64];
        loop {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    Response::builder()
        .status(101)
        .header("connection", "upgrade")
        .header("upgrade", "echo")
        .body(Body::empty())
        .expect("response")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_connection_is_drained_then_cut_at_the_deadline_and_counted() {
    let config = ShutdownConfig::new().with_delay(Duration::from_millis(100)).with_timeout(Duration::from_secs(1));
    let (server, addr) = server(config);
    let shutdown = server.shutdown().clone();
    let serving = tokio::spawn(server.serve(Router::new().route("/echo", get(upgrade))));
    wait_listening(addr);
    let (mut stream, answer) =
        raw_request(addr, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    stream.write_all(b"ping").await.expect("send");
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).await.expect("echo");
    assert_eq!(&buf, b"ping");
    assert_eq!(shutdown.open_connections(), 1, "the upgraded connection counts as open");

    let started = Instant::now();
    shutdown.trigger();
    let report = serving.await.expect("join").expect("served");
    assert!(started.elapsed() < Duration::from_millis(1800), "{:?}", started.elapsed());
    assert!(started.elapsed() >= Duration::from_millis(900), "the drain did not wait for it: {:?}", started.elapsed());
    assert_eq!(report.cut_connections, 1, "{report}");
    assert!(!report.is_clean());
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the upgraded connection outlived the deadline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_cut_at_the_deadline_is_answered_and_counted_as_503() {
    let config = ShutdownConfig::new().with_delay(Duration::from_millis(100)).with_timeout(Duration::from_secs(1));
    let (server, addr) = server(config);
    let shutdown = server.shutdown().clone();
    let entered = Arc::new(tokio::sync::Notify::new());
    let handler_entered = entered.clone();
    let never = move || async move {
        handler_entered.notify_one();
        std::future::pending::<&'static str>().await
    };
    let serving = tokio::spawn(server.serve(Router::new().route("/stuck/{id}", get(never))));
    wait_listening(addr);
    let client = tokio::spawn(raw_request(addr, "GET /stuck/1 HTTP/1.1\r\nHost: x\r\n\r\n"));
    tokio::time::timeout(Duration::from_secs(5), entered.notified()).await.expect("the handler runs");

    shutdown.trigger();
    let (_, answer) = client.await.expect("join");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let report = serving.await.expect("join").expect("served");
    assert_eq!(report.cut_requests, 1, "{report}");
    let metrics = globals().0.render();
    let cut = r#"http_requests_total{method="GET",route="/stuck/{id}",status="503"} 1"#;
    assert!(metrics.lines().any(|line| line == cut), "{metrics}");
    assert!(!metrics.contains(r#"route="/stuck/{id}",status="499""#), "counted as gone, not as cut: {metrics}");
}
