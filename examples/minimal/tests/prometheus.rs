//! A real Prometheus scrapes the example under a paced load and evaluates the queries the
//! rendered manifests hold — KEDA's trigger and prometheus-adapter's rule, read from
//! `deploy/`, not written here — and each must match the load sent within 10 %. Two copies
//! of the service run in two namespaces (pods of the same name) under different loads: each
//! namespace's query must read its own load, so a query that mixed them up would fail.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ebb_testkit::{PrometheusServer, ServiceProcess};

const BIN: &str = env!("CARGO_BIN_EXE_example-minimal");
/// The namespaces and the requests per second each one's service is sent; far enough apart
/// that one read for the other, or for both, is off by more than 10 %; low enough together
/// for a busy 2-core machine to keep the pace.
const LOADS: [(&str, u32); 2] = [("ebb", 100), ("staging", 30)];
/// The pod name in both namespaces: only the namespace tells the series apart.
const POD: &str = "example-api-0";
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

/// Requests sent to one service at a fixed pace, on a task of its own, until stopped.
struct PacedLoad {
    sent: Arc<AtomicU32>,
    started: Instant,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<u32>,
}

impl PacedLoad {
    fn start(client: &reqwest::Client, url: String, rate: u32) -> Self {
        let (sent, stop) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicBool::new(false)));
        let (counted, stopping, client) = (sent.clone(), stop.clone(), client.clone());
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut in_flight = tokio::task::JoinSet::new();
            let mut failed = 0u32;
            while !stopping.load(Ordering::Relaxed) {
                ticker.tick().await;
                let request = client.get(&url).send();
                in_flight.spawn(async move { request.await.map(|r| r.status().is_success()).unwrap_or(false) });
                counted.fetch_add(1, Ordering::Relaxed);
                while let Some(done) = in_flight.try_join_next() {
                    failed += u32::from(!done.unwrap_or(false));
                }
            }
            while let Some(done) = in_flight.join_next().await {
                failed += u32::from(!done.unwrap_or(false));
            }
            failed
        });
        Self { sent, started: Instant::now(), stop, task }
    }

    /// Requests per second sent so far.
    fn rate(&self) -> f64 {
        f64::from(self.sent.load(Ordering::Relaxed)) / self.started.elapsed().as_secs_f64()
    }

    /// Stops the load; how many requests failed.
    async fn stop(self) -> u32 {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("the load task")
    }
}

/// `promql` for `namespace` instead of the overlays' `ebb`.
fn in_namespace(promql: &str, namespace: &str) -> String {
    promql.replace("namespace=\"ebb\"", &format!("namespace=\"{namespace}\""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sees_the_rate_that_was_sent_in_each_namespace() {
    let services: Vec<_> = LOADS.iter().map(|_| ServiceProcess::start(BIN, &[])).collect();
    // Scraped as the ServiceMonitor of example-api would be: job after the Service, with the
    // namespace and pod labels the adapter's rule selects on; `ebb` is the overlays' namespace.
    let labels: Vec<[(&str, &str); 2]> =
        LOADS.iter().map(|(namespace, _)| [("namespace", *namespace), ("pod", POD)]).collect();
    let targets: Vec<_> =
        services.iter().zip(&labels).map(|(service, labels)| (service.metrics, &labels[..])).collect();
    let prometheus = PrometheusServer::start_labelled("example-api", &targets);
    let keda_query = manifest_value("overlays/keda/scaledobject-example-api.yaml", "query");
    assert!(keda_query.contains("job=\"example-api\""), "{keda_query}");
    assert!(in_namespace(&keda_query, "staging") != keda_query, "the KEDA query names its namespace: {keda_query}");
    let client = reqwest::Client::new();
    // The load starts only once Prometheus scrapes both services, so that its window can
    // hold nothing but the load.
    let up = "up{job=\"example-api\"}";
    let deadline = Instant::now() + Duration::from_secs(60);
    while query(&client, &prometheus, &format!("sum({up})")).await != Some(2.0) {
        assert!(Instant::now() < deadline, "Prometheus never scraped both services");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let scrapes_in_window = format!("min(count_over_time({up}[1m]))");

    let loads: Vec<_> = services
        .iter()
        .zip(LOADS)
        .map(|(service, (_, rate))| PacedLoad::start(&client, service.url("/"), rate))
        .collect();
    let started = Instant::now();
    tokio::time::sleep(LOAD).await;
    while query(&client, &prometheus, &scrapes_in_window).await.unwrap_or(0.0) < FULL_WINDOW
        && started.elapsed() < LOAD + MORE_LOAD
    {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // Query while the load still runs at its pace, so the window is all steady state.
    let mut readings = Vec::new();
    for ((namespace, _), load) in LOADS.iter().zip(&loads) {
        let keda = in_namespace(&keda_query, namespace);
        let adapter = adapter_query(namespace, POD);
        for (who, promql) in [("KEDA", keda), ("prometheus-adapter", adapter)] {
            let measured = query(&client, &prometheus, &promql).await;
            readings.push((*namespace, who, promql, measured, load.rate()));
        }
    }
    // Negative control: the KEDA query without its namespace matcher sums both namespaces,
    // and the comparison below would catch it (a mix-up of the loads fails the same way).
    let unscoped = keda_query.replace(",namespace=\"ebb\"", "").replace("namespace=\"ebb\",", "");
    let both = query(&client, &prometheus, &unscoped).await;
    let ebb_rate = loads[0].rate();
    for load in loads {
        assert_eq!(load.stop().await, 0, "every request must succeed");
    }
    for (namespace, who, promql, measured, actual) in readings {
        let measured = measured.unwrap_or_else(|| panic!("{who}'s query found nothing in {namespace}: {promql}"));
        let error = (measured - actual).abs() / actual;
        assert!(
            error < 0.10,
            "{who}'s query saw {measured:.1} req/s in {namespace}, we sent {actual:.1} req/s ({:.1} % off): {promql}",
            error * 100.0
        );
    }
    assert!(unscoped != keda_query, "the namespace matcher was removed: {unscoped}");
    let both = both.unwrap_or_else(|| panic!("the unscoped query found nothing: {unscoped}"));
    assert!(
        (both - ebb_rate).abs() / ebb_rate >= 0.10,
        "control: without its namespace the query read {both:.1} req/s, within 10 % of ebb's {ebb_rate:.1}: {unscoped}"
    );

    // Another job label finds nothing, so a manifest whose label drifted from the
    // ServiceMonitor's would fail here.
    let drifted = keda_query.replace("example-api", "example-ap1");
    assert!(query(&client, &prometheus, &drifted).await.is_none(), "a drifted job label still matched");
    // The adapter's seriesQuery finds the series at all.
    let series = manifest_value("base/monitoring/prometheus-adapter-rules.yaml", "seriesQuery");
    let found = query(&client, &prometheus, &format!("count({series})")).await;
    assert!(found.is_some_and(|n| n > 0.0), "the adapter's seriesQuery finds nothing: {series}");

    // And the series carries the route template, not the raw path.
    let by_route = query(&client, &prometheus, "sum(http_requests_total{route=\"/\",status=\"200\"})").await;
    assert!(by_route.is_some_and(|count| count > 0.0), "no series for route=\"/\"");
}
