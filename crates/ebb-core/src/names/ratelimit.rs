//! The rate limit's variables that the manifests render and check.

/// `<count>/<period>` of the default policy, or `off` (the default: no limit).
pub const ENV_RATELIMIT_RATE: &str = "EBB_RATELIMIT_RATE";
/// `ip` (the default) or `header:<name>`.
pub const ENV_RATELIMIT_KEY: &str = "EBB_RATELIMIT_KEY";
// The trusted proxies (`EBB_RATELIMIT_TRUSTED_PROXIES`) are the process' own: see
// `ENV_TRUSTED_PROXIES`.
