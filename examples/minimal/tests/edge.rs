//! The edge against slow and hostile clients, with real sockets against the built example:
//! slowloris heads, idle keep-alive connections, stalled bodies, a stuck head at SIGTERM,
//! overload, the connection cap, and probes kept out of the request counts. Each protection
//! has a negative control where a quiet test could otherwise pass without it.

use std::time::{Duration, Instant};

use ebb_testkit::ServiceProcess;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod support;
use support::start;

async fn metric(service: &ServiceProcess, name_and_labels: &str) -> f64 {
    let text = reqwest::get(service.metrics_url()).await.expect("scrape").text().await.expect("text");
    text.lines()
        .filter(|line| line.starts_with(name_and_labels))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Whether the server has closed `stream` (EOF or reset) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// `count` connections that each send the start of a request head and then one header
/// line every 300 ms, as slowloris does; returns how many the server closed within `within`.
async fn slowloris(service: &ServiceProcess, count: usize, within: Duration) -> usize {
    let mut tasks = Vec::new();
    for _ in 0..count {
        let addr = service.app;
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            let _ = stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await;
            let started = Instant::now();
            while started.elapsed() < within {
                if stream.write_all(b"X-Trickle: 1\r\n").await.is_err()
                    || closed_within(&mut stream, Duration::from_millis(300)).await
                {
                    return true;
                }
            }
            false
        }));
    }
    let mut closed = 0;
    for task in tasks {
        closed += usize::from(task.await.expect("join"));
    }
    closed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_heads_are_closed_by_the_header_read_timeout() {
    let service = start(&[("EBB_HEADER_READ_TIMEOUT", "1s")]).await;
    let closed = slowloris(&service, 50, Duration::from_secs(4)).await;
    assert_eq!(closed, 50, "trickling heads held their connections");
    assert_eq!(metric(&service, "http_connection_timeouts_total{kind=\"header\"}").await, 50.0);
    assert_eq!(reqwest::get(service.url("/")).await.expect("still serving").status(), StatusCode::OK);

    // Negative control: with a long header timeout the same trickle keeps every connection.
    let patient = start(&[("EBB_HEADER_READ_TIMEOUT", "1m")]).await;
    assert_eq!(slowloris(&patient, 10, Duration::from_secs(2)).await, 0, "the probe cannot see held connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_outlives_the_header_timeout_and_ends_at_the_idle_timeout() {
    let service = start(&[("EBB_HEADER_READ_TIMEOUT", "500ms"), ("EBB_IDLE_TIMEOUT", "2s")]).await;
    let mut stream = TcpStream::connect(service.app).await.expect("connect");
    let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut buf = vec![0u8; 4096];
    stream.write_all(request).await.expect("send");
    assert!(stream.read(&mut buf).await.expect("answer") > 0);
    // Idle for longer than the header timeout: a keep-alive wait, not a slow head.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    stream.write_all(request).await.expect("send again");
    let n = stream.read(&mut buf).await.expect("answer again");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "the idle connection was closed early");
    let idle_from = Instant::now();
    assert!(closed_within(&mut stream, Duration::from_secs(4)).await, "the idle timeout never closed it");
    assert!(idle_from.elapsed() >= Duration::from_millis(1900), "closed after {:?}", idle_from.elapsed());
    assert_eq!(metric(&service, "http_connection_timeouts_total{kind=\"idle\"}").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_gets_408_and_memory_stays_bounded() {
    let service = start(&[("EBB_BODY_TIMEOUT", "1s"), ("EBB_MAX_BODY_SIZE", "2MiB")]).await;
    let rss = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")?.split_whitespace().next()?.parse().ok()).unwrap_or(0)
    };
    let before = rss(service.pid());
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(service.app).await.expect("connect");
        let head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n";
        stream.write_all(head.as_bytes()).await.expect("head");
        stream.write_all(&vec![b'x'; 1_900_000]).await.expect("most of the body");
        stalled.push(stream);
    }
    let started = Instant::now();
    for stream in &mut stalled {
        let mut buf = vec![0u8; 4096];
        let n =
            tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.expect("answered").expect("read");
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    }
    assert!(started.elapsed() < Duration::from_secs(4), "408s took {:?}", started.elapsed());
    let grown_mib = rss(service.pid()).saturating_sub(before) / 1024;
    assert!(grown_mib < 64, "20 stalled bodies of <2 MiB grew RSS by {grown_mib} MiB");
    // Over the limit is refused at once from Content-Length.
    let big = reqwest::Client::new().post(service.url("/echo")).body(vec![0u8; 3 << 20]).send().await.expect("send");
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_request_head_does_not_hold_the_shutdown_and_is_counted() {
    let mut service =
        start(&[("EBB_SHUTDOWN_DELAY", "1s"), ("EBB_SHUTDOWN_TIMEOUT", "10s"), ("EBB_HEADER_READ_TIMEOUT", "1m")])
            .await;
    let mut stuck = TcpStream::connect(service.app).await.expect("connect");
    stuck.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.expect("half a head");
    tokio::time::sleep(Duration::from_millis(100)).await;
    service.signal("TERM");
    let exit = service.wait_exit(Duration::from_secs(15));
    assert!(exit.elapsed < Duration::from_secs(3), "held until {:?}", exit.elapsed);
    assert_eq!(exit.code, Some(1), "a cut connection is not a clean shutdown; log:\n{}", service.log());
    let log = service.log();
    assert!(log.contains("cut 0 request(s), 1 connection(s)"), "{log}");
    assert!(!log.contains("nothing was cut"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_shed_at_once_with_retry_after_and_counted() {
    // One client here: its share is the whole cap, so no share (tests/fairness.rs checks it).
    let service = start(&[("EBB_MAX_IN_FLIGHT", "4"), ("EBB_MAX_IN_FLIGHT_PER_CLIENT", "4")]).await;
    let client = reqwest::Client::new();
    let slow: Vec<_> = (0..4).map(|_| tokio::spawn(client.get(service.url("/slow?ms=3000")).send())).collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while metric(&service, "http_requests_in_flight").await < 4.0 {
        assert!(Instant::now() < deadline, "slow requests never got in flight");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    let shed: Vec<_> = (0..10).map(|_| tokio::spawn(client.get(service.url("/slow?ms=3000")).send())).collect();
    for request in shed {
        let response = request.await.expect("join").expect("answered");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
    }
    assert!(started.elapsed() < Duration::from_secs(1), "shed requests waited {:?}", started.elapsed());
    for request in slow {
        assert_eq!(request.await.expect("join").expect("answered").status(), StatusCode::OK);
    }
    assert_eq!(metric(&service, "http_requests_shed_total").await, 10.0);
    assert_eq!(metric(&service, "http_requests_total{method=\"GET\",route=\"/slow\",status=\"503\"}").await, 10.0);
    // Probes are never shed: they are answered before the cap.
    assert_eq!(reqwest::get(service.url("/readyz")).await.expect("probe").status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_probes_still_answer_on_the_metrics_port() {
    let limits =
        [("EBB_MAX_CONNECTIONS", "3"), ("EBB_MAX_CONNECTIONS_PER_CLIENT", "3"), ("EBB_HEADER_READ_TIMEOUT", "2s")];
    let service = start(&limits).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(service.app).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = reqwest::Client::builder().timeout(Duration::from_millis(700)).build().expect("client");
    assert!(client.get(service.url("/")).send().await.is_err(), "a fourth connection was served over the cap");
    let livez = format!("http://{}/livez", service.metrics);
    assert_eq!(client.get(&livez).send().await.expect("livez").status(), StatusCode::OK);
    let readyz = client.get(format!("http://{}/readyz", service.metrics)).send().await.expect("readyz");
    assert_eq!(readyz.status(), StatusCode::OK);
    // The held connections send nothing: the header timeout frees their slots.
    let patient = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
    assert_eq!(patient.get(service.url("/")).send().await.expect("served later").status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_end_when_shutdown_begins() {
    let mut service = start(&[("EBB_SHUTDOWN_DELAY", "1s"), ("EBB_SHUTDOWN_TIMEOUT", "10s")]).await;
    let mut events = reqwest::get(service.url("/events")).await.expect("stream");
    assert!(events.chunk().await.expect("tick").is_some());
    service.signal("TERM");
    let mut rest = String::new();
    while let Some(chunk) =
        tokio::time::timeout(Duration::from_secs(5), events.chunk()).await.expect("ended in time").expect("chunk")
    {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(rest.contains("event: shutdown"), "{rest}");
    let exit = service.wait_exit(Duration::from_secs(10));
    assert_eq!(exit.code, Some(0), "{}", service.log());
    assert!(exit.elapsed < Duration::from_secs(3), "{:?}", exit.elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_on_the_wire_when_the_listener_stops_is_served_and_silence_does_not_hold_the_exit() {
    let mut service =
        start(&[("EBB_SHUTDOWN_DELAY", "500ms"), ("EBB_SHUTDOWN_TIMEOUT", "10s"), ("EBB_HEADER_READ_TIMEOUT", "1m")])
            .await;
    // Connected during the delay; the request leaves only after the listener has stopped.
    let mut late = TcpStream::connect(service.app).await.expect("connect");
    let mut silent = TcpStream::connect(service.app).await.expect("connect");
    service.signal("TERM");
    tokio::time::sleep(Duration::from_millis(700)).await;
    late.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("send");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), late.read(&mut buf)).await.expect("answered").expect("read");
    let answer = String::from_utf8_lossy(&buf[..n]).to_lowercase();
    assert!(answer.starts_with("http/1.1 200") && answer.contains("connection: close"), "{answer}");
    // The silent connection gets a short grace, not the header timeout.
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await, "a silent connection held on");
    let exit = service.wait_exit(Duration::from_secs(10));
    assert_eq!(exit.code, Some(0), "{}", service.log());
    assert!(exit.elapsed < Duration::from_secs(3), "{:?}", exit.elapsed);
}

/// Lines of `http_requests_total` whose route is a probe path.
async fn probe_series(service: &ServiceProcess) -> Vec<String> {
    let text = reqwest::get(service.metrics_url()).await.expect("scrape").text().await.expect("text");
    text.lines()
        .filter(|line| line.starts_with("http_requests_total{"))
        .filter(|line| ["livez", "readyz", "startupz", "healthz"].iter().any(|probe| line.contains(probe)))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_on_the_app_port_are_never_counted_and_a_real_route_is() {
    let service = start(&[]).await;
    for _ in 0..5 {
        for probe in ["/livez", "/readyz", "/startupz", "/healthz", "/readyz?verbose"] {
            let response = reqwest::get(service.url(probe)).await.expect("probe");
            assert_eq!(response.status(), StatusCode::OK, "{probe}");
        }
    }
    assert_eq!(probe_series(&service).await, Vec::<String>::new(), "probes were counted");
    let unmatched = "http_requests_total{method=\"GET\",route=\"unmatched\"";
    assert_eq!(metric(&service, unmatched).await, 0.0, "probes were counted as unmatched");

    // Positive controls: the same scrape sees a real route and a path that is no probe.
    assert_eq!(reqwest::get(service.url("/")).await.expect("request").status(), StatusCode::OK);
    assert_eq!(reqwest::get(service.url("/no-such-route")).await.expect("request").status(), StatusCode::NOT_FOUND);
    assert_eq!(metric(&service, "http_requests_total{method=\"GET\",route=\"/\",status=\"200\"}").await, 1.0);
    assert_eq!(metric(&service, unmatched).await, 1.0);
    assert_eq!(probe_series(&service).await, Vec::<String>::new(), "probes were counted");
}
