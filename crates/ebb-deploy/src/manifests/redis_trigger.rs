//! What KEDA's Redis scalers must be told to reach the Redis the service uses, from its
//! [`RedisSettings`]: the trigger's metadata (`databaseIndex`, a plain `sentinelMaster`) and
//! the TriggerAuthentication's parameters, each with the Secret key it reads. KEDA cannot
//! parse a Redis URL, so the connection is spelled out in keys beside the service's URL in
//! its Secret; a setting the service itself reads from a Secret (the Sentinel master, the
//! sentinels' credentials) is read from that very key. The example Secrets
//! (`example_secrets.rs`) are made from the same list, so they hold exactly these keys.

use ebb_core::names::{ENV_REDIS_CA_FILE, ENV_REDIS_CLIENT_CERT_FILE, ENV_REDIS_CLIENT_KEY_FILE};

use crate::redis::{RedisSettings, RedisTopology, Source};

/// One `secretTargetRef` of the TriggerAuthentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SecretParameter<'a> {
    /// KEDA's name of the parameter.
    pub(crate) parameter: &'static str,
    pub(crate) secret: &'a str,
    pub(crate) key: &'a str,
    /// The example Secret's value for a key that exists for KEDA alone (named as the
    /// parameter); `None` for the key of a variable the Deployment reads too.
    pub(crate) placeholder: Option<String>,
}

/// What goes into the trigger's metadata: settings that are not secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TriggerMetadata {
    /// KEDA reads database 0 without it.
    pub(crate) database_index: Option<String>,
    pub(crate) sentinel_master: Option<String>,
    pub(crate) sentinel_username: Option<String>,
}

/// The example Secret's server, user and password, the same in the URL and in KEDA's keys.
const USER: &str = "default";
const PASSWORD: &str = "change-me";

fn hosts(topology: RedisTopology) -> &'static [&'static str] {
    match topology {
        RedisTopology::Single => &["redis:6379"],
        RedisTopology::Cluster => &["redis-0:6379", "redis-1:6379", "redis-2:6379"],
        RedisTopology::Sentinel => &["redis-sentinel:26379"],
    }
}

fn pem(kind: &str, variable: &str) -> String {
    format!("-----BEGIN {kind}-----\nchange-me: the PEM of the file {variable} names\n-----END {kind}-----\n")
}

/// The example Secret's value of the topology's variable (`REDIS_URL`, ...): the same
/// server, user, TLS and database as KEDA's keys beside it.
pub(crate) fn url_placeholder(settings: &RedisSettings<'_>) -> String {
    let scheme = if settings.ca || settings.client_certificate { "rediss" } else { "redis" };
    let database = if settings.database == 0 { String::new() } else { format!("/{}", settings.database) };
    let urls: Vec<String> =
        hosts(settings.topology).iter().map(|host| format!("{scheme}://{USER}:{PASSWORD}@{host}{database}")).collect();
    urls.join(",")
}

/// The TriggerAuthentication's parameters, in a fixed order.
pub(crate) fn secret_parameters<'a>(settings: &RedisSettings<'a>) -> Vec<SecretParameter<'a>> {
    let own = |parameter: &'static str, placeholder: String| SecretParameter {
        parameter,
        secret: settings.secret,
        key: parameter,
        placeholder: Some(placeholder),
    };
    let address = match settings.topology {
        RedisTopology::Single => "address",
        RedisTopology::Cluster | RedisTopology::Sentinel => "addresses",
    };
    let tls = if settings.ca || settings.client_certificate { "enable" } else { "disable" };
    let mut parameters = vec![
        own(address, hosts(settings.topology).join(",")),
        own("username", USER.to_owned()),
        own("password", PASSWORD.to_owned()),
        own("tls", tls.to_owned()),
    ];
    if settings.ca {
        parameters.push(own("ca", pem("CERTIFICATE", ENV_REDIS_CA_FILE)));
    }
    if settings.client_certificate {
        parameters.push(own("cert", pem("CERTIFICATE", ENV_REDIS_CLIENT_CERT_FILE)));
        parameters.push(own("key", pem("PRIVATE KEY", ENV_REDIS_CLIENT_KEY_FILE)));
    }
    let sentinel = [
        ("sentinelMaster", settings.sentinel_master),
        ("sentinelUsername", settings.sentinel_username),
        ("sentinelPassword", settings.sentinel_password),
    ];
    for (parameter, source) in sentinel {
        if let Some(Source::Secret { secret, key }) = source {
            parameters.push(SecretParameter { parameter, secret, key, placeholder: None });
        }
    }
    parameters
}

/// The trigger's metadata beside the stream or list: the database, and the Sentinel
/// settings the definition sets plainly. A plain password never goes here: the definition
/// is refused (`redis::invalid_redis`).
pub(crate) fn metadata(settings: Option<&RedisSettings<'_>>) -> TriggerMetadata {
    let Some(settings) = settings else { return TriggerMetadata::default() };
    let plain = |source: Option<Source<'_>>| match source {
        Some(Source::Plain(value)) => Some(value.to_owned()),
        _ => None,
    };
    TriggerMetadata {
        database_index: (settings.database != 0).then(|| settings.database.to_string()),
        sentinel_master: plain(settings.sentinel_master),
        sentinel_username: plain(settings.sentinel_username),
    }
}

#[cfg(test)]
mod tests {
    use ebb_core::names::{ENV_REDIS_SENTINEL_MASTER, ENV_REDIS_SENTINEL_PASSWORD, ENV_REDIS_SENTINEL_URLS};

    use super::*;
    use crate::{Scaler, Service};

    fn names(parameters: &[SecretParameter<'_>]) -> Vec<&'static str> {
        parameters.iter().map(|p| p.parameter).collect()
    }

    #[test]
    fn a_ca_and_a_client_certificate_add_ca_cert_and_key() {
        let service = Service::new("worker")
            .with_scaler(Scaler::redis_stream("jobs", "workers", 10))
            .with_secret_env("REDIS_URL", "redis", "url")
            .with_env(ENV_REDIS_CA_FILE, "/etc/redis/ca.pem");
        let settings = service.redis_settings().expect("settings");
        assert_eq!(names(&secret_parameters(&settings)), ["address", "username", "password", "tls", "ca"]);
        assert_eq!(url_placeholder(&settings), "rediss://default:change-me@redis:6379");
        let service = service
            .with_env(ENV_REDIS_CLIENT_CERT_FILE, "/etc/redis/client.pem")
            .with_env(ENV_REDIS_CLIENT_KEY_FILE, "/etc/redis/client.key");
        let settings = service.redis_settings().expect("settings");
        let parameters = secret_parameters(&settings);
        assert_eq!(names(&parameters), ["address", "username", "password", "tls", "ca", "cert", "key"]);
        assert!(parameters.iter().all(|p| p.secret == "redis" && p.key == p.parameter));
        assert_eq!(parameters[3].placeholder.as_deref(), Some("enable"));
    }

    #[test]
    fn sentinel_settings_the_service_reads_from_a_secret_are_read_from_the_same_key() {
        let service = Service::new("worker")
            .with_secret_env(ENV_REDIS_SENTINEL_URLS, "redis", "sentinel-urls")
            .with_env(ENV_REDIS_SENTINEL_MASTER, "mymaster")
            .with_secret_env(ENV_REDIS_SENTINEL_PASSWORD, "sentinels", "password")
            .with_redis_database(2);
        let settings = service.redis_settings().expect("settings");
        let parameters = secret_parameters(&settings);
        assert_eq!(names(&parameters), ["addresses", "username", "password", "tls", "sentinelPassword"]);
        let sentinel_password = &parameters[4];
        assert_eq!((sentinel_password.secret, sentinel_password.key), ("sentinels", "password"));
        assert_eq!(sentinel_password.placeholder, None, "the Deployment's own key");
        let metadata = metadata(Some(&settings));
        assert_eq!(metadata.database_index.as_deref(), Some("2"));
        assert_eq!(metadata.sentinel_master.as_deref(), Some("mymaster"));
        assert_eq!(url_placeholder(&settings), "redis://default:change-me@redis-sentinel:26379/2");
    }
}
