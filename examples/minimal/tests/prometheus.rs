//! A real Prometheus scrapes the example under a paced load and evaluates the queries the
//! rendered manifests hold — KEDA's trigger and prometheus-adapter's rule, read from
//! `deploy/`, not written here — and each must match the load sent within 10 %.

use std::time::{Duration, Instant};

use ebb_testkit::{PrometheusServer, ServiceProcess};

const BIN: &str = env!("CARGO_BIN_EXE_example-minimal");
/// Requests per second sent; low enough for a busy 2-core machine to keep the pace.
const RATE: u32 = 100;
/// Long enough for the `[1m]` window to hold only steady load.
const LOAD: Duration = Duration::from_secs(70);
/// At most this much more load while Prometheus has not yet scraped a full window (a busy
/// machine can starve it): the rate over a half-covered window reads half the load.
const MORE_LOAD: Duration = Duration::from_secs(60);
/// Scrapes (one a second) the `[1m]` window must hold before it is read.
const FULL_WINDOW: f64 = 55.0;

async fn query(client: &reqwest::Client, prometheus: &PrometheusServer, promql: &str) -> Option<f64> {
    let body: serde_json::Value = client.get(prometheus.query_url(promql)).send().await.ok()?.json().await.ok()?;
    body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

/// The value after `key:` on the first line of `file` (under `deploy/`) that has it.
fn manifest_value(file: &str, key: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let found = text.lines().find_map(|line| line.trim().trim_start_matches("- ").strip_prefix(key)?.strip_prefix(':'));
    found.unwrap_or_else(|| panic!("no {key} in {file}")).trim().trim_matches('\'').to_owned()
}

/// The query prometheus-adapter runs for `requests_per_second` of one pod: its rule's
/// `metricsQuery` with the template filled as the adapter fills it.
fn adapter_query(namespace: &str, pod: &str) -> String {
    let rules = "base/monitoring/prometheus-adapter-rules.yaml";
    let template = manifest_value(rules, "metricsQuery");
    let series = manifest_value(rules, "matches").trim_start_matches('^').trim_end_matches('$').to_owned();
    template
        .replace("<<.Series>>", &series)
        .replace("<<.LabelMatchers>>", &format!("namespace=\"{namespace}\",pod=~\"{pod}\""))
        .replace("<<.GroupBy>>", "pod")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sees_the_rate_that_was_sent() {
    let service = ServiceProcess::start(BIN, &[]);
    // Scraped as the ServiceMonitor of example-api would be: job after the Service, with the
    // namespace and pod labels the adapter's rule selects on; the namespace is the overlays'.
    let (namespace, pod) = ("ebb", "example-api-0");
    let prometheus =
        PrometheusServer::start_as(&[service.metrics], "example-api", &[("namespace", namespace), ("pod", pod)]);
    let keda_query = manifest_value("overlays/keda/scaledobject-example-api.yaml", "query");
    let adapter_query = adapter_query(namespace, pod);
    assert!(keda_query.contains("job=\"example-api\""), "{keda_query}");
    let client = reqwest::Client::new();
    // The load starts only once Prometheus scrapes the service, so that its window can hold
    // nothing but the load.
    let up = "up{job=\"example-api\"}";
    let deadline = Instant::now() + Duration::from_secs(60);
    while query(&client, &prometheus, up).await != Some(1.0) {
        assert!(Instant::now() < deadline, "Prometheus never scraped the service");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let scrapes_in_window = format!("count_over_time({up}[1m])");

    let url = service.url("/");
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / RATE);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut sent = 0u32;
    let mut failed = 0u32;
    let mut in_flight = tokio::task::JoinSet::new();
    let mut next_check = LOAD;
    loop {
        let elapsed = started.elapsed();
        if elapsed >= next_check {
            let scrapes = query(&client, &prometheus, &scrapes_in_window).await.unwrap_or(0.0);
            if scrapes >= FULL_WINDOW || elapsed >= LOAD + MORE_LOAD {
                break;
            }
            next_check = elapsed + Duration::from_secs(1);
        }
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
    let keda = query(&client, &prometheus, &keda_query).await;
    let adapter = query(&client, &prometheus, &adapter_query).await;
    while let Some(done) = in_flight.join_next().await {
        failed += u32::from(!done.unwrap_or(false));
    }
    assert_eq!(failed, 0, "every request must succeed");
    for (who, promql, measured) in [("KEDA", &keda_query, keda), ("prometheus-adapter", &adapter_query, adapter)] {
        let measured = measured.unwrap_or_else(|| panic!("{who}'s query found nothing: {promql}"));
        let error = (measured - actual).abs() / actual;
        assert!(
            error < 0.10,
            "{who}'s query saw {measured:.1} req/s, we sent {actual:.1} req/s ({:.1} % off): {promql}",
            error * 100.0
        );
    }
    // Negative control: the same query with another job label finds nothing, so a manifest
    // whose label drifted from the ServiceMonitor's would fail here.
    let drifted = keda_query.replace("example-api", "example-ap1");
    assert!(query(&client, &prometheus, &drifted).await.is_none(), "a drifted job label still matched");
    // The keda overlay counts its own namespace only: another environment's pods do not add.
    let elsewhere = keda_query.replace("namespace=\"ebb\"", "namespace=\"staging\"");
    assert!(elsewhere != keda_query, "the KEDA query names its namespace: {keda_query}");
    assert!(query(&client, &prometheus, &elsewhere).await.is_none(), "another namespace's rate was counted");
    // The adapter's seriesQuery finds the series at all.
    let series = manifest_value("base/monitoring/prometheus-adapter-rules.yaml", "seriesQuery");
    let found = query(&client, &prometheus, &format!("count({series})")).await;
    assert!(found.is_some_and(|n| n > 0.0), "the adapter's seriesQuery finds nothing: {series}");

    // And the series carries the route template, not the raw path.
    let by_route = query(&client, &prometheus, "sum(http_requests_total{route=\"/\",status=\"200\"})").await;
    assert!(by_route.is_some_and(|count| count > 0.0), "no series for route=\"/\"");
}
