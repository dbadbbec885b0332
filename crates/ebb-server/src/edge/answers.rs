//! The answers the edge gives in place of the application: plain text, our words only,
//! never the handler's or a library's (which can name paths, hosts or internals).

use bytes::Bytes;
use ebb_core::response::text_response;
use http::{HeaderValue, Response, StatusCode, header};

/// Counter of requests answered 503 because the in-flight cap was reached.
pub const HTTP_REQUESTS_SHED_TOTAL: &str = "http_requests_shed_total";
/// Counter of what was refused because one client held its share, by `resource`:
/// `requests` (429: `EBB_MAX_IN_FLIGHT_PER_CLIENT`), `probes` (429: probe requests in flight
/// on the application port) or `connections` (closed at once:
/// `EBB_MAX_CONNECTIONS_PER_CLIENT`).
pub const HTTP_CLIENT_SHARE_EXCEEDED_TOTAL: &str = "http_client_share_exceeded_total";

/// A canned answer: its status, its text and whether it ends the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Over the in-flight cap: 503 + `Retry-After`, at once.
    Overloaded,
    /// The client holds its share of the in-flight cap: 429 + `Retry-After`, at once.
    ClientBusy,
    /// The client has its share of probe requests in flight already: 429.
    ProbesBusy,
    /// The handler had no response head within the request timeout.
    TooSlow,
    /// The request body stalled (the progress timeout fired).
    BodyStalled,
    /// The handler panicked.
    Panicked,
    /// The shutdown deadline passed before the handler answered.
    Cut,
}

impl Answer {
    fn status_and_text(self) -> (StatusCode, &'static str) {
        match self {
            Self::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "the service is overloaded; retry shortly\n"),
            Self::ClientBusy => {
                (StatusCode::TOO_MANY_REQUESTS, "too many requests from your address at once; retry shortly\n")
            }
            Self::ProbesBusy => (StatusCode::TOO_MANY_REQUESTS, "too many probe requests from your address at once\n"),
            Self::TooSlow => (StatusCode::SERVICE_UNAVAILABLE, "the request took too long and was abandoned\n"),
            Self::BodyStalled => (StatusCode::REQUEST_TIMEOUT, "the request body arrived too slowly; send it again\n"),
            Self::Panicked => (StatusCode::INTERNAL_SERVER_ERROR, "internal server error\n"),
            Self::Cut => (StatusCode::SERVICE_UNAVAILABLE, ebb_shutdown::drain::CUT_MESSAGE),
        }
    }

    /// The response, with a body made by `body` from the text.
    pub(crate) fn response<B>(self, body: impl FnOnce(Bytes) -> B) -> Response<B> {
        let (status, text) = self.status_and_text();
        let mut response = text_response::<Bytes>(status, Bytes::from_static(text.as_bytes())).map(body);
        let headers = response.headers_mut();
        match self {
            Self::Overloaded | Self::ClientBusy | Self::ProbesBusy => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            // The connection may hold the rest of a body nobody reads, or is going away.
            Self::BodyStalled | Self::Cut => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Self::TooSlow | Self::Panicked => {}
        }
        response
    }
}
