//! [`Session`]: the session of a request, loaded *before* the handler runs.
//!
//! `tower-sessions` loads a session lazily, inside the handler. With Redis down, the handler
//! would then run its side effects and fail half-way (or the save after it would turn its
//! answer into a 500). This extractor loads first: if the store cannot answer, the request
//! gets 503 and the handler never runs. Requests whose handler does not take a `Session`
//! never touch the store.

use std::ops::Deref;

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};

/// The session of the request, already loaded from the store (derefs to
/// [`tower_sessions::Session`]: `get`, `insert`, `cycle_id`, `flush`, ...).
///
/// - An unknown, expired or malformed session id is no session: nothing is written, and
///   the cookie is cleared in the response.
/// - Only sessions that hold data are saved; a session in use has its lifetime renewed (in
///   the store and in the cookie), best effort: a renewal the store does not take never
///   changes the answer.
/// - The store unavailable: 503 with `Retry-After`, before the handler runs; and after it
///   when the handler changed the session (a login) and the change cannot be saved.
#[derive(Clone, Debug)]
pub struct Session(tower_sessions::Session);

impl Session {
    /// The `tower-sessions` handle.
    pub fn into_inner(self) -> tower_sessions::Session {
        self.0
    }
}

impl Deref for Session {
    type Target = tower_sessions::Session;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Why a [`Session`] could not be had.
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionRejection {
    /// The session store did not answer.
    Unavailable,
    /// No session layer is installed around this route (a programming error).
    MissingLayer,
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, crate::manager::UNAVAILABLE),
            Self::MissingLayer => (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"),
        };
        let mut response = (status, text).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(session) = parts.extensions.get::<tower_sessions::Session>().cloned() else {
            tracing::error!("a handler takes a Session but no session layer is installed");
            return Err(SessionRejection::MissingLayer);
        };
        // Any read loads the record once (no cookie: nothing to load, no store access).
        if let Err(error) = session.get_value("").await {
            tracing::warn!(%error, "session store unavailable; answering 503 before the handler");
            return Err(SessionRejection::Unavailable);
        }
        if !session.is_empty().await {
            // Renew the lifetime of a live session after the handler (best effort: see
            // `SessionLayer`); the session itself is not changed by being read.
            if let Some(renewal) = parts.extensions.get::<crate::manager::Renewal>() {
                renewal.request();
            }
        }
        Ok(Self(session))
    }
}
