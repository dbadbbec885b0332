//! The layer over HTTP, against a real redis-server: headers, 429s, keys, failure modes.

use std::net::SocketAddr;
use std::sync::OnceLock;

use axum::Router;
use axum::routing::get;
use ebb_ratelimit::{FailureMode, Key, Limiter, Policy, RateLimitLayer, TrustedProxies};
use ebb_testkit::RedisServer;
use http::HeaderName;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

fn limiter(redis: &RedisServer) -> Limiter {
    let config = ebb_ratelimit::ebb_redis::RedisConfig::from_url(&redis.url()).expect("url");
    Limiter::redis(ebb_ratelimit::ebb_redis::Redis::new(&config).expect("handle"))
}

fn policy(name: &str, rate: &str, burst: u32) -> Policy {
    Policy::new(name, rate.parse().expect("rate")).with_burst(burst).expect("burst")
}

/// Serves `/` and `/upload` behind `layer` on a free port, with peer addresses.
async fn serve(layer: RateLimitLayer) -> SocketAddr {
    let app = Router::new()
        .route("/", get(|| async { "hello\n" }))
        .route("/upload", get(|| async { "uploaded\n" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.expect("serve");
    });
    addr
}

async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn allowed_responses_carry_ratelimit_and_limited_ones_get_429_with_retry_after() {
    let redis = RedisServer::start();
    let layer =
        RateLimitLayer::new(limiter(&redis)).with_default_policy(policy("api", "60/1m", 2)).with_legacy_headers(true);
    let addr = serve(layer).await;

    let first = get_with(addr, "/", &[]).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["ratelimit-policy"], "\"api\";q=60;w=60");
    assert_eq!(first.headers()["ratelimit"], "\"api\";r=1;t=1");
    assert_eq!(first.headers()["x-ratelimit-limit"], "2");
    assert!(first.headers().get("retry-after").is_none());
    assert_eq!(get_with(addr, "/", &[]).await.status(), 200);

    let limited = get_with(addr, "/", &[]).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    assert_eq!(limited.headers()["ratelimit"], "\"api\";r=0;t=2");
    assert_eq!(limited.headers()["x-ratelimit-remaining"], "0");
    assert!(limited.headers()["content-type"].to_str().expect("ascii").starts_with("text/plain"));
    let body = limited.text().await.expect("body");
    assert!(body.contains("rate limit exceeded") && body.contains("\"api\"") && body.contains("retry in"), "{body}");
}

#[tokio::test]
async fn forged_forwarded_for_entries_do_not_change_the_key() {
    let redis = RedisServer::start();
    // The test client (127.0.0.1) plays the trusted ingress.
    let trusted: TrustedProxies = "127.0.0.0/8".parse().expect("cidr");
    let layer = RateLimitLayer::new(limiter(&redis))
        .with_default_policy(policy("api", "1/1h", 1))
        .with_key(Key::client_ip(trusted));
    let addr = serve(layer).await;

    let xff = |value: &'static str| [("x-forwarded-for", value)];
    assert_eq!(get_with(addr, "/", &xff("1.1.1.1, 203.0.113.9")).await.status(), 200);
    // Same real client, a new forged prefix each time: still the same bucket.
    assert_eq!(get_with(addr, "/", &xff("2.2.2.2, 203.0.113.9")).await.status(), 429);
    assert_eq!(get_with(addr, "/", &xff("203.0.113.9")).await.status(), 429);
    // A different real client has its own bucket.
    assert_eq!(get_with(addr, "/", &xff("203.0.113.9, 198.51.100.4")).await.status(), 200);
}

#[tokio::test]
async fn header_keys_answer_400_without_the_header_and_routes_pick_their_policy() {
    let redis = RedisServer::start();
    let layer = RateLimitLayer::new(limiter(&redis))
        .with_default_policy(policy("api", "100/1s", 100))
        .with_route_policy("/upload", policy("uploads", "1/1h", 1))
        .with_key(Key::header(HeaderName::from_static("x-api-key")));
    let addr = serve(layer).await;

    let missing = get_with(addr, "/", &[]).await;
    assert_eq!(missing.status(), 400);
    assert!(missing.text().await.expect("body").contains("x-api-key"));

    let key = [("x-api-key", "k-1")];
    assert_eq!(get_with(addr, "/upload", &key).await.status(), 200);
    let second = get_with(addr, "/upload", &key).await;
    assert_eq!(second.status(), 429);
    assert!(second.headers()["ratelimit"].to_str().expect("ascii").starts_with("\"uploads\""));
    // The default policy is untouched by the uploads policy, and other keys are free.
    assert_eq!(get_with(addr, "/", &key).await.status(), 200);
    assert_eq!(get_with(addr, "/upload", &[("x-api-key", "k-2")]).await.status(), 200);
}

/// The process-wide recorder, installed before the first limiter of a test that reads it
/// (a policy binds its counters to the recorder of its first decision).
fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().expect("the only recorder"))
}

/// `ratelimit_decisions_total` of one policy and outcome.
fn decisions(policy: &str, outcome: &str) -> f64 {
    let labels = [format!("policy=\"{policy}\""), format!("outcome=\"{outcome}\"")];
    metrics()
        .render()
        .lines()
        .filter(|line| line.starts_with("ratelimit_decisions_total{"))
        .filter(|line| labels.iter().all(|label| line.contains(label.as_str())))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn shadow_policies_count_but_never_reject() {
    metrics();
    let redis = RedisServer::start();
    let layer =
        RateLimitLayer::new(limiter(&redis)).with_default_policy(policy("shadowed", "1/1h", 1).with_shadow(true));
    let addr = serve(layer).await;
    for _ in 0..5 {
        let response = get_with(addr, "/", &[]).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("ratelimit").is_none(), "shadow mode sends no headers");
    }
    // A burst of 1 per hour: the first is allowed, the four after it would have been 429s.
    assert_eq!(decisions("shadowed", "allowed"), 1.0);
    assert_eq!(decisions("shadowed", "limited"), 4.0);
    assert_eq!(decisions("shadowed", "error"), 0.0);
}

#[tokio::test]
async fn redis_down_fails_open_or_closed_as_the_policy_says() {
    let mut redis = RedisServer::start();
    let limiter = limiter(&redis);
    let open = serve(RateLimitLayer::new(limiter.clone()).with_default_policy(policy("open", "1/1h", 1))).await;
    let closed = serve(
        RateLimitLayer::new(limiter.clone())
            .with_default_policy(policy("closed", "1/1h", 1).with_failure_mode(FailureMode::Closed)),
    )
    .await;
    redis.stop();
    for _ in 0..3 {
        let response = get_with(open, "/", &[]).await;
        assert_eq!(response.status(), 200, "fail open");
        assert!(response.headers().get("ratelimit").is_none());
        let response = get_with(closed, "/", &[]).await;
        assert_eq!(response.status(), 503, "fail closed");
        assert!(response.text().await.expect("body").contains("rate limiter unavailable"));
    }
}
