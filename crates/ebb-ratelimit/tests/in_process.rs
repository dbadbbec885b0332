//! The layer with the in-process limiter: decided synchronously in `call`, with the same
//! responses as through Redis, and the same buckets as `Limiter::check`.

use std::convert::Infallible;
use std::future::{Ready, poll_fn, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use ebb_ratelimit::ebb_redis::{Redis, RedisConfig};
use ebb_ratelimit::{FailureMode, Key, Limiter, PeerAddr, Policy, RateLimitLayer, Verdict};
use http::{HeaderName, Request, Response};
use http_body_util::{BodyExt, Either, Full};
use tower_layer::Layer;
use tower_service::Service;

/// A trivial inner service that counts its calls.
#[derive(Clone, Default)]
struct Hello {
    calls: Arc<AtomicUsize>,
}

impl<B> Service<Request<B>> for Hello {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        self.calls.fetch_add(1, Ordering::Relaxed);
        ready(Ok(Response::new(Full::new(Bytes::from_static(b"hello\n")))))
    }
}

fn policy(name: &str, rate: &str, burst: u32) -> Policy {
    Policy::new(name, rate.parse().expect("rate")).with_burst(burst).expect("burst")
}

fn request(peer: &str, headers: &[(&'static str, &'static str)]) -> Request<()> {
    let mut request = Request::new(());
    request.extensions_mut().insert(PeerAddr(peer.parse().expect("socket address")));
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().expect("header value"));
    }
    request
}

async fn send<S, B>(service: &mut S, request: Request<()>) -> Response<B>
where
    S: Service<Request<()>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
{
    poll_fn(|cx| service.poll_ready(cx)).await.expect("ready");
    service.call(request).await.expect("response")
}

async fn body(response: Response<Either<Full<Bytes>, Full<Bytes>>>) -> String {
    String::from_utf8(response.into_body().collect().await.expect("body").to_bytes().to_vec()).expect("utf-8")
}

#[tokio::test]
async fn allows_then_limits_with_the_same_headers_as_through_redis() {
    let inner = Hello::default();
    let layer = RateLimitLayer::new(Limiter::in_process())
        .with_default_policy(policy("api", "60/1m", 2))
        .with_legacy_headers(true);
    let mut service = layer.layer(inner.clone());

    let first = send(&mut service, request("192.0.2.1:5555", &[])).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["ratelimit-policy"], "\"api\";q=60;w=60");
    assert_eq!(first.headers()["ratelimit"], "\"api\";r=1;t=1");
    assert_eq!(first.headers()["x-ratelimit-limit"], "2");
    assert_eq!(first.headers()["x-ratelimit-remaining"], "1");
    assert!(first.headers().get("retry-after").is_none());
    assert_eq!(body(first).await, "hello\n");
    let second = send(&mut service, request("192.0.2.1:5556", &[])).await;
    assert_eq!(
        (second.status().as_u16(), second.headers()["ratelimit"].to_str().expect("ascii")),
        (200, "\"api\";r=0;t=2")
    );

    let limited = send(&mut service, request("192.0.2.1:5557", &[])).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    assert_eq!(limited.headers()["ratelimit-policy"], "\"api\";q=60;w=60");
    assert_eq!(limited.headers()["ratelimit"], "\"api\";r=0;t=2");
    assert_eq!(limited.headers()["x-ratelimit-remaining"], "0");
    assert!(limited.headers()["content-type"].to_str().expect("ascii").starts_with("text/plain"));
    let text = body(limited).await;
    assert!(text.contains("rate limit exceeded") && text.contains("\"api\"") && text.contains("retry in"), "{text}");
    assert_eq!(inner.calls.load(Ordering::Relaxed), 2, "a limited request never reaches the service");

    // Another client has its own bucket.
    assert_eq!(send(&mut service, request("192.0.2.2:5555", &[])).await.status(), 200);
}

#[tokio::test]
async fn a_limit_spent_through_check_is_seen_by_the_layer_and_the_other_way_round() {
    let limiter = Limiter::in_process();
    let api = policy("api", "1/1h", 1);
    let mut service = RateLimitLayer::new(limiter.clone()).with_default_policy(api.clone()).layer(Hello::default());

    // An address key, spent through check with the text Key::extract gives.
    assert!(limiter.check("192.0.2.1", &api).await.expect("check").allowed);
    assert_eq!(send(&mut service, request("192.0.2.1:5555", &[])).await.status(), 429);
    // A mapped IPv4 peer is the same client.
    assert_eq!(send(&mut service, request("[::ffff:192.0.2.1]:5555", &[])).await.status(), 429);
    // IPv6 by its /64.
    assert!(limiter.check("2001:db8:1:2::/64", &api).await.expect("check").allowed);
    assert_eq!(send(&mut service, request("[2001:db8:1:2:aaaa::1]:443", &[])).await.status(), 429);
    assert_eq!(send(&mut service, request("[2001:db8:1:3::1]:443", &[])).await.status(), 200);

    // The other way round: the layer spends, peek and check see it.
    assert_eq!(send(&mut service, request("198.51.100.7:1", &[])).await.status(), 200);
    assert!(!limiter.peek("198.51.100.7", &api).await.expect("peek").allowed);
    assert!(!limiter.check("198.51.100.7", &api).await.expect("check").allowed);

    // Another policy name, or another namespace, is another bucket.
    assert!(limiter.check("203.0.113.1", &policy("other", "1/1h", 1)).await.expect("check").allowed);
    let elsewhere = limiter.clone().with_namespace("elsewhere");
    assert!(elsewhere.check("203.0.113.1", &api).await.expect("check").allowed);
    assert_eq!(send(&mut service, request("203.0.113.1:1", &[])).await.status(), 200);

    // Header keys.
    let mut by_header = RateLimitLayer::new(limiter.clone())
        .with_default_policy(api.clone())
        .with_key(Key::header(HeaderName::from_static("x-api-key")))
        .layer(Hello::default());
    assert!(limiter.check("k-1", &api).await.expect("check").allowed);
    assert_eq!(send(&mut by_header, request("192.0.2.9:1", &[("x-api-key", "k-1")])).await.status(), 429);
    assert_eq!(send(&mut by_header, request("192.0.2.9:1", &[("x-api-key", "k-2")])).await.status(), 200);
    let missing = send(&mut by_header, request("192.0.2.9:1", &[])).await;
    assert_eq!(missing.status(), 400);
    assert!(body(missing).await.contains("x-api-key"));
}

#[tokio::test]
async fn shadow_policies_and_key_errors_behave_as_before() {
    let inner = Hello::default();
    let mut shadow = RateLimitLayer::new(Limiter::in_process())
        .with_default_policy(policy("shadowed", "1/1h", 1).with_shadow(true))
        .layer(inner.clone());
    for _ in 0..3 {
        let response = send(&mut shadow, request("192.0.2.1:1", &[])).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("ratelimit").is_none(), "shadow mode sends no headers");
    }
    assert_eq!(inner.calls.load(Ordering::Relaxed), 3);

    let mut no_peer = RateLimitLayer::new(Limiter::in_process())
        .with_default_policy(policy("api", "1/1h", 1))
        .layer(Hello::default());
    assert_eq!(send(&mut no_peer, Request::new(())).await.status(), 500);

    // No policy: unlimited, no headers.
    let mut unlimited = RateLimitLayer::new(Limiter::in_process()).layer(Hello::default());
    let response = send(&mut unlimited, request("192.0.2.1:1", &[])).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("ratelimit").is_none());
}

#[tokio::test]
async fn with_redis_down_the_local_mode_shares_its_buckets_with_decide() {
    // Nothing listens on port 1: every Redis decision fails at once.
    let redis = Redis::new(&RedisConfig::from_url("redis://127.0.0.1:1/").expect("url")).expect("handle");
    let limiter = Limiter::redis(redis).with_timeout(Duration::from_millis(200));
    let local = policy("logins", "1/1h", 1).with_failure_mode(FailureMode::Local);
    let mut service = RateLimitLayer::new(limiter.clone()).with_default_policy(local.clone()).layer(Hello::default());
    assert!(matches!(limiter.decide("192.0.2.1", &local, 1).await, Verdict::Allowed(_)));
    let limited = send(&mut service, request("192.0.2.1:1", &[])).await;
    assert_eq!(limited.status(), 429, "the layer's local count is the one decide spent");
    assert_eq!(limited.headers()["ratelimit"], "\"logins\";r=0;t=3600");
    assert_eq!(send(&mut service, request("192.0.2.2:1", &[])).await.status(), 200);
    assert!(matches!(limiter.decide("192.0.2.2", &local, 1).await, Verdict::Limited(_)));
}

/// A flood of new keys against a small table: a key over its limit stays over it, and once
/// the table holds only such keys, new keys are refused and counted. Control: a key one
/// request into its burst is forgotten by the same flood (it gets its whole burst back).
#[tokio::test]
async fn a_flood_of_keys_cannot_unlock_a_limited_key() {
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().expect("recorder");
    let limiter = Limiter::in_process().with_local_capacity(160);
    let login = policy("login", "5/5m", 5);
    let attempts = |key: &'static str, n: usize| {
        let limiter = limiter.clone();
        let login = login.clone();
        async move {
            let mut allowed = 0;
            for _ in 0..n {
                allowed += usize::from(matches!(limiter.decide(key, &login, 1).await, Verdict::Allowed(_)));
            }
            allowed
        }
    };
    assert_eq!(attempts("victim", 20).await, 5);
    assert_eq!(attempts("idle", 1).await, 1);
    for i in 0..20_000 {
        limiter.decide(&format!("account-{i}"), &login, 1).await;
    }
    assert_eq!(attempts("victim", 20).await, 0, "the locked key stays locked");
    assert_eq!(limiter.check("idle", &login).await.expect("in process").remaining, 4, "control: forgotten");

    // Keys at their burst of one fill the table: then new keys are refused, and counted.
    let strict = policy("strict", "1/1h", 1);
    let mut refused = 0;
    for i in 0..400 {
        refused +=
            usize::from(matches!(limiter.decide(&format!("scanner-{i}"), &strict, 1).await, Verdict::Limited(_)));
    }
    let full: f64 = metrics
        .render()
        .lines()
        .filter(|line| line.starts_with("ratelimit_table_full_total{") && line.contains("policy=\"strict\""))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(refused > 0 && full == refused as f64, "{refused} refused, {full} counted");
    assert_eq!(attempts("victim", 1).await, 0);
}
