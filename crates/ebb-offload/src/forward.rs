//! Trace context and request id on the calls made to the object store for a request.
//!
//! The HTTP routes ([`crate::http`]) run each request's store calls inside
//! [`forwarding`], which keeps the request's `traceparent`, `tracestate` and `x-request-id`
//! for the task; the S3 client's connector adds them to every HTTP request it sends from
//! that task, after signing (SigV4 signs only the headers it lists, so they do not change
//! the signature). object_store uploads multipart parts on tasks of its own, where the
//! values are not visible: those part uploads go out without them.

use std::future::Future;

use async_trait::async_trait;
use http::{HeaderMap, HeaderName};
use object_store::client::{
    ClientOptions, HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpService, ReqwestConnector,
};

/// The headers forwarded, in the order they are looked up.
pub const FORWARDED_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("traceparent"),
    HeaderName::from_static("tracestate"),
    HeaderName::from_static("x-request-id"),
];

/// Longest value forwarded: a trace header is far shorter; anything longer is not copied.
const MAX_VALUE_LEN: usize = 512;

tokio::task_local! {
    static FORWARDED: HeaderMap;
}

/// The forwarded headers among `request`'s: W3C `traceparent` only when well formed.
pub fn forwarded_headers(request: &HeaderMap) -> HeaderMap {
    let mut kept = HeaderMap::new();
    for name in FORWARDED_HEADERS {
        let Some(value) = request.get(&name).filter(|v| v.len() <= MAX_VALUE_LEN) else { continue };
        if name == "traceparent" && !well_formed_traceparent(value.as_bytes()) {
            continue;
        }
        kept.insert(name, value.clone());
    }
    kept
}

/// Runs `future` with `headers` forwarded on the object store calls it makes.
pub async fn forwarding<F: Future>(headers: HeaderMap, future: F) -> F::Output {
    if headers.is_empty() { future.await } else { FORWARDED.scope(headers, future).await }
}

/// `version-traceid-parentid-flags`, lowercase hex, as W3C Trace Context level 1 writes it.
fn well_formed_traceparent(value: &[u8]) -> bool {
    let hex = |part: &[u8]| part.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
    value.len() == 55
        && [value[2], value[35], value[52]] == [b'-'; 3]
        && hex(&value[..2])
        && hex(&value[3..35])
        && hex(&value[36..52])
        && hex(&value[53..])
        && &value[..2] != b"ff"
}

/// object_store's reqwest client, adding the task's forwarded headers to each request.
#[derive(Debug, Default)]
pub(crate) struct ForwardingConnector;

impl HttpConnector for ForwardingConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(Forwarding(ReqwestConnector::default().connect(options)?)))
    }
}

#[derive(Debug)]
struct Forwarding(HttpClient);

#[async_trait]
impl HttpService for Forwarding {
    async fn call(&self, mut request: HttpRequest) -> Result<HttpResponse, HttpError> {
        // Outside a forwarding scope (background work, spawned part uploads): nothing added.
        let _ = FORWARDED.try_with(|headers| {
            for (name, value) in headers {
                request.headers_mut().insert(name, value.clone());
            }
        });
        self.0.execute(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_trace_context_is_forwarded() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", good.parse().expect("value"));
        headers.insert("x-request-id", "abc".parse().expect("value"));
        headers.insert("authorization", "Bearer secret".parse().expect("value"));
        let kept = forwarded_headers(&headers);
        assert_eq!(kept.len(), 2);
        assert!(kept.get("authorization").is_none(), "only trace headers are forwarded");
        for bad in [&good.to_uppercase(), &good[1..], "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"] {
            headers.insert("traceparent", bad.parse().expect("value"));
            assert!(forwarded_headers(&headers).get("traceparent").is_none(), "{bad}");
        }
    }
}
