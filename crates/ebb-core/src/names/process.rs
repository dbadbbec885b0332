//! Variables the process reads outside any one part: its log format, its git revision and
//! where Redis is.

/// The log filter: `tracing-subscriber` directives, default `info`.
pub const ENV_RUST_LOG: &str = "RUST_LOG";
/// The log format: `text` (default) or `json`.
pub const ENV_LOG_FORMAT: &str = "EBB_LOG_FORMAT";
/// The git revision, when the build or the environment knows it (`cargo xtask image` sets
/// it for the build and in the image).
pub const ENV_GIT_REVISION: &str = "EBB_GIT_REVISION";
/// The proxies (CIDRs, comma-separated) whose `X-Forwarded-For` names the client: the rate
/// limit keys by it, the per-client shares count by it. Named for the rate limit, which
/// read it first.
pub const ENV_TRUSTED_PROXIES: &str = "EBB_RATELIMIT_TRUSTED_PROXIES";
/// One Redis: `redis://[user:password@]host[:port][/db]`, `rediss://` for TLS,
/// `unix:///path`. Unset: in-process fallbacks.
pub const ENV_REDIS_URL: &str = "REDIS_URL";
/// Redis Cluster: comma-separated seed node URLs. Exclusive with [`ENV_REDIS_URL`].
pub const ENV_REDIS_CLUSTER_URLS: &str = "REDIS_CLUSTER_URLS";
/// Redis Sentinel: comma-separated sentinel URLs, `redis[s]://[user:password@]host:port[/db]`.
/// The scheme, the credentials and the database are the master's (the same for all); the
/// scheme also decides TLS towards the sentinels. Exclusive with [`ENV_REDIS_URL`] and
/// [`ENV_REDIS_CLUSTER_URLS`]; needs [`ENV_REDIS_SENTINEL_MASTER`].
pub const ENV_REDIS_SENTINEL_URLS: &str = "REDIS_SENTINEL_URLS";
/// The name of the master set the sentinels watch (`mymaster` in most charts).
pub const ENV_REDIS_SENTINEL_MASTER: &str = "REDIS_SENTINEL_MASTER";
/// The sentinels' own ACL user, when they require one (their `requirepass`/ACL differ from
/// the master's).
pub const ENV_REDIS_SENTINEL_USERNAME: &str = "REDIS_SENTINEL_USERNAME";
/// The sentinels' own password, when they require one. A secret.
pub const ENV_REDIS_SENTINEL_PASSWORD: &str = "REDIS_SENTINEL_PASSWORD";
/// A PEM file of the CA certificates that sign the server's certificate (`rediss://` only).
/// Without it the system's trust store is used.
pub const ENV_REDIS_CA_FILE: &str = "EBB_REDIS_CA_FILE";
/// A PEM client certificate chain for mutual TLS (with [`ENV_REDIS_CLIENT_KEY_FILE`]).
pub const ENV_REDIS_CLIENT_CERT_FILE: &str = "EBB_REDIS_CLIENT_CERT_FILE";
/// The PEM private key of the client certificate.
pub const ENV_REDIS_CLIENT_KEY_FILE: &str = "EBB_REDIS_CLIENT_KEY_FILE";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned() {
        assert_eq!(
            [ENV_RUST_LOG, ENV_LOG_FORMAT, ENV_GIT_REVISION],
            ["RUST_LOG", "EBB_LOG_FORMAT", "EBB_GIT_REVISION"]
        );
        assert_eq!([ENV_REDIS_URL, ENV_REDIS_CLUSTER_URLS], ["REDIS_URL", "REDIS_CLUSTER_URLS"]);
        assert_eq!(
            [
                ENV_REDIS_SENTINEL_URLS,
                ENV_REDIS_SENTINEL_MASTER,
                ENV_REDIS_SENTINEL_USERNAME,
                ENV_REDIS_SENTINEL_PASSWORD
            ],
            ["REDIS_SENTINEL_URLS", "REDIS_SENTINEL_MASTER", "REDIS_SENTINEL_USERNAME", "REDIS_SENTINEL_PASSWORD"]
        );
        assert_eq!(
            [ENV_REDIS_CA_FILE, ENV_REDIS_CLIENT_CERT_FILE, ENV_REDIS_CLIENT_KEY_FILE],
            ["EBB_REDIS_CA_FILE", "EBB_REDIS_CLIENT_CERT_FILE", "EBB_REDIS_CLIENT_KEY_FILE"]
        );
    }
}
