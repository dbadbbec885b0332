//! HTTP/2 clients that hold a connection without sending a request, with raw frames on
//! real sockets against the built example: a header block that never ends, and a
//! connection kept busy only by the server's own keep-alive pings. Each has a negative
//! control: the same client with a long timeout keeps its connection.

use std::time::{Duration, Instant};

use ebb_testkit::ServiceProcess;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod support;
use support::start;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;
/// `GET /` over http, `:authority: x`, in HPACK (three static-table entries, one literal).
const GET_ROOT: &[u8] = &[0x82, 0x84, 0x86, 0x41, 0x01, b'x'];

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    #[allow(clippy::cast_possible_truncation)]
    let mut bytes = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    bytes.extend_from_slice(&stream.to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// A connection that has sent the preface and its settings.
async fn h2_connection(service: &ServiceProcess) -> TcpStream {
    let mut stream = TcpStream::connect(service.app).await.expect("connect");
    let mut hello = PREFACE.to_vec();
    hello.extend(frame(SETTINGS, 0, 0, &[]));
    stream.write_all(&hello).await.expect("preface");
    stream
}

/// Reads frames until the server closes the connection or `within` passes; a `live` client
/// acknowledges settings and pings (one in the middle of a header block may send nothing).
/// Returns when it closed, and whether a GOAWAY came first.
async fn until_closed(stream: &mut TcpStream, within: Duration, live: bool) -> (Option<Duration>, bool) {
    let began = Instant::now();
    let deadline = tokio::time::Instant::now() + within;
    let mut goaway = false;
    let mut header = [0u8; 9];
    loop {
        let read = tokio::time::timeout_at(deadline, stream.read_exact(&mut header)).await;
        match read {
            Err(_) => return (None, goaway),
            Ok(Err(_)) => return (Some(began.elapsed()), goaway),
            Ok(Ok(_)) => {}
        }
        let len = usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
        let mut payload = vec![0u8; len];
        if tokio::time::timeout_at(deadline, stream.read_exact(&mut payload)).await.map_or(true, |r| r.is_err()) {
            return (Some(began.elapsed()), goaway);
        }
        let (kind, flags) = (header[3], header[4]);
        let answer = match kind {
            SETTINGS if flags & ACK == 0 => Some(frame(SETTINGS, ACK, 0, &[])),
            PING if flags & ACK == 0 => Some(frame(PING, ACK, 0, &payload)),
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
