//! Bearer tokens through the layer: good, expired, forged, `alg: none`, confused algorithms,
//! and each public-key algorithm (RS256, ES256, EdDSA) with keys made by openssl.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use ebb_session::jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use ebb_session::{AuthConfig, Claims, JwtLayer};
use ebb_testkit::TempDir;
use serde_json::json;

const SECRET: &str = "a-test-secret-that-is-long-enough-1234";

async fn serve(config: &AuthConfig) -> SocketAddr {
    let layer = match &config.jwt {
        Some(jwt) => JwtLayer::new(jwt.verifier().expect("verifier")),
        None => JwtLayer::refuse_all(),
    };
    let app = Router::new()
        .route("/me", get(|claims: Claims| async move { claims.subject().unwrap_or_default().to_owned() }))
        .route("/open", get(|claims: Option<Claims>| async move { format!("{}", claims.is_some()) }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    addr
}

fn config(vars: &[(&str, &str)]) -> AuthConfig {
    AuthConfig::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())).expect("valid")
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

fn hs256(claims: &serde_json::Value, secret: &[u8]) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret)).expect("encode")
}

async fn call(addr: SocketAddr, path: &str, token: Option<&str>) -> (StatusCode, String, String) {
    let mut request = reqwest::Client::new().get(format!("http://{addr}{path}"));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.expect("request");
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().expect("ascii").to_owned());
    (response.status(), challenge.unwrap_or_default(), response.text().await.expect("body"))
}

#[tokio::test]
async fn hs256_tokens_are_checked_for_signature_expiry_issuer_and_audience() {
    let addr = serve(&config(&[
        ("EBB_JWT_SECRET", SECRET),
        ("EBB_JWT_ISSUER", "ebb"),
        ("EBB_JWT_AUDIENCE", "api"),
        ("EBB_JWT_LEEWAY", "5s"),
    ]))
    .await;
    let good = hs256(&json!({"sub": "ada", "iss": "ebb", "aud": "api", "exp": now() + 60}), SECRET.as_bytes());
    assert_eq!(call(addr, "/me", Some(&good)).await.2, "ada");
    assert_eq!(call(addr, "/open", None).await.2, "false", "no token: optional routes go on");

    let (status, challenge, _) = call(addr, "/me", None).await;
    assert_eq!((status, challenge.as_str()), (StatusCode::UNAUTHORIZED, "Bearer"));

    let cases = [
        (
            "expired",
            hs256(&json!({"sub": "ada", "iss": "ebb", "aud": "api", "exp": now() - 60}), SECRET.as_bytes()),
            "expired",
        ),
        (
            "forged",
            hs256(
                &json!({"sub": "ada", "iss": "ebb", "aud": "api", "exp": now() + 60}),
                b"another-secret-that-is-long-enough-xx",
            ),
            "signature",
        ),
        (
            "wrong issuer",
            hs256(&json!({"sub": "ada", "iss": "evil", "aud": "api", "exp": now() + 60}), SECRET.as_bytes()),
            "issuer",
        ),
        (
            "wrong audience",
            hs256(&json!({"sub": "ada", "iss": "ebb", "aud": "web", "exp": now() + 60}), SECRET.as_bytes()),
            "audience",
        ),
        ("no exp", hs256(&json!({"sub": "ada", "iss": "ebb", "aud": "api"}), SECRET.as_bytes()), "expiry"),
        (
            "nbf next year",
            hs256(
                &json!({"sub": "ada", "iss": "ebb", "aud": "api", "exp": now() + 2 * 365 * 86400, "nbf": now() + 365 * 86400}),
                SECRET.as_bytes(),
            ),
            "not valid yet",
        ),
        ("no sub", hs256(&json!({"iss": "ebb", "aud": "api", "exp": now() + 60}), SECRET.as_bytes()), "subject"),
        (
            "empty sub",
            hs256(&json!({"sub": " ", "iss": "ebb", "aud": "api", "exp": now() + 60}), SECRET.as_bytes()),
            "subject",
        ),
        (
            "sub not a string",
            hs256(&json!({"sub": 42, "iss": "ebb", "aud": "api", "exp": now() + 60}), SECRET.as_bytes()),
            "invalid token",
        ),
        ("alg none", unsigned(&json!({"sub": "ada", "iss": "ebb", "aud": "api", "exp": now() + 60})), "invalid token"),
        ("garbage", "!!!.???.###".to_owned(), "malformed"),
        ("not a jwt", "hello".to_owned(), "malformed"),
    ];
    for (name, token, reason) in cases {
        let (status, challenge, body) = call(addr, "/open", Some(&token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
        assert!(challenge.starts_with("Bearer error=\"invalid_token\""), "{name}: {challenge}");
        assert!(body.contains(reason), "{name}: {body}");
        assert!(!body.contains(&token), "{name}: the token must not be echoed");
    }
    // A token a little past exp is accepted within the leeway.
    let skewed = hs256(&json!({"sub": "ada", "iss": "ebb", "aud": "api", "exp": now() - 2}), SECRET.as_bytes());
    assert_eq!(call(addr, "/me", Some(&skewed)).await.0, StatusCode::OK);
    // And a token valid a moment from now (a clock a little behind the issuer's).
    let early = hs256(
        &json!({"sub": "ada", "iss": "ebb", "aud": "api", "exp": now() + 60, "nbf": now() + 2}),
        SECRET.as_bytes(),
    );
    assert_eq!(call(addr, "/me", Some(&early)).await.0, StatusCode::OK);
}

/// With `EBB_JWT_ISSUER` and `EBB_JWT_AUDIENCE` set, a token must carry both: `iss` as one
/// string, `aud` as a string or a list of strings that names ours. Control: jsonwebtoken's
/// own `Validation` with the same issuer and audience but without them required accepts
/// the tokens that leave them out (and an `iss` it cannot parse) — what ebb did before.
#[tokio::test]
async fn a_configured_issuer_and_audience_are_required_and_typed() {
    use ebb_session::jsonwebtoken::{DecodingKey, Validation, decode};

    let addr =
        serve(&config(&[("EBB_JWT_SECRET", SECRET), ("EBB_JWT_ISSUER", "ebb"), ("EBB_JWT_AUDIENCE", "api")])).await;
    let token = |claims: serde_json::Value| {
        let mut claims = claims;
        claims["sub"] = json!("ada");
        claims["exp"] = json!(now() + 60);
        hs256(&claims, SECRET.as_bytes())
    };
    let accepted = [
        ("aud as a string", token(json!({"iss": "ebb", "aud": "api"}))),
        ("aud as a list naming ours", token(json!({"iss": "ebb", "aud": ["web", "api"]}))),
    ];
    for (name, token) in &accepted {
        assert_eq!(call(addr, "/me", Some(token)).await.0, StatusCode::OK, "{name}");
    }
    let no_iss = token(json!({"aud": "api"}));
    let no_aud = token(json!({"iss": "ebb"}));
    let iss_number = token(json!({"iss": 42, "aud": "api"}));
    let refused = [
        ("no iss", &no_iss, "issuer (`iss`) is missing or not a string"),
        ("no aud", &no_aud, "audience (`aud`) is missing"),
        ("iss a number", &iss_number, "issuer (`iss`) is missing or not a string"),
        ("iss an array", &token(json!({"iss": ["ebb"], "aud": "api"})), "issuer (`iss`) is missing or not a string"),
        ("iss null", &token(json!({"iss": null, "aud": "api"})), "issuer (`iss`) is missing or not a string"),
        ("aud a number", &token(json!({"iss": "ebb", "aud": 7})), "audience (`aud`) is missing"),
        ("aud null", &token(json!({"iss": "ebb", "aud": null})), "audience (`aud`) is missing"),
        ("aud a list without ours", &token(json!({"iss": "ebb", "aud": ["web"]})), "audience is not accepted"),
    ];
    for (name, token, reason) in refused {
        let (status, challenge, body) = call(addr, "/open", Some(token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
        assert!(challenge.starts_with("Bearer error=\"invalid_token\""), "{name}: {challenge}");
        assert!(body.contains(reason), "{name}: {body}");
    }

    // Control: the library's checks alone, issuer and audience set but not required.
    let mut lenient = Validation::new(Algorithm::HS256);
    lenient.set_issuer(&["ebb"]);
    lenient.set_audience(&["api"]);
    let key = DecodingKey::from_secret(SECRET.as_bytes());
    for (name, token) in [("no iss", &no_iss), ("no aud", &no_aud), ("iss a number", &iss_number)] {
        let decoded = decode::<serde_json::Value>(token, &key, &lenient);
        assert!(decoded.is_ok(), "{name}: jsonwebtoken alone accepts it: {decoded:?}");
    }
}

/// `{"alg":"none"}` with the claims and an empty signature.
fn unsigned(claims: &serde_json::Value) -> String {
    use base64_url::encode as b64;
    format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(claims.to_string().as_bytes()))
}

mod base64_url {
    /// Unpadded base64url, enough for tests.
    pub(super) fn encode(bytes: &[u8]) -> String {
        const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().enumerate().fold(0_u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }
}

#[tokio::test]
async fn eddsa_public_keys_verify_and_refuse_hs256_signed_with_the_public_key() {
    let dir = TempDir::new("ebb-jwt");
    let private = dir.path().join("private.pem");
    let public = dir.path().join("public.pem");
    let ok =
        |args: &[&str]| assert!(Command::new("openssl").args(args).status().is_ok_and(|s| s.success()), "{args:?}");
    ok(&["genpkey", "-algorithm", "ed25519", "-out", private.to_str().expect("utf-8")]);
    ok(&["pkey", "-in", private.to_str().expect("utf-8"), "-pubout", "-out", public.to_str().expect("utf-8")]);
    let public_path = public.display().to_string();
    let addr = serve(&config(&[("EBB_JWT_PUBLIC_KEY_FILE", &public_path), ("EBB_JWT_ALGORITHM", "EdDSA")])).await;

    let claims = json!({"sub": "grace", "exp": now() + 60});
    let key = EncodingKey::from_ed_pem(&std::fs::read(&private).expect("pem")).expect("key");
    let token = encode(&Header::new(Algorithm::EdDSA), &claims, &key).expect("encode");
    assert_eq!(call(addr, "/me", Some(&token)).await.2, "grace");

    // The classic confusion attack: HS256 with the public key as the secret.
    let confused = hs256(&claims, &std::fs::read(&public).expect("pem"));
    let (status, _, body) = call(addr, "/me", Some(&confused)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("algorithm"), "{body}");
}

/// A key pair made by `openssl genpkey` with `options`: (private PEM, public PEM file).
fn key_pair(dir: &TempDir, name: &str, options: &[&str]) -> (Vec<u8>, String) {
    let private = dir.path().join(format!("{name}.key.pem"));
    let public = dir.path().join(format!("{name}.pub.pem"));
    let (private_path, public_path) = (private.to_str().expect("utf-8"), public.to_str().expect("utf-8"));
    let run = |args: &[&str]| {
        let status = Command::new("openssl").args(args).status();
        assert!(status.is_ok_and(|s| s.success()), "openssl {args:?}");
    };
    run(&[&["genpkey"][..], options, &["-out", private_path]].concat());
    run(&["pkey", "-in", private_path, "-pubout", "-out", public_path]);
    (std::fs::read(&private).expect("private pem"), public_path.to_owned())
}

/// A service verifying `algorithm` with a fresh key pair accepts tokens signed by its
/// private key, and refuses those of another pair of the same kind.
async fn public_keys_verify_and_other_keys_are_refused(algorithm: Algorithm, options: &[&str]) {
    let name = format!("{algorithm:?}");
    let dir = TempDir::new("ebb-jwt");
    let (private, public) = key_pair(&dir, "ours", options);
    let (stranger, _) = key_pair(&dir, "theirs", options);
    let addr = serve(&config(&[("EBB_JWT_PUBLIC_KEY_FILE", &public), ("EBB_JWT_ALGORITHM", &name)])).await;
    let key = |pem: &[u8]| match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(pem).expect("rsa key"),
        _ => EncodingKey::from_ec_pem(pem).expect("ec key"),
    };
    let claims = json!({"sub": "grace", "exp": now() + 60});

    let token = encode(&Header::new(algorithm), &claims, &key(&private)).expect("encode");
    assert_eq!(call(addr, "/me", Some(&token)).await, (StatusCode::OK, String::new(), "grace".to_owned()));

    let forged = encode(&Header::new(algorithm), &claims, &key(&stranger)).expect("encode");
    let (status, challenge, body) = call(addr, "/me", Some(&forged)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
    assert!(challenge.starts_with("Bearer error=\"invalid_token\""), "{challenge}");
    assert!(body.contains("signature"), "{name}: {body}");
}

#[tokio::test]
async fn rs256_public_keys_verify_and_refuse_another_rsa_key() {
    let rsa = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"];
    public_keys_verify_and_other_keys_are_refused(Algorithm::RS256, &rsa).await;
}

#[tokio::test]
async fn es256_public_keys_verify_and_refuse_another_p256_key() {
    let p256 = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
    public_keys_verify_and_other_keys_are_refused(Algorithm::ES256, &p256).await;
}

#[tokio::test]
async fn without_a_key_every_token_is_refused_not_ignored() {
    let addr = serve(&config(&[])).await;
    let token = hs256(&json!({"sub": "ada", "exp": now() + 60}), SECRET.as_bytes());
    let (status, _, body) = call(addr, "/open", Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("accepts no bearer tokens"), "{body}");
}
