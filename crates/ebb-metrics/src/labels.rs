//! Bounded label sets: the route template, a closed set of methods, and a cap on distinct
//! `{method, route, status}` combinations, with handles cached so that the hot path neither
//! allocates nor touches the recorder's registry.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use http::{Method, Request, StatusCode, header};
use metrics::{Counter, Histogram};

use crate::names::{
    HTTP_LABEL_OVERFLOW_TOTAL, HTTP_REQUEST_DURATION_SECONDS, HTTP_REQUESTS_TOTAL, ROUTE_OVERFLOW, ROUTE_UNMATCHED,
};

/// The route label of a request: `Arc` so that the hot path clones a pointer, not a string.
pub(crate) type Route = Arc<str>;

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

/// The route template of a request: axum's `MatchedPath`; for gRPC the method path
/// (`/package.Service/Method`, bounded by the service definition and by the cap); else
/// [`ROUTE_UNMATCHED`].
pub(crate) fn route_of<B>(req: &Request<B>, unmatched: &Route) -> Route {
    #[cfg(feature = "axum")]
    if let Some(matched) = req.extensions().get::<axum::extract::MatchedPath>() {
        return Arc::from(matched.as_str());
    }
    let grpc =
        req.headers().get(header::CONTENT_TYPE).is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"));
    if grpc { Arc::from(req.uri().path()) } else { unmatched.clone() }
}

#[derive(Clone)]
pub(crate) struct Handles {
    pub(crate) requests: Counter,
    pub(crate) duration: Histogram,
}

type Key = (u8, Route, u16);

/// Handles per label set, created on first sight and capped.
pub(crate) struct LabelCache {
    handles: RwLock<HashMap<Key, Handles>>,
    max: usize,
    overflow: Counter,
    pub(crate) unmatched: Route,
    overflow_route: Route,
}

impl LabelCache {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            handles: RwLock::new(HashMap::new()),
            max,
            overflow: metrics::counter!(HTTP_LABEL_OVERFLOW_TOTAL),
            unmatched: Arc::from(ROUTE_UNMATCHED),
            overflow_route: Arc::from(ROUTE_OVERFLOW),
        }
    }

    pub(crate) fn handles(&self, method: u8, route: &Route, status: StatusCode) -> Handles {
        let key = (method, route.clone(), status.as_u16());
        if let Some(handles) = self.handles.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return handles.clone();
        }
        let mut map = self.handles.write().unwrap_or_else(|e| e.into_inner());
        if let Some(handles) = map.get(&key) {
            return handles.clone();
        }
        let key = if map.len() >= self.max {
            self.overflow.increment(1);
            let folded = (method, self.overflow_route.clone(), status.as_u16());
            if let Some(handles) = map.get(&folded) {
                return handles.clone();
            }
            folded
        } else {
            key
        };
        let handles = register(&key);
        map.insert(key, handles.clone());
        handles
    }
}

fn register((method, route, status): &Key) -> Handles {
    let labels = [
        ("method", METHODS[usize::from(*method)].to_owned()),
        ("route", route.to_string()),
        ("status", status.to_string()),
    ];
    Handles {
        requests: metrics::counter!(HTTP_REQUESTS_TOTAL, &labels),
        duration: metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, &labels),
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
    fn grpc_paths_are_routes_and_plain_paths_are_unmatched() {
        let unmatched: Route = Arc::from(ROUTE_UNMATCHED);
        let grpc = Request::post("/grpc.health.v1.Health/Check")
            .header(header::CONTENT_TYPE, "application/grpc")
            .body(())
            .expect("request");
        assert_eq!(&*route_of(&grpc, &unmatched), "/grpc.health.v1.Health/Check");
        let plain = Request::get("/wp-admin.php").body(()).expect("request");
        assert_eq!(&*route_of(&plain, &unmatched), ROUTE_UNMATCHED);
    }
}
