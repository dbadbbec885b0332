//! [`SessionLayer`]: gives each request the session its cookie names, and after the handler
//! saves what it changed and renews what it used.
//!
//! Two kinds of write follow a handler, and they fail differently:
//!
//! - **A change** (login, an insert, a new id): the handler's answer depends on it. If the
//!   store cannot take it, the answer is 503 with `Retry-After` and a reason in our words:
//!   the client must not believe it is logged in when it is not.
//! - **A renewal** (the handler only used the session: its lifetime slides): best effort.
//!   If the store cannot take it, the handler's answer stands — an object was stored, a page
//!   was read — and the failure is logged and counted in `session_renew_failures_total`;
//!   the session then ends at its previous expiry. (tower-sessions' own manager turns any
//!   failed save into an empty 500, after the handler's side effects.)
//!
//! Nothing is written for a request whose session holds no data, and a cookie naming no
//! session is cleared.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{Either, Full};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;
use tower_sessions::cookie::time::Duration as CookieDuration;
use tower_sessions::cookie::{Cookie, SameSite};
use tower_sessions::session::Id;
use tower_sessions::{Expiry, Session, SessionStore};

use crate::names::SESSION_RENEW_FAILURES_TOTAL;

/// The answer when a change to the session cannot be saved (and when it cannot be loaded).
pub(crate) const UNAVAILABLE: &str = "sessions are unavailable right now; try again shortly\n";

/// The session layer: made by [`SessionConfig::layer`](crate::SessionConfig::layer). See
/// the [module docs](self).
#[derive(Debug)]
pub struct SessionLayer<Store> {
    store: Arc<Store>,
    cookie: Arc<CookieSpec>,
}

impl<Store> Clone for SessionLayer<Store> {
    fn clone(&self) -> Self {
        Self { store: self.store.clone(), cookie: self.cookie.clone() }
    }
}

/// The cookie: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Max-Age` the session's lifetime.
#[derive(Debug)]
pub(crate) struct CookieSpec {
    pub(crate) name: String,
    pub(crate) secure: bool,
    pub(crate) ttl: CookieDuration,
}

impl CookieSpec {
    fn set_cookie(&self, id: Option<Id>) -> Option<HeaderValue> {
        let value = id.map(|id| id.to_string()).unwrap_or_default();
        let builder = Cookie::build((self.name.as_str(), value))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .path("/");
        let cookie = if id.is_some() { builder.max_age(self.ttl) } else { builder.removal() };
        HeaderValue::from_str(&cookie.build().to_string()).ok()
    }

    /// The value of this cookie in the request, if sent.
    fn find<B>(&self, request: &Request<B>) -> Option<String> {
        let headers = request.headers().get_all(header::COOKIE);
        headers.iter().filter_map(|value| value.to_str().ok()).find_map(|text| {
            Cookie::split_parse(text).flatten().find(|c| c.name() == self.name).map(|c| c.value().to_owned())
        })
    }
}

impl<Store> SessionLayer<Store> {
    pub(crate) fn new(store: Store, cookie: CookieSpec) -> Self {
        Self { store: Arc::new(store), cookie: Arc::new(cookie) }
    }
}

impl<S, Store> Layer<S> for SessionLayer<Store> {
    type Service = SessionManager<S, Store>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionManager { inner, store: self.store.clone(), cookie: self.cookie.clone() }
    }
}

/// The service of [`SessionLayer`].
#[derive(Debug)]
pub struct SessionManager<S, Store> {
    inner: S,
    store: Arc<Store>,
    cookie: Arc<CookieSpec>,
}

impl<S: Clone, Store> Clone for SessionManager<S, Store> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), store: self.store.clone(), cookie: self.cookie.clone() }
    }
}

impl<S, Store> SessionManager<S, Store> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// Asks for the session's lifetime to be renewed after the handler: set by the
/// [`Session`](crate::Session) extractor for a session that holds data.
#[derive(Clone, Debug, Default)]
pub(crate) struct Renewal(Arc<AtomicBool>);

impl Renewal {
    pub(crate) fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn is_requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// What the layer needs after the handler.
struct Pending {
    session: Session,
    renewal: Renewal,
    had_cookie: bool,
    cookie: Arc<CookieSpec>,
}

impl<S, Store, ReqBody, ResBody> Service<Request<ReqBody>> for SessionManager<S, Store>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    Store: SessionStore,
    ResBody: Send + 'static,
{
    type Response = Response<Either<Full<Bytes>, ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let sent = self.cookie.find(&request);
        // A malformed id is no session (tower-sessions' rule); the cookie is cleared below.
        let id = sent.as_deref().and_then(|value| value.parse::<Id>().ok());
        let expiry = Some(Expiry::OnInactivity(self.cookie.ttl));
        let session = Session::new(id, self.store.clone(), expiry);
        let renewal = Renewal::default();
        request.extensions_mut().insert(session.clone());
        request.extensions_mut().insert(renewal.clone());
        let pending = Pending { session, renewal, had_cookie: sent.is_some(), cookie: self.cookie.clone() };
        ResponseFuture { state: State::Inner { future: self.inner.call(request), pending: Some(pending) } }
    }
}

type Finishing<B> = Pin<Box<dyn Future<Output = Response<Either<Full<Bytes>, B>>> + Send>>;

pin_project! {
    /// Response future of [`SessionManager`].
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Inner { #[pin] future: F, pending: Option<Pending> },
        Finishing { future: Finishing<B> },
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Send + 'static,
{
    type Output = Result<Response<Either<Full<Bytes>, B>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project().state.project() {
                StateProj::Inner { future, pending } => {
                    let response = ready!(future.poll(cx))?;
                    let pending = pending.take().expect("ResponseFuture polled after completion");
                    let untouched =
                        !pending.had_cookie && !pending.session.is_modified() && !pending.renewal.is_requested();
                    if untouched {
                        return Poll::Ready(Ok(response.map(Either::Right)));
                    }
                    let future = Box::pin(finish(pending, response));
                    self.as_mut().project().state.set(State::Finishing { future });
                }
                StateProj::Finishing { future } => return future.as_mut().poll(cx).map(Ok),
            }
        }
    }
}

/// Saves a change (503 if it fails), renews a session in use (best effort), clears a
/// cookie that names no session.
async fn finish<B>(pending: Pending, response: Response<B>) -> Response<Either<Full<Bytes>, B>> {
    let Pending { session, renewal, had_cookie, cookie } = pending;
    let mut response = response.map(Either::Right);
    let changed = session.is_modified();
    if session.is_empty().await {
        if had_cookie {
            append_cookie(&mut response, cookie.set_cookie(None));
        }
        return response;
    }
    // The handler failed: nothing it did to the session is kept (as tower-sessions does).
    if response.status().is_server_error() || !(changed || renewal.is_requested()) {
        return response;
    }
    if let Err(error) = session.save().await {
        if changed {
            tracing::warn!(%error, "session store unavailable: a change to the session was not saved; answering 503");
            let mut refused = ebb_core::response::text_response(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE);
            refused.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return refused.map(Either::Left);
        }
        metrics::counter!(SESSION_RENEW_FAILURES_TOTAL).increment(1);
        tracing::warn!(%error, "session store unavailable: the session's lifetime was not renewed");
        return response;
    }
    append_cookie(&mut response, cookie.set_cookie(session.id()));
    response
}

fn append_cookie<B>(response: &mut Response<B>, value: Option<HeaderValue>) {
    if let Some(value) = value {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}
