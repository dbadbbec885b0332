//! The shutdown sequence of the built example, with real signals to a real process.

use std::time::{Duration, Instant};

use ebb_testkit::ServiceProcess;
use reqwest::StatusCode;

const BIN: &str = env!("CARGO_BIN_EXE_example-minimal");

async fn start(delay: &str, timeout: &str) -> ServiceProcess {
    let service = ServiceProcess::start(
        BIN,
        &[("EBB_SHUTDOWN_DELAY", delay.to_owned()), ("EBB_SHUTDOWN_TIMEOUT", timeout.to_owned())],
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = reqwest::get(service.url("/readyz")).await.map(|response| response.status());
        if matches!(status, Ok(StatusCode::OK)) {
            return service;
        }
        assert!(Instant::now() < deadline, "/readyz never passed: {status:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn in_flight(client: &reqwest::Client, service: &ServiceProcess) -> f64 {
    let text = client.get(service.metrics_url()).send().await.expect("scrape").text().await.expect("text");
    text.lines()
        .find_map(|line| line.strip_prefix("http_requests_in_flight "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn wait_for_in_flight(client: &reqwest::Client, service: &ServiceProcess, count: f64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while in_flight(client, service).await < count {
        assert!(Instant::now() < deadline, "requests never got in flight");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_every_request_in_flight_and_exits_zero() {
    drains_every_request_in_flight_and_exits_zero("TERM").await;
}

/// Ctrl-C sends SIGINT: as a first signal it drains just as SIGTERM does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_as_the_first_signal_drains_like_sigterm() {
    drains_every_request_in_flight_and_exits_zero("INT").await;
}

async fn drains_every_request_in_flight_and_exits_zero(signal: &str) {
    let mut service = start("1s", "15s").await;
    let client = reqwest::Client::new();
    let slow: Vec<_> = (0..24)
        .map(|_| {
            let request = client.get(service.url("/slow?ms=2000")).send();
            tokio::spawn(async move { request.await.map(|response| response.status()) })
        })
        .collect();
    wait_for_in_flight(&client, &service, 24.0).await;

    service.signal(signal);
    let signalled = Instant::now();
    loop {
        let status = client.get(service.url("/readyz")).send().await.expect("readyz").status();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        // A deadline, not a timing: readiness must flip long before the delay ends (the
        // platform needs the rest of it), not within some milliseconds on a loaded machine.
        assert!(signalled.elapsed() < Duration::from_secs(1), "/readyz still {status} 1 s after SIG{signal}");
    }
    // During the delay: alive, and still serving new requests.
    let live = client.get(service.url("/livez")).send().await.expect("livez");
    assert_eq!(live.status(), StatusCode::OK);
    let fresh = reqwest::Client::new().get(service.url("/")).send().await.expect("new request during the delay");
    assert_eq!(fresh.status(), StatusCode::OK);

    for request in slow {
        assert_eq!(request.await.expect("join").expect("slow request completes"), StatusCode::OK);
    }
    let exit = service.wait_exit(Duration::from_secs(10));
    assert_eq!(exit.code, Some(0), "log:\n{}", service.log());
    assert!(exit.elapsed < Duration::from_secs(5), "took {:?}", exit.elapsed);
    assert!(service.log().contains("nothing was cut"), "{}", service.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_cuts_what_is_left_and_exits_non_zero() {
    let mut service = start("200ms", "1500ms").await;
    let client = reqwest::Client::new();
    let stuck = tokio::spawn(client.get(service.url("/slow?ms=30000")).send());
    wait_for_in_flight(&client, &service, 1.0).await;

    service.signal("TERM");
    let response = stuck.await.expect("join").expect("the cut request gets an answer");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let exit = service.wait_exit(Duration::from_secs(10));
    assert_eq!(exit.code, Some(1), "log:\n{}", service.log());
    assert!(exit.elapsed < Duration::from_secs(4), "took {:?}", exit.elapsed);
    let log = service.log();
    assert!(log.contains("cut 1 request(s), 0 connection(s) and 0 background task(s)"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let mut service = start("10s", "20s").await;
    let client = reqwest::Client::new();
    let _stuck = tokio::spawn(client.get(service.url("/slow?ms=30000")).send());
    wait_for_in_flight(&client, &service, 1.0).await;
    service.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(2);
    while client.get(service.url("/readyz")).send().await.expect("readyz").status() != StatusCode::SERVICE_UNAVAILABLE {
        assert!(Instant::now() < deadline, "shutdown never began");
    }
    service.signal("INT");
    let exit = service.wait_exit(Duration::from_secs(2));
    assert_eq!(exit.code, Some(130), "128 + SIGINT; log:\n{}", service.log());
    assert!(service.log().contains("second signal"), "{}", service.log());
}

#[test]
fn bad_variables_fail_start_up_all_at_once() {
    let env = [
        ("EBB_HTTP_ADDR", "banana".to_owned()),
        ("EBB_SHUTDOWN_DELAY", "soon".to_owned()),
        ("EBB_SHUTDOWN_TIMEOUT", "1s".to_owned()),
    ];
    let (exit, log) = ServiceProcess::run_to_exit(BIN, &env, Duration::from_secs(10));
    assert_eq!(exit.code, Some(78), "{log}");
    assert!(log.contains("EBB_HTTP_ADDR=\"banana\" is invalid: expected a socket address"), "{log}");
    assert!(log.contains("EBB_SHUTDOWN_DELAY=\"soon\" is invalid: expected a duration"), "{log}");
}

#[test]
fn delay_longer_than_timeout_is_refused() {
    let env = [("EBB_SHUTDOWN_DELAY", "10s".to_owned()), ("EBB_SHUTDOWN_TIMEOUT", "5s".to_owned())];
    let (exit, log) = ServiceProcess::run_to_exit(BIN, &env, Duration::from_secs(10));
    assert_eq!(exit.code, Some(78), "{log}");
    assert!(log.contains("must be shorter than EBB_SHUTDOWN_TIMEOUT"), "{log}");
}

#[tokio::test]
async fn slow_refuses_bad_durations_with_a_reason() {
    let service = start("0s", "1s").await;
    for query in ["", "?ms=60001", "?ms=-5", "?ms=soon"] {
        let response = reqwest::get(service.url(&format!("/slow{query}"))).await.expect("request");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(response.text().await.expect("body").contains("ms"), "{query}");
    }
    let ok = reqwest::get(service.url("/slow?ms=1")).await.expect("request");
    assert_eq!(ok.status(), StatusCode::OK);
}

#[test]
fn out_of_range_values_exit_78_naming_each_variable() {
    let env = [
        ("EBB_SHUTDOWN_TIMEOUT", "500000000000y".to_owned()),
        ("EBB_HEADER_READ_TIMEOUT", "1h".to_owned()),
        ("EBB_MAX_IN_FLIGHT", "0".to_owned()),
        ("EBB_MAX_BODY_SIZE", "2GiB".to_owned()),
    ];
    let (exit, log) = ServiceProcess::run_to_exit(BIN, &env, Duration::from_secs(10));
    assert_eq!(exit.code, Some(78), "{log}");
    for (variable, _) in env {
        assert!(log.contains(variable), "{variable} not named:\n{log}");
    }
    assert!(!log.contains("panicked"), "{log}");
}
