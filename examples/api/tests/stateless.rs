//! Proof of statelessness: two example processes share one Redis; users move between them,
//! survive the death of one, and share one rate limit. The in-process fallback shows why it
//! is for one replica only.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use ebb_session::jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use ebb_testkit::{RedisCluster, RedisServer, ServiceProcess, TempDir};
use reqwest::StatusCode;

const BIN: &str = env!("CARGO_BIN_EXE_example-api");
const SECRET: &str = "stateless-test-secret-long-enough-0123456789";

fn start(env: &[(&str, String)], objects: &TempDir) -> ServiceProcess {
    let mut env = env.to_vec();
    env.push(("EBB_SHUTDOWN_DELAY", "0s".to_owned()));
    env.push(("EBB_OFFLOAD_DIR", objects.path().display().to_string()));
    env.push(("EBB_DEMO_USERNAME", "ada".to_owned()));
    env.push(("EBB_DEMO_PASSWORD", "lovelace".to_owned()));
    env.push(("EBB_JWT_SECRET", SECRET.to_owned()));
    ServiceProcess::start(BIN, &env)
}

/// Sends requests and counts those that reach application routes (they spend rate limit).
struct Client {
    http: reqwest::Client,
    sent: Cell<u32>,
}

impl Client {
    async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Response {
        self.sent.set(self.sent.get() + 1);
        request.send().await.expect("request")
    }

    async fn login(&self, service: &ServiceProcess, password: &str) -> reqwest::Response {
        let body = serde_json::json!({"username": "ada", "password": password});
        self.send(self.http.post(service.url("/login")).json(&body)).await
    }

    async fn me(&self, service: &ServiceProcess, cookie: &str) -> (StatusCode, String) {
        let response = self.send(self.http.get(service.url("/me")).header("cookie", cookie)).await;
        (response.status(), response.text().await.expect("body"))
    }
}

fn session_cookie(response: &reqwest::Response) -> String {
    let set_cookie = response.headers().get("set-cookie").expect("a session cookie").to_str().expect("ascii");
    set_cookie.split(';').next().expect("name=value").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_move_between_replicas_and_survive_one_dying() {
    let redis = RedisServer::start();
    users_move_between_replicas(redis.env()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_move_between_replicas_over_tls_with_an_acl_user() {
    let redis = RedisServer::start_tls();
    users_move_between_replicas(redis.env()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_move_between_replicas_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    users_move_between_replicas(cluster.env()).await;
}

async fn users_move_between_replicas(redis_env: Vec<(&'static str, String)>) {
    const BURST: u32 = 40;
    let objects = TempDir::new("ebb-stateless");
    let mut env = redis_env;
    env.push(("EBB_RATELIMIT_RATE", "1/1h".to_owned()));
    env.push(("EBB_RATELIMIT_BURST", BURST.to_string()));
    let (mut a, b) = (start(&env, &objects), start(&env, &objects));
    let client = Client { http: reqwest::Client::new(), sent: Cell::new(0) };

    assert_eq!(client.login(&a, "wrong").await.status(), StatusCode::UNAUTHORIZED);
    let malformed =
        client.send(client.http.post(a.url("/login")).header("content-type", "application/json").body("{")).await;
    assert!(malformed.status().is_client_error(), "{}", malformed.status());
    let logged_in = client.login(&a, "lovelace").await;
    assert_eq!(logged_in.status(), StatusCode::OK);
    let cookie = session_cookie(&logged_in);

    // Logged in through a, known to b.
    let (status, body) = client.me(&b, &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"ada\"") && body.contains("\"session\""), "{body}");

    // a dies mid-session (no shutdown at all); the user carries on with b.
    a.signal("KILL");
    let (status, _) = client.me(&b, &cookie).await;
    assert_eq!(status, StatusCode::OK, "the session outlived the replica that made it");

    // Tokens work on any replica too; forged ones and bad cookies do not.
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() + 60;
    let claims = serde_json::json!({"sub": "grace", "exp": exp});
    let token =
        encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET.as_bytes())).expect("jwt");
    let by_token = client.send(client.http.get(b.url("/me")).bearer_auth(&token)).await;
    assert!(by_token.text().await.expect("body").contains("\"token\""));
    let forged = format!("{}x", &token[..token.len() - 1]);
    assert_eq!(
        client.send(client.http.get(b.url("/me")).bearer_auth(&forged)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(client.me(&b, "ebb_session=forged-value").await.0, StatusCode::UNAUTHORIZED);

    // Logout through b ends the session everywhere; a replacement for a agrees.
    let out = client.send(client.http.post(b.url("/logout")).header("cookie", &cookie)).await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let a2 = start(&env, &objects);
    assert_eq!(client.me(&a2, &cookie).await.0, StatusCode::UNAUTHORIZED);

    // One rate limit for both replicas: the burst is spent across them, exactly.
    let mut allowed_now = 0;
    for i in 0..(2 * BURST) {
        let target = if i % 2 == 0 { &b } else { &a2 };
        let status = client.send(client.http.get(target.url("/"))).await.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        allowed_now += 1;
    }
    let spent = client.sent.get() - 1; // the request that got the 429
    assert_eq!(spent, BURST, "{allowed_now} allowed in the last round; the replicas must share one budget");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_process_fallback_is_one_replica_only_and_says_so() {
    let objects = TempDir::new("ebb-stateful");
    let (a, b) = (start(&[], &objects), start(&[], &objects));
    let warning = a.log_line("in-process fallbacks");
    assert!(warning.contains("sessions") && warning.contains("one replica only"), "{warning}");
    let client = Client { http: reqwest::Client::new(), sent: Cell::new(0) };
    let cookie = session_cookie(&client.login(&a, "lovelace").await);
    assert_eq!(client.me(&a, &cookie).await.0, StatusCode::OK);
    assert_eq!(client.me(&b, &cookie).await.0, StatusCode::UNAUTHORIZED, "b cannot know a session kept in a");
}
