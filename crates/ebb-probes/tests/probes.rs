//! Probe behaviour through the public layer.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use ebb_probes::{CancellationToken, CheckExt, Probes};
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::{Service, ServiceBuilder, ServiceExt};

async fn get(probes: &Probes, uri: &str, json: bool) -> (StatusCode, String) {
    let mut builder = Request::get(uri);
    if json {
        builder = builder.header(header::ACCEPT, "application/json");
    }
    let request = builder.body(Body::empty()).expect("request");
    let app = ServiceBuilder::new()
        .layer(probes.layer())
        .service_fn(|_req: Request<Body>| async { Ok::<_, Infallible>(http::Response::new(Body::from("app"))) });
    let response = app.oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8(body.to_vec()).expect("utf-8"))
}

fn counting_check(calls: &Arc<AtomicUsize>, result: Result<(), &'static str>) -> impl ebb_probes::Check {
    let calls = calls.clone();
    move || {
        calls.fetch_add(1, Ordering::SeqCst);
        async move { result }
    }
}

#[tokio::test]
async fn readiness_waits_for_start_and_fails_on_shutdown() {
    let shutdown = CancellationToken::new();
    let probes = Probes::builder().with_shutdown_signal(shutdown.clone()).build();
    assert_eq!(get(&probes, "/readyz", false).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get(&probes, "/startupz", false).await.0, StatusCode::SERVICE_UNAVAILABLE);
    probes.mark_started();
    assert_eq!(get(&probes, "/readyz", false).await, (StatusCode::OK, "ok\n".to_owned()));
    assert_eq!(get(&probes, "/startupz", false).await.0, StatusCode::OK);
    shutdown.cancel();
    let (status, body) = get(&probes, "/readyz?verbose", false).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("[-]shutdown failed: shutting down"), "{body}");
    // Liveness never follows shutdown or dependencies.
    assert_eq!(get(&probes, "/livez", false).await.0, StatusCode::OK);
    assert_eq!(get(&probes, "/healthz", false).await.0, StatusCode::OK);
}

#[tokio::test]
async fn verbose_lists_every_check_like_the_api_server() {
    let calls = Arc::new(AtomicUsize::new(0));
    let probes = Probes::builder()
        .with_readiness_check("redis", counting_check(&calls, Ok(())))
        .with_readiness_check("s3", counting_check(&calls, Err("connection refused")))
        .started()
        .build();
    let (status, body) = get(&probes, "/readyz?verbose", false).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        "[+]started ok\n[+]shutdown ok\n[+]redis ok\n[-]s3 failed: connection refused\nreadyz check failed\n"
    );
    // Without ?verbose a failing probe names no check and no reason: on a public port
    // those can describe internal hosts.
    let (status, body) = get(&probes, "/readyz", false).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "readyz check failed\n");
    let (_, json) = get(&probes, "/readyz", true).await;
    assert_eq!(json, r#"{"ok":false,"probe":"readyz"}"#);
}

#[tokio::test]
async fn a_listener_for_operators_shows_details_without_asking() {
    let probes = Probes::builder().with_readiness_check("s3", || async { Err::<(), _>("down") }).started().build();
    let app = ServiceBuilder::new()
        .layer(probes.layer().with_details(true))
        .service_fn(|_req: Request<Body>| async { Ok::<_, Infallible>(http::Response::new(Body::from("app"))) });
    let response =
        app.oneshot(Request::get("/readyz").body(Body::empty()).expect("request")).await.expect("infallible");
    let body = response.into_body().collect().await.expect("body").to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("[-]s3 failed: down"));
}

#[tokio::test]
async fn built_in_checks_cannot_be_excluded() {
    let probes = Probes::builder().with_shutdown_signal(ebb_shutdown_token()).started().build();
    for query in ["exclude=shutdown", "exclude=started&exclude=shutdown", "exclude=shutdown&verbose"] {
        let (status, body) = get(&probes, &format!("/readyz?{query}"), false).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "?{query} overrode readiness: {body}");
    }
    let (_, json) = get(&probes, "/readyz?exclude=shutdown&verbose", true).await;
    let json: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(json["excluded"], serde_json::json!([]));
}

/// A shutdown signal that has already fired.
fn ebb_shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    token.cancel();
    token
}

#[tokio::test]
async fn exclude_skips_a_check() {
    let calls = Arc::new(AtomicUsize::new(0));
    let probes = Probes::builder()
        .with_readiness_check("s3", counting_check(&calls, Err("down")))
        .with_cache_ttl(Duration::ZERO)
        .started()
        .build();
    let (status, body) = get(&probes, "/readyz?exclude=s3&verbose", false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("[+]s3 excluded: ok"), "{body}");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "an excluded check must not run");
}

#[tokio::test]
async fn json_output() {
    let probes = Probes::builder().with_readiness_check("db", || async { Err::<(), _>("no route") }).started().build();
    let (status, body) = get(&probes, "/readyz?exclude=other&verbose", true).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["probe"], "readyz");
    assert_eq!(json["ok"], false);
    assert_eq!(json["excluded"], serde_json::json!([]));
    let db = json["checks"].as_array().expect("checks").iter().find(|c| c["name"] == "db").expect("db");
    assert_eq!(db["status"], serde_json::json!({"ok": false, "error": "no route"}));
}

#[tokio::test(start_paused = true)]
async fn slow_checks_time_out_and_run_concurrently() {
    let slow = || async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, String>(())
    };
    let probes = Probes::builder()
        .with_readiness_check("a", slow.with_timeout(Duration::from_millis(100)))
        .with_readiness_check("b", slow.with_timeout(Duration::from_millis(100)))
        .with_readiness_check("c", slow)
        .with_check_timeout(Duration::from_millis(150))
        .started()
        .build();
    let started = tokio::time::Instant::now();
    let (status, body) = get(&probes, "/readyz?verbose", false).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("[-]a failed: timed out after 100ms"), "{body}");
    assert!(body.contains("[-]c failed: timed out after 150ms"), "{body}");
    // Run one after another they would take 350 ms; together, the longest timeout.
    assert!(took < Duration::from_millis(340), "checks ran one by one: {took:?}");
}

#[tokio::test]
async fn results_are_cached_and_concurrent_probes_share_one_run() {
    let calls = Arc::new(AtomicUsize::new(0));
    let probes = Probes::builder()
        .with_readiness_check("redis", {
            let calls = calls.clone();
            move || {
                calls.fetch_add(1, Ordering::SeqCst);
                async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok::<_, String>(())
                }
            }
        })
        .with_cache_ttl(Duration::from_secs(60))
        .started()
        .build();
    let storm = (0..50).map(|_| get(&probes, "/readyz", false));
    for (status, _) in futures_util::future::join_all(storm).await {
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a probe storm must not become a dependency storm");

    let (_, json) = get(&probes, "/readyz?verbose", true).await;
    assert!(json.contains("\"cached\":true"), "{json}");
}

#[tokio::test(start_paused = true)]
async fn cache_expires() {
    let calls = Arc::new(AtomicUsize::new(0));
    let probes = Probes::builder()
        .with_readiness_check("redis", counting_check(&calls, Ok(())))
        .with_cache_ttl(Duration::from_millis(20))
        .started()
        .build();
    get(&probes, "/readyz", false).await;
    get(&probes, "/readyz", false).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(30)).await;
    get(&probes, "/readyz", false).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn other_requests_pass_through_and_wrong_methods_are_refused() {
    let probes = Probes::builder().started().build();
    assert_eq!(get(&probes, "/readyz/extra", false).await, (StatusCode::OK, "app".to_owned()));

    let mut app = ServiceBuilder::new()
        .layer(probes.layer())
        .service_fn(|_req: Request<Body>| async { Ok::<_, Infallible>(http::Response::new(Body::from("app"))) });
    let request = Request::post("/livez").body(Body::empty()).expect("request");
    let response = app.ready().await.expect("ready").call(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[header::ALLOW], "GET, HEAD");
}

#[tokio::test]
async fn liveness_checks_are_separate() {
    let probes = Probes::builder()
        .with_liveness_check("event-loop", || async { Err::<(), _>("stalled") })
        .with_readiness_check("redis", || async { Err::<(), _>("down") })
        .started()
        .build();
    let (status, body) = get(&probes, "/livez?verbose", false).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "[+]ping ok\n[-]event-loop failed: stalled\nlivez check failed\n");
}

#[tokio::test]
async fn advisory_checks_are_reported_but_never_fail_readiness() {
    let calls = Arc::new(AtomicUsize::new(0));
    let probes = Probes::builder()
        .with_advisory_readiness_check("redis", counting_check(&calls, Err("connection refused")))
        .started()
        .build();
    assert_eq!(get(&probes, "/readyz", false).await, (StatusCode::OK, "ok\n".to_owned()));
    let (status, body) = get(&probes, "/readyz?verbose", false).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("[!]redis degraded (advisory): connection refused"), "{body}");
    let (_, json) = get(&probes, "/readyz?verbose", true).await;
    assert!(json.contains("\"critical\":false") && json.contains("\"ok\":true"), "{json}");
}

#[tokio::test]
async fn without_details_verbose_tells_nothing_but_the_verdict() {
    let probes = Probes::builder().started().with_info("version", "9.9.9").build();
    let ask = |layer: ebb_probes::ProbesLayer| async move {
        let app = ServiceBuilder::new()
            .layer(layer)
            .service_fn(|_req: Request<Body>| async { Ok::<_, Infallible>(http::Response::new(Body::from("app"))) });
        let request = Request::get("/startupz?verbose").body(Body::empty()).expect("request");
        let response = app.oneshot(request).await.expect("infallible");
        String::from_utf8(response.into_body().collect().await.expect("body").to_bytes().to_vec()).expect("utf-8")
    };
    assert!(!ask(probes.layer().without_details()).await.contains("9.9.9"));
    // Control: the default layer answers `?verbose` with the facts.
    assert!(ask(probes.layer()).await.contains("9.9.9"));
}

/// A check that panics is a failed check with a reason in our words; the other checks and
/// the probe answer as usual. Control: the same check run directly panics, and a task
/// running it ends in a panic, not an answer — what the probe did without the guard.
#[tokio::test]
async fn a_panicking_check_fails_without_taking_the_probe_down() {
    let secret_panic = || -> std::future::Ready<Result<(), String>> { panic!("password=hunter2 in a panic") };
    let lazy_panic = || async { if true { panic!("password=hunter2 while polled") } else { Ok::<(), String>(()) } };
    let probes = Probes::builder()
        .with_readiness_check("eager", secret_panic)
        .with_readiness_check("lazy", lazy_panic)
        .with_readiness_check("fine", || async { Ok::<_, String>(()) })
        .build();
    probes.mark_started();
    let (status, body) = get(&probes, "/readyz?verbose", false).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body.contains("[-]eager failed: check panicked") && body.contains("[-]lazy failed: check panicked"),
        "{body}"
    );
    assert!(body.contains("[+]fine ok") && !body.contains("hunter2"), "{body}");
    // A second probe (cached or run again) still answers.
    assert_eq!(get(&probes, "/readyz", false).await.0, StatusCode::SERVICE_UNAVAILABLE);

    // Control: unguarded, the checks panic out of whoever runs them.
    assert!(std::panic::catch_unwind(secret_panic).is_err(), "the check panics when made");
    let unguarded = tokio::spawn(async move { lazy_panic().await }).await;
    assert!(unguarded.expect_err("the task panicked").is_panic());
}

/// README: "Defaults: check timeout 1 s, cache 1 s."
#[tokio::test(start_paused = true)]
async fn by_default_a_check_times_out_after_1_s_and_its_result_is_cached_for_1_s() {
    let calls = Arc::new(AtomicUsize::new(0));
    let probes = Probes::builder().with_readiness_check("redis", counting_check(&calls, Ok(()))).started().build();
    get(&probes, "/readyz", false).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    get(&probes, "/readyz", false).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "still cached 0.9 s later");
    tokio::time::sleep(Duration::from_millis(200)).await;
    get(&probes, "/readyz", false).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2, "run again 1.1 s later");

    let slow = || async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, String>(())
    };
    let probes = Probes::builder().with_readiness_check("slow", slow).started().build();
    let started = tokio::time::Instant::now();
    let (status, body) = get(&probes, "/readyz?verbose", false).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("[-]slow failed: timed out after 1s"), "{body}");
    assert!(took >= Duration::from_secs(1) && took < Duration::from_millis(1100), "answered after {took:?}");
}
