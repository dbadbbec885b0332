//! HTTP/2 clients that hold a connection without sending a request, with raw frames on
//! real sockets against the built example: a header block that never ends, and a
//! connection kept busy only by the server's own keep-alive pings. Each has a negative
//! control: the same client with a long timeout keeps its connection.

use std::time::{Duration, Instant};

use ebb_testkit::ServiceProcess;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

mod support;
use support::h2::{
    ACK, END_HEADERS, END_STREAM, GET_ROOT, GOAWAY, HEADERS, PING, SETTINGS, frame, h2_connection, read_frame,
};
use support::start;

/// Reads frames until the server closes the connection or `within` passes; a `live` client
/// acknowledges settings and pings (one in the middle of a header block may send nothing).
/// Returns when it closed, and whether a GOAWAY came first.
async fn until_closed(stream: &mut TcpStream, within: Duration, live: bool) -> (Option<Duration>, bool) {
    let began = Instant::now();
    let deadline = began + within;
    let mut goaway = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let received = match read_frame(stream, left).await {
            Ok(Some(received)) => received,
            Ok(None) => return (None, goaway),
            Err(_) => return (Some(began.elapsed()), goaway),
        };
        let answer = match received.kind {
            SETTINGS if received.flags & ACK == 0 => Some(frame(SETTINGS, ACK, 0, &[])),
            PING if received.flags & ACK == 0 => Some(frame(PING, ACK, 0, &received.payload)),
            GOAWAY => {
                goaway = true;
                None
            }
            _ => None,
        };
        if let Some(answer) = answer.filter(|_| live) {
            // A closed connection shows on the next read.
            let _ = stream.write_all(&answer).await;
        }
    }
}

async fn header_timeouts(service: &ServiceProcess) -> f64 {
    let text = reqwest::get(service.metrics_url()).await.expect("scrape").text().await.expect("text");
    text.lines()
        .find(|line| line.starts_with("http_connection_timeouts_total{kind=\"header\"}"))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_block_that_never_ends_is_cut_at_the_header_read_timeout() {
    let service = start(&[("EBB_HEADER_READ_TIMEOUT", "1s")]).await;
    let mut stream = h2_connection(&service).await;
    // A whole request first: the connection is in use, and the head that follows is not
    // its first.
    stream.write_all(&frame(HEADERS, END_HEADERS | END_STREAM, 1, GET_ROOT)).await.expect("request");
    // Then HEADERS without END_HEADERS, and nothing more.
    stream.write_all(&frame(HEADERS, END_STREAM, 3, &GET_ROOT[..3])).await.expect("stalled head");
    let (closed, _) = until_closed(&mut stream, Duration::from_secs(5), false).await;
    let closed = closed.expect("the stalled header block held its connection");
    assert!(closed >= Duration::from_millis(900) && closed < Duration::from_secs(3), "closed after {closed:?}");
    assert_eq!(header_timeouts(&service).await, 1.0);

    // Control: with a long header timeout the same connection stays.
    let patient = start(&[("EBB_HEADER_READ_TIMEOUT", "1m")]).await;
    let mut stream = h2_connection(&patient).await;
    stream.write_all(&frame(HEADERS, END_HEADERS | END_STREAM, 1, GET_ROOT)).await.expect("request");
    stream.write_all(&frame(HEADERS, END_STREAM, 3, &GET_ROOT[..3])).await.expect("stalled head");
    let (closed, _) = until_closed(&mut stream, Duration::from_secs(3), false).await;
    assert_eq!(closed, None, "the control must keep the connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_block_that_never_ends_does_not_hold_up_a_stop() {
    // No delay, a 20 s budget, and a header timeout longer than both: only the stop cuts it.
    let env = [("EBB_SHUTDOWN_DELAY", "0s"), ("EBB_SHUTDOWN_TIMEOUT", "20s"), ("EBB_HEADER_READ_TIMEOUT", "1m")];
    let mut service = start(&env).await;
    let mut stream = h2_connection(&service).await;
    stream.write_all(&frame(HEADERS, END_HEADERS | END_STREAM, 1, GET_ROOT)).await.expect("request");
    stream.write_all(&frame(HEADERS, END_STREAM, 3, &GET_ROOT[..3])).await.expect("stalled head");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    service.signal("TERM");
    let exit = service.wait_exit(Duration::from_secs(25));
    assert!(signalled.elapsed() < Duration::from_secs(5), "the stop waited {:?} for the head", signalled.elapsed());
    // As for an HTTP/1 head: a request the client began is cut, so the stop is not clean.
    assert_eq!(exit.code, Some(1), "{}", service.log());
    assert!(service.log().contains("1 connection(s)"), "{}", service.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_connection_busy_only_with_pings_is_idle() {
    let env = [("EBB_IDLE_TIMEOUT", "2s"), ("EBB_HTTP2_KEEPALIVE", "1s"), ("EBB_HEADER_READ_TIMEOUT", "1s")];
    let service = start(&env).await;
    let mut stream = h2_connection(&service).await;
    stream.write_all(&frame(HEADERS, END_HEADERS | END_STREAM, 1, GET_ROOT)).await.expect("request");
    // The client answers every ping; only the server's pings and their acks go by.
    let (closed, goaway) = until_closed(&mut stream, Duration::from_secs(8), true).await;
    let closed = closed.expect("pings kept an idle HTTP/2 connection open");
    assert!(closed >= Duration::from_millis(1900), "closed after {closed:?}: before the idle timeout");
    assert!(goaway, "an idle connection is closed gracefully, with GOAWAY");

    // Control: with a long idle timeout the same live client keeps its connection.
    let patient = start(&[("EBB_IDLE_TIMEOUT", "1m"), ("EBB_HTTP2_KEEPALIVE", "1s")]).await;
    let mut stream = h2_connection(&patient).await;
    stream.write_all(&frame(HEADERS, END_HEADERS | END_STREAM, 1, GET_ROOT)).await.expect("request");
    let (closed, _) = until_closed(&mut stream, Duration::from_secs(4), true).await;
    assert_eq!(closed, None, "the control must keep the connection");
}
