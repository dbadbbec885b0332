//! The HTTP API over [`Offload`] as an axum [`Router`] (feature `axum`); nest it where you
//! like (`Router::new().nest("/files", ebb_offload::http::routes(offload))`):
//!
//! | request | answer |
//! |---|---|
//! | `PUT /{key}` | streams the body to the store; `201` with the JSON [`Metadata`] |
//! | `GET /{key}` | streams the object; `Range` (`206`), `ETag`, `If-None-Match` (`304`) |
//! | `HEAD /{key}` | the metadata as headers |
//! | `DELETE /{key}` | removes object and metadata; `204` |
//! | `POST /{key}/download-url` | `{ "url", "method", "expires_at" }` for the current version |
//! | `POST /{key}/upload-url` `{"size", "content_type"?}` | a [`PresignedUpload`]: `PUT` the bytes to it with its `headers` |
//! | `POST /{key}/complete` `{"version"}` | makes a presigned upload the key's object; `201` with the metadata |
//! | `POST /{key}/multipart` | starts a presigned multipart upload: `{ "version", "upload_id" }` |
//! | `POST /{key}/multipart/part-url` `{"version", "upload_id", "part_number"}` | a `PUT` URL for one part |
//! | `POST /{key}/multipart/complete` `{"version", "upload_id", "parts": [etag, ...]}` | `201` with the metadata |
//! | `POST /{key}/multipart/abort` `{"version", "upload_id"}` | `204`; nothing becomes visible |
//!
//! A `Content-Type` (at upload, or for a presigned upload) must be one media type, else
//! `400`; it is stored in a normal form (`type/subtype` in lowercase, plus its `charset`).
//! Responses with an object carry `X-Content-Type-Options: nosniff` and
//! `Content-Security-Policy: sandbox`; types outside the inline list
//! ([`OffloadConfig::inline_types`](crate::OffloadConfig::inline_types)), and stored types
//! that are not media types, are sent as `application/octet-stream` with
//! `Content-Disposition: attachment`.
//!
//! Errors are text with the reason in our words (never a store message, path or endpoint):
//! `400` bad key, body or request, `404`, `409` conflicts, `413` over the size limit, `416`
//! range outside the object, `501` presigning on a local store, `503` (+ `Retry-After`) when
//! a store is unavailable or a write's outcome is unknown.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::put;

use bytes::Bytes;
use serde::Deserialize;

use crate::download::{Download, Fetched};
use crate::metadata::Metadata;
use crate::serving::served;
use crate::{MultipartUpload, ObjectKey, Offload, OffloadError, PresignedUpload};

/// Header carrying the SHA-256 (hex) of objects uploaded through the service.
pub const SHA256_HEADER: &str = "x-content-sha256";

/// The routes, keyed by the rest of the path.
///
/// Each request's calls to the store carry its `traceparent`, `tracestate` and
/// `x-request-id` (see [`crate::forward`]).
pub fn routes(offload: Offload) -> Router {
    Router::new()
        .route("/{*key}", put(upload).get(download).head(head).delete(delete).post(presign))
        .layer(axum::middleware::from_fn(forward_trace))
        .with_state(offload)
}

async fn forward_trace(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let headers = crate::forward::forwarded_headers(request.headers());
    crate::forward::forwarding(headers, next.run(request)).await
}

async fn upload(State(offload): State<Offload>, Path(key): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let key = match ObjectKey::parse(&key) {
        Ok(key) => key,
        Err(error) => return error_response(&OffloadError::BadKey(error)),
    };
    // A type that is not visible ASCII is no media type: refused with the others.
    let content_type = headers.get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("\u{0}"));
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
        Ok(Fetched::Content(download)) => content_response(&offload, download),
        Err(error) => error_response(&error),
    }
}

fn content_response(offload: &Offload, download: Download) -> Response {
    let length = download.content_length();
    let status = if download.range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
    let Download { meta, range, body, .. } = download;
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = status;
    metadata_headers(offload, response.headers_mut(), &meta);
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
            metadata_headers(&offload, response.headers_mut(), &meta);
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

/// What each `POST /{key}/<action>` may carry (fields by action; unknown ones refused).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Action {
    size: Option<u64>,
    content_type: Option<String>,
    version: Option<String>,
    upload_id: Option<String>,
    part_number: Option<u32>,
    parts: Option<Vec<String>>,
}

const ACTIONS: [&str; 7] = [
    "/upload-url",
    "/download-url",
    "/complete",
    "/multipart",
    "/multipart/part-url",
    "/multipart/complete",
    "/multipart/abort",
];

async fn presign(State(offload): State<Offload>, Path(path): Path<String>, body: Bytes) -> Response {
    // The longest matching action wins (`/multipart/complete` before `/complete`).
    let Some((key, action)) = ACTIONS
        .iter()
        .filter_map(|action| path.strip_suffix(action).map(|key| (key, *action)))
        .max_by_key(|(_, action)| action.len())
    else {
        let list = ACTIONS.map(|a| &a[1..]).join(", ");
        return (StatusCode::NOT_FOUND, format!("POST <key>/<action>, the action one of: {list}\n")).into_response();
    };
    let key = match ObjectKey::parse(key) {
        Ok(key) => key,
        Err(error) => return error_response(&OffloadError::BadKey(error)),
    };
    let fields: Action = if body.iter().all(u8::is_ascii_whitespace) {
        Action::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(fields) => fields,
            Err(error) => {
                let reason = format!("the body must be a JSON object with the action's fields: {error}");
                return error_response(&OffloadError::BadRequest(reason));
            }
        }
    };
    let missing = |field: &str| OffloadError::BadRequest(format!("`{field}` is required for {}", &action[1..]));
    let upload = |fields: &Action| -> Result<MultipartUpload, OffloadError> {
        Ok(MultipartUpload {
            version: fields.version.clone().ok_or_else(|| missing("version"))?,
            upload_id: fields.upload_id.clone().ok_or_else(|| missing("upload_id"))?,
        })
    };
    let answer = async {
        Ok::<_, OffloadError>(match action {
            "/download-url" => axum::Json(offload.presign_download(&key).await?).into_response(),
            "/upload-url" => {
                let size = fields.size.ok_or_else(|| missing("size"))?;
                let upload: PresignedUpload =
                    offload.presign_upload(&key, size, fields.content_type.as_deref()).await?;
                axum::Json(upload).into_response()
            }
            "/complete" => {
                let version = fields.version.as_deref().ok_or_else(|| missing("version"))?;
                (StatusCode::CREATED, axum::Json(offload.complete_upload(&key, version).await?)).into_response()
            }
            "/multipart" => axum::Json(offload.start_multipart(&key).await?).into_response(),
            "/multipart/part-url" => {
                let part = fields.part_number.ok_or_else(|| missing("part_number"))?;
                axum::Json(offload.presign_part(&key, &upload(&fields)?, part).await?).into_response()
            }
            "/multipart/complete" => {
                let parts = fields.parts.clone().ok_or_else(|| missing("parts"))?;
                let meta = offload.complete_multipart(&key, &upload(&fields)?, parts).await?;
                (StatusCode::CREATED, axum::Json(meta)).into_response()
            }
            _ => {
                offload.abort_multipart(&key, &upload(&fields)?).await?;
                StatusCode::NO_CONTENT.into_response()
            }
        })
    };
    answer.await.unwrap_or_else(|error| error_response(&error))
}

fn metadata_headers(offload: &Offload, headers: &mut HeaderMap, meta: &Metadata) {
    let served = served(&meta.content_type, &offload.limits().inline_types);
    let mut set = |name, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, &served.content_type);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // Even a type a browser would render cannot run script or reach the origin's cookies.
    set(header::CONTENT_SECURITY_POLICY, "sandbox");
    if served.attachment {
        set(header::CONTENT_DISPOSITION, "attachment");
    }
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
    if let OffloadError::RangeNotSatisfiable { size } = error
        && let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}"))
    {
        response.headers_mut().insert(header::CONTENT_RANGE, value);
    }
    if error.status() == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}
