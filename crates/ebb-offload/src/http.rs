//! The HTTP API over [`Offload`] as an axum [`Router`] (feature `axum`); nest it where you
//! like (`Router::new().nest("/files", ebb_offload::http::routes(offload))`):
//!
//! | request | answer |
//! |---|---|
//! | `PUT /{key}` | streams the body to the store; `201` with the JSON [`Metadata`] |
//! | `GET /{key}` | streams the object; `Range` (`206`), `ETag`, `If-None-Match` (`304`) |
//! | `HEAD /{key}` | the metadata as headers |
//! | `DELETE /{key}` | removes object and metadata; `204` |
//! | `POST /{key}/upload-url`, `POST /{key}/download-url` | `{ "url", "method", "expires_at" }` |
//!
//! Errors are text with the reason: `400` bad key or broken body, `404`, `413` over the size
//! limit, `416` range outside the object, `501` presigning on a local store, `503` store
//! unavailable.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::put;

use crate::download::{Download, Fetched};
use crate::metadata::Metadata;
use crate::{ObjectKey, Offload, OffloadError};

/// Header carrying the SHA-256 (hex) of objects uploaded through the service.
pub const SHA256_HEADER: &str = "x-content-sha256";

/// The routes, keyed by the rest of the path.
pub fn routes(offload: Offload) -> Router {
    Router::new()
        .route("/{*key}", put(upload).get(download).head(head).delete(delete).post(presign))
        .with_state(offload)
}

async fn upload(State(offload): State<Offload>, Path(key): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let key = match ObjectKey::parse(&key) {
        Ok(key) => key,
        Err(error) => return error_response(&OffloadError::BadKey(error)),
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok());
    match offload.upload(&key, content_type, declared, body.into_data_stream()).await {
        Ok(meta) => (StatusCode::CREATED, axum::Json(meta)).into_response(),
        Err(error) => error_response(&error),
    }
}

async fn download(State(offload): State<Offload>, Path(key): Path<String>, headers: HeaderMap) -> Response {
    let key = match ObjectKey::parse(&key) {
        Ok(key) => key,
        Err(error) => return error_response(&OffloadError::BadKey(error)),
    };
    let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    match offload.download(&key, text(header::RANGE), text(header::IF_NONE_MATCH)).await {
        Ok(Fetched::NotModified(meta)) => {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            if let Some(etag) = meta.etag.as_deref().and_then(|e| HeaderValue::from_str(e).ok()) {
                response.headers_mut().insert(header::ETAG, etag);
            }
            response
        }
        Ok(Fetched::Content(download)) => content_response(download),
        Err(error) => error_response(&error),
    }
}

fn content_response(download: Download) -> Response {
    let length = download.content_length();
    let status = if download.range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
    let Download { meta, range, body, .. } = download;
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = status;
    metadata_headers(response.headers_mut(), &meta);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Some(range) = range {
        let value = format!("bytes {}-{}/{}", range.start, range.end - 1, meta.size);
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(header::CONTENT_RANGE, value);
        }
    }
    response
}

async fn head(State(offload): State<Offload>, Path(key): Path<String>) -> Response {
    let key = match ObjectKey::parse(&key) {
        Ok(key) => key,
        Err(error) => return error_response(&OffloadError::BadKey(error)),
    };
    match offload.metadata(&key).await {
        Ok(meta) => {
            let mut response = StatusCode::OK.into_response();
            metadata_headers(response.headers_mut(), &meta);
            response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(meta.size));
            response
        }
        // HEAD answers carry no body: the status says it all.
        Err(error) => error.status().into_response(),
    }
}

async fn delete(State(offload): State<Offload>, Path(key): Path<String>) -> Response {
    let key = match ObjectKey::parse(&key) {
        Ok(key) => key,
        Err(error) => return error_response(&OffloadError::BadKey(error)),
    };
    match offload.delete(&key).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error_response(&error),
    }
}

async fn presign(State(offload): State<Offload>, Path(path): Path<String>) -> Response {
    let (key, method) = if let Some(key) = path.strip_suffix("/upload-url") {
        (key, Method::PUT)
    } else if let Some(key) = path.strip_suffix("/download-url") {
        (key, Method::GET)
    } else {
        return (StatusCode::NOT_FOUND, "POST <key>/upload-url or <key>/download-url\n").into_response();
    };
    let key = match ObjectKey::parse(key) {
        Ok(key) => key,
        Err(error) => return error_response(&OffloadError::BadKey(error)),
    };
    if method == Method::GET {
        if let Err(error) = offload.metadata(&key).await {
            return error_response(&error);
        }
    }
    match offload.presign(method, &key).await {
        Ok(url) => axum::Json(url).into_response(),
        Err(error) => error_response(&error),
    }
}

fn metadata_headers(headers: &mut HeaderMap, meta: &Metadata) {
    let mut set = |name, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, &meta.content_type);
    set(header::ACCEPT_RANGES, "bytes");
    if let Some(etag) = &meta.etag {
        set(header::ETAG, etag);
    }
    if let Some(sha256) = &meta.sha256 {
        set(header::HeaderName::from_static(SHA256_HEADER), sha256);
    }
}

/// The error as text with its status; 416 also says the object's size.
pub fn error_response(error: &OffloadError) -> Response {
    let mut response = (error.status(), format!("{error}\n")).into_response();
    if let OffloadError::RangeNotSatisfiable { size } = error {
        if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
            response.headers_mut().insert(header::CONTENT_RANGE, value);
        }
    }
    if error.status() == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}
