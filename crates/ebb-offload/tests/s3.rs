//! ebb-offload against a real S3 server (s3s-fs, SigV4 checked), through its HTTP API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ebb_offload::{MemoryMetadata, Metadata, Offload, OffloadConfig};
use ebb_testkit::S3Server;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

const MIB: usize = 1 << 20;

fn config(s3: &S3Server) -> OffloadConfig {
    let env = s3.env("files");
    let mut config = OffloadConfig::from_lookup(|name| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
        .expect("valid settings");
    config.part_size = 5 * MIB;
    config.parts_in_flight = 2;
    config
}

/// Serves the HTTP API under `/files` on a free port.
async fn serve(offload: Offload) -> SocketAddr {
    let app = axum::Router::new().nest("/files", ebb_offload::http::routes(offload));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    addr
}

fn offload(config: &OffloadConfig) -> Offload {
    Offload::from_config(config, Arc::new(MemoryMetadata::new())).expect("store")
}

/// Deterministic bytes that differ at every offset (xorshift).
fn data(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_object_round_trips_with_ranges_across_parts() {
    let s3 = S3Server::start(&["files"]);
    let addr = serve(offload(&config(&s3))).await;
    let client = reqwest::Client::new();
    let body = data(3 * 5 * MIB + 12_345);
    let url = format!("http://{addr}/files/reports/2026/big.bin");

    let created =
        client.put(&url).header("content-type", "application/pdf").body(body.clone()).send().await.expect("put");
    assert_eq!(created.status(), StatusCode::CREATED);
    let meta: Metadata = created.json().await.expect("json");
    assert_eq!(meta.size, body.len() as u64);
    assert_eq!(meta.sha256.as_deref(), Some(sha256_hex(&body).as_str()));
    assert_eq!(meta.content_type, "application/pdf");
    let etag = meta.etag.clone().expect("an etag");

    let whole = client.get(&url).send().await.expect("get");
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()["content-length"], body.len().to_string().as_str());
    assert_eq!(whole.headers()["content-type"], "application/pdf");
    assert_eq!(whole.headers()["etag"], etag.as_str());
    assert!(whole.bytes().await.expect("body") == body, "the object changed on the way");

    for (start, end) in [(5 * MIB - 10, 5 * MIB + 10), (0, 0), (10 * MIB - 1, 15 * MIB + 99)] {
        let part = client.get(&url).header("range", format!("bytes={start}-{end}")).send().await.expect("range");
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
        assert!(!part.headers().contains_key("x-content-sha256"), "a part must not announce the whole checksum");
        let expected_range = format!("bytes {start}-{end}/{}", body.len());
        assert_eq!(part.headers()["content-range"], expected_range.as_str());
        assert!(part.bytes().await.expect("body") == body[start..=end], "range {start}-{end}");
    }
    let tail = client.get(&url).header("range", "bytes=-100").send().await.expect("suffix");
    assert!(tail.bytes().await.expect("body") == body[body.len() - 100..]);
    let outside = client.get(&url).header("range", format!("bytes={}-", body.len())).send().await.expect("416");
    assert_eq!(outside.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(outside.headers()["content-range"], format!("bytes */{}", body.len()).as_str());

    let cached = client.get(&url).header("if-none-match", etag.as_str()).send().await.expect("304");
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    let head = client.head(&url).send().await.expect("head");
    assert_eq!(head.headers()["content-length"], body.len().to_string().as_str());
    assert_eq!(head.headers()["x-content-sha256"], sha256_hex(&body).as_str());

    assert_eq!(client.delete(&url).send().await.expect("delete").status(), StatusCode::NO_CONTENT);
    assert_eq!(client.get(&url).send().await.expect("get").status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_and_empty_objects_take_one_put() {
    let s3 = S3Server::start(&["files"]);
    let addr = serve(offload(&config(&s3))).await;
    let client = reqwest::Client::new();
    for (key, body) in [("small.txt", b"hello".to_vec()), ("empty", Vec::new())] {
        let url = format!("http://{addr}/files/{key}");
        let response = client.put(&url).body(body.clone()).send().await.expect("put");
        assert_eq!(response.status(), StatusCode::CREATED, "{key}");
        let got = client.get(&url).send().await.expect("get");
        assert_eq!(got.headers()["content-type"], "application/octet-stream");
        assert!(got.bytes().await.expect("body") == body, "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_urls_go_straight_to_the_store_and_expire() {
    let s3 = S3Server::start(&["files"]);
    let mut config = config(&s3);
    config.url_expiry = Duration::from_secs(2);
    config.max_size = MIB as u64;
    let addr = serve(offload(&config)).await;
    let client = reqwest::Client::new();
    let body = data(300_000);

    let request = serde_json::json!({"size": 300_000});
    let upload: serde_json::Value = post(&client, addr, "direct/a.bin/upload-url", request).await;
    assert_eq!(upload["method"], "PUT");
    let upload_url = upload["url"].as_str().expect("url").to_owned();
    assert!(upload_url.starts_with(&s3.endpoint()), "{upload_url}");
    assert!(upload["expires_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    let put = client.put(&upload_url).body(body.clone()).send().await.expect("direct put");
    assert!(put.status().is_success(), "{}", put.status());
    // Not the key's object until completed.
    assert_eq!(head_status(&client, addr, "direct/a.bin").await, StatusCode::NOT_FOUND);
    let version = upload["version"].as_str().expect("version");
    let done = client
        .post(format!("http://{addr}/files/direct/a.bin/complete"))
        .json(&serde_json::json!({ "version": version }))
        .send()
        .await
        .expect("complete");
    assert_eq!(done.status(), StatusCode::CREATED);
    // Completing again answers the same object; using the URL again after completion never
    // changes what is served.
    let again = client
        .post(format!("http://{addr}/files/direct/a.bin/complete"))
        .json(&serde_json::json!({ "version": version }))
        .send()
        .await
        .expect("complete again");
    assert_eq!(again.status(), StatusCode::CREATED);
    let reused = client.put(&upload_url).body(data(500_000)).send().await.expect("reuse");
    assert!(reused.status().is_success(), "{}", reused.status());
    let served = client.get(format!("http://{addr}/files/direct/a.bin")).send().await.expect("get");
    assert_eq!(served.headers()["content-length"], "300000", "a reused URL changed the served object");

    let download: serde_json::Value = post(&client, addr, "direct/a.bin/download-url", serde_json::Value::Null).await;
    let download_url = download["url"].as_str().expect("url").to_owned();
    assert!(client.get(&download_url).send().await.expect("direct get").bytes().await.expect("body") == body);
    // The service serves it with the store's true size and tag.
    let head = client.head(format!("http://{addr}/files/direct/a.bin")).send().await.expect("head");
    assert_eq!(head.headers()["content-length"], "300000");
    let served = client.get(format!("http://{addr}/files/direct/a.bin")).send().await.expect("get");
    assert!(served.headers().contains_key("etag"));
    assert_eq!(served.bytes().await.expect("body"), body);

    // A tampered signature is refused.
    let tampered = tamper(&download_url);
    assert_eq!(client.get(&tampered).send().await.expect("tampered").status(), StatusCode::FORBIDDEN);
    // So is an expired URL (the expiry is 2 s here).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = client.get(&download_url).send().await.expect("expired").status();
        if status == StatusCode::FORBIDDEN {
            break;
        }
        assert!(Instant::now() < deadline, "the URL never expired ({status})");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // No URL for an object that does not exist; none for more than the size limit.
    let missing = client.post(format!("http://{addr}/files/nope/download-url")).send().await.expect("post");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let huge = client
        .post(format!("http://{addr}/files/huge/upload-url"))
        .json(&serde_json::json!({"size": config.max_size + 1}))
        .send()
        .await
        .expect("post");
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // The store cannot refuse a longer body (object_store will not sign Content-Length):
    // completion does. Over the limit, the object is deleted and never served.
    let small: serde_json::Value = post(&client, addr, "sneaky/upload-url", serde_json::json!({"size": 10})).await;
    let oversize = vec![7u8; usize::try_from(config.max_size).expect("size") + 1];
    let put = client.put(small["url"].as_str().expect("url")).body(oversize).send().await.expect("put");
    assert!(put.status().is_success(), "{}", put.status());
    let complete = client
        .post(format!("http://{addr}/files/sneaky/complete"))
        .json(&serde_json::json!({"version": small["version"]}))
        .send()
        .await
        .expect("complete");
    assert_eq!(complete.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(head_status(&client, addr, "sneaky").await, StatusCode::NOT_FOUND);
    let no_size = client.post(format!("http://{addr}/files/x/upload-url")).send().await.expect("post");
    assert_eq!(no_size.status(), StatusCode::BAD_REQUEST);
    assert!(no_size.text().await.expect("body").contains("size"));
}

async fn post(client: &reqwest::Client, addr: SocketAddr, path: &str, body: serde_json::Value) -> serde_json::Value {
    let request = client.post(format!("http://{addr}/files/{path}"));
    let request = if body.is_null() { request } else { request.json(&body) };
    let response = request.send().await.expect("post");
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().await.expect("json")
}

async fn head_status(client: &reqwest::Client, addr: SocketAddr, key: &str) -> StatusCode {
    client.head(format!("http://{addr}/files/{key}")).send().await.expect("head").status()
}

fn tamper(url: &str) -> String {
    let at = url.find("X-Amz-Signature=").expect("a signature") + "X-Amz-Signature=".len();
    let mut bytes = url.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).expect("ascii")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_are_400_with_the_reason() {
    let s3 = S3Server::start(&["files"]);
    let addr = serve(offload(&config(&s3))).await;
    let client = reqwest::Client::new();
    let long = "k".repeat(1025);
    let cases = [
        // Encoded slashes keep HTTP clients from resolving the dots before they are sent.
        ("%2E%2E%2Fescape", "`.` or `..`"),
        ("a/%2E%2E%2F%2E%2E%2Fb", "`.` or `..`"),
        ("%2Fetc%2Fpasswd", "start with `/`"),
        ("a//b", "empty segments"),
        ("a%00b", "control characters"),
        ("a%5Cb", "backslashes"),
        (long.as_str(), "1025 bytes"),
    ];
    for (key, reason) in cases {
        let response = client.put(format!("http://{addr}/files/{key}")).body("x").send().await.expect("put");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{key}");
        let text = response.text().await.expect("body");
        assert!(text.contains(reason), "{key}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_size_limit_answers_413_and_stores_nothing() {
    let s3 = S3Server::start(&["files"]);
    let mut config = config(&s3);
    config.max_size = 6 * MIB as u64;
    let offload = offload(&config);
    let addr = serve(offload.clone()).await;
    let client = reqwest::Client::new();
    // Declared too large: refused before a byte is sent, as curl does it (Expect: 100-continue).
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "PUT /files/declared HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nexpect: 100-continue\r\n\r\n",
        7 * MIB
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let mut answer = vec![0; 12];
    tokio::io::AsyncReadExt::read_exact(&mut stream, &mut answer).await.expect("answer");
    assert_eq!(&answer, b"HTTP/1.1 413", "{}", String::from_utf8_lossy(&answer));
    drop(stream);
    // Streamed without a length: refused once the limit is crossed (after a part went up).
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..14).map(|_| Ok(data(MIB / 2))).collect();
    let streamed = client
        .put(format!("http://{addr}/files/streamed"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .expect("put");
    assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(streamed.text().await.expect("body").contains("limit"));
    // A fresh client: the server closes a connection whose body it refused to read, and a
    // pooled one may be reused just as it closes.
    let fresh = reqwest::Client::new();
    for key in ["declared", "streamed"] {
        let status = fresh.head(format!("http://{addr}/files/{key}")).send().await.expect("head").status();
        assert_eq!(status, StatusCode::NOT_FOUND, "{key} must not be visible");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_midway_leaves_nothing_visible() {
    let s3 = S3Server::start(&["files"]);
    let addr = serve(offload(&config(&s3))).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!("PUT /files/cut.bin HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\n\r\n", 20 * MIB);
    stream.write_all(head.as_bytes()).await.expect("head");
    // Two full parts and a half: the multipart upload has started.
    stream.write_all(&data(12 * MIB)).await.expect("body");
    stream.flush().await.expect("flush");
    drop(stream);

    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    // Give the service time to notice; the object must never appear.
    while Instant::now() < deadline {
        let status = client.head(format!("http://{addr}/files/cut.bin")).send().await.expect("head").status();
        assert_eq!(status, StatusCode::NOT_FOUND, "a partial object became visible");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_store_answers_503_and_recovers_without_a_restart() {
    let mut s3 = S3Server::start(&["files"]);
    let offload = offload(&config(&s3));
    let addr = serve(offload.clone()).await;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/files/kept.txt");
    assert_eq!(client.put(&url).body("kept").send().await.expect("put").status(), StatusCode::CREATED);

    s3.stop();
    assert!(offload.check().await.is_err(), "readiness must report the store down");
    let started = Instant::now();
    let put = client.put(format!("http://{addr}/files/new.txt")).body("new").send().await.expect("put");
    assert_eq!(put.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = put.text().await.expect("body");
    assert!(text.contains("object store is unavailable"), "{text}");
    assert!(!text.contains("127.0.0.1") && !text.contains("http"), "no endpoint in answers: {text}");
    let get = client.get(&url).send().await.expect("get");
    assert_eq!(get.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_secs(15), "503s took {:?}", started.elapsed());

    s3.restart();
    assert!(offload.check().await.is_ok());
    assert_eq!(client.get(&url).send().await.expect("get").text().await.expect("body"), "kept");
}
