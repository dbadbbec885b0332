use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tower_layer::Layer;

use super::RateLimit;
use crate::key::RequestHead;
use crate::{Key, Limiter, Policy};

/// What a policy selector chose for a request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selected {
    /// Go on with the route table and the default policy.
    Default,
    /// The policy registered under this name (with [`RateLimitLayer::with_policy`] or
    /// [`RateLimitLayer::with_route_policy`]). An unknown name is logged and treated as
    /// [`Selected::Default`].
    Named(Cow<'static, str>),
    /// Do not limit this request.
    Unlimited,
}

type SelectorFn = dyn Fn(&RequestHead<'_>) -> Selected + Send + Sync;

/// Rate limits every request it wraps. See the [module docs](crate::layer).
///
/// ```
/// use ebb_ratelimit::{Key, Limiter, Policy, RateLimitLayer, TrustedProxies};
/// let layer = RateLimitLayer::new(Limiter::in_process())
///     .with_default_policy(Policy::new("default", "100/1m".parse()?))
///     .with_route_policy("/files/{*key}", Policy::new("uploads", "10/1m".parse()?))
///     .with_key(Key::client_ip("10.0.0.0/8".parse::<TrustedProxies>()?));
/// let app = axum::Router::<()>::new().layer(layer);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RateLimitLayer {
    pub(crate) config: Arc<Config>,
}

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) limiter: Limiter,
    default: Option<Arc<Policy>>,
    routes: Vec<(String, Arc<Policy>)>,
    named: HashMap<String, Arc<Policy>>,
    selector: Option<Arc<SelectorFn>>,
    pub(crate) key: Key,
    pub(crate) legacy_headers: bool,
    unknown_name_logged: Arc<AtomicBool>,
    pub(crate) key_error_logged: Arc<AtomicBool>,
}

impl fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("RateLimitLayer")
            .field("limiter", &c.limiter)
            .field("default", &c.default)
            .field("routes", &c.routes)
            .field("selector", &c.selector.is_some())
            .field("key", &c.key)
            .field("legacy_headers", &c.legacy_headers)
            .finish()
    }
}

impl RateLimitLayer {
    /// A layer deciding through `limiter`, with no policy yet (requests pass unlimited
    /// until one is set), keyed by peer IP, with the IETF headers only.
    pub fn new(limiter: Limiter) -> Self {
        Self {
            config: Arc::new(Config {
                limiter,
                default: None,
                routes: Vec::new(),
                named: HashMap::new(),
                selector: None,
                key: Key::default(),
                legacy_headers: false,
                unknown_name_logged: Arc::new(AtomicBool::new(false)),
                key_error_logged: Arc::new(AtomicBool::new(false)),
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// The policy for requests that no selector or route picks. Default: none (unlimited).
    #[must_use]
    pub fn with_default_policy(self, policy: Policy) -> Self {
        self.edit(|c| c.default = Some(Arc::new(policy)))
    }

    /// Registers a named policy for a [selector](Self::with_selector).
    #[must_use]
    pub fn with_policy(self, policy: Policy) -> Self {
        self.edit(|c| {
            c.named.insert(policy.name().to_owned(), Arc::new(policy));
        })
    }

    /// The policy for one route: matched against axum's route template (`/files/{*key}`,
    /// feature `axum`) or else the exact path. Also registers it by name.
    #[must_use]
    pub fn with_route_policy(self, route: impl Into<String>, policy: Policy) -> Self {
        self.edit(|c| {
            let policy = Arc::new(policy);
            c.named.insert(policy.name().to_owned(), policy.clone());
            c.routes.push((route.into(), policy));
        })
    }

    /// A function that picks the policy per request, before the route table.
    #[must_use]
    pub fn with_selector(self, f: impl Fn(&RequestHead<'_>) -> Selected + Send + Sync + 'static) -> Self {
        self.edit(|c| c.selector = Some(Arc::new(f)))
    }

    /// How requests are keyed. Default: [`Key::peer_ip`].
    #[must_use]
    pub fn with_key(self, key: Key) -> Self {
        self.edit(|c| c.key = key)
    }

    /// Also send `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`
    /// (seconds) for older clients. Default: off.
    #[must_use]
    pub fn with_legacy_headers(self, legacy: bool) -> Self {
        self.edit(|c| c.legacy_headers = legacy)
    }

    /// The limiter.
    pub fn limiter(&self) -> &Limiter {
        &self.config.limiter
    }
}

impl Config {
    pub(crate) fn select(&self, head: &RequestHead<'_>) -> Option<Arc<Policy>> {
        if let Some(selector) = &self.selector {
            match selector(head) {
                Selected::Default => {}
                Selected::Unlimited => return None,
                Selected::Named(name) => match self.named.get(&*name) {
                    Some(policy) => return Some(policy.clone()),
                    None => {
                        if !self.unknown_name_logged.swap(true, Ordering::Relaxed) {
                            tracing::error!(policy = %name, "rate-limit selector chose an unknown policy; using the default");
                        }
                    }
                },
            }
        }
        if !self.routes.is_empty() {
            let route = head.route();
            if let Some((_, policy)) = self.routes.iter().find(|(r, _)| r == route) {
                return Some(policy.clone());
            }
        }
        self.default.clone()
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::from_parts(inner, self.config.clone())
    }
}
