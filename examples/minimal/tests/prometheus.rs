//! A real Prometheus scrapes the example under a paced load and evaluates the query the
//! scaling manifests use; the value must match the load sent within 10 %.

use std::time::{Duration, Instant};

use ebb_testkit::{PrometheusServer, ServiceProcess};

const BIN: &str = env!("CARGO_BIN_EXE_example-minimal");
/// Requests per second sent; low enough for a busy 2-core machine to keep the pace.
const RATE: u32 = 100;
/// Long enough for the `[1m]` window to hold only steady load.
const LOAD: Duration = Duration::from_secs(70);

async fn query(client: &reqwest::Client, prometheus: &PrometheusServer, promql: &str) -> Option<f64> {
    let body: serde_json::Value = client.get(prometheus.query_url(promql)).send().await.ok()?.json().await.ok()?;
    body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sees_the_rate_that_was_sent() {
    let service = ServiceProcess::start(BIN, &[]);
    let prometheus = PrometheusServer::start(&[service.metrics]);
    let client = reqwest::Client::new();

    let url = service.url("/");
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / RATE);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut sent = 0u32;
    let mut failed = 0u32;
    let mut in_flight = tokio::task::JoinSet::new();
    while started.elapsed() < LOAD {
        ticker.tick().await;
        let request = client.get(&url).send();
        in_flight.spawn(async move { request.await.map(|r| r.status().is_success()).unwrap_or(false) });
        sent += 1;
        while let Some(done) = in_flight.try_join_next() {
            failed += u32::from(!done.unwrap_or(false));
        }
    }
    let actual = f64::from(sent) / started.elapsed().as_secs_f64();
    // Query while the load still runs at its pace, so the window is all steady state.
    let measured = query(&client, &prometheus, "sum(rate(http_requests_total[1m]))").await;
    while let Some(done) = in_flight.join_next().await {
        failed += u32::from(!done.unwrap_or(false));
    }
    assert_eq!(failed, 0, "every request must succeed");
    let measured = measured.expect("prometheus answered the query");
    let error = (measured - actual).abs() / actual;
    assert!(error < 0.10, "prometheus saw {measured:.1} req/s, we sent {actual:.1} req/s ({:.1} % off)", error * 100.0);

    // And the series carries the route template, not the raw path.
    let by_route = query(&client, &prometheus, "sum(http_requests_total{route=\"/\",status=\"200\"})").await;
    assert!(by_route.is_some_and(|count| count > 0.0), "no series for route=\"/\"");
}
