//! Sessions in a real Redis, shared by two "replicas" (two servers on one store).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use deadpool_redis::redis;
use ebb_session::{RedisSessionStore, Session, SessionConfig};
use ebb_testkit::RedisServer;

async fn login(session: Session, user: String) -> StatusCode {
    // A new id at login: an id planted before login (fixation) is worthless after it.
    if session.cycle_id().await.is_err() || session.insert("user", user).await.is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::NO_CONTENT
}

async fn me(session: Session) -> Result<String, StatusCode> {
    match session.get::<String>("user").await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(StatusCode::UNAUTHORIZED),
        Err(_) => Err(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

async fn logout(session: Session) -> StatusCode {
    match session.flush().await {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn visit(session: Session) -> StatusCode {
    match session.insert("visited", true).await {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn replica(pool: &deadpool_redis::Pool, config: &SessionConfig) -> SocketAddr {
    let app = Router::new()
        .route("/login", post(login))
        .route("/visit", post(visit))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .layer(config.layer(RedisSessionStore::new(pool.clone())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    addr
}

fn cookie_of(response: &reqwest::Response) -> Option<String> {
    response.headers().get("set-cookie").map(|v| v.to_str().expect("ascii").to_owned())
}

fn id_of(set_cookie: &str) -> &str {
    set_cookie.split(';').next().and_then(|pair| pair.split_once('=')).map(|(_, id)| id).expect("a cookie value")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_made_on_one_replica_is_read_on_another_and_logout_ends_it() {
    let redis = RedisServer::start();
    let pool =
        deadpool_redis::Config::from_url(redis.url()).create_pool(Some(deadpool_redis::Runtime::Tokio1)).expect("pool");
    let config = SessionConfig { ttl: Duration::from_secs(600), ..SessionConfig::default() };
    let (a, b) = (replica(&pool, &config).await, replica(&pool, &config).await);
    let client = reqwest::Client::new();

    // An anonymous session first, then login rotates its id.
    let visited = client.post(format!("http://{a}/visit")).send().await.expect("visit");
    let before = cookie_of(&visited).expect("a session cookie");
    let logged_in = client
        .post(format!("http://{a}/login"))
        .header("cookie", before.split(';').next().expect("pair"))
        .body("ada")
        .send()
        .await;
    let logged_in = logged_in.expect("login");
    assert_eq!(logged_in.status(), StatusCode::NO_CONTENT);
    let cookie = cookie_of(&logged_in).expect("a new cookie at login");
    assert_ne!(id_of(&cookie), id_of(&before), "login must rotate the session id");
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=600"] {
        assert!(cookie.contains(attribute), "{attribute} missing from {cookie}");
    }
    // 128 bits of randomness, not a counter.
    assert!(id_of(&cookie).len() >= 22, "{cookie}");

    let pair = cookie.split(';').next().expect("pair").to_owned();
    let on_b = client.get(format!("http://{b}/me")).header("cookie", &pair).send().await.expect("me");
    assert_eq!(on_b.text().await.expect("body"), "ada", "replica b reads what a wrote");
    // The old (pre-login) id is gone.
    let old =
        client.get(format!("http://{b}/me")).header("cookie", before.split(';').next().expect("pair")).send().await;
    assert_eq!(old.expect("me").status(), StatusCode::UNAUTHORIZED);

    // In Redis with a TTL close to the configured one.
    let mut connection = pool.get().await.expect("connection");
    let key = format!("ebb:session:{}", id_of(&cookie));
    let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut connection).await.expect("ttl");
    assert!((590..=601).contains(&ttl), "TTL {ttl}");

    let out = client.post(format!("http://{b}/logout")).header("cookie", &pair).send().await.expect("logout");
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let exists: i64 = redis::cmd("EXISTS").arg(&key).query_async(&mut connection).await.expect("exists");
    assert_eq!(exists, 0, "logout deletes the session from Redis");
    let after = client.get(format!("http://{a}/me")).header("cookie", &pair).send().await.expect("me");
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cookies_are_no_session_not_an_error() {
    let redis = RedisServer::start();
    let pool =
        deadpool_redis::Config::from_url(redis.url()).create_pool(Some(deadpool_redis::Runtime::Tokio1)).expect("pool");
    let addr = replica(&pool, &SessionConfig::default()).await;
    let client = reqwest::Client::new();
    let long = format!("ebb_session={}", "A".repeat(4000));
    for cookie in
        ["ebb_session=garbage", "ebb_session=", "ebb_session=%%%", "ebb_session=AAAAAAAAAAAAAAAAAAAAAA", long.as_str()]
    {
        let response = client.get(format!("http://{addr}/me")).header("cookie", cookie).send().await.expect("me");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{cookie}");
    }
}
