//! The example's rate limit across real processes sharing a real redis-server.

use std::time::{Duration, Instant};

use ebb_testkit::{RedisCluster, RedisServer, ServiceProcess};

const BIN: &str = env!("CARGO_BIN_EXE_example-api");

fn start(env: &[(&str, String)]) -> ServiceProcess {
    let mut env = env.to_vec();
    env.push(("EBB_SHUTDOWN_DELAY", "0s".to_owned()));
    // Without S3 settings objects go to a local directory: keep it out of the source tree.
    let objects = std::env::temp_dir().join(format!("ebb-api-tests-{}", std::process::id()));
    env.push(("EBB_OFFLOAD_DIR", objects.display().to_string()));
    ServiceProcess::start(BIN, &env)
}

async fn status(client: &reqwest::Client, url: &str) -> u16 {
    client.get(url).send().await.expect("request").status().as_u16()
}

/// The statuses of `count` requests in a row.
async fn statuses(client: &reqwest::Client, url: &str, count: usize) -> Vec<u16> {
    let mut statuses = Vec::with_capacity(count);
    for _ in 0..count {
        statuses.push(status(client, url).await);
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_one_limit_exactly() {
    let redis = RedisServer::start();
    three_replicas_share_one_limit(redis.env()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_one_limit_exactly_over_tls() {
    let redis = RedisServer::start_tls();
    three_replicas_share_one_limit(redis.env()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_one_limit_exactly_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    three_replicas_share_one_limit(cluster.env()).await;
}

async fn three_replicas_share_one_limit(redis_env: Vec<(&'static str, String)>) {
    const RATE: f64 = 20.0;
    const BURST: f64 = 10.0;
    let mut env = redis_env;
    env.push(("EBB_RATELIMIT_RATE", "20/1s".to_owned()));
    env.push(("EBB_RATELIMIT_BURST", "10".to_owned()));
    let replicas: Vec<ServiceProcess> = (0..3).map(|_| start(&env)).collect();
    let client = reqwest::Client::new();
    // Two clients per replica hammer the same key (every request comes from 127.0.0.1).
    let started = Instant::now();
    let run_for = Duration::from_millis(2500);
    let workers: Vec<_> = (0..6)
        .map(|i| {
            let (client, url) = (client.clone(), replicas[i % 3].url("/"));
            tokio::spawn(async move {
                let (mut allowed, mut limited) = (0_u32, 0_u32);
                while started.elapsed() < run_for {
                    match status(&client, &url).await {
                        200 => allowed += 1,
                        429 => limited += 1,
                        other => panic!("unexpected status {other}"),
                    }
                }
                (allowed, limited, Instant::now())
            })
        })
        .collect();
    let (mut allowed, mut limited, mut last) = (0, 0, started);
    for worker in workers {
        let (a, l, finished) = worker.await.expect("worker");
        allowed += a;
        limited += l;
        last = last.max(finished);
    }
    let elapsed = last.duration_since(started).as_secs_f64();
    let expected = BURST + RATE * elapsed;
    assert!(limited > 100, "the load must exceed the limit to test it ({limited} limited)");
    // Redis decides within the client's window, so never more than the formula; and the
    // load is dense, so at most one short of its whole part.
    let allowed = f64::from(allowed);
    assert!(
        allowed <= expected && allowed >= expected.floor() - 1.0,
        "allowed {allowed}, expected burst + rate x elapsed = {expected:.2} (elapsed {elapsed:.3} s)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_are_never_limited_and_429s_say_when_to_retry() {
    let service = start(&[("EBB_RATELIMIT_RATE", "1/1h".to_owned()), ("EBB_RATELIMIT_BURST", "1".to_owned())]);
    let client = reqwest::Client::new();
    assert_eq!(status(&client, &service.url("/")).await, 200);
    let limited = client.get(service.url("/")).send().await.expect("request");
    assert_eq!(limited.status().as_u16(), 429);
    assert!(limited.headers()["retry-after"].to_str().expect("ascii").parse::<u64>().expect("seconds") > 3000);
    for probe in ["/readyz", "/livez", "/startupz", "/healthz", "/readyz", "/livez"] {
        assert_eq!(status(&client, &service.url(probe)).await, 200, "{probe}");
    }
    // Unmatched routes are limited too: scanners spend the same budget.
    assert_eq!(status(&client, &service.url("/wp-admin.php")).await, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_limiter_is_in_process_and_says_so() {
    let service = start(&[("EBB_RATELIMIT_RATE", "2/1h".to_owned())]);
    let warning = service.log_line("in-process fallbacks");
    assert!(warning.contains("rate limits") && warning.contains("(set REDIS_URL)"), "{warning}");
    let client = reqwest::Client::new();
    let statuses = [
        status(&client, &service.url("/")).await,
        status(&client, &service.url("/")).await,
        status(&client, &service.url("/")).await,
    ];
    assert_eq!(statuses, [200, 200, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_open_keeps_serving_closed_refuses_and_both_resume() {
    let mut redis = RedisServer::start();
    let base = [("REDIS_URL", redis.url()), ("EBB_RATELIMIT_RATE", "1000/1s".to_owned())];
    let open = start(&base);
    let mut closed_env = base.to_vec();
    closed_env.push(("EBB_RATELIMIT_FAILURE_MODE", "closed".to_owned()));
    let closed = start(&closed_env);
    let client = reqwest::Client::new();
    assert_eq!(status(&client, &closed.url("/readyz")).await, 200);

    redis.stop();
    assert_eq!(status(&client, &open.url("/")).await, 200, "fail open serves without Redis");
    assert_eq!(status(&client, &closed.url("/")).await, 503, "fail closed refuses without Redis");
    // Readiness: advisory for the fail-open service, critical for the fail-closed one.
    let verbose = client.get(format!("http://{}/readyz?verbose", open.metrics)).send().await.expect("readyz");
    assert_eq!(verbose.status().as_u16(), 200);
    assert!(verbose.text().await.expect("body").contains("[!]redis degraded"));
    eventually(&client, &closed.url("/readyz"), 503).await;
    for _ in 0..20 {
        assert_eq!(status(&client, &closed.url("/")).await, 503);
    }

    redis.restart();
    eventually(&client, &closed.url("/"), 200).await;
    eventually(&client, &closed.url("/readyz"), 200).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = client.get(open.url("/")).send().await.expect("request");
        if response.headers().contains_key("ratelimit") {
            break;
        }
        assert!(Instant::now() < deadline, "limiting did not resume without a restart");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // More than twenty failed decisions, one log line (at most one per 10 s).
    let reports = closed.log().matches("rate limiter cannot reach Redis").count();
    assert_eq!(reports, 1, "{}", closed.log());
    let metrics = client.get(closed.metrics_url()).send().await.expect("scrape").text().await.expect("text");
    assert!(
        metrics.lines().any(|line| line.starts_with("ratelimit_decisions_total{")
            && line.contains("outcome=\"error\"")
            && !line.ends_with(" 0")),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_mode_local_from_the_environment_limits_in_process_while_redis_is_down() {
    let mut redis = RedisServer::start();
    let base = [("REDIS_URL", redis.url()), ("EBB_RATELIMIT_RATE", "2/1h".to_owned())];
    let mut local_env = base.to_vec();
    local_env.push(("EBB_RATELIMIT_FAILURE_MODE", "local".to_owned()));
    let local = start(&local_env);
    // Negative control: the default (open) serves everything while Redis is down.
    let open = start(&base);
    let client = reqwest::Client::new();
    assert_eq!(status(&client, &local.url("/readyz")).await, 200);
    redis.stop();
    assert_eq!(statuses(&client, &local.url("/"), 3).await, [200, 200, 429], "local: this replica's own count");
    assert_eq!(statuses(&client, &open.url("/"), 3).await, [200, 200, 200], "open: no limit while Redis is away");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decision_budget_comes_from_ebb_ratelimit_timeout() {
    let redis = RedisServer::start();
    let base = [("REDIS_URL", redis.url()), ("EBB_RATELIMIT_RATE", "1000/1s".to_owned())];
    let mut patient_env = base.to_vec();
    patient_env.push(("EBB_RATELIMIT_TIMEOUT", "1500ms".to_owned()));
    let patient = start(&patient_env);
    let default = start(&base);
    let client = reqwest::Client::new();
    assert_eq!(status(&client, &patient.url("/")).await, 200);
    assert_eq!(status(&client, &default.url("/")).await, 200);
    // A frozen Redis answers nothing: each decision waits for its whole budget, then fails
    // open. A lower bound cannot be met early on a loaded machine; the default's 50 ms
    // budget is far below it.
    redis.pause();
    let asked = Instant::now();
    assert_eq!(status(&client, &patient.url("/")).await, 200);
    let patient_took = asked.elapsed();
    let asked = Instant::now();
    assert_eq!(status(&client, &default.url("/")).await, 200);
    let default_took = asked.elapsed();
    redis.resume();
    assert!(patient_took >= Duration::from_millis(1450), "EBB_RATELIMIT_TIMEOUT=1500ms gave up after {patient_took:?}");
    assert!(default_took < Duration::from_millis(1450), "the 50 ms default waited {default_took:?}");
}

#[tokio::test]
async fn bad_configuration_fails_start_up_naming_every_variable() {
    let env = [
        ("EBB_RATELIMIT_RATE", "100/banana".to_owned()),
        ("EBB_RATELIMIT_FAILURE_MODE", "maybe".to_owned()),
        ("REDIS_URL", "http://user:hunter2@nowhere".to_owned()),
    ];
    let (exit, log) = ServiceProcess::run_to_exit(BIN, &env, Duration::from_secs(10));
    assert_eq!(exit.code, Some(78), "{log}");
    for needle in ["EBB_RATELIMIT_RATE=\"100/banana\"", "<count>/<period>", "EBB_RATELIMIT_FAILURE_MODE", "REDIS_URL"] {
        assert!(log.contains(needle), "missing {needle:?} in:\n{log}");
    }
    assert!(!log.contains("hunter2"), "a password was printed:\n{log}");
    let (exit, log) = ServiceProcess::run_to_exit(
        BIN,
        &[("EBB_RATELIMIT_RATE", "10/1s".to_owned()), ("EBB_RATELIMIT_BURST", "0".to_owned())],
        Duration::from_secs(10),
    );
    assert_eq!(exit.code, Some(78), "{log}");
    assert!(log.contains("EBB_RATELIMIT_BURST=\"0\""), "{log}");

    // Redis over TLS with a CA file that is no PEM, and a burst beyond exact arithmetic.
    let dir = ebb_testkit::TempDir::new("ebb-bad-ca");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate").expect("write");
    let env = [
        ("REDIS_URL", "rediss://app:hunter2@127.0.0.1:6380/".to_owned()),
        ("EBB_REDIS_CA_FILE", ca.display().to_string()),
        ("EBB_RATELIMIT_RATE", "1/1d".to_owned()),
        ("EBB_RATELIMIT_BURST", "4000000000".to_owned()),
    ];
    let (exit, log) = ServiceProcess::run_to_exit(BIN, &env, Duration::from_secs(10));
    assert_eq!(exit.code, Some(78), "{log}");
    for needle in ["EBB_REDIS_CA_FILE", "EBB_RATELIMIT_BURST"] {
        assert!(log.contains(needle), "missing {needle:?} in:\n{log}");
    }
    assert!(!log.contains("hunter2") && !log.contains(&ca.display().to_string()), "a secret or path leaked:\n{log}");
}

/// Polls `url` until it answers `expected`, for at most 10 s.
async fn eventually(client: &reqwest::Client, url: &str, expected: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = client.get(url).send().await.map(|r| r.status().as_u16()).unwrap_or(0);
        if got == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{url} answered {got}, never {expected}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
