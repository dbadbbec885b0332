//! Sessions in a real Redis, shared by two "replicas" (two servers on one store).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use ebb_session::ebb_redis::{Redis, RedisConfig, redis};
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

/// Counts the runs of `/visit`'s handler: a 5xx must never follow its side effects.
static SIDE_EFFECTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

async fn visit(session: Session) -> StatusCode {
    SIDE_EFFECTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    match session.insert("visited", true).await {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn replica(pool: &Redis, config: &SessionConfig) -> SocketAddr {
    serve(routes().layer(config.layer(RedisSessionStore::new(pool.clone())))).await
}

fn routes() -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/visit", post(visit))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .route("/visit-free", get(|| async { "no session read here" }))
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    addr
}

fn handle(redis: &RedisServer) -> Redis {
    Redis::new(&RedisConfig::from_url(&redis.url()).expect("url")).expect("handle")
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
    let pool = handle(&redis);
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
    let key = format!("ebb:session:{}", id_of(&cookie));
    let ttl: i64 = pool.query(redis::cmd("TTL").arg(&key)).await.expect("ttl");
    assert!((590..=601).contains(&ttl), "TTL {ttl}");

    let out = client.post(format!("http://{b}/logout")).header("cookie", &pair).send().await.expect("logout");
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let exists: i64 = pool.query(redis::cmd("EXISTS").arg(&key)).await.expect("exists");
    assert_eq!(exists, 0, "logout deletes the session from Redis");
    let after = client.get(format!("http://{a}/me")).header("cookie", &pair).send().await.expect("me");
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cookies_are_no_session_not_an_error() {
    let redis = RedisServer::start();
    let pool = handle(&redis);
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

async fn session_keys(pool: &Redis) -> usize {
    let keys: Vec<String> = pool.query(redis::cmd("KEYS").arg("ebb:session:*")).await.expect("keys");
    keys.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_cookies_never_write_a_session_and_are_cleared() {
    let redis = RedisServer::start();
    let pool = handle(&redis);
    let addr = replica(&pool, &SessionConfig::default()).await;
    let client = reqwest::Client::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for i in 0..1000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Well-formed ids (22 base64url characters) and garbage alike.
        let id = if i % 2 == 0 { tower_sessions::session::Id::default().to_string() } else { format!("junk-{seed}") };
        let path = if i % 3 == 0 { "/me" } else { "/visit-free" };
        let response = client
            .get(format!("http://{addr}{path}"))
            .header("cookie", format!("ebb_session={id}"))
            .send()
            .await
            .expect("request");
        assert_ne!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        if path == "/me" {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{id}");
            let cleared = cookie_of(&response).unwrap_or_default();
            assert!(
                cleared.contains("Max-Age=0") || cleared.contains("expires=Thu, 01 Jan 1970"),
                "cookie {id:?} not cleared: {cleared:?}"
            );
        }
    }
    assert_eq!(session_keys(&pool).await, 0, "random cookies must not create sessions");

    // Negative control: the same cookies on a layer that saves every session (the old
    // `always_save`) do create records; the count above could have seen them.
    let always_save = tower_sessions::SessionManagerLayer::new(RedisSessionStore::new(pool.clone()))
        .with_name(ebb_session::DEFAULT_SESSION_COOKIE)
        .with_always_save(true);
    let saving = serve(routes().layer(always_save)).await;
    for _ in 0..20 {
        let cookie = format!("ebb_session={}", tower_sessions::session::Id::default());
        client.get(format!("http://{saving}/visit-free")).header("cookie", cookie).send().await.expect("request");
    }
    assert!(session_keys(&pool).await > 0, "the control must write sessions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_only_routes_that_read_the_session_fail_and_before_their_handler() {
    let mut redis = RedisServer::start();
    let pool = handle(&redis);
    let config = SessionConfig::default();
    let addr = replica(&pool, &config).await;
    let client = reqwest::Client::new();
    let login = client.post(format!("http://{addr}/login")).body("ada").send().await.expect("login");
    let pair = cookie_of(&login).expect("cookie").split(';').next().expect("pair").to_owned();
    assert_eq!(session_keys(&pool).await, 1);
    redis.stop();

    let free = client.get(format!("http://{addr}/visit-free")).header("cookie", &pair).send().await.expect("free");
    assert_eq!(free.status(), StatusCode::OK, "a route that does not read the session is unaffected");
    let me = client.get(format!("http://{addr}/me")).header("cookie", &pair).send().await.expect("me");
    assert_eq!(me.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(me.headers().contains_key("retry-after"));
    let before = SIDE_EFFECTS.load(std::sync::atomic::Ordering::SeqCst);
    let visit = client.post(format!("http://{addr}/visit")).header("cookie", &pair).send().await.expect("visit");
    assert_eq!(visit.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(SIDE_EFFECTS.load(std::sync::atomic::Ordering::SeqCst), before, "the handler must not have run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_racing_a_logout_cannot_bring_the_session_back() {
    use tower_sessions::SessionStore;
    use tower_sessions::session::{Id, Record};
    let redis = RedisServer::start();
    let pool = handle(&redis);
    let store = RedisSessionStore::new(pool.clone());
    let expiry =
        tower_sessions::cookie::time::OffsetDateTime::now_utc() + tower_sessions::cookie::time::Duration::hours(1);
    let mut record = Record { id: Id::default(), data: Default::default(), expiry_date: expiry };
    record.data.insert("user".to_owned(), serde_json::json!("ada"));
    store.create(&mut record).await.expect("create");
    assert_eq!(session_keys(&pool).await, 1);
    // Logout deletes the session; a request that loaded it before saves afterwards.
    store.delete(&record.id).await.expect("logout");
    store.save(&record).await.expect("a late save is not an error");
    assert_eq!(session_keys(&pool).await, 0, "the late save must not resurrect the session");
}

/// Seconds left before Redis forgets `key`.
async fn ttl(pool: &Redis, key: &str) -> i64 {
    pool.query(redis::cmd("TTL").arg(key)).await.expect("ttl")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_reads_the_session_renews_its_ttl_in_redis() {
    let redis = RedisServer::start();
    let pool = handle(&redis);
    let config = SessionConfig { ttl: Duration::from_secs(10), ..SessionConfig::default() };
    let addr = replica(&pool, &config).await;
    let client = reqwest::Client::new();
    let login = client.post(format!("http://{addr}/login")).body("ada").send().await.expect("login");
    let cookie = cookie_of(&login).expect("a session cookie");
    let pair = cookie.split(';').next().expect("pair").to_owned();
    let key = format!("ebb:session:{}", id_of(&cookie));
    assert!(ttl(&pool, &key).await >= 9, "fresh session");

    // The time that passes is what is under test: a sleep, not a wait for a condition.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = ttl(&pool, &key).await;
    assert!((1..=7).contains(&idle), "untouched, the TTL must fall: {idle}");

    let me = client.get(format!("http://{addr}/me")).header("cookie", &pair).send().await.expect("me");
    assert_eq!(me.status(), StatusCode::OK);
    let resent = cookie_of(&me).expect("the renewed cookie is sent again");
    assert!(resent.contains("Max-Age=10") && id_of(&resent) == id_of(&cookie), "{resent}");
    let renewed = ttl(&pool, &key).await;
    assert!(renewed >= 9, "a request using the session must slide its TTL back up: {renewed}");
}

/// Handlers of `/write` that wait, after the session was loaded, until the test has stopped
/// Redis: the save after them then fails.
static ENTERED: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(0);
static RELEASE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(0);

/// A write (an object stored, say) by a logged-in user; `renew_by_hand` marks the session
/// modified, as ebb's extractor did to renew it under tower-sessions' manager.
async fn write(session: Session, renew_by_hand: bool) -> (StatusCode, &'static str) {
    if renew_by_hand {
        session.set_expiry(session.expiry());
    }
    ENTERED.add_permits(1);
    RELEASE.acquire().await.expect("open").forget();
    (StatusCode::CREATED, "stored\n")
}

/// The store fails between the handler and the save after it: a renewal is best effort (the
/// write answers 201, the failure is counted), a change is 503 in our words. Control: the
/// same write under tower-sessions' own manager answers an empty 500 — after storing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_the_store_refuses_never_changes_the_answer_a_change_is_503() {
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().expect("recorder");
    let mut redis = RedisServer::start();
    let pool = handle(&redis);
    let config = SessionConfig::default();
    let store = || RedisSessionStore::new(pool.clone());
    let ours = serve(routes().route("/write", post(|s: Session| write(s, false))).layer(config.layer(store()))).await;
    let theirs = tower_sessions::SessionManagerLayer::new(store()).with_name(ebb_session::DEFAULT_SESSION_COOKIE);
    let theirs = serve(routes().route("/write", post(|s: Session| write(s, true))).layer(theirs)).await;
    let client = reqwest::Client::new();
    let login = client.post(format!("http://{ours}/login")).body("ada").send().await.expect("login");
    let pair = cookie_of(&login).expect("cookie").split(';').next().expect("pair").to_owned();

    let send = |addr: SocketAddr| {
        let request = client.post(format!("http://{addr}/write")).header("cookie", &pair).send();
        tokio::spawn(request)
    };
    let (on_ours, on_theirs) = (send(ours), send(theirs));
    ENTERED.acquire_many(2).await.expect("both handlers run").forget();
    redis.stop();
    RELEASE.add_permits(2);

    let answered = on_ours.await.expect("task").expect("response");
    assert_eq!(answered.status(), StatusCode::CREATED, "the write's own answer");
    assert!(cookie_of(&answered).is_none(), "no renewed cookie: the store did not renew");
    assert_eq!(answered.text().await.expect("body"), "stored\n");
    let counted = metrics.render().lines().any(|line| line == "session_renew_failures_total 1");
    assert!(counted, "{}", metrics.render());

    // A change in the same state (a new session's data, saved after the handler answered
    // 204): it is not kept, and the answer says so.
    let before = SIDE_EFFECTS.load(std::sync::atomic::Ordering::SeqCst);
    let change = client.post(format!("http://{ours}/visit")).send().await.expect("visit");
    assert_eq!(SIDE_EFFECTS.load(std::sync::atomic::Ordering::SeqCst), before + 1, "the handler ran");
    assert_eq!(change.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(change.headers()["retry-after"], "1");
    assert!(cookie_of(&change).is_none());
    assert_eq!(change.text().await.expect("body"), "sessions are unavailable right now; try again shortly\n");

    // Control: tower-sessions' manager, which saves a renewal like a change.
    let control = on_theirs.await.expect("task").expect("response");
    assert_eq!(control.status(), StatusCode::INTERNAL_SERVER_ERROR, "stored, and told it failed");
    assert_eq!(control.text().await.expect("body"), "", "an empty 500");
}
