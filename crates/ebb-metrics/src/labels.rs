//! Bounded label sets: the route template, a closed set of methods, and a cap on distinct
//! `{method, route, status}` combinations, with handles cached so that the hot path neither
//! allocates nor touches the recorder's registry.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use http::{HeaderMap, Method, Request, StatusCode, header};
use metrics::{Counter, Histogram};

use crate::names::{
    HTTP_LABEL_OVERFLOW_TOTAL, HTTP_REQUEST_DURATION_SECONDS, HTTP_REQUESTS_TOTAL, ROUTE_OVERFLOW, ROUTE_UNMATCHED,
};

/// The route label of a request, held without copying the string: axum's `MatchedPath` is
/// an `Arc` inside, and the fixed labels are shared.
#[derive(Clone)]
pub(crate) enum Route {
    #[cfg(feature = "axum")]
    Matched(axum::extract::MatchedPath),
    Shared(Arc<str>),
    /// A gRPC method path, not yet a label: it becomes one only when the response shows
    /// that the service serves it (see [`Route::settle`]), so that made-up paths sent
    /// with a gRPC content type cannot add series.
    GrpcCandidate(Arc<str>),
    /// A gRPC method path the response confirmed ([`Route::settled`]).
    Grpc(Arc<str>),
}

impl Route {
    /// Whether the label comes from a gRPC method path.
    pub(crate) fn is_grpc(&self) -> bool {
        matches!(self, Self::GrpcCandidate(_) | Self::Grpc(_))
    }

    /// The route decided by the response head, for answers recorded later (at the end of a
    /// gRPC response body, where the status is in the trailers).
    pub(crate) fn settled(self, response: &HeaderMap, unmatched: &Route) -> Route {
        match self {
            Self::GrpcCandidate(path) if serves_grpc_method(response) => Self::Grpc(path),
            Self::GrpcCandidate(_) => unmatched.clone(),
            other => other,
        }
    }

    /// The label, once the response is known. A gRPC candidate keeps its path only when
    /// the answer is a gRPC response that is not `UNIMPLEMENTED` (code 12: what tonic
    /// answers for a service or method it does not have); otherwise it is `unmatched`.
    pub(crate) fn settle<'a>(&'a self, response: Option<&HeaderMap>, unmatched: &'a Route) -> &'a str {
        match self {
            #[cfg(feature = "axum")]
            Self::Matched(matched) => matched.as_str(),
            Self::Shared(route) | Self::Grpc(route) => route,
            Self::GrpcCandidate(path) if response.is_some_and(serves_grpc_method) => path,
            Self::GrpcCandidate(_) => unmatched.settle(None, unmatched),
        }
    }
}

const GRPC_UNIMPLEMENTED: &[u8] = b"12";

/// Not a gRPC answer: its series have no `grpc_status` label.
pub(crate) const NOT_GRPC: u8 = u8::MAX;
/// The code of a gRPC answer without a readable status.
pub(crate) const GRPC_UNKNOWN: u8 = 2;
/// The code of a gRPC response stream the client dropped before its end.
pub(crate) const GRPC_CANCELLED: u8 = 1;

/// The `grpc_status` label values, by code: the names of the gRPC specification.
const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The `grpc-status` of headers or trailers: `None` when absent, `UNKNOWN` when it is not
/// a code of the specification (a peer cannot add label values).
pub(crate) fn grpc_code(headers: &HeaderMap) -> Option<u8> {
    let value = headers.get("grpc-status")?;
    let code = std::str::from_utf8(value.as_bytes()).ok().and_then(|text| text.trim().parse::<u8>().ok());
    Some(code.filter(|code| usize::from(*code) < GRPC_CODES.len()).unwrap_or(GRPC_UNKNOWN))
}

pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
}

fn serves_grpc_method(headers: &HeaderMap) -> bool {
    is_grpc(headers) && headers.get("grpc-status").is_none_or(|status| status.as_bytes() != GRPC_UNIMPLEMENTED)
}

/// Distinct gRPC method routes at most. A service answers unknown methods with
/// `UNIMPLEMENTED`, but an interceptor (authentication) answers before the method lookup, so
/// made-up paths can look served; this cap keeps them from crowding out the HTTP routes.
pub(crate) const MAX_GRPC_ROUTES: usize = 100;

const METHODS: [&str; 10] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "OTHER"];

/// A method folded into a closed set, so that `FOO /` cannot add label values.
pub(crate) fn method_index(method: &Method) -> u8 {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::DELETE => 3,
        Method::PATCH => 4,
        Method::HEAD => 5,
        Method::OPTIONS => 6,
        Method::CONNECT => 7,
        Method::TRACE => 8,
        _ => 9,
    }
}

/// The route template of a request: axum's `MatchedPath`; for gRPC a candidate method path
/// (`/package.Service/Method`) that the response must confirm; else [`ROUTE_UNMATCHED`].
/// Only routes the service really has can become labels: the set is bounded by the
/// router and the service definitions, whatever clients send. `grpc`: whether the
/// request's `content-type` is gRPC's, as the caller read it.
pub(crate) fn route_of_known<B>(req: &Request<B>, grpc: bool, unmatched: &Route) -> Route {
    #[cfg(feature = "axum")]
    if let Some(matched) = req.extensions().get::<axum::extract::MatchedPath>() {
        // tonic routes a whole service through one wildcard route: the method is the path.
        if !(grpc && matched.as_str().contains("{*")) {
            return Route::Matched(matched.clone());
        }
    }
    if grpc { Route::GrpcCandidate(Arc::from(req.uri().path())) } else { unmatched.clone() }
}

pub(crate) struct Handles {
    pub(crate) requests: Counter,
    pub(crate) duration: Histogram,
}

/// Handles of one route, by method, status and gRPC code: a handful per route, so a scan
/// beats a hash.
type RouteTable = Vec<(Key, Handles)>;

/// Method index, HTTP status, gRPC code (or [`NOT_GRPC`]).
type Key = (u8, u16, u8);

/// Route templates by name. The keys are the service's own route templates (clients cannot
/// choose them: unknown paths are `unmatched` before any lookup), so a fast non-keyed hash
/// is safe here, and SipHash was a measurable part of the per-request cost.
type Routes = HashMap<Box<str>, RouteTable, BuildHasherDefault<Fnv>>;

/// FNV-1a, 64 bits.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Handles per label set, created on first sight and capped. Looked up by `&str`, so the
/// hot path neither allocates nor builds a key.
pub(crate) struct LabelCache {
    routes: RwLock<Routes>,
    len: AtomicUsize,
    /// Distinct gRPC method routes so far; capped apart from the rest (see
    /// [`MAX_GRPC_ROUTES`]).
    grpc_routes: AtomicUsize,
    max: usize,
    overflow: Counter,
    pub(crate) unmatched: Route,
}

impl LabelCache {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            routes: RwLock::new(Routes::default()),
            len: AtomicUsize::new(0),
            grpc_routes: AtomicUsize::new(0),
            max,
            overflow: metrics::counter!(HTTP_LABEL_OVERFLOW_TOTAL),
            unmatched: Route::Shared(Arc::from(ROUTE_UNMATCHED)),
        }
    }

    /// Calls `record` with the handles of this label set, registering them on first sight.
    /// The common case takes a read lock and clones nothing.
    /// `grpc_route`: the route is a gRPC method path; new ones past [`MAX_GRPC_ROUTES`] are
    /// counted as `unmatched`. `grpc_code`: the answer's gRPC status, or [`NOT_GRPC`].
    pub(crate) fn with_handles(
        &self,
        method: u8,
        route: &str,
        grpc_route: bool,
        status: StatusCode,
        grpc_code: u8,
        record: impl FnOnce(&Handles),
    ) {
        let key = (method, status.as_u16(), grpc_code);
        {
            let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
            if let Some(handles) = find(&routes, route, key) {
                return record(handles);
            }
        }
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        if let Some(handles) = find(&routes, route, key) {
            return record(handles);
        }
        let route = if grpc_route && !routes.contains_key(route) {
            if self.grpc_routes.load(Ordering::Relaxed) >= MAX_GRPC_ROUTES {
                if let Some(handles) = find(&routes, ROUTE_UNMATCHED, key) {
                    return record(handles);
                }
                ROUTE_UNMATCHED
            } else {
                self.grpc_routes.fetch_add(1, Ordering::Relaxed);
                route
            }
        } else {
            route
        };
        let route = if self.len.load(Ordering::Relaxed) >= self.max {
            self.overflow.increment(1);
            if let Some(handles) = find(&routes, ROUTE_OVERFLOW, key) {
                return record(handles);
            }
            ROUTE_OVERFLOW
        } else {
            route
        };
        let handles = register(route, key);
        record(&handles);
        routes.entry(Box::from(route)).or_default().push((key, handles));
        self.len.fetch_add(1, Ordering::Relaxed);
    }
}

fn find<'a>(routes: &'a Routes, route: &str, key: Key) -> Option<&'a Handles> {
    let table = routes.get(route)?;
    table.iter().find(|(k, _)| *k == key).map(|(_, handles)| handles)
}

fn register(route: &str, (method, status, grpc_code): Key) -> Handles {
    let mut labels = vec![
        ("method", METHODS[usize::from(method)].to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    if let Some(name) = GRPC_CODES.get(usize::from(grpc_code)) {
        labels.push(("grpc_status", (*name).to_owned()));
    }
    Handles {
        requests: metrics::counter!(HTTP_REQUESTS_TOTAL, labels.as_slice()),
        duration: metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, labels.as_slice()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_fold_into_other() {
        let method = Method::from_bytes(b"BREW").expect("valid token");
        assert_eq!(METHODS[usize::from(method_index(&method))], "OTHER");
        assert_eq!(METHODS[usize::from(method_index(&Method::PATCH))], "PATCH");
    }

    #[test]
    fn grpc_paths_are_routes_only_when_served_and_plain_paths_are_unmatched() {
        let unmatched = Route::Shared(Arc::from(ROUTE_UNMATCHED));
        let grpc = Request::post("/grpc.health.v1.Health/Check")
            .header(header::CONTENT_TYPE, "application/grpc")
            .body(())
            .expect("request");
        let route = route_of_known(&grpc, is_grpc(grpc.headers()), &unmatched);
        let mut served = HeaderMap::new();
        served.insert(header::CONTENT_TYPE, "application/grpc".parse().expect("value"));
        assert_eq!(route.settle(Some(&served), &unmatched), "/grpc.health.v1.Health/Check");
        served.insert("grpc-status", "5".parse().expect("value"));
        assert_eq!(route.settle(Some(&served), &unmatched), "/grpc.health.v1.Health/Check", "NOT_FOUND is served");
        served.insert("grpc-status", "12".parse().expect("value"));
        assert_eq!(route.settle(Some(&served), &unmatched), ROUTE_UNMATCHED, "UNIMPLEMENTED is not");
        let mut limited = HeaderMap::new();
        limited.insert(header::CONTENT_TYPE, "text/plain".parse().expect("value"));
        assert_eq!(route.settle(Some(&limited), &unmatched), ROUTE_UNMATCHED, "a 429 proves nothing");
        assert_eq!(route.settle(None, &unmatched), ROUTE_UNMATCHED, "nor does a dropped request");
        let plain = Request::get("/wp-admin.php").body(()).expect("request");
        assert_eq!(
            route_of_known(&plain, is_grpc(plain.headers()), &unmatched).settle(None, &unmatched),
            ROUTE_UNMATCHED
        );
    }
}
