//! Redis Sentinel: the sentinels name the master; ebb asks them at every (re)connect, so a
//! failover costs one redial. `REDIS_SENTINEL_URLS` holds the sentinels' addresses with the
//! master's scheme, credentials and database (one set for all, as for a Cluster);
//! `REDIS_SENTINEL_USERNAME`/`REDIS_SENTINEL_PASSWORD` are the sentinels' own, when they
//! require any.

use redis::{ConnectionAddr, ConnectionInfo};

use crate::config::{ConfigError, parse_tcp_urls};

/// One of the sentinel variables: the names are written once, in `ebb_core`.
pub const ENV_REDIS_SENTINEL_URLS: &str = ebb_core::names::ENV_REDIS_SENTINEL_URLS;
/// The master set's name.
pub const ENV_REDIS_SENTINEL_MASTER: &str = ebb_core::names::ENV_REDIS_SENTINEL_MASTER;
/// The sentinels' own ACL user.
pub const ENV_REDIS_SENTINEL_USERNAME: &str = ebb_core::names::ENV_REDIS_SENTINEL_USERNAME;
/// The sentinels' own password (a secret: never repeated).
pub const ENV_REDIS_SENTINEL_PASSWORD: &str = ebb_core::names::ENV_REDIS_SENTINEL_PASSWORD;

/// Where the sentinels are and what to ask them.
#[derive(Clone)]
pub(crate) struct Sentinels {
    /// The sentinels, each with the master's credentials and database (read from here).
    pub(crate) nodes: Vec<ConnectionInfo>,
    pub(crate) master: String,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
}

impl Sentinels {
    /// Parses the sentinel variables; `get` returns trimmed, non-blank values.
    pub(crate) fn parse(urls: &str, get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        if !cfg!(feature = "sentinel") {
            return Err(ConfigError::new(ENV_REDIS_SENTINEL_URLS, "needs ebb-redis built with its `sentinel` feature"));
        }
        let Some(master) = get(ENV_REDIS_SENTINEL_MASTER) else {
            return Err(ConfigError::new(
                ENV_REDIS_SENTINEL_MASTER,
                format!("is required with {ENV_REDIS_SENTINEL_URLS}: the master set's name, such as mymaster"),
            ));
        };
        if master.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::new(ENV_REDIS_SENTINEL_MASTER, "expected a master set's name without spaces"));
        }
        let nodes =
            parse_tcp_urls(ENV_REDIS_SENTINEL_URLS, urls, "sentinel", "sentinels are reached over TCP, not unix://")?;
        let first = &nodes[0];
        let settings = |info: &ConnectionInfo| {
            let redis = info.redis_settings();
            (redis.username().map(str::to_owned), redis.password().map(str::to_owned), redis.db())
        };
        if nodes.iter().any(|info| settings(info) != settings(first)) {
            return Err(ConfigError::new(
                ENV_REDIS_SENTINEL_URLS,
                "the URLs name different users, passwords or databases: give every URL the master's same ones",
            ));
        }
        let username = get(ENV_REDIS_SENTINEL_USERNAME);
        let password = get(ENV_REDIS_SENTINEL_PASSWORD);
        if username.is_some() && password.is_none() {
            return Err(ConfigError::new(
                ENV_REDIS_SENTINEL_USERNAME,
                format!("needs {ENV_REDIS_SENTINEL_PASSWORD} as well"),
            ));
        }
        Ok(Self { nodes, master, username, password })
    }

    pub(crate) fn is_tls(&self) -> bool {
        self.nodes.iter().any(|info| matches!(info.addr(), ConnectionAddr::TcpTls { .. }))
    }

    /// A client that asks the sentinels for the master, with the master's credentials and
    /// database and the same TLS material towards both.
    #[cfg(feature = "sentinel")]
    pub(crate) fn client(&self, tls: &crate::config::TlsFiles) -> redis::RedisResult<redis::sentinel::SentinelClient> {
        use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
        let master = self.nodes[0].redis_settings();
        let addrs = self.nodes.iter().map(|info| info.addr().clone());
        let mut builder = SentinelClientBuilder::new(addrs, &self.master, SentinelServerType::Master)?
            .set_client_to_redis_db(master.db());
        if let Some(username) = master.username() {
            builder = builder.set_client_to_redis_username(username);
        }
        if let Some(password) = master.password() {
            builder = builder.set_client_to_redis_password(password);
        }
        if let Some(username) = &self.username {
            builder = builder.set_client_to_sentinel_username(username);
        }
        if let Some(password) = &self.password {
            builder = builder.set_client_to_sentinel_password(password);
        }
        if self.is_tls() {
            builder = builder.set_client_to_redis_tls_mode(redis::TlsMode::Secure);
            #[cfg(feature = "tls")]
            if tls.ca.is_some() || tls.client.is_some() {
                builder = builder
                    .set_client_to_redis_certificates(crate::client::certificates(tls))
                    .set_client_to_sentinel_certificates(crate::client::certificates(tls));
            }
        }
        let _ = tls;
        builder.build()
    }
}
