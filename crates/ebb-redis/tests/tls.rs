//! `rediss://` against a real TLS-only redis-server with an ACL user and a CA of its own.

use ebb_redis::{ENV_REDIS_CA_FILE, Redis, RedisConfig, redis};
use ebb_testkit::{REDIS_TLS_PASSWORD, RedisServer, TestCa};

fn config(env: &[(&'static str, String)]) -> RedisConfig {
    RedisConfig::from_lookup(|name| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
        .unwrap_or_else(|errors| panic!("{errors:?}"))
        .expect("configured")
}

async fn round_trip(redis: &Redis) -> Result<String, ebb_redis::Error> {
    redis.query::<()>(redis::cmd("SET").arg("greeting").arg("over tls")).await?;
    redis.query(redis::cmd("GET").arg("greeting")).await
}

#[tokio::test]
async fn an_acl_user_over_tls_with_a_custom_ca() {
    let server = RedisServer::start_tls();
    let redis = Redis::new(&config(&server.env())).expect("handle");
    assert!(config(&server.env()).is_tls());
    assert_eq!(round_trip(&redis).await.expect("round trip"), "over tls");
    redis.ping().await.expect("ping");
    let whoami: String = redis.query(&redis::cmd("ACL").arg("WHOAMI").to_owned()).await.expect("whoami");
    assert_eq!(whoami, ebb_testkit::REDIS_TLS_USER);
}

#[tokio::test]
async fn a_ca_that_did_not_sign_the_server_is_named_and_fails_readiness() {
    let server = RedisServer::start_tls();
    let other = TestCa::new(server.dir(), "someone-else");
    let mut env = server.env();
    env.retain(|(k, _)| *k != ENV_REDIS_CA_FILE);
    env.push((ENV_REDIS_CA_FILE, other.cert().display().to_string()));
    let redis = Redis::new(&config(&env)).expect("handle");
    let error = redis.ping().await.expect_err("the certificate cannot be verified");
    let text = error.to_string();
    assert!(text.contains(ENV_REDIS_CA_FILE), "the error must name the variable: {text}");
    assert!(!text.contains(REDIS_TLS_PASSWORD), "{text}");
}

#[tokio::test]
async fn without_the_ca_the_system_trust_store_refuses_a_private_ca() {
    let server = RedisServer::start_tls();
    let redis = Redis::new(&RedisConfig::from_url(&server.url()).expect("url")).expect("handle");
    assert!(redis.ping().await.is_err());
}

#[tokio::test]
async fn a_wrong_password_is_refused_without_repeating_it() {
    let server = RedisServer::start_tls();
    let mut env = server.env();
    env[0].1 = env[0].1.replace(REDIS_TLS_PASSWORD, "not-the-password");
    let redis = Redis::new(&config(&env)).expect("handle");
    let error = redis.ping().await.expect_err("wrong password");
    assert!(!error.to_string().contains("not-the-password"), "{error}");
}

#[tokio::test]
async fn mutual_tls_needs_the_client_certificate() {
    let server = RedisServer::start_mutual_tls();
    let redis = Redis::new(&config(&server.env())).expect("handle");
    assert_eq!(round_trip(&redis).await.expect("with the client certificate"), "over tls");

    // Negative control: the same server without a client certificate refuses us.
    let mut env = server.env();
    env.retain(|(k, _)| !k.starts_with("EBB_REDIS_CLIENT_"));
    let anonymous = Redis::new(&config(&env)).expect("handle");
    assert!(anonymous.ping().await.is_err(), "a server requiring client certificates accepted none");
}

#[test]
fn a_bad_pem_is_a_start_up_error_naming_the_variable() {
    let server_dir = ebb_testkit::TempDir::new("ebb-redis-pem");
    let path = server_dir.path().join("ca.pem");
    std::fs::write(&path, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n").expect("write");
    let env = [("REDIS_URL", "rediss://127.0.0.1:6380".to_owned()), (ENV_REDIS_CA_FILE, path.display().to_string())];
    let errors = RedisConfig::from_lookup(|name| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
        .expect_err("bad PEM");
    assert_eq!(errors[0].variable, ENV_REDIS_CA_FILE, "{errors:?}");
    assert!(!errors[0].to_string().contains(&path.display().to_string()), "no paths in errors: {}", errors[0]);
}
