//! `cargo xtask image --push` to registries that point elsewhere: credentials go only to the
//! registry's own origin and to the realm its challenge names, and never leave TLS.
//!
//! The hostile side is a small HTTP server of the test's own that records every
//! `Authorization` it receives; the downgrade runs against Debian's `docker-registry` over
//! HTTPS with a throwaway CA, so that the loopback exception (plain HTTP to a loopback
//! registry) cannot hide it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use ebb_testkit::{RegistryServer, RegistryTokenAuth, TempDir, TestCa};

const XTASK: &str = env!("CARGO_BIN_EXE_ebb-xtask");
const BIN: &str = "example-minimal";
const USER: &str = "ci";
const PASSWORD: &str = "hostile-test-8c1e";

/// `xtask image --push TARGET`, with credentials for `host` in a Docker config of its own
/// and `extra` in the environment.
fn push(target: &str, host: &str, extra: &[(&str, &Path)]) -> Output {
    let out = TempDir::new("ebb-push-hostile");
    let docker = TempDir::new("ebb-docker-config");
    let auth = base64(&format!("{USER}:{PASSWORD}"));
    let config = format!(r#"{{"auths": {{"{host}": {{"auth": "{auth}"}}}}}}"#);
    std::fs::write(docker.path().join("config.json"), config).expect("config.json");
    let mut command = Command::new(XTASK);
    command
        .args(["image", "--bin", BIN, "--out"])
        .arg(out.path())
        .args(["--push", target])
        .env("DOCKER_CONFIG", docker.path())
        .env_remove("SSL_CERT_FILE")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    for (name, value) in extra {
        command.env(name, value);
    }
    command.output().expect("run xtask")
}

fn base64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// One request as a [`Recorder`] saw it.
#[derive(Clone, Debug)]
struct Seen {
    /// `METHOD /path?query`.
    request: String,
    authorization: Option<String>,
}

/// A plain-HTTP server on `ip` that records every request and answers with `answer`
/// (status line and extra headers).
struct Recorder {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

type Answer = dyn Fn(&Seen) -> (&'static str, Vec<(&'static str, String)>) + Send + Sync;

impl Recorder {
    fn start(
        ip: &str,
        answer: impl Fn(&Seen) -> (&'static str, Vec<(&'static str, String)>) + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind((ip, 0)).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let answer: Arc<Answer> = Arc::new(answer);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &*answer, &log);
            }
        });
        Self { addr, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("log").clone()
    }

    fn with_credentials(&self) -> Vec<Seen> {
        self.seen().into_iter().filter(|seen| seen.authorization.is_some()).collect()
    }
}

fn serve(stream: TcpStream, answer: &Answer, log: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let request = format!("{} {}", words.next().unwrap_or_default(), words.next().unwrap_or_default());
    let (mut authorization, mut length) = (None, 0_usize);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_owned());
            } else if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    // The body is read before the answer, so that the client never sees a reset.
    std::io::copy(&mut reader.by_ref().take(length as u64), &mut std::io::sink())?;
    let seen = Seen { request, authorization };
    let (status, headers) = answer(&seen);
    log.lock().expect("log").push(seen);
    let mut stream = stream;
    write!(stream, "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n")?;
    for (name, value) in headers {
        write!(stream, "{name}: {value}\r\n")?;
    }
    write!(stream, "\r\n")
}

/// A registry that wants Basic credentials and names `location` for every upload.
fn hostile_registry(location: impl Fn(SocketAddr) -> String + Send + Sync + 'static) -> Recorder {
    let addr = Arc::new(Mutex::new(None::<SocketAddr>));
    let own = Arc::clone(&addr);
    let registry = Recorder::start("127.0.0.1", move |seen| {
        if seen.authorization.is_none() {
            return ("401 Unauthorized", vec![("www-authenticate", r#"Basic realm="hostile""#.to_owned())]);
        }
        match seen.request.split_once(' ').map(|(method, _)| method) {
            Some("HEAD") => ("404 Not Found", Vec::new()),
            Some("POST") => {
                let addr = own.lock().expect("addr").expect("started");
                ("202 Accepted", vec![("location", location(addr))])
            }
            _ => ("201 Created", Vec::new()),
        }
    });
    *addr.lock().expect("addr") = Some(registry.addr);
    registry
}

#[test]
fn an_upload_location_on_another_host_gets_no_credentials() {
    // Another host: 127.0.0.2 (loopback too, so the plain HTTP of this test is allowed).
    let storage = Recorder::start("127.0.0.2", |_| ("201 Created", Vec::new()));
    let elsewhere = format!("http://{}/upload?state=1", storage.addr);
    let registry = hostile_registry(move |_| elsewhere.clone());
    let host = registry.addr.to_string();
    let output = push(&format!("{host}/ebb/{BIN}:test"), &host, &[]);
    assert!(output.status.success(), "push failed:\n{}", stderr(&output));
    let uploads = storage.seen();
    assert_eq!(uploads.len(), 2, "the config and the layer went to the other host: {uploads:?}");
    assert!(storage.with_credentials().is_empty(), "credentials sent to another host: {uploads:?}");
    assert!(uploads.iter().all(|seen| seen.request.contains("digest=sha256%3A")), "{uploads:?}");
    let manifest = registry.seen().into_iter().find(|seen| seen.request.contains("/manifests/test"));
    assert!(
        manifest
            .is_some_and(|seen| seen.authorization == Some(format!("Basic {}", base64(&format!("{USER}:{PASSWORD}"))))),
        "the registry itself still gets them: {:?}",
        registry.seen()
    );

    // Negative control: the same registry naming a location on its own origin gets the
    // credentials with the upload, so the protection is not "never send them".
    let registry = hostile_registry(|addr| format!("http://{addr}/v2/ebb/{BIN}/blobs/uploads/1?state=1"));
    let host = registry.addr.to_string();
    let output = push(&format!("{host}/ebb/{BIN}:test"), &host, &[]);
    assert!(output.status.success(), "push failed:\n{}", stderr(&output));
    let uploads: Vec<Seen> =
        registry.with_credentials().into_iter().filter(|seen| seen.request.contains("/uploads/1")).collect();
    assert_eq!(uploads.len(), 2, "{:?}", registry.seen());
}

#[test]
fn an_https_registry_never_sends_credentials_to_a_plain_http_realm() {
    let dir = TempDir::new("ebb-registry-tls");
    let ca = TestCa::new(dir.path(), "registry-ca");
    // A token endpoint over plain HTTP that records what it gets and grants nothing.
    let realm = Recorder::start("127.0.0.1", |_| ("401 Unauthorized", Vec::new()));
    let auth = RegistryTokenAuth {
        realm: format!("http://{}/token", realm.addr),
        service: "ebb-test-registry".to_owned(),
        issuer: "ebb-test-token-server".to_owned(),
        root_certificate: ca.cert(),
    };
    let registry = RegistryServer::start_tls_with_token_auth(&auth, &ca);
    let host = registry.addr().to_string();
    let target = format!("{}/ebb/{BIN}:test", registry.url());
    assert!(target.starts_with("https://"), "{target}");

    // The CA is what makes the registry reachable: without it, TLS fails first.
    let untrusted = push(&target, &host, &[]);
    assert!(!untrusted.status.success());
    assert!(stderr(&untrusted).contains("cannot reach 127.0.0.1"), "{}", stderr(&untrusted));

    let cert = ca.cert();
    let output = push(&target, &host, &[("SSL_CERT_FILE", &cert)]);
    let stderr = stderr(&output);
    assert!(!output.status.success(), "the push succeeded:\n{stderr}");
    assert!(realm.seen().is_empty(), "the plain-HTTP realm was asked: {:?}", realm.seen());
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("error: push to {host} refused: 401 Unauthorized — https://{host} sent a token realm to http://127.0.0.1: refused")),
        "{stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");

    // Negative control: a loopback registry over plain HTTP may name a plain-HTTP realm, and
    // the same recorder then does receive the credentials.
    let plain = RegistryServer::start_with_token_auth(&auth);
    let plain_host = plain.addr().to_string();
    let output = push(&format!("{plain_host}/ebb/{BIN}:test"), &plain_host, &[]);
    assert!(!output.status.success(), "the realm grants nothing");
    let basic = format!("Basic {}", base64(&format!("{USER}:{PASSWORD}")));
    assert!(
        realm.with_credentials().iter().any(|seen| seen.authorization.as_deref() == Some(basic.as_str())),
        "{:?}",
        realm.seen()
    );
}
