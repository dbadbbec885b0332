//! The parts ebb-server composes, each behind its cargo feature and used only when asked
//! for ([`ServerBuilder`](crate::ServerBuilder)): built once from the [`ServerConfig`], sharing the process' one Redis handle, and applied to the application's
//! routes in the request path's order (rate limit, then session, then token, then the
//! routes). A part without Redis (or without S3) keeps its state in the process; those
//! fallbacks are said once, together, when the server starts.

#[cfg(feature = "offload")]
mod offload;
#[cfg(feature = "ratelimit")]
mod ratelimit;
#[cfg(any(feature = "session", feature = "jwt"))]
mod session;

use axum::Router;
use ebb_probes::ProbesBuilder;

#[cfg(feature = "offload")]
pub(crate) use self::offload::ObjectsPart;
#[cfg(feature = "ratelimit")]
pub(crate) use self::ratelimit::RateLimitPart;
#[cfg(any(feature = "session", feature = "jwt"))]
pub(crate) use self::session::AuthPart;
use crate::Wanted;
use crate::config::{ConfigError, ServerConfig};

/// Every part compiled in, built.
#[derive(Clone)]
pub(crate) struct Parts {
    #[cfg(feature = "ratelimit")]
    pub(crate) rate_limit: RateLimitPart,
    #[cfg(any(feature = "session", feature = "jwt"))]
    pub(crate) auth: AuthPart,
    #[cfg(feature = "offload")]
    pub(crate) objects: Option<ObjectsPart>,
}

impl Parts {
    /// Builds every part; what only building can check (a directory, the S3 client) is
    /// returned as errors, all of them.
    #[cfg_attr(not(feature = "offload"), allow(clippy::unnecessary_wraps))]
    pub(crate) fn new(
        config: &ServerConfig,
        redis: Option<&crate::server::RedisHandle>,
        wanted: Wanted,
    ) -> Result<Self, Vec<ConfigError>> {
        #[cfg(not(any(feature = "ratelimit", feature = "session", feature = "jwt", feature = "offload")))]
        let _ = (config, redis);
        #[cfg(not(any(feature = "session", feature = "jwt", feature = "offload")))]
        let _ = wanted;
        Ok(Self {
            #[cfg(feature = "ratelimit")]
            rate_limit: RateLimitPart::new(&config.rate_limit, redis),
            #[cfg(any(feature = "session", feature = "jwt"))]
            auth: AuthPart::new(config, redis, wanted),
            #[cfg(feature = "offload")]
            objects: if wanted.objects { Some(ObjectsPart::new(&config.offload, redis)?) } else { None },
        })
    }

    /// The application's routes with the parts' layers, innermost last: the one place that
    /// decides their order. Rate limiting comes first, so that a flood never reaches the
    /// session store; the token check sits inside the session, as handlers see both.
    pub(crate) fn wrap(&self, router: Router) -> Router {
        #[cfg(any(feature = "session", feature = "jwt"))]
        let router = self.auth.wrap(router);
        #[cfg(feature = "ratelimit")]
        let router = self.rate_limit.wrap(router);
        router
    }

    /// What keeps its state in this process (so one replica only), for the start-up warning.
    pub(crate) fn in_process(&self) -> Vec<Fallback> {
        #[allow(unused_mut)]
        let mut parts = Vec::new();
        #[cfg(feature = "ratelimit")]
        parts.extend(self.rate_limit.in_process());
        #[cfg(any(feature = "session", feature = "jwt"))]
        parts.extend(self.auth.in_process());
        #[cfg(feature = "offload")]
        parts.extend(self.objects.iter().flat_map(ObjectsPart::in_process));
        parts
    }

    /// Whether `/readyz` must fail while Redis is unreachable: only when a part cannot work
    /// without it (a rate limit that fails closed). Otherwise Redis is reported, advisory:
    /// failing readiness on every replica at once would turn a degraded part into an outage.
    #[cfg(feature = "redis")]
    pub(crate) fn needs_redis_for_readiness(&self) -> bool {
        #[cfg(feature = "ratelimit")]
        return self.rate_limit.fails_closed();
        #[cfg(not(feature = "ratelimit"))]
        false
    }

    /// Whether a part forwards the request id on the calls it makes (the object store).
    pub(crate) fn forwards_request_ids(&self) -> bool {
        #[cfg(feature = "offload")]
        return self.objects.is_some();
        #[cfg(not(feature = "offload"))]
        false
    }

    /// Says at start-up where each part keeps its state.
    pub(crate) fn announce(&self) {
        #[cfg(feature = "offload")]
        if let Some(objects) = &self.objects {
            tracing::info!(store = objects.offload.describe(), "objects");
        }
    }

    /// The parts' own readiness checks.
    pub(crate) fn readiness(&self, probes: ProbesBuilder) -> ProbesBuilder {
        #[cfg(feature = "offload")]
        let probes = match &self.objects {
            Some(objects) => objects.readiness(probes),
            None => probes,
        };
        probes
    }
}

/// State a part keeps in this process because a shared store is not configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fallback {
    /// What is kept (`rate limits`, `sessions`, ...).
    pub(crate) what: String,
    /// The variable that would move it out of the process.
    pub(crate) unless: &'static str,
}

/// The start-up warning for state kept in the process, said once for every part:
/// `rate limits, sessions and object metadata (set REDIS_URL); objects in data/objects (set
/// AWS_BUCKET)`.
pub(crate) fn warn_in_process(fallbacks: &[Fallback]) {
    if fallbacks.is_empty() {
        return;
    }
    let mut groups: Vec<(&'static str, Vec<&str>)> = Vec::new();
    for fallback in fallbacks {
        match groups.iter_mut().find(|(unless, _)| *unless == fallback.unless) {
            Some((_, whats)) => whats.push(&fallback.what),
            None => groups.push((fallback.unless, vec![&fallback.what])),
        }
    }
    let kept =
        groups.iter().map(|(unless, whats)| format!("{} (set {unless})", join(whats))).collect::<Vec<_>>().join("; ");
    tracing::warn!(
        fallbacks = %kept,
        "in-process fallbacks: these are kept in this process, apply per replica and are lost on restart; \
         run one replica only, or set the variables named"
    );
}

/// `a`, `a and b`, `a, b and c`.
fn join(parts: &[&str]) -> String {
    match parts {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parts_are_listed_in_words() {
        assert_eq!(super::join(&["rate limits"]), "rate limits");
        assert_eq!(super::join(&["a", "b", "c"]), "a, b and c");
    }
}
