//! One client against the rest, with real sockets against the built example: a client
//! that opens stalled-body requests (each under any rate limit) must not take the replica
//! from the others, nor hold every connection. The body staller connects from 127.0.0.1, the
//! connection holder from 127.0.0.3, the other client from 127.0.0.2 (all loopback). Each protection has a negative control: the
//! same attack with the share set to the whole cap succeeds.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ebb_testkit::ServiceProcess;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

mod support;
use support::start;

const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// The connection holder: an address of its own, so that the harness' readiness polls
/// (from 127.0.0.1, closing as the test begins) never count against its share.
const HOLDER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

/// A connection to `addr` from `from`.
async fn connect_from(from: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(addr).await
}

/// Opens `per_second` requests a second for `lasting`, each a POST whose body stops after
/// one byte; keeps every connection open to the end.
async fn stall_bodies(addr: SocketAddr, per_second: u32, lasting: Duration) -> Vec<TcpStream> {
    let mut open = Vec::new();
    let began = Instant::now();
    let every = Duration::from_secs(1) / per_second;
    while began.elapsed() < lasting {
        if let Ok(mut stream) = TcpStream::connect(addr).await {
            let head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nx";
            if stream.write_all(head).await.is_ok() {
                open.push(stream);
            }
        }
        tokio::time::sleep(every).await;
    }
    open
}

/// Statuses and latencies of a polite client from 127.0.0.2: `count` GETs, 10 a second.
async fn polite(service: &ServiceProcess, count: usize) -> Vec<(Option<StatusCode>, Duration)> {
    let client =
        reqwest::Client::builder().local_address(OTHER).timeout(Duration::from_secs(5)).build().expect("client");
    let mut seen = Vec::new();
    for _ in 0..count {
        let sent = Instant::now();
        let status = client.get(service.url("/")).send().await.ok().map(|r| r.status());
        seen.push((status, sent.elapsed()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen
}

/// Runs the attack and the polite client side by side: the polite one's results.
async fn under_attack(service: &ServiceProcess) -> Vec<(Option<StatusCode>, Duration)> {
    let addr = service.app;
    let attack = tokio::spawn(stall_bodies(addr, 30, Duration::from_secs(6)));
    // Let the attacker fill what it may first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen = polite(service, 30).await;
    drop(attack.await.expect("attack"));
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_holding_stalled_bodies_cannot_take_the_replica_from_another() {
    // A small replica: 32 in flight, so the attack fills it within about a second.
    let limits = [("EBB_MAX_IN_FLIGHT", "32"), ("EBB_BODY_TIMEOUT", "30s")];
    let service = start(&limits).await;
    let seen = under_attack(&service).await;
    let all_ok = seen.iter().all(|(status, _)| status.is_some_and(|s| s.is_success()));
    let mut latencies: Vec<Duration> = seen.iter().map(|(_, latency)| *latency).collect();
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100 - 1];
    assert!(all_ok, "the polite client was refused: {seen:?}");
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");
    let scrape = reqwest::get(service.metrics_url()).await.expect("scrape").text().await.expect("text");
    assert!(
        scrape.lines().any(|l| l.starts_with("http_client_share_exceeded_total{resource=\"requests\"}")),
        "the attacker was never refused:\n{scrape}"
    );

    // Control: with the share set to the whole cap, the same attack takes the replica.
    let unfair = start(&[limits[0], limits[1], ("EBB_MAX_IN_FLIGHT_PER_CLIENT", "32")]).await;
    let seen = under_attack(&unfair).await;
    let refused = seen.iter().filter(|(status, _)| *status == Some(StatusCode::SERVICE_UNAVAILABLE)).count();
    assert!(refused > seen.len() / 2, "the control must see the replica taken: {seen:?}");
}

/// Whether a new connection from 127.0.0.2 gets an answer to `GET /livez` within `within`.
async fn answered_within(addr: SocketAddr, within: Duration) -> bool {
    let attempt = async {
        let mut stream = connect_from(OTHER, addr).await.ok()?;
        stream.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n").await.ok()?;
        let mut buf = [0u8; 256];
        let n = stream.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"HTTP/1.1 200"))
    };
    tokio::time::timeout(within, attempt).await.ok().flatten().unwrap_or(false)
}

/// 20 keep-alive connections from 127.0.0.3, each asking `/livez` once; returns how many
/// the server kept open.
async fn hold_connections(addr: SocketAddr) -> (Vec<TcpStream>, usize) {
    let mut held = Vec::new();
    for _ in 0..20 {
        let Ok(mut stream) = connect_from(HOLDER, addr).await else { continue };
        let _ = stream.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n").await;
        held.push(stream);
    }
    let mut open = 0;
    for stream in &mut held {
        let mut buf = [0u8; 256];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut buf)).await {
            open += usize::from(n > 0);
        }
    }
    (held, open)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cannot_hold_every_connection_but_a_trusted_proxy_may() {
    // A cap of 20: each client may hold 5 (a quarter).
    let service = start(&[("EBB_MAX_CONNECTIONS", "20")]).await;
    let (held, open) = hold_connections(service.app).await;
    assert_eq!(open, 5, "a client kept more than its share");
    assert!(answered_within(service.app, Duration::from_secs(2)).await, "a new client was not answered");
    let scrape = reqwest::get(service.metrics_url()).await.expect("scrape").text().await.expect("text");
    assert!(scrape.contains("http_client_share_exceeded_total{resource=\"connections\"} 15"), "{scrape}");
    drop(held);

    // Control: with the share at the whole cap, 20 connections from one client starve the next.
    let unfair = start(&[("EBB_MAX_CONNECTIONS", "20"), ("EBB_MAX_CONNECTIONS_PER_CLIENT", "20")]).await;
    let (held, open) = hold_connections(unfair.app).await;
    assert_eq!(open, 20);
    assert!(!answered_within(unfair.app, Duration::from_secs(2)).await, "the control must see the starvation");
    drop(held);

    // A trusted proxy (every connection of an ingress) is exempt from the share.
    let behind = start(&[("EBB_MAX_CONNECTIONS", "20"), ("EBB_RATELIMIT_TRUSTED_PROXIES", "127.0.0.3/32")]).await;
    let (_held, open) = hold_connections(behind.app).await;
    assert_eq!(open, 20, "the trusted proxy was held to a client's share");
}
