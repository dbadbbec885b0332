//! The Secrets the operator creates, as examples with placeholder values, beside the dev
//! overlay: every key the Deployments and TriggerAuthentications read. They are not among
//! the overlay's resources, so that applying an overlay never overwrites a real Secret with
//! a placeholder; `--check` holds the TriggerAuthentications to their keys.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::service::{REDIS_TRIGGER_KEYS, REDIS_URL, Service};

/// Placeholder of every key but the Redis ones; never a real secret.
const PLACEHOLDER: &str = "change-me";
/// `REDIS_URL`'s placeholder, the same server and user as the trigger keys'.
const REDIS_URL_PLACEHOLDER: &str = "redis://default:change-me@redis:6379";

/// One example Secret per Secret name the services read, by name.
pub(crate) fn example_secrets(services: &[Service]) -> BTreeMap<String, Secret> {
    let mut secrets: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for service in services {
        for env in &service.secret_env {
            let value = if env.variable == REDIS_URL { REDIS_URL_PLACEHOLDER } else { PLACEHOLDER };
            secrets.entry(env.secret.clone()).or_default().insert(env.key.clone(), value.to_owned());
        }
        if let (true, Some(secret)) = (service.scaler.reads_redis(), service.redis_secret()) {
            let keys = secrets.entry(secret.to_owned()).or_default();
            keys.extend(REDIS_TRIGGER_KEYS.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())));
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
