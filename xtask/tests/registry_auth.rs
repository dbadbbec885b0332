//! `cargo xtask image --push` to registries that want credentials: Debian's `docker-registry`
//! behind htpasswd (Basic) and behind token auth (Bearer, with the token endpoint below), the
//! credentials found in a `DOCKER_CONFIG` of the test's own (`auths`, a credential helper).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use ebb_testkit::{RegistryServer, RegistryTokenAuth, TempDir, TestCa};

const XTASK: &str = env!("CARGO_BIN_EXE_ebb-xtask");
const BIN: &str = "example-minimal";
const USER: &str = "ci";
const PASSWORD: &str = "pässword-8c1e";

/// `xtask image --push REGISTRY/ebb/example-minimal:test`, the Docker config in `docker`,
/// and `path_first` (if any) first on PATH.
fn push(registry: &RegistryServer, docker: &Path, path_first: Option<&Path>) -> (Output, TempDir) {
    let out = TempDir::new("ebb-push-auth");
    let target = format!("{}/ebb/{BIN}:test", registry.addr());
    let mut command = Command::new(XTASK);
    command
        .args(["image", "--bin", BIN, "--out"])
        .arg(out.path())
        .args(["--push", &target])
        .env("DOCKER_CONFIG", docker)
        // As a user runs it: anyhow would append a backtrace to the error line.
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if let Some(dir) = path_first {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let paths = std::iter::once(dir.to_owned()).chain(std::env::split_paths(&path));
        command.env("PATH", std::env::join_paths(paths).expect("PATH"));
    }
    (command.output().expect("run xtask"), out)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The push succeeded, printed `registry/repo@digest`, and the registry serves the manifest
/// under the tag with that digest to `authorization`.
fn assert_pushed(registry: &RegistryServer, (output, out): &(Output, TempDir), authorization: &str) {
    assert!(output.status.success(), "push failed:\n{}", stderr(output));
    let digest = std::fs::read_to_string(out.path().join("digest")).expect("digest");
    let printed = String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().to_owned();
    assert_eq!(printed, format!("{}/ebb/{BIN}@{}", registry.addr(), digest.trim()));
    let response = manifest(registry, Some(authorization));
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["docker-content-digest"], digest.trim());
}

fn manifest(registry: &RegistryServer, authorization: Option<&str>) -> reqwest::blocking::Response {
    let url = format!("http://{}/v2/ebb/{BIN}/manifests/test", registry.addr());
    let mut request =
        reqwest::blocking::Client::new().get(url).header("accept", "application/vnd.oci.image.manifest.v1+json");
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    request.send().expect("manifest")
}

/// The push failed, and its error is the last line of stderr, alone, with `expected` in it
/// and no password anywhere.
fn assert_refused(output: &Output, expected: &str) {
    let stderr = stderr(output);
    assert!(!output.status.success(), "the push succeeded:\n{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: push to ") && last.contains(expected), "{stderr}");
    assert!(!stderr.to_lowercase().contains("caused by"), "one line, not a chain:\n{stderr}");
    assert!(!stderr.contains(PASSWORD) && !stderr.contains("wrong-"), "a secret in the error:\n{stderr}");
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

fn docker_config(auths: &str) -> TempDir {
    let dir = TempDir::new("ebb-docker-config");
    std::fs::write(dir.path().join("config.json"), auths).expect("config.json");
    dir
}

fn auths(registry: &RegistryServer, password: &str) -> TempDir {
    let auth = basic(USER, password);
    let auth = auth.trim_start_matches("Basic ");
    docker_config(&format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, registry.addr()))
}

#[test]
fn basic_auth_push_with_credentials_from_docker_config_auths() {
    let registry = RegistryServer::start_with_htpasswd(USER, PASSWORD);
    let docker = auths(&registry, PASSWORD);
    let pushed = push(&registry, docker.path(), None);
    assert_pushed(&registry, &pushed, &basic(USER, PASSWORD));
}

#[test]
fn basic_auth_push_without_credentials_is_refused_in_one_line() {
    let registry = RegistryServer::start_with_htpasswd(USER, PASSWORD);
    // Negative control: the registry really refuses anonymous requests, with a Basic challenge.
    let anonymous = manifest(&registry, None);
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers()["www-authenticate"].to_str().expect("header").starts_with("Basic "));

    let docker = docker_config(r#"{"auths": {"other.example": {"auth": "eDp5"}}}"#);
    let (output, _out) = push(&registry, docker.path(), None);
    let host = registry.addr();
    let config = docker.path().join("config.json");
    assert_refused(
        &output,
        &format!(
            "push to {host} refused: 401 Unauthorized — no credentials for {host} in {} (docker login {host})",
            config.display()
        ),
    );
    // Nothing was stored.
    assert_eq!(manifest(&registry, Some(&basic(USER, PASSWORD))).status(), 404);

    // No Docker config at all: anonymous, and the same refusal.
    let empty = TempDir::new("ebb-docker-config-none");
    let (output, _out) = push(&registry, empty.path(), None);
    assert_refused(&output, &format!("no credentials for {host} in {}", empty.path().join("config.json").display()));
}

#[test]
fn basic_auth_push_with_a_wrong_password_is_refused_in_one_line() {
    let registry = RegistryServer::start_with_htpasswd(USER, PASSWORD);
    let docker = auths(&registry, "wrong-password");
    let (output, _out) = push(&registry, docker.path(), None);
    let host = registry.addr();
    let config = docker.path().join("config.json");
    assert_refused(
        &output,
        &format!(
            "push to {host} refused: 401 Unauthorized — the credentials for {host} (from {}) were refused",
            config.display()
        ),
    );
}

#[test]
fn a_malformed_docker_config_is_named_without_its_secrets() {
    let registry = RegistryServer::start_with_htpasswd(USER, PASSWORD);
    let docker = docker_config(&format!(r#"{{"auths": {{"{}": {{"auth": "{PASSWORD}"#, registry.addr()));
    let (output, _out) = push(&registry, docker.path(), None);
    let stderr = stderr(&output);
    assert!(!output.status.success());
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.contains("config.json is not a valid Docker config"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}

#[test]
fn basic_auth_push_with_credentials_from_a_credential_helper() {
    let registry = RegistryServer::start_with_htpasswd(USER, PASSWORD);
    // A helper that speaks the protocol: `get`, the host on stdin, JSON on stdout; anything
    // else is "credentials not found" and exit 1, as docker-credential-pass does.
    let bin = TempDir::new("ebb-credential-helper");
    let helper = bin.path().join("docker-credential-ebbtest");
    let script = format!(
        r#"#!/bin/sh
[ "$1" = get ] || exit 2
read -r host || true
if [ "$host" = "{}" ]; then
  printf '{{"ServerURL":"%s","Username":"{USER}","Secret":"{PASSWORD}"}}' "$host"
else
  echo "credentials not found in native keychain"
  exit 1
fi
"#,
        registry.addr()
    );
    std::fs::write(&helper, script).expect("helper");
    let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&helper, executable).expect("chmod");
    let docker = docker_config(&format!(r#"{{"credHelpers": {{"{}": "ebbtest"}}}}"#, registry.addr()));
    let pushed = push(&registry, docker.path(), Some(bin.path()));
    assert_pushed(&registry, &pushed, &basic(USER, PASSWORD));
}

/// A token endpoint as distribution's token auth expects one: checks Basic credentials,
/// answers `{"token": JWT}` — ES256, signed by a certificate the registry trusts (in the
/// `x5c` header), for the `service` as audience and the `scope` asked for.
struct TokenServer {
    realm: String,
    /// One line per request: `user=<name or ->` and the scope.
    requests: Arc<Mutex<Vec<String>>>,
    auth: RegistryTokenAuth,
    _dir: TempDir,
}

const SERVICE: &str = "ebb-test-registry";
const ISSUER: &str = "ebb-test-token-server";

impl TokenServer {
    fn start() -> Self {
        let dir = TempDir::new("ebb-token-server");
        let ca = TestCa::new(dir.path(), "token-ca");
        let (cert, key) = ca.issue("token-signer", "DNS:token-signer");
        let der = |pem: &Path| {
            let text = std::fs::read_to_string(pem).expect("pem");
            text.lines().filter(|l| !l.starts_with("-----")).collect::<String>()
        };
        let chain = vec![der(&cert), der(&ca.cert())];
        let key = jsonwebtoken::EncodingKey::from_ec_pem(&std::fs::read(key).expect("key")).expect("EC key");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let realm = format!("http://{}/token", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = answer(stream, &chain, &key, &log);
            }
        });
        let auth = RegistryTokenAuth {
            realm: realm.clone(),
            service: SERVICE.to_owned(),
            issuer: ISSUER.to_owned(),
            root_certificate: ca.cert(),
        };
        Self { realm, requests, auth, _dir: dir }
    }
}

fn answer(
    stream: std::net::TcpStream,
    chain: &[String],
    key: &jsonwebtoken::EncodingKey,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_owned());
        }
    }
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let param = |name: &str| {
        query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')).map(|v| {
            let v = v.replace("%3A", ":").replace("%3a", ":").replace("%2C", ",").replace("%2c", ",");
            v.replace("%2F", "/").replace("%2f", "/")
        })
    };
    let scope = param("scope").unwrap_or_default();
    let user = match authorization.as_deref() {
        Some(value) if value == basic(USER, PASSWORD) => Some(USER),
        Some(_) => {
            log.lock().expect("log").push(format!("user=refused {scope}"));
            return respond(stream, "401 Unauthorized", r#"{"details":"wrong credentials"}"#);
        }
        None => None,
    };
    log.lock().expect("log").push(format!(
        "user={} service={} {scope}",
        user.unwrap_or("-"),
        param("service").unwrap_or_default()
    ));
    // Only the user may push; anonymous tokens grant nothing.
    let access = match (user, scope.splitn(3, ':').collect::<Vec<_>>().as_slice()) {
        (Some(_), ["repository", name, actions]) => {
            vec![
                serde_json::json!({"type": "repository", "name": name, "actions": actions.split(',').collect::<Vec<_>>()}),
            ]
        }
        _ => Vec::new(),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs();
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": user.unwrap_or(""), "aud": SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", chain.len()),
        "access": access,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.x5c = Some(chain.to_vec());
    let token = jsonwebtoken::encode(&header, &claims, key).expect("sign");
    respond(stream, "200 OK", &serde_json::json!({ "token": token, "expires_in": 300 }).to_string())
}

fn respond(mut stream: std::net::TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn bearer_auth_push_gets_a_token_with_the_credentials_and_refusals_are_one_line() {
    let tokens = TokenServer::start();
    let registry = RegistryServer::start_with_token_auth(&tokens.auth);
    // Negative control: the registry refuses anonymous requests with a Bearer challenge.
    let anonymous = manifest(&registry, None);
    assert_eq!(anonymous.status(), 401);
    let challenge = anonymous.headers()["www-authenticate"].to_str().expect("header").to_owned();
    assert!(challenge.starts_with(&format!("Bearer realm=\"{}\"", tokens.realm)), "{challenge}");

    let docker = auths(&registry, PASSWORD);
    let pushed = push(&registry, docker.path(), None);
    assert!(pushed.0.status.success(), "push failed:\n{}", stderr(&pushed.0));
    let asked = tokens.requests.lock().expect("log").clone();
    assert!(
        asked.iter().any(|r| r == &format!("user={USER} service={SERVICE} repository:ebb/{BIN}:pull,push")),
        "{asked:?}"
    );
    // Fetch it back with a pull token of our own.
    let token_url = format!("{}?service={SERVICE}&scope=repository:ebb/{BIN}:pull", tokens.realm);
    let answer: serde_json::Value = reqwest::blocking::Client::new()
        .get(token_url)
        .header("authorization", basic(USER, PASSWORD))
        .send()
        .and_then(reqwest::blocking::Response::json)
        .expect("token");
    let bearer = format!("Bearer {}", answer["token"].as_str().expect("token"));
    assert_pushed(&registry, &pushed, &bearer);

    // No credentials: the anonymous token grants nothing.
    let host = registry.addr();
    let none = docker_config("{}");
    let (output, _out) = push(&registry, none.path(), None);
    assert_refused(&output, &format!("push to {host} refused: 401 Unauthorized — no credentials for {host} in"));
    // A wrong password: the token server refuses.
    let wrong = auths(&registry, "wrong-password");
    let (output, _out) = push(&registry, wrong.path(), None);
    assert_refused(&output, &format!("push to {host} refused: 401 Unauthorized — the credentials for {host}"));
}
