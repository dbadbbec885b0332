//! Sessions (`EBB_SESSION_*`, feature `session`) and bearer tokens (`EBB_JWT_*`, feature
//! `jwt`) on every application route. Both are cheap for a route that does not use them:
//! the session is loaded only by a handler that takes `Session`, and saved only when it
//! holds data; a request without `Authorization: Bearer` passes the token check untouched.

use axum::Router;
use ebb_redis::Redis;
#[cfg(feature = "jwt")]
use ebb_session::JwtLayer;
#[cfg(feature = "session")]
use ebb_session::{SessionLayer, SharedStore};

use super::Fallback;
use crate::Wanted;
use crate::config::ServerConfig;

#[derive(Clone, Default)]
pub(crate) struct AuthPart {
    #[cfg(feature = "session")]
    sessions: Option<(SessionLayer<SharedStore>, bool)>,
    #[cfg(feature = "jwt")]
    jwt: Option<JwtLayer>,
}

impl AuthPart {
    #[cfg_attr(not(feature = "session"), allow(unused_variables))]
    pub(crate) fn new(config: &ServerConfig, redis: Option<&Redis>, wanted: Wanted) -> Self {
        Self {
            #[cfg(feature = "session")]
            sessions: wanted.sessions.then(|| {
                let store = SharedStore::new(redis);
                let in_process = store.is_in_process();
                (config.session.layer(store), in_process)
            }),
            #[cfg(feature = "jwt")]
            jwt: wanted.bearer_tokens.then(|| jwt_layer(config)),
        }
    }

    pub(crate) fn wrap(&self, router: Router) -> Router {
        #[cfg(feature = "jwt")]
        let router = match &self.jwt {
            Some(jwt) => router.layer(jwt.clone()),
            None => router,
        };
        #[cfg(feature = "session")]
        let router = match &self.sessions {
            Some((sessions, _)) => router.layer(sessions.clone()),
            None => router,
        };
        router
    }

    pub(crate) fn in_process(&self) -> Option<Fallback> {
        #[cfg(feature = "session")]
        return matches!(self.sessions, Some((_, true)))
            .then(|| Fallback { what: "sessions".to_owned(), unless: ebb_redis::ENV_REDIS_URL });
        #[cfg(not(feature = "session"))]
        None
    }
}

/// ServerConfig checked the key: a verifier that cannot be made here means a config made
/// by hand; tokens are then refused, never ignored.
#[cfg(feature = "jwt")]
fn jwt_layer(config: &ServerConfig) -> JwtLayer {
    match config.jwt.as_ref().map(ebb_session::JwtConfig::verifier) {
        Some(Ok(verifier)) => JwtLayer::new(verifier),
        Some(Err(error)) => {
            tracing::error!(%error, "cannot verify bearer tokens: every token is refused");
            JwtLayer::refuse_all()
        }
        None => JwtLayer::refuse_all(),
    }
}
