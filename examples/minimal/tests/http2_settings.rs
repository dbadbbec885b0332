//! The HTTP/2 settings `crates/ebb-server/README.md` states ("Protections at the edge"),
//! read off the wire by a raw client against the built example: 100 concurrent streams,
//! 256 KiB stream and 1 MiB connection windows, and keep-alive pings on an idle connection
//! every `EBB_HTTP2_KEEPALIVE`, which close it when they go unanswered that long. Controls:
//! the settings check fed hyper's defaults fails, and a long interval sends no ping.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

mod support;
use support::h2::{ACK, Frame, PING, SETTINGS, WINDOW_UPDATE, frame, h2_connection, read_frame};
use support::start;

const STREAMS: u32 = 100;
const STREAM_WINDOW: u32 = 256 * 1024;
const CONNECTION_WINDOW: u32 = 1024 * 1024;
/// RFC 9113: every window starts at 65 535 bytes until SETTINGS or WINDOW_UPDATE move it.
const DEFAULT_WINDOW: u32 = 65_535;
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;

/// What the server's first frames announce.
#[derive(Debug)]
struct Advertised {
    settings_seen: bool,
    max_concurrent_streams: Option<u32>,
    initial_window_size: Option<u32>,
    connection_window: u32,
}

impl Advertised {
    fn new() -> Self {
        Self {
            settings_seen: false,
            max_concurrent_streams: None,
            initial_window_size: None,
            connection_window: DEFAULT_WINDOW,
        }
    }

    fn take(&mut self, received: &Frame) {
        match received.kind {
            SETTINGS if received.flags & ACK == 0 => {
                self.settings_seen = true;
                for entry in received.payload.chunks_exact(6) {
                    let value = u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]);
                    match u16::from_be_bytes([entry[0], entry[1]]) {
                        SETTINGS_MAX_CONCURRENT_STREAMS => self.max_concurrent_streams = Some(value),
                        SETTINGS_INITIAL_WINDOW_SIZE => self.initial_window_size = Some(value),
                        _ => {}
                    }
                }
            }
            WINDOW_UPDATE if received.stream == 0 && received.payload.len() == 4 => {
                let p = &received.payload;
                let increment = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff;
                self.connection_window = self.connection_window.saturating_add(increment);
            }
            _ => {}
        }
    }

    fn complete(&self) -> bool {
        self.settings_seen && self.connection_window != DEFAULT_WINDOW
    }

    /// Every way these settings differ from README's.
    fn check(&self) -> Result<(), String> {
        let mut wrong = Vec::new();
        if !self.settings_seen {
            wrong.push("no SETTINGS frame".to_owned());
        }
        if self.max_concurrent_streams != Some(STREAMS) {
            wrong.push(format!("max concurrent streams {:?}, not {STREAMS}", self.max_concurrent_streams));
        }
        // An absent setting keeps the default window, which is not README's either.
        if self.initial_window_size != Some(STREAM_WINDOW) {
            wrong.push(format!("stream window {:?}, not {STREAM_WINDOW}", self.initial_window_size));
        }
        if self.connection_window != CONNECTION_WINDOW {
            wrong.push(format!("connection window {}, not {CONNECTION_WINDOW}", self.connection_window));
        }
        if wrong.is_empty() { Ok(()) } else { Err(wrong.join("; ")) }
    }
}

/// The server's settings and connection window, read until both came or 3 s passed.
async fn advertised(stream: &mut TcpStream) -> Advertised {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut seen = Advertised::new();
    while !seen.complete() {
        let left = deadline.saturating_duration_since(Instant::now());
        match read_frame(stream, left).await {
            Ok(Some(received)) => seen.take(&received),
            Ok(None) | Err(_) => break,
        }
    }
    seen
}

fn settings_frame(entries: &[(u16, u32)]) -> Frame {
    let payload =
        entries.iter().flat_map(|(id, value)| id.to_be_bytes().into_iter().chain(value.to_be_bytes())).collect();
    Frame { kind: SETTINGS, flags: 0, stream: 0, payload }
}

fn connection_window_update(increment: u32) -> Frame {
    Frame { kind: WINDOW_UPDATE, flags: 0, stream: 0, payload: increment.to_be_bytes().to_vec() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_announces_100_streams_a_256_kib_stream_window_and_a_1_mib_connection_window() {
    let service = start(&[]).await;
    let mut stream = h2_connection(&service).await;
    let seen = advertised(&mut stream).await;
    assert_eq!(seen.check(), Ok(()), "{seen:?}");
}

#[test]
fn the_settings_check_fails_on_any_other_settings() {
    let announce = |frames: &[Frame]| {
        let mut seen = Advertised::new();
        frames.iter().for_each(|received| seen.take(received));
        seen.check()
    };
    let ours = [
        settings_frame(&[(SETTINGS_MAX_CONCURRENT_STREAMS, STREAMS), (SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW)]),
        connection_window_update(CONNECTION_WINDOW - DEFAULT_WINDOW),
    ];
    assert_eq!(announce(&ours), Ok(()), "the check accepts README's settings");
    // hyper's own defaults: 200 streams, 1 MiB stream windows.
    let hyper_defaults = [
        settings_frame(&[(SETTINGS_MAX_CONCURRENT_STREAMS, 200), (SETTINGS_INITIAL_WINDOW_SIZE, 1024 * 1024)]),
        connection_window_update(CONNECTION_WINDOW - DEFAULT_WINDOW),
    ];
    let failure = announce(&hyper_defaults).expect_err("hyper's defaults are not README's");
    assert!(failure.contains("streams") && failure.contains("stream window"), "{failure}");
    let one_off = [
        (
            &[(SETTINGS_MAX_CONCURRENT_STREAMS, STREAMS + 1), (SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW)][..],
            CONNECTION_WINDOW,
        ),
        (
            &[(SETTINGS_MAX_CONCURRENT_STREAMS, STREAMS), (SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW / 2)][..],
            CONNECTION_WINDOW,
        ),
        (
            &[(SETTINGS_MAX_CONCURRENT_STREAMS, STREAMS), (SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW)][..],
            2 * CONNECTION_WINDOW,
        ),
        (&[(SETTINGS_MAX_CONCURRENT_STREAMS, STREAMS)][..], CONNECTION_WINDOW),
        (&[(SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW)][..], CONNECTION_WINDOW),
    ];
    for (entries, window) in one_off {
        let frames = [settings_frame(entries), connection_window_update(window - DEFAULT_WINDOW)];
        assert!(announce(&frames).is_err(), "{entries:?} with a {window} B connection window passed");
    }
    // No WINDOW_UPDATE: the connection window stays at 65 535.
    assert!(announce(&ours[..1]).is_err(), "a connection window never raised passed");
    assert!(announce(&[]).is_err(), "no SETTINGS at all passed");
}

/// When each of the server's pings arrived in `within` (a `live` client acknowledges them),
/// and when the connection closed, if it did, counted from the first read.
async fn pings(stream: &mut TcpStream, within: Duration, live: bool) -> (Vec<Duration>, Option<Duration>) {
    let began = Instant::now();
    let mut arrived = Vec::new();
    loop {
        let left = (began + within).saturating_duration_since(Instant::now());
        let received = match read_frame(stream, left).await {
            Ok(Some(received)) => received,
            Ok(None) => return (arrived, None),
            Err(_) => return (arrived, Some(began.elapsed())),
        };
        let answer = match received.kind {
            SETTINGS if received.flags & ACK == 0 => Some(frame(SETTINGS, ACK, 0, &[])),
            PING if received.flags & ACK == 0 => {
                arrived.push(began.elapsed());
                live.then(|| frame(PING, ACK, 0, &received.payload))
            }
            _ => None,
        };
        if let Some(answer) = answer {
            // A closed connection shows on the next read.
            let _ = stream.write_all(&answer).await;
        }
    }
}

/// Long header and idle timeouts: only the pings may act on these connections.
const PATIENT: [(&str, &str); 2] = [("EBB_IDLE_TIMEOUT", "1m"), ("EBB_HEADER_READ_TIMEOUT", "1m")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_pinged_every_keepalive_interval_and_closed_when_pings_go_unanswered() {
    let service = start(&[PATIENT[0], PATIENT[1], ("EBB_HTTP2_KEEPALIVE", "1s")]).await;
    let mut live = h2_connection(&service).await;
    let (arrived, closed) = pings(&mut live, Duration::from_millis(3500), true).await;
    assert_eq!(closed, None, "an answering client keeps its connection");
    assert!(arrived.len() >= 3, "pings at {arrived:?}");
    let gaps: Vec<Duration> = std::iter::once(arrived[0]).chain(arrived.windows(2).map(|w| w[1] - w[0])).collect();
    let about_a_second = |gap: &Duration| gap.as_millis() >= 900 && gap.as_millis() < 1800;
    assert!(gaps.iter().all(about_a_second), "pings {gaps:?} apart, not every 1 s");

    // Unanswered, a ping closes the connection one interval later.
    let slow = start(&[PATIENT[0], PATIENT[1], ("EBB_HTTP2_KEEPALIVE", "2s")]).await;
    let mut deaf = h2_connection(&slow).await;
    let (arrived, closed) = pings(&mut deaf, Duration::from_secs(6), false).await;
    let first = *arrived.first().expect("no ping within 6 s");
    assert!(
        first >= Duration::from_millis(1900) && first < Duration::from_millis(3600),
        "first ping after {first:?}, not 2 s"
    );
    let closed = closed.expect("an unanswered ping left the connection open");
    let waited = closed - first;
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_millis(3600),
        "closed {waited:?} after the ping"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_a_long_keepalive_interval_sends_no_ping() {
    let service = start(&[PATIENT[0], PATIENT[1], ("EBB_HTTP2_KEEPALIVE", "1m")]).await;
    let mut stream = h2_connection(&service).await;
    let (arrived, closed) = pings(&mut stream, Duration::from_secs(3), true).await;
    assert!(arrived.is_empty() && closed.is_none(), "pings at {arrived:?}, closed {closed:?}");
}
