//! Where Redis is and how to reach it, from the environment. URLs may hold passwords, so no
//! error and no `Debug` output ever repeats one.

use std::fmt;
use std::time::Duration;

use ebb_core::env::{DurationBounds, Env, EnvError};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use crate::sentinel::{
    ENV_REDIS_SENTINEL_MASTER, ENV_REDIS_SENTINEL_PASSWORD, ENV_REDIS_SENTINEL_URLS, ENV_REDIS_SENTINEL_USERNAME,
    Sentinels,
};

/// One Redis (or a Sentinel-less primary): `redis://[user:password@]host[:port][/db]`,
/// `rediss://` for TLS, `unix:///path`.
pub const ENV_REDIS_URL: &str = ebb_core::names::ENV_REDIS_URL;
/// Redis Cluster: comma-separated seed nodes, each `redis://` or `rediss://` (the same
/// scheme and credentials for all). Exclusive with `REDIS_URL`.
pub const ENV_REDIS_CLUSTER_URLS: &str = ebb_core::names::ENV_REDIS_CLUSTER_URLS;
/// A PEM file of the CA certificates that sign the server's certificate (`rediss://` only).
/// Without it the system's trust store is used.
pub const ENV_REDIS_CA_FILE: &str = ebb_core::names::ENV_REDIS_CA_FILE;
/// A PEM client certificate chain for mutual TLS (with `EBB_REDIS_CLIENT_KEY_FILE`).
pub const ENV_REDIS_CLIENT_CERT_FILE: &str = ebb_core::names::ENV_REDIS_CLIENT_CERT_FILE;
/// The PEM private key of the client certificate.
pub const ENV_REDIS_CLIENT_KEY_FILE: &str = ebb_core::names::ENV_REDIS_CLIENT_KEY_FILE;
/// How long a command (and a connect) may take unless the caller sets its own bound.
pub const ENV_REDIS_TIMEOUT: &str = "EBB_REDIS_TIMEOUT";

/// The most connections held by one caller each, for blocking reads ([`crate::Exclusive`]).
pub const ENV_REDIS_EXCLUSIVE_CONNECTIONS: &str = "EBB_REDIS_EXCLUSIVE_CONNECTIONS";
/// Default of `EBB_REDIS_EXCLUSIVE_CONNECTIONS`: a bound, not a number opened (they open on
/// demand).
pub const DEFAULT_EXCLUSIVE_CONNECTIONS: usize = 64;

/// Default bound on a command and on a connect.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest `EBB_REDIS_TIMEOUT` accepted: a Redis slower than this is down.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// What `EBB_REDIS_TIMEOUT` accepts: 1 ms to [`MAX_TIMEOUT`].
const TIMEOUT_BOUNDS: DurationBounds = DurationBounds::new(Duration::from_millis(1), MAX_TIMEOUT);

/// A Redis setting that cannot work. Never holds a URL or a secret.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable} is invalid: {reason}")]
pub struct ConfigError {
    /// The variable's name.
    pub variable: &'static str,
    /// Why, in words that repeat no secret.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(variable: &'static str, reason: impl Into<String>) -> Self {
        Self { variable, reason: reason.into() }
    }
}

/// A value outside ebb's environment grammar (`ebb_core::env`): the reason keeps the
/// value only when the grammar shows it (never a hidden one), without a second "is invalid".
impl From<EnvError> for ConfigError {
    fn from(error: EnvError) -> Self {
        let reason = if error.is_hidden() {
            format!("value not shown; expected {}", error.expected)
        } else {
            format!("{:?}; expected {}", error.value, error.expected)
        };
        Self { variable: error.variable, reason }
    }
}

/// How to reach Redis: one server or a Cluster, TLS material, timeouts.
#[derive(Clone)]
pub struct RedisConfig {
    pub(crate) nodes: Nodes,
    pub(crate) tls: TlsFiles,
    pub(crate) timeout: Duration,
    pub(crate) exclusive: usize,
}

#[derive(Clone)]
pub(crate) enum Nodes {
    Single(Box<ConnectionInfo>),
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    Cluster(Vec<ConnectionInfo>),
    #[cfg_attr(not(feature = "sentinel"), allow(dead_code))]
    Sentinel(Box<Sentinels>),
}

/// PEM bytes read at start-up, checked before any connection is made.
#[derive(Clone, Default)]
pub(crate) struct TlsFiles {
    pub(crate) ca: Option<Vec<u8>>,
    pub(crate) client: Option<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("nodes", &self.describe())
            .field("custom_ca", &self.tls.ca.is_some())
            .field("client_certificate", &self.tls.client.is_some())
            .field("timeout", &self.timeout)
            .field("exclusive", &self.exclusive)
            .finish()
    }
}

impl RedisConfig {
    /// Reads `REDIS_URL`, `REDIS_CLUSTER_URLS` or `REDIS_SENTINEL_*`, and the `EBB_REDIS_*`
    /// variables. `Ok(None)` when no URL is set (the caller runs its in-process fallback).
    ///
    /// # Errors
    /// Every unusable variable at once, each named, with no secret in the text.
    pub fn from_env() -> Result<Option<Self>, Vec<ConfigError>> {
        Self::from_vars(&Env::process())
    }

    /// [`from_env`](Self::from_env) over any source of variables (tests, a config file).
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, Vec<ConfigError>> {
        Self::from_vars(&Env::from_fn(&lookup))
    }

    /// [`from_env`](Self::from_env) with variables read from `env`. Blank values count as
    /// unset.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_vars(env: &Env<'_>) -> Result<Option<Self>, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let names = [
            ENV_REDIS_URL,
            ENV_REDIS_CLUSTER_URLS,
            ENV_REDIS_TIMEOUT,
            ENV_REDIS_CA_FILE,
            ENV_REDIS_CLIENT_CERT_FILE,
            ENV_REDIS_CLIENT_KEY_FILE,
            ENV_REDIS_EXCLUSIVE_CONNECTIONS,
            ENV_REDIS_SENTINEL_URLS,
            ENV_REDIS_SENTINEL_MASTER,
            ENV_REDIS_SENTINEL_USERNAME,
            ENV_REDIS_SENTINEL_PASSWORD,
        ];
        let mut values = Vec::new();
        for name in names {
            match env.get(name) {
                Ok(Some(value)) => values.push((name, value)),
                Ok(None) => {}
                Err(error) => errors.push(ConfigError::from(error)),
            }
        }
        let get = |name: &str| {
            values.iter().find(|(n, _)| *n == name).map(|(_, v)| v.trim().to_owned()).filter(|v| !v.is_empty())
        };
        let topologies = [ENV_REDIS_URL, ENV_REDIS_CLUSTER_URLS, ENV_REDIS_SENTINEL_URLS];
        let set = topologies.iter().filter_map(|name| get(name).map(|value| (*name, value))).collect::<Vec<_>>();
        let nodes = match set.as_slice() {
            [] => {
                if get(ENV_REDIS_SENTINEL_MASTER).is_some() {
                    errors.push(ConfigError::new(
                        ENV_REDIS_SENTINEL_MASTER,
                        format!("is set without {ENV_REDIS_SENTINEL_URLS}: set both, or neither"),
                    ));
                }
                None
            }
            [(ENV_REDIS_URL, url)] => {
                parse_url(ENV_REDIS_URL, url).map(|info| Nodes::Single(Box::new(info))).map_err(|e| errors.push(e)).ok()
            }
            [(ENV_REDIS_CLUSTER_URLS, urls)] => parse_cluster(urls).map_err(|e| errors.push(e)).ok(),
            [(_, urls)] => Sentinels::parse(urls, &get)
                .map(|sentinels| Nodes::Sentinel(Box::new(sentinels)))
                .map_err(|e| errors.push(e))
                .ok(),
            [(first, _), (second, _), ..] => {
                errors.push(ConfigError::new(second, format!("set together with {first}: set one of them")));
                None
            }
        };
        let timeout = match get(ENV_REDIS_TIMEOUT) {
            None => DEFAULT_TIMEOUT,
            Some(value) => TIMEOUT_BOUNDS.parse(&value).unwrap_or_else(|expected| {
                errors.push(EnvError::new(ENV_REDIS_TIMEOUT, value, expected).into());
                DEFAULT_TIMEOUT
            }),
        };
        let exclusive = match get(ENV_REDIS_EXCLUSIVE_CONNECTIONS) {
            None => DEFAULT_EXCLUSIVE_CONNECTIONS,
            Some(value) => value.parse::<usize>().ok().filter(|n| (1..=1024).contains(n)).unwrap_or_else(|| {
                errors.push(
                    EnvError::new(ENV_REDIS_EXCLUSIVE_CONNECTIONS, value, "a whole number from 1 to 1024").into(),
                );
                DEFAULT_EXCLUSIVE_CONNECTIONS
            }),
        };
        let tls = read_tls_files(&get, nodes.as_ref(), &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(nodes.map(|nodes| Self { nodes, tls, timeout, exclusive }))
    }

    /// One Redis at `url` (`redis://`, `rediss://` with the system's trust store, `unix://`).
    ///
    /// # Errors
    /// When the URL cannot be used; the error names `REDIS_URL` and repeats no secret.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let nodes = Nodes::Single(Box::new(parse_url(ENV_REDIS_URL, url)?));
        Ok(Self::of(nodes))
    }

    /// A Redis Cluster reached through any of `urls`.
    ///
    /// # Errors
    /// As [`from_url`](Self::from_url), naming `REDIS_CLUSTER_URLS`.
    pub fn cluster<S: AsRef<str>>(urls: &[S]) -> Result<Self, ConfigError> {
        let joined = urls.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(",");
        let nodes = parse_cluster(&joined)?;
        Ok(Self::of(nodes))
    }

    /// The master `master` that the sentinels at `urls` watch; the URLs carry the master's
    /// scheme, credentials and database (`redis://:secret@127.0.0.1:26379/2`).
    ///
    /// # Errors
    /// As [`from_url`](Self::from_url), naming `REDIS_SENTINEL_URLS`.
    pub fn sentinel<S: AsRef<str>>(urls: &[S], master: &str) -> Result<Self, ConfigError> {
        let joined = urls.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(",");
        let get = |name: &str| (name == ENV_REDIS_SENTINEL_MASTER).then(|| master.to_owned());
        let sentinels = Sentinels::parse(&joined, &get)?;
        Ok(Self::of(Nodes::Sentinel(Box::new(sentinels))))
    }

    /// The sentinels' own user and password, when they require them (not the master's).
    #[must_use]
    pub fn with_sentinel_auth(mut self, username: Option<&str>, password: &str) -> Self {
        if let Nodes::Sentinel(sentinels) = &mut self.nodes {
            sentinels.username = username.map(str::to_owned);
            sentinels.password = Some(password.to_owned());
        }
        self
    }

    fn of(nodes: Nodes) -> Self {
        Self { nodes, tls: TlsFiles::default(), timeout: DEFAULT_TIMEOUT, exclusive: DEFAULT_EXCLUSIVE_CONNECTIONS }
    }

    /// The most exclusive connections ([`crate::Exclusive`]) open at once. Default 64.
    #[must_use]
    pub fn with_exclusive_connections(mut self, max: usize) -> Self {
        self.exclusive = max.max(1);
        self
    }

    /// Trust these PEM CA certificates instead of the system's (`rediss://`).
    ///
    /// # Errors
    /// When `pem` holds no certificate.
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Result<Self, ConfigError> {
        let pem = pem.into();
        check_certificates(ENV_REDIS_CA_FILE, &pem)?;
        self.tls.ca = Some(pem);
        Ok(self)
    }

    /// Present this PEM certificate chain and key (mutual TLS).
    ///
    /// # Errors
    /// When either PEM is unusable.
    pub fn with_client_certificate(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Result<Self, ConfigError> {
        let (cert, key) = (cert_pem.into(), key_pem.into());
        check_certificates(ENV_REDIS_CLIENT_CERT_FILE, &cert)?;
        check_key(ENV_REDIS_CLIENT_KEY_FILE, &key)?;
        self.tls.client = Some((cert, key));
        Ok(self)
    }

    /// The default bound on a command and on a connect. Default 2 s.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The default bound on a command and on a connect.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.nodes, Nodes::Cluster(_))
    }

    /// Whether the master is found through Redis Sentinel.
    pub fn is_sentinel(&self) -> bool {
        matches!(self.nodes, Nodes::Sentinel(_))
    }

    /// Whether connections use TLS.
    pub fn is_tls(&self) -> bool {
        self.infos().iter().any(|info| matches!(info.addr(), ConnectionAddr::TcpTls { .. }))
    }

    /// Where Redis is, without credentials: for logs and readiness details.
    pub fn describe(&self) -> String {
        let addrs = self.infos().iter().map(|info| info.addr().to_string()).collect::<Vec<_>>();
        match &self.nodes {
            Nodes::Single(_) => addrs.join(","),
            Nodes::Cluster(_) => format!("cluster {}", addrs.join(",")),
            Nodes::Sentinel(sentinels) => format!("sentinel {} master {}", addrs.join(","), sentinels.master),
        }
    }

    fn infos(&self) -> &[ConnectionInfo] {
        match &self.nodes {
            Nodes::Single(info) => std::slice::from_ref(info),
            Nodes::Cluster(infos) => infos,
            Nodes::Sentinel(sentinels) => &sentinels.nodes,
        }
    }
}

pub(crate) fn parse_url(variable: &'static str, url: &str) -> Result<ConnectionInfo, ConfigError> {
    let expected = "expected redis://[user:password@]host[:port][/db], rediss://... or unix:///path (value not shown)";
    let scheme = url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("redis" | "unix" | "redis+unix") => {}
        Some("rediss") if cfg!(feature = "tls") => {}
        Some("rediss") => {
            return Err(ConfigError::new(variable, "rediss:// needs ebb-redis built with its `tls` feature"));
        }
        _ => return Err(ConfigError::new(variable, format!("unknown scheme; {expected}"))),
    }
    // redis-rs' own messages can quote the URL: say only what kind of fault it was.
    let info = url
        .into_connection_info()
        .map_err(|error| ConfigError::new(variable, format!("{} ({expected})", describe_kind(&error))))?;
    if matches!(info.addr(), ConnectionAddr::TcpTls { insecure: true, .. }) {
        return Err(ConfigError::new(
            variable,
            "#insecure (no certificate verification) is not supported; set EBB_REDIS_CA_FILE to trust a private CA",
        ));
    }
    Ok(info)
}

fn describe_kind(error: &redis::RedisError) -> &'static str {
    match error.kind() {
        redis::ErrorKind::InvalidClientConfig => "malformed URL, port or database index",
        _ => "unusable URL",
    }
}

/// Comma-separated `redis://` or `rediss://` URLs of `kind` (nodes, sentinels): at least
/// one, all TLS or none, none `unix://`.
pub(crate) fn parse_tcp_urls(
    variable: &'static str,
    urls: &str,
    kind: &str,
    no_unix: &str,
) -> Result<Vec<ConnectionInfo>, ConfigError> {
    let infos = urls
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| parse_url(variable, url))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(first) = infos.first() else {
        return Err(ConfigError::new(variable, format!("expected comma-separated redis:// or rediss:// {kind} URLs")));
    };
    let tls = |info: &ConnectionInfo| matches!(info.addr(), ConnectionAddr::TcpTls { .. });
    if infos.iter().any(|info| tls(info) != tls(first)) {
        return Err(ConfigError::new(variable, format!("mixes redis:// and rediss:// {kind}s")));
    }
    if infos.iter().any(|info| matches!(info.addr(), ConnectionAddr::Unix(_))) {
        return Err(ConfigError::new(variable, no_unix));
    }
    Ok(infos)
}

fn parse_cluster(urls: &str) -> Result<Nodes, ConfigError> {
    if !cfg!(feature = "cluster") {
        return Err(ConfigError::new(ENV_REDIS_CLUSTER_URLS, "needs ebb-redis built with its `cluster` feature"));
    }
    let nodes = parse_tcp_urls(ENV_REDIS_CLUSTER_URLS, urls, "node", "a Cluster is reached over TCP, not unix://")?;
    let settings = |info: &ConnectionInfo| {
        let redis = info.redis_settings();
        (redis.username().map(str::to_owned), redis.password().map(str::to_owned))
    };
    if nodes.iter().any(|info| settings(info) != settings(&nodes[0])) {
        return Err(ConfigError::new(
            ENV_REDIS_CLUSTER_URLS,
            "the nodes name different users or passwords: give every URL the same",
        ));
    }
    if nodes.iter().any(|info| info.redis_settings().db() != 0) {
        return Err(ConfigError::new(
            ENV_REDIS_CLUSTER_URLS,
            "a Cluster has only database 0: drop the /<db> from the URLs",
        ));
    }
    Ok(Nodes::Cluster(nodes))
}

fn read_tls_files(
    get: &impl Fn(&str) -> Option<String>,
    nodes: Option<&Nodes>,
    errors: &mut Vec<ConfigError>,
) -> TlsFiles {
    let mut read = |variable: &'static str| {
        let path = get(variable)?;
        match std::fs::read(&path) {
            Ok(bytes) => Some((variable, bytes)),
            Err(error) => {
                errors.push(ConfigError::new(variable, format!("cannot read the file it names ({})", error.kind())));
                None
            }
        }
    };
    let ca = read(ENV_REDIS_CA_FILE);
    let cert = read(ENV_REDIS_CLIENT_CERT_FILE);
    let key = read(ENV_REDIS_CLIENT_KEY_FILE);
    let any = ca.is_some() || cert.is_some() || key.is_some();
    let tls = match nodes {
        Some(Nodes::Single(info)) => matches!(info.addr(), ConnectionAddr::TcpTls { .. }),
        Some(Nodes::Cluster(infos)) => infos.iter().all(|info| matches!(info.addr(), ConnectionAddr::TcpTls { .. })),
        Some(Nodes::Sentinel(sentinels)) => sentinels.is_tls(),
        None => true, // nothing to connect to; a URL error was reported already if any
    };
    if any && !tls {
        let variable = ca.as_ref().or(cert.as_ref()).or(key.as_ref()).map_or(ENV_REDIS_CA_FILE, |(v, _)| *v);
        errors.push(ConfigError::new(variable, "is set, but Redis is not reached over rediss://"));
    }
    let mut files = TlsFiles::default();
    if let Some((variable, pem)) = ca {
        match check_certificates(variable, &pem) {
            Ok(()) => files.ca = Some(pem),
            Err(error) => errors.push(error),
        }
    }
    match (cert, key) {
        (Some((cert_var, cert)), Some((key_var, key))) => {
            let checked = [check_certificates(cert_var, &cert), check_key(key_var, &key)];
            let before = errors.len();
            errors.extend(checked.into_iter().filter_map(Result::err));
            if errors.len() == before {
                files.client = Some((cert, key));
            }
        }
        (Some((variable, _)), None) | (None, Some((variable, _))) => {
            errors.push(ConfigError::new(
                variable,
                format!("needs both {ENV_REDIS_CLIENT_CERT_FILE} and {ENV_REDIS_CLIENT_KEY_FILE}"),
            ));
        }
        (None, None) => {}
    }
    files
}

#[cfg(feature = "tls")]
fn check_certificates(variable: &'static str, pem: &[u8]) -> Result<(), ConfigError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let certificates = CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>();
    match certificates {
        Ok(certificates) if !certificates.is_empty() => Ok(()),
        Ok(_) => Err(ConfigError::new(variable, "holds no PEM certificate")),
        Err(_) => Err(ConfigError::new(variable, "is not valid PEM")),
    }
}

#[cfg(feature = "tls")]
fn check_key(variable: &'static str, pem: &[u8]) -> Result<(), ConfigError> {
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;
    PrivateKeyDer::from_pem_slice(pem)
        .map(|_| ())
        .map_err(|_| ConfigError::new(variable, "holds no usable PEM private key"))
}

#[cfg(not(feature = "tls"))]
fn check_certificates(variable: &'static str, _pem: &[u8]) -> Result<(), ConfigError> {
    Err(ConfigError::new(variable, "needs ebb-redis built with its `tls` feature"))
}

#[cfg(not(feature = "tls"))]
fn check_key(variable: &'static str, _pem: &[u8]) -> Result<(), ConfigError> {
    Err(ConfigError::new(variable, "needs ebb-redis built with its `tls` feature"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
    }

    /// The README's values, as literals: a changed constant must fail here, not pass.
    #[test]
    fn defaults_are_pinned() {
        let config = RedisConfig::from_lookup(lookup(&[(ENV_REDIS_URL, "redis://127.0.0.1:6379")]))
            .expect("valid")
            .expect("a config");
        assert_eq!(config.timeout(), Duration::from_secs(2));
        assert_eq!(RedisConfig::from_url("redis://127.0.0.1:6379").expect("valid").timeout(), Duration::from_secs(2));
        assert_eq!(MAX_TIMEOUT, Duration::from_secs(60));
    }

    #[test]
    fn nothing_set_is_no_redis() {
        assert!(RedisConfig::from_lookup(lookup(&[])).expect("valid").is_none());
    }

    #[test]
    fn a_url_with_a_password_is_never_repeated() {
        let vars = [(ENV_REDIS_URL, "http://user:hunter2@redis:6379")];
        let errors = RedisConfig::from_lookup(lookup(&vars)).expect_err("bad scheme");
        let text = format!("{errors:?} {}", errors[0]);
        assert!(text.contains(ENV_REDIS_URL) && !text.contains("hunter2"), "{text}");
        let vars = [(ENV_REDIS_URL, "redis://user:hunter2@redis:notaport")];
        let errors = RedisConfig::from_lookup(lookup(&vars)).expect_err("bad port");
        assert!(!format!("{errors:?}").contains("hunter2"));
        let config = RedisConfig::from_url("redis://user:hunter2@127.0.0.1:6379/2").expect("valid");
        assert!(!format!("{config:?}").contains("hunter2"));
        assert_eq!(config.describe(), "127.0.0.1:6379");
    }

    #[test]
    fn every_bad_variable_is_reported_at_once() {
        let vars = [
            (ENV_REDIS_URL, "redis://127.0.0.1:6379"),
            (ENV_REDIS_CLUSTER_URLS, "redis://127.0.0.1:7000"),
            (ENV_REDIS_TIMEOUT, "soon"),
            (ENV_REDIS_CA_FILE, "/nonexistent/ca.pem"),
        ];
        let errors = RedisConfig::from_lookup(lookup(&vars)).expect_err("three faults");
        let names: Vec<_> = errors.iter().map(|e| e.variable).collect();
        assert_eq!(names, [ENV_REDIS_CLUSTER_URLS, ENV_REDIS_TIMEOUT, ENV_REDIS_CA_FILE], "{errors:?}");
        assert!(!errors[2].reason.contains("nonexistent"), "no paths: {}", errors[2]);
    }

    #[test]
    fn sentinel_urls_need_a_master_and_agree_and_never_repeat_a_secret() {
        let vars = [
            (ENV_REDIS_SENTINEL_URLS, "redis://:hunter2@127.0.0.1:26379/2, redis://:hunter2@127.0.0.1:26380/2"),
            (ENV_REDIS_SENTINEL_MASTER, "mymaster"),
        ];
        let config = RedisConfig::from_lookup(lookup(&vars)).expect("valid").expect("set");
        assert!(config.is_sentinel() && !config.is_cluster() && !config.is_tls());
        assert_eq!(config.describe(), "sentinel 127.0.0.1:26379,127.0.0.1:26380 master mymaster");
        assert!(!format!("{config:?}").contains("hunter2"));
        let cases: [&[(&str, &str)]; 6] = [
            &[(ENV_REDIS_SENTINEL_URLS, "redis://127.0.0.1:26379")],
            &[(ENV_REDIS_SENTINEL_MASTER, "mymaster")],
            &[
                (ENV_REDIS_SENTINEL_URLS, "redis://127.0.0.1:26379,rediss://127.0.0.1:26380"),
                (ENV_REDIS_SENTINEL_MASTER, "m"),
            ],
            &[
                (ENV_REDIS_SENTINEL_URLS, "redis://:hunter2@127.0.0.1:26379/1,redis://127.0.0.1:26380"),
                (ENV_REDIS_SENTINEL_MASTER, "m"),
            ],
            &[
                (ENV_REDIS_SENTINEL_URLS, "redis://127.0.0.1:26379"),
                (ENV_REDIS_SENTINEL_MASTER, "m"),
                (ENV_REDIS_URL, "redis://127.0.0.1"),
            ],
            &[
                (ENV_REDIS_SENTINEL_URLS, "redis://127.0.0.1:26379"),
                (ENV_REDIS_SENTINEL_MASTER, "m"),
                (ENV_REDIS_SENTINEL_USERNAME, "u"),
            ],
        ];
        for vars in cases {
            let errors = RedisConfig::from_lookup(lookup(vars)).expect_err(&format!("{vars:?}"));
            let text = format!("{errors:?}");
            assert!(!text.contains("hunter2"), "{text}");
            let named = [ENV_REDIS_SENTINEL_URLS, ENV_REDIS_SENTINEL_MASTER, ENV_REDIS_SENTINEL_USERNAME];
            assert!(named.iter().any(|name| text.contains(name)), "the error names the variable: {text}");
        }
    }

    #[test]
    fn exclusive_connections_are_bounded() {
        let vars = [(ENV_REDIS_URL, "redis://127.0.0.1"), (ENV_REDIS_EXCLUSIVE_CONNECTIONS, "0")];
        let errors = RedisConfig::from_lookup(lookup(&vars)).expect_err("0 connections");
        assert!(format!("{errors:?}").contains(ENV_REDIS_EXCLUSIVE_CONNECTIONS));
        let vars = [(ENV_REDIS_URL, "redis://127.0.0.1"), (ENV_REDIS_EXCLUSIVE_CONNECTIONS, "8")];
        let config = RedisConfig::from_lookup(lookup(&vars)).expect("valid").expect("set");
        assert_eq!(config.exclusive, 8);
    }

    #[test]
    fn cluster_urls_are_parsed_and_must_agree_on_tls() {
        let vars = [(ENV_REDIS_CLUSTER_URLS, "redis://127.0.0.1:7000, redis://127.0.0.1:7001")];
        let config = RedisConfig::from_lookup(lookup(&vars)).expect("valid").expect("set");
        assert!(config.is_cluster() && !config.is_tls());
        assert_eq!(config.describe(), "cluster 127.0.0.1:7000,127.0.0.1:7001");
        for bad in [
            "redis://127.0.0.1:7000,rediss://127.0.0.1:7001",
            "redis://u:hunter2@127.0.0.1:7000,redis://127.0.0.1:7001",
            "redis://127.0.0.1:7000/3",
        ] {
            let vars = [(ENV_REDIS_CLUSTER_URLS, bad)];
            let errors = RedisConfig::from_lookup(lookup(&vars)).expect_err(bad);
            assert!(!format!("{errors:?}").contains("hunter2"), "{errors:?}");
        }
        let vars = [(ENV_REDIS_URL, "rediss://127.0.0.1:6380/#insecure")];
        assert!(RedisConfig::from_lookup(lookup(&vars)).is_err(), "no unverified TLS");
    }

    #[test]
    fn tls_files_need_rediss_and_valid_pem() {
        let dir = std::env::temp_dir().join(format!("ebb-redis-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, "not a certificate").expect("write");
        let garbage = garbage.to_str().expect("utf-8");
        let vars = [(ENV_REDIS_URL, "rediss://127.0.0.1:6380"), (ENV_REDIS_CA_FILE, garbage)];
        let errors = RedisConfig::from_lookup(lookup(&vars)).expect_err("bad PEM");
        assert_eq!(errors[0].variable, ENV_REDIS_CA_FILE, "{errors:?}");
        let vars = [(ENV_REDIS_URL, "redis://127.0.0.1:6379"), (ENV_REDIS_CA_FILE, garbage)];
        let errors = RedisConfig::from_lookup(lookup(&vars)).expect_err("CA without TLS");
        assert!(errors[0].reason.contains("rediss://"), "{errors:?}");
        let vars = [(ENV_REDIS_URL, "rediss://127.0.0.1:6380"), (ENV_REDIS_CLIENT_KEY_FILE, garbage)];
        let errors = RedisConfig::from_lookup(lookup(&vars)).expect_err("key without certificate");
        assert!(errors.iter().any(|e| e.reason.contains(ENV_REDIS_CLIENT_CERT_FILE)), "{errors:?}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
