//! Logins against brute force, and what a Redis outage does to requests with a session.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ebb_testkit::{RedisServer, ServiceProcess, TempDir};
use reqwest::StatusCode;

const BIN: &str = env!("CARGO_BIN_EXE_example-api");
const SECRET: &str = "login-test-secret-long-enough-0123456789abcd";

fn start(redis: &RedisServer, objects: &TempDir) -> ServiceProcess {
    let mut env = redis.env();
    env.push(("EBB_SHUTDOWN_DELAY", "0s".to_owned()));
    env.push(("EBB_OFFLOAD_DIR", objects.path().display().to_string()));
    env.push(("EBB_DEMO_USERNAME", "ada".to_owned()));
    env.push(("EBB_DEMO_PASSWORD", "lovelace".to_owned()));
    env.push(("EBB_JWT_SECRET", SECRET.to_owned()));
    // Clients are told apart by X-Forwarded-For from the loopback "proxy".
    env.push(("EBB_RATELIMIT_TRUSTED_PROXIES", "127.0.0.0/8".to_owned()));
    ServiceProcess::start(BIN, &env)
}

async fn login(
    client: &reqwest::Client,
    service: &ServiceProcess,
    user: &str,
    password: &str,
    from: &str,
) -> reqwest::Response {
    let body = serde_json::json!({"username": user, "password": password});
    client.post(service.url("/login")).header("x-forwarded-for", from).json(&body).send().await.expect("login")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_failures_per_account_and_per_client_then_429() {
    let redis = RedisServer::start();
    let objects = TempDir::new("ebb-login");
    let service = start(&redis, &objects);
    let client = reqwest::Client::new();

    // One account guessed from many clients (in parallel, too): 5 attempts, then 429, even for
    // the right password.
    let parallel: Vec<_> = (0..3)
        .map(|i| {
            let (client, url) = (client.clone(), service.url("/login"));
            tokio::spawn(async move {
                let body = serde_json::json!({"username": "ada", "password": "guess"});
                let from = format!("203.0.113.{}", 100 + i);
                client.post(url).header("x-forwarded-for", from).json(&body).send().await.expect("login").status()
            })
        })
        .collect();
    for guess in parallel {
        assert_eq!(guess.await.expect("task"), StatusCode::UNAUTHORIZED);
    }
    for i in 0..2 {
        let from = format!("203.0.113.{i}");
        assert_eq!(login(&client, &service, "ada", "guess", &from).await.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = login(&client, &service, "ada", "lovelace", "203.0.113.99").await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = locked.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=15 * 60).contains(&retry), "Retry-After {retry}");

    // One client trying many accounts: 5 failures, then 429 for any account.
    for i in 0..5 {
        let user = format!("user{i}");
        assert_eq!(login(&client, &service, &user, "guess", "192.0.2.7").await.status(), StatusCode::UNAUTHORIZED);
    }
    let next = login(&client, &service, "someone-else", "guess", "192.0.2.7").await;
    assert_eq!(next.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client and another account are unaffected; the account counts whatever the
    // case or spaces of its name.
    assert_eq!(login(&client, &service, "bob", "guess", "192.0.2.8").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(login(&client, &service, " ADA ", "guess", "192.0.2.9").await.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client's successes are not limited by this client's failures.
    let office = "198.51.100.1";
    for _ in 0..3 {
        assert_eq!(login(&client, &service, "carol", "wrong", office).await.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_a_session_cookie_only_fails_routes_that_need_the_session() {
    let mut redis = RedisServer::start();
    let objects = TempDir::new("ebb-login-down");
    let service = start(&redis, &objects);
    let client = reqwest::Client::new();
    let logged_in = login(&client, &service, "ada", "lovelace", "198.51.100.2").await;
    let cookie = logged_in.headers()["set-cookie"].to_str().expect("ascii").split(';').next().expect("pair").to_owned();
    redis.stop();

    let home = client.get(service.url("/")).header("cookie", &cookie).send().await.expect("home");
    assert_eq!(home.status(), StatusCode::OK, "a route that does not read the session is unaffected");
    let me = client.get(service.url("/me")).header("cookie", &cookie).send().await.expect("me");
    assert_eq!(me.status(), StatusCode::SERVICE_UNAVAILABLE);
    // A write with the cookie is refused before its handler: nothing reaches the store.
    let put = client.put(service.url("/files/side-effect.txt")).header("cookie", &cookie).body("x").send().await;
    assert_eq!(put.expect("put").status(), StatusCode::SERVICE_UNAVAILABLE);
    let stored = std::fs::read_dir(objects.path()).map(|entries| entries.count()).unwrap_or(0);
    assert_eq!(stored, 0, "no handler side effect under a 5xx");
    // A bearer token needs no session: the write reaches the object store, whose metadata is
    // in the Redis that is down, so it is refused whole (503) and nothing becomes visible.
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() + 60;
    let token = ebb_session::jsonwebtoken::encode(
        &ebb_session::jsonwebtoken::Header::new(ebb_session::jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"sub": "grace", "exp": exp}),
        &ebb_session::jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("jwt");
    let put = client.put(service.url("/files/by-token.txt")).bearer_auth(&token).body("x").send().await;
    assert_eq!(put.expect("put").status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_login_is_a_start_up_error_beyond_loopback() {
    let objects = TempDir::new("ebb-demo-login");
    let dir = ("EBB_OFFLOAD_DIR", objects.path().display().to_string());
    let exposed = ("EBB_HTTP_ADDR", "0.0.0.0:0".to_owned());
    let (exit, log) = ServiceProcess::run_to_exit(BIN, &[exposed.clone(), dir.clone()], Duration::from_secs(10));
    assert_eq!(exit.code, Some(78), "{log}");
    assert!(log.contains("EBB_DEMO_USERNAME: is unset while EBB_HTTP_ADDR (0.0.0.0:0) is not on loopback"), "{log}");
    assert!(!log.contains("demo-password"), "the built-in password was printed:\n{log}");

    // Negative control: the same binary with both listeners on loopback (the testkit's
    // default) starts, and the built-in pair logs in.
    let client = reqwest::Client::new();
    let local = ServiceProcess::start(BIN, std::slice::from_ref(&dir));
    assert_eq!(login(&client, &local, "demo", "demo-password", "203.0.113.1").await.status(), StatusCode::OK);

    // Beyond loopback with credentials of its own, or with the built-in pair allowed.
    let own = [
        exposed.clone(),
        dir.clone(),
        ("EBB_DEMO_USERNAME", "ada".to_owned()),
        ("EBB_DEMO_PASSWORD", "lovelace".to_owned()),
    ];
    let service = ServiceProcess::start(BIN, &own);
    assert_eq!(
        login(&client, &service, "demo", "demo-password", "203.0.113.2").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(login(&client, &service, "ada", "lovelace", "203.0.113.3").await.status(), StatusCode::OK);
    let allowed = ServiceProcess::start(BIN, &[exposed, dir, ("EBB_DEMO_ALLOW_BUILTIN", "true".to_owned())]);
    assert_eq!(login(&client, &allowed, "demo", "demo-password", "203.0.113.4").await.status(), StatusCode::OK);
}
