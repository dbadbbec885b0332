//! The Secrets the operator creates, as examples with placeholder values, beside the dev
//! overlay: every key the Deployments and TriggerAuthentications read. They are not among
//! the overlay's resources, so that applying an overlay never overwrites a real Secret with
//! a placeholder; `--check` holds the TriggerAuthentications to their keys.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::redis_trigger;
use crate::redis::RedisTopology;
use crate::service::Service;

/// Placeholder of every key but the Redis ones; never a real secret.
const PLACEHOLDER: &str = "change-me";

/// One example Secret per Secret name the services read, by name: every key a Deployment
/// reads, and every key a TriggerAuthentication reads (`redis_trigger.rs`), nothing else.
pub(crate) fn example_secrets(services: &[Service]) -> BTreeMap<String, Secret> {
    let mut secrets: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for service in services {
        let redis = service.redis_settings();
        for env in &service.secret_env {
            // The Redis URL names the same server, user, TLS and database as KEDA's keys.
            let value = match (&redis, RedisTopology::of_variable(&env.variable)) {
                (Some(redis), Some(topology)) if topology == redis.topology => redis_trigger::url_placeholder(redis),
                _ => PLACEHOLDER.to_owned(),
            };
            secrets.entry(env.secret.clone()).or_default().insert(env.key.clone(), value);
        }
        if let (true, Some(redis)) = (service.scaler.reads_redis(), &redis) {
            for parameter in redis_trigger::secret_parameters(redis) {
                let keys = secrets.entry(parameter.secret.to_owned()).or_default();
                let value = parameter.placeholder.unwrap_or_else(|| PLACEHOLDER.to_owned());
                keys.entry(parameter.key.to_owned()).or_insert(value);
            }
        }
    }
    secrets
        .into_iter()
        .map(|(name, data)| {
            let secret = Secret {
                metadata: ObjectMeta { name: Some(name.clone()), ..ObjectMeta::default() },
                string_data: Some(data),
                type_: Some("Opaque".to_owned()),
                ..Secret::default()
            };
            (name, secret)
        })
        .collect()
}
