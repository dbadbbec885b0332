//! The Redis a service uses, as its definition already states it: which of `REDIS_URL`,
//! `REDIS_CLUSTER_URLS` or `REDIS_SENTINEL_URLS` it reads and from which Secret, whether it
//! trusts a private CA (`EBB_REDIS_CA_FILE`) or shows a client certificate, the Sentinel
//! master and the sentinels' own credentials. Derived from the variables the definition
//! sets, so that KEDA's Redis triggers reach the Redis the service does without a second
//! description of it; only the database, hidden in the secret URL, is said apart
//! ([`Service::with_redis_database`]).

use ebb_core::names::{
    ENV_REDIS_CA_FILE, ENV_REDIS_CLIENT_CERT_FILE, ENV_REDIS_CLIENT_KEY_FILE, ENV_REDIS_CLUSTER_URLS,
    ENV_REDIS_SENTINEL_MASTER, ENV_REDIS_SENTINEL_PASSWORD, ENV_REDIS_SENTINEL_URLS, ENV_REDIS_SENTINEL_USERNAME,
    ENV_REDIS_URL,
};

use crate::service::Service;

/// How a service reaches Redis, told by the variable its definition sets (plainly or from a
/// Secret). It decides the KEDA trigger: `redis-streams`/`redis` for one server,
/// `redis-cluster-streams`/`redis-cluster` for a Cluster, `redis-sentinel-streams`/`redis-sentinel`
/// behind Sentinel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedisTopology {
    /// One server (or a primary without Sentinel): `REDIS_URL`.
    Single,
    /// Redis Cluster: `REDIS_CLUSTER_URLS`, the seed nodes.
    Cluster,
    /// A master found through Sentinel: `REDIS_SENTINEL_URLS` and `REDIS_SENTINEL_MASTER`.
    Sentinel,
}

impl RedisTopology {
    const ALL: [RedisTopology; 3] = [RedisTopology::Single, RedisTopology::Cluster, RedisTopology::Sentinel];

    /// The variable that says where Redis is, in this topology.
    pub fn variable(self) -> &'static str {
        match self {
            RedisTopology::Single => ENV_REDIS_URL,
            RedisTopology::Cluster => ENV_REDIS_CLUSTER_URLS,
            RedisTopology::Sentinel => ENV_REDIS_SENTINEL_URLS,
        }
    }

    /// The topology a variable says, if it is one of the three.
    pub(crate) fn of_variable(variable: &str) -> Option<RedisTopology> {
        RedisTopology::ALL.into_iter().find(|topology| topology.variable() == variable)
    }
}

/// Where a setting of the service comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source<'a> {
    /// Its ConfigMap: the value is in the definition.
    Plain(&'a str),
    /// Key `key` of Secret `secret`.
    Secret { secret: &'a str, key: &'a str },
}

/// What the definition says of its Redis; see the module's docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RedisSettings<'a> {
    pub(crate) topology: RedisTopology,
    /// The Secret the topology's variable is read from: KEDA's connection keys go beside it.
    pub(crate) secret: &'a str,
    pub(crate) database: u32,
    /// `EBB_REDIS_CA_FILE` is set: the server's certificate is signed by a private CA.
    pub(crate) ca: bool,
    /// `EBB_REDIS_CLIENT_CERT_FILE` is set: mutual TLS.
    pub(crate) client_certificate: bool,
    pub(crate) sentinel_master: Option<Source<'a>>,
    pub(crate) sentinel_username: Option<Source<'a>>,
    pub(crate) sentinel_password: Option<Source<'a>>,
}

impl Service {
    /// How the service reaches Redis: from the variable its definition sets, `None` when it
    /// sets none of `REDIS_URL`, `REDIS_CLUSTER_URLS` and `REDIS_SENTINEL_URLS`.
    pub fn redis_topology(&self) -> Option<RedisTopology> {
        RedisTopology::ALL.into_iter().find(|topology| self.variable(topology.variable()).is_some())
    }

    /// Where a variable comes from, if the definition sets it.
    pub(crate) fn source(&self, variable: &str) -> Option<Source<'_>> {
        let plain = self.env.iter().rev().find(|(name, _)| name == variable).map(|(_, value)| Source::Plain(value));
        plain.or_else(|| {
            let secret = self.secret_env.iter().rev().find(|s| s.variable == variable)?;
            Some(Source::Secret { secret: &secret.secret, key: &secret.key })
        })
    }

    /// The service's Redis settings, when it reads its Redis variable from a Secret (a Redis
    /// URL carries the password; KEDA's keys go beside it).
    pub(crate) fn redis_settings(&self) -> Option<RedisSettings<'_>> {
        let topology = self.redis_topology()?;
        let Some(Source::Secret { secret, .. }) = self.source(topology.variable()) else { return None };
        let sentinel = |variable| if topology == RedisTopology::Sentinel { self.source(variable) } else { None };
        Some(RedisSettings {
            topology,
            secret,
            database: self.redis_database,
            ca: self.variable(ENV_REDIS_CA_FILE).is_some(),
            client_certificate: self.variable(ENV_REDIS_CLIENT_CERT_FILE).is_some(),
            sentinel_master: sentinel(ENV_REDIS_SENTINEL_MASTER),
            sentinel_username: sentinel(ENV_REDIS_SENTINEL_USERNAME),
            sentinel_password: sentinel(ENV_REDIS_SENTINEL_PASSWORD),
        })
    }
}

/// What ebb-redis would refuse at start, or what KEDA could not be told: said when the
/// definition is read, not by a crash-looping pod.
pub(crate) fn invalid_redis(service: &Service) -> Vec<String> {
    let name = &service.name;
    let mut problems = Vec::new();
    let set: Vec<&str> =
        RedisTopology::ALL.iter().map(|t| t.variable()).filter(|v| service.variable(v).is_some()).collect();
    if set.len() > 1 {
        problems.push(format!("service `{name}` sets {}: ebb-redis reads exactly one of them", set.join(" and ")));
    }
    let topology = service.redis_topology();
    if service.redis_database != 0 && topology.is_none() {
        problems.push(format!(
            "service `{name}`: `with_redis_database({})` but it sets none of {ENV_REDIS_URL}, {ENV_REDIS_CLUSTER_URLS}, {ENV_REDIS_SENTINEL_URLS}",
            service.redis_database
        ));
    }
    if service.redis_database != 0 && topology == Some(RedisTopology::Cluster) {
        problems.push(format!(
            "service `{name}`: `with_redis_database({})` on a Redis Cluster, which has database 0 only",
            service.redis_database
        ));
    }
    if topology == Some(RedisTopology::Sentinel) && service.variable(ENV_REDIS_SENTINEL_MASTER).is_none() {
        problems.push(format!(
            "service `{name}` sets {ENV_REDIS_SENTINEL_URLS} but not {ENV_REDIS_SENTINEL_MASTER}: name the master set the sentinels watch"
        ));
    }
    if let Some(Source::Plain(_)) = service.source(ENV_REDIS_SENTINEL_PASSWORD) {
        problems.push(format!(
            "service `{name}`: {ENV_REDIS_SENTINEL_PASSWORD} is a password: read it from a Secret (`with_secret_env`), not the ConfigMap"
        ));
    }
    let (cert, key) = (service.variable(ENV_REDIS_CLIENT_CERT_FILE), service.variable(ENV_REDIS_CLIENT_KEY_FILE));
    if cert.is_some() != key.is_some() {
        problems.push(format!(
            "service `{name}`: a client certificate needs both {ENV_REDIS_CLIENT_CERT_FILE} and {ENV_REDIS_CLIENT_KEY_FILE}"
        ));
    }
    if service.scaler.reads_redis() && service.redis_settings().is_none() {
        problems.push(format!(
            "service `{name}` scales on Redis but reads none of {ENV_REDIS_URL}, {ENV_REDIS_CLUSTER_URLS}, {ENV_REDIS_SENTINEL_URLS} from a Secret (`with_secret_env`): KEDA's TriggerAuthentication reads its keys from that Secret"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scaler;

    fn worker() -> Service {
        Service::new("worker").with_replicas(0, 5).with_scaler(Scaler::redis_stream("jobs", "workers", 10))
    }

    #[test]
    fn the_topology_and_its_settings_come_from_the_variables_the_definition_sets() {
        let single = worker().with_secret_env(ENV_REDIS_URL, "redis", "url").with_redis_database(2);
        let settings = single.redis_settings().expect("settings");
        assert_eq!((settings.topology, settings.secret, settings.database), (RedisTopology::Single, "redis", 2));
        assert!(!settings.ca && !settings.client_certificate);

        let cluster = worker()
            .with_secret_env(ENV_REDIS_CLUSTER_URLS, "redis", "urls")
            .with_env(ENV_REDIS_CA_FILE, "/etc/redis/ca.pem");
        let settings = cluster.redis_settings().expect("settings");
        assert_eq!(settings.topology, RedisTopology::Cluster);
        assert!(settings.ca && !settings.client_certificate);

        let sentinel = worker()
            .with_secret_env(ENV_REDIS_SENTINEL_URLS, "redis", "sentinel-urls")
            .with_env(ENV_REDIS_SENTINEL_MASTER, "mymaster")
            .with_secret_env(ENV_REDIS_SENTINEL_PASSWORD, "sentinels", "password");
        let settings = sentinel.redis_settings().expect("settings");
        assert_eq!(settings.topology, RedisTopology::Sentinel);
        assert_eq!(settings.sentinel_master, Some(Source::Plain("mymaster")));
        assert_eq!(settings.sentinel_password, Some(Source::Secret { secret: "sentinels", key: "password" }));
        assert_eq!(settings.sentinel_username, None);
        assert_eq!(invalid_redis(&sentinel), Vec::<String>::new());

        let plain = worker().with_env(ENV_REDIS_URL, "redis://redis:6379");
        assert_eq!(plain.redis_topology(), Some(RedisTopology::Single));
        assert!(plain.redis_settings().is_none(), "KEDA's keys need a Secret to live in");
    }

    #[test]
    fn what_redis_or_keda_would_refuse_is_said_when_the_definition_is_read() {
        let cases = [
            (
                worker().with_secret_env(ENV_REDIS_URL, "r", "u").with_secret_env(ENV_REDIS_CLUSTER_URLS, "r", "c"),
                "sets REDIS_URL and REDIS_CLUSTER_URLS",
            ),
            (worker().with_secret_env(ENV_REDIS_CLUSTER_URLS, "r", "c").with_redis_database(2), "database 0 only"),
            (worker().with_secret_env(ENV_REDIS_SENTINEL_URLS, "r", "s"), "but not REDIS_SENTINEL_MASTER"),
            (
                worker()
                    .with_secret_env(ENV_REDIS_URL, "r", "u")
                    .with_env(ENV_REDIS_CLIENT_CERT_FILE, "/etc/redis/client.pem"),
                "needs both EBB_REDIS_CLIENT_CERT_FILE and EBB_REDIS_CLIENT_KEY_FILE",
            ),
            (worker().with_env(ENV_REDIS_URL, "redis://redis:6379"), "scales on Redis but reads none of"),
            (Service::new("api").with_redis_database(1), "`with_redis_database(1)` but it sets none of"),
        ];
        for (service, needle) in cases {
            let problems = invalid_redis(&service).join("\n");
            assert!(problems.contains(needle), "{needle} missing in:\n{problems}");
        }
    }
}
