//! One canned plain-text response, for the answers a layer gives itself (a probe, a 429, a
//! 401): generic over the body, so each crate uses it with its own body type.

use http::{HeaderValue, Response, StatusCode, header};

/// A `status` response with `text` as its body, `Content-Type: text/plain; charset=utf-8`
/// and `X-Content-Type-Options: nosniff` (a browser must never guess another type).
///
/// Any body that converts from the text works: http-body-util's `Full<Bytes>` and axum's
/// `Body` take `&'static str` and `String`.
///
/// ```
/// use http::{StatusCode, header};
///
/// let response: http::Response<String> = ebb_core::response::text_response(StatusCode::NOT_FOUND, "no such probe\n");
/// assert_eq!(response.status(), StatusCode::NOT_FOUND);
/// assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain; charset=utf-8");
/// assert_eq!(response.body(), "no such probe\n");
/// ```
pub fn text_response<B>(status: StatusCode, text: impl Into<B>) -> Response<B> {
    let mut response = Response::new(text.into());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_body_and_headers() {
        let response: Response<String> = text_response(StatusCode::TOO_MANY_REQUESTS, format!("retry in {} s\n", 2));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(response.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(response.body(), "retry in 2 s\n");
    }
}
