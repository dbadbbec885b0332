use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};

/// The claims of a verified bearer token, put into the request by [`JwtLayer`](super::JwtLayer).
///
/// As an extractor it answers 401 (`WWW-Authenticate: Bearer`) when the request carried no
/// valid token; take `Option<Claims>` where a token is optional.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims(pub serde_json::Map<String, serde_json::Value>);

impl Claims {
    /// The `sub` claim.
    pub fn subject(&self) -> Option<&str> {
        self.0.get("sub").and_then(serde_json::Value::as_str)
    }

    /// Any claim.
    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.0.get(name)
    }
}

/// The 401 a protected route answers without a token.
#[derive(Clone, Copy, Debug)]
pub struct MissingToken;

impl IntoResponse for MissingToken {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::UNAUTHORIZED, "authentication required\n").into_response();
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        response
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Claims {
    type Rejection = MissingToken;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Claims>().cloned().ok_or(MissingToken)
    }
}

impl<S: Send + Sync> axum_core::extract::OptionalFromRequestParts<S> for Claims {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Claims>().cloned())
    }
}
