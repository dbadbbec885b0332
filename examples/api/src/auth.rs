//! `POST /login`, `GET /me`, `POST /logout`: a session in Redis (or, without `REDIS_URL`, in
//! this process), or a bearer token instead; and the rule that object writes need either.

use std::sync::Arc;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Json, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ebb_server::ebb_session::{Claims, Session};
use serde::Deserialize;

use crate::demo_user::DemoUser;
use crate::login_limit::LoginLimit;

const USER_KEY: &str = "user";

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

/// The peer address, when the server recorded one (ebb-server always does).
struct Peer(Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| *peer)))
    }
}

struct Login {
    user: DemoUser,
    limit: LoginLimit,
}

pub(crate) fn routes(user: DemoUser, limit: LoginLimit) -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .with_state(Arc::new(Login { user, limit }))
}

async fn login(
    State(login): State<Arc<Login>>,
    Peer(peer): Peer,
    headers: HeaderMap,
    session: Session,
    Json(credentials): Json<Credentials>,
) -> Response {
    if let Some(refusal) = login.limit.refuse(&credentials.username, peer, &headers).await {
        return refusal;
    }
    let user = &login.user;
    let known = same(&credentials.username, &user.username) & same(&credentials.password, &user.password);
    if !known {
        login.limit.failed(peer, &headers).await;
        return (StatusCode::UNAUTHORIZED, "unknown username or wrong password\n").into_response();
    }
    // A new session id at login, so that an id planted before it (fixation) is worthless.
    if let Err(error) = session.cycle_id().await {
        return store_error(&error);
    }
    if let Err(error) = session.insert(USER_KEY, &credentials.username).await {
        return store_error(&error);
    }
    Json(serde_json::json!({ "user": credentials.username })).into_response()
}

async fn me(session: Session, claims: Option<Claims>) -> Response {
    if let Some(claims) = claims {
        let user = claims.subject().unwrap_or_default().to_owned();
        return Json(serde_json::json!({ "user": user, "via": "token" })).into_response();
    }
    match session.get::<String>(USER_KEY).await {
        Ok(Some(user)) => Json(serde_json::json!({ "user": user, "via": "session" })).into_response(),
        Ok(None) => {
            let mut response =
                (StatusCode::UNAUTHORIZED, "log in (POST /login) or send a bearer token\n").into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
        Err(error) => store_error(&error),
    }
}

async fn logout(session: Session) -> Response {
    match session.flush().await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => store_error(&error),
    }
}

/// Object writes (`PUT`, `DELETE`, presigning and completing uploads) need a logged-in
/// session or a valid bearer token; reads (`GET`, `HEAD`) are public. The session is looked
/// at only for writes, so reads never touch the session store.
pub(crate) async fn writers_only(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) || request.extensions().get::<Claims>().is_some() {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let session = match Session::from_request_parts(&mut parts, &()).await {
        Ok(session) => session,
        Err(rejection) => return rejection.into_response(),
    };
    match session.get::<String>(USER_KEY).await {
        Ok(Some(_)) => next.run(Request::from_parts(parts, body)).await,
        Ok(None) => {
            let mut response =
                (StatusCode::UNAUTHORIZED, "writing objects needs a login (POST /login) or a bearer token\n")
                    .into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
        Err(error) => store_error(&error),
    }
}

fn store_error(error: &dyn std::fmt::Display) -> Response {
    tracing::warn!("session store: {error}");
    (StatusCode::SERVICE_UNAVAILABLE, "the session store is unavailable; retry later\n").into_response()
}

/// Equality in time that does not depend on where the first difference is.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn compares_whole_strings() {
        assert!(same("demo", "demo"));
        assert!(!same("demo", "demp"));
        assert!(!same("demo", "demo!"));
    }
}
