//! A `Content-Type` that is not one media type (`text/plain;,text/html`: a browser takes the
//! last type of such a list) is refused at upload; a good one is stored and served in its
//! normal form; a bad one already stored is served as an attachment of no type.

use std::net::SocketAddr;
use std::sync::Arc;

use ebb_offload::metadata::MetadataStore;
use ebb_offload::{MemoryMetadata, Offload, OffloadConfig, StoreConfig};
use reqwest::StatusCode;

async fn serve(dir: &ebb_testkit::TempDir) -> (SocketAddr, Arc<MemoryMetadata>) {
    let metadata = Arc::new(MemoryMetadata::new());
    let config = OffloadConfig { store: StoreConfig::Local(dir.path().to_owned()), ..OffloadConfig::default() };
    let offload = Offload::from_config(&config, metadata.clone()).expect("store");
    let app = axum::Router::new().nest("/files", ebb_offload::http::routes(offload));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (addr, metadata)
}

#[tokio::test]
async fn only_media_types_are_stored_and_they_are_served_normalised() {
    const LIST: &str = "text/plain;,text/html";
    let dir = ebb_testkit::TempDir::new("ebb-offload-types");
    let (addr, metadata) = serve(&dir).await;
    let client = reqwest::Client::new();
    let url = |key: &str| format!("http://{addr}/files/{key}");
    let html = "<script>alert(document.cookie)</script>";

    for bad in [LIST, "text/plain, text/html", "text/plain; charset=utf-8,text/html", "text", "text/plain; charset"] {
        let put = client.put(url("page")).header("content-type", bad).body(html).send().await.expect("put");
        assert_eq!(put.status(), StatusCode::BAD_REQUEST, "{bad}");
        let reason = put.text().await.expect("body");
        assert!(reason.contains("the Content-Type is not a media type") && !reason.contains("html"), "{reason}");
    }
    let opaque = reqwest::header::HeaderValue::from_bytes(b"text/plain; charset=\xe9").expect("opaque bytes");
    let put = client.put(url("page")).header("content-type", opaque).body(html).send().await.expect("put");
    assert_eq!(put.status(), StatusCode::BAD_REQUEST);
    assert_eq!(client.get(url("page")).send().await.expect("get").status(), StatusCode::NOT_FOUND, "nothing stored");

    let put = client.put(url("note")).header("content-type", "Text/Plain ; Charset=UTF-8; format=flowed");
    let put = put.body("hello").send().await.expect("put");
    assert_eq!(put.status(), StatusCode::CREATED);
    let meta: serde_json::Value = put.json().await.expect("metadata");
    assert_eq!(meta["content_type"], "text/plain; charset=utf-8");
    let got = client.get(url("note")).send().await.expect("get");
    assert_eq!(got.headers()["content-type"], "text/plain; charset=utf-8");
    assert!(!got.headers().contains_key("content-disposition"));

    // Stored before types were checked: served as an attachment of no type.
    let mut old = metadata.get("note").await.expect("metadata").expect("a record");
    old.content_type = LIST.to_owned();
    metadata.swap(&old).await.expect("rewrite");
    for response in
        [client.get(url("note")).send().await.expect("get"), client.head(url("note")).send().await.expect("head")]
    {
        assert_eq!(response.headers()["content-type"], "application/octet-stream");
        assert_eq!(response.headers()["content-disposition"], "attachment");
    }

    // Control: judged by the part before the first `;`, as before, the list looks like
    // `text/plain`, a type served inline.
    let essence = LIST.split(';').next().expect("a first part");
    assert!(ebb_offload::DEFAULT_INLINE_TYPES.contains(&essence), "{essence}");
}
