use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{Either, Full};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{InvalidToken, JwtVerifier};

/// Verifies bearer tokens on every request. See the [module docs](super).
#[derive(Clone, Debug)]
pub struct JwtLayer {
    verifier: Option<Arc<JwtVerifier>>,
}

impl JwtLayer {
    /// Verifies with `verifier`.
    pub fn new(verifier: JwtVerifier) -> Self {
        Self { verifier: Some(Arc::new(verifier)) }
    }

    /// Refuses every bearer token (401): for services configured without a key, so that a
    /// token is never silently ignored.
    pub fn refuse_all() -> Self {
        Self { verifier: None }
    }
}

impl<S> Layer<S> for JwtLayer {
    type Service = JwtAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtAuth { inner, verifier: self.verifier.clone() }
    }
}

/// The service of [`JwtLayer`].
#[derive(Clone, Debug)]
pub struct JwtAuth<S> {
    inner: S,
    verifier: Option<Arc<JwtVerifier>>,
}

impl<S> JwtAuth<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for JwtAuth<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<Either<Full<Bytes>, ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let Some(authorization) = req.headers().get(header::AUTHORIZATION) else {
            return ResponseFuture::inner(self.inner.call(req));
        };
        let token = authorization.to_str().ok().and_then(bearer);
        let verified = match (token, &self.verifier) {
            // Another scheme (Basic, ...) is not ours to judge.
            (None, _) if !is_bearer(authorization) => return ResponseFuture::inner(self.inner.call(req)),
            (None, _) => Err(InvalidToken("the Authorization header is malformed".to_owned())),
            (Some(_), None) => Err(InvalidToken("this service accepts no bearer tokens".to_owned())),
            (Some(token), Some(verifier)) => verifier.verify(token),
        };
        match verified {
            Ok(claims) => {
                req.extensions_mut().insert(claims);
                ResponseFuture::inner(self.inner.call(req))
            }
            Err(error) => ResponseFuture::refused(unauthorized(&error)),
        }
    }
}

fn is_bearer(value: &HeaderValue) -> bool {
    value.as_bytes().len() >= 6 && value.as_bytes()[..6].eq_ignore_ascii_case(b"bearer")
}

/// The token of `Bearer <token>` (scheme case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn unauthorized(error: &InvalidToken) -> Response<Full<Bytes>> {
    let mut response = ebb_core::response::text_response(StatusCode::UNAUTHORIZED, format!("invalid token: {error}\n"));
    let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{}\"", error.0.replace('"', "'"));
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

pin_project! {
    /// Response future of [`JwtAuth`].
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Inner { #[pin] future: F },
        Refused { response: Option<Response<Full<Bytes>>> },
    }
}

impl<F> ResponseFuture<F> {
    fn inner(future: F) -> Self {
        Self { state: State::Inner { future } }
    }

    fn refused(response: Response<Full<Bytes>>) -> Self {
        Self { state: State::Refused { response: Some(response) } }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<Either<Full<Bytes>, B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => Poll::Ready(ready!(future.poll(cx)).map(|r| r.map(Either::Right))),
            StateProj::Refused { response } => {
                let response = response.take().expect("ResponseFuture polled after completion");
                Poll::Ready(Ok(response.map(Either::Left)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn reads_bearer_tokens() {
        assert_eq!(bearer("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer("bearer   abc"), Some("abc"));
        assert_eq!(bearer("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
