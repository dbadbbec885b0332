//! The rate limit's variables that the manifests render and check.

/// `<count>/<period>` of the default policy, or `off` (the default: no limit).
pub const ENV_RATELIMIT_RATE: &str = "EBB_RATELIMIT_RATE";
/// `ip` (the default) or `header:<name>`.
pub const ENV_RATELIMIT_KEY: &str = "EBB_RATELIMIT_KEY";
/// Comma-separated CIDRs of proxies whose `X-Forwarded-For` is believed; default none, so
/// behind a proxy every client is keyed as the proxy.
pub const ENV_RATELIMIT_TRUSTED_PROXIES: &str = "EBB_RATELIMIT_TRUSTED_PROXIES";
