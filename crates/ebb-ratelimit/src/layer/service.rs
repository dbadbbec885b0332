use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{Either, Full};
use tower_service::Service;

use super::future::{Outcome, outcome};
use super::layer::Config;
use super::{RateLimitLayer, ResponseFuture};
use crate::key::{KeyError, RequestHead};
use ebb_core::response::text_response as text;

/// Rate limits requests before they reach `S`. See the [module docs](crate::layer).
#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for RateLimit<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl<S> RateLimit<S> {
    /// Wraps `inner` with the settings of `layer`.
    pub fn new(inner: S, layer: &RateLimitLayer) -> Self {
        Self::from_parts(inner, layer.config.clone())
    }

    pub(crate) fn from_parts(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimit<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
{
    type Response = Response<Either<Full<Bytes>, ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let head =
            RequestHead { method: req.method(), uri: req.uri(), headers: req.headers(), extensions: req.extensions() };
        let Some(policy) = self.config.select(&head) else {
            return ResponseFuture::calling(self.inner.call(req), None);
        };
        let key = match self.config.key.client_key(&head) {
            Ok(key) => key,
            Err(error) => return ResponseFuture::ready(self.key_error_response(&error)),
        };
        let legacy = self.config.legacy_headers;
        // In process: decided here and now, and the service polled ready is called at once.
        if let Some(verdict) = self.config.limiter.decide_now(&key, &policy, 1) {
            return match outcome(verdict, &policy, legacy) {
                Outcome::Call(headers) => ResponseFuture::calling(self.inner.call(req), headers),
                Outcome::Answer(answer) => ResponseFuture::ready(answer),
            };
        }
        let key = key.into_owned();
        // The service polled ready goes into the future; a clone takes its place.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let limiter = self.config.limiter.clone();
        let decided = policy.clone();
        let decision = Box::pin(async move { limiter.decide_key(&key, &decided, 1).await });
        ResponseFuture::deciding(decision, inner, req, policy, legacy)
    }
}

impl<S> RateLimit<S> {
    fn key_error_response(&self, error: &KeyError) -> Response<Full<Bytes>> {
        if *error == KeyError::NoPeerAddress {
            if !self.config.key_error_logged.swap(true, Ordering::Relaxed) {
                tracing::error!("rate limiting by peer IP, but {error}; answering 500");
            }
            return text(StatusCode::INTERNAL_SERVER_ERROR, "rate limit key unavailable\n".to_owned());
        }
        text(StatusCode::BAD_REQUEST, format!("{error}\n"))
    }
}
