//! The process' one Redis handle, as the server uses it: made once from the
//! configuration, dialled before the first request, and reported by `/readyz`.

use ebb_core::env::{Env, Errors};
use ebb_probes::ProbesBuilder;
use ebb_redis::{Redis, RedisConfig};

use crate::config::ConfigError;

/// `REDIS_URL` or `REDIS_CLUSTER_URLS` and the `EBB_REDIS_*` settings; `None` without
/// them. A client that cannot be built (checked here, not at first use) is a start-up
/// error, never a silent fall-back to one replica's in-process state.
pub(crate) fn config_from(env: &Env<'_>, errors: &mut Errors<ConfigError>) -> Option<RedisConfig> {
    match RedisConfig::from_vars(env) {
        Ok(Some(redis)) => match Redis::new(&redis) {
            Ok(_) => Some(redis),
            Err(error) => {
                let variable =
                    if redis.is_cluster() { ebb_redis::ENV_REDIS_CLUSTER_URLS } else { ebb_redis::ENV_REDIS_URL };
                let reason = format!("cannot make a Redis client from it ({})", error_kind(&error));
                errors.push(ConfigError::Redis(ebb_redis::ConfigError { variable, reason }));
                None
            }
        },
        Ok(None) => None,
        Err(redis_errors) => {
            errors.extend(redis_errors.into_iter().map(ConfigError::Redis));
            None
        }
    }
}

/// What kind of client error it was, without redis-rs' text (it may quote a URL).
fn error_kind(error: &ebb_redis::Error) -> String {
    match error {
        ebb_redis::Error::Redis(error) => format!("{:?}", error.kind()),
        _ => "unusable settings".to_owned(),
    }
}

/// The handle for `config`; `None` (said loudly) when a configuration made by hand cannot
/// give a client: [`ServerConfig::from_env`](crate::ServerConfig::from_env) checks that.
pub(crate) fn handle(config: &RedisConfig) -> Option<Redis> {
    match Redis::new(config) {
        Ok(redis) => Some(redis),
        Err(error) => {
            tracing::error!(%error, "cannot set up Redis; running without it (in-process state, one replica only)");
            None
        }
    }
}

/// Connects before the first request, so that it does not pay (or, with the limiter's
/// 50 ms bound, time out on) the dial. Unreachable: the fallbacks apply.
pub(crate) async fn connect_at_start(redis: &Redis) {
    match redis.ping().await {
        Ok(()) => tracing::info!(redis = %redis.describe(), "connected to Redis"),
        Err(error) => tracing::warn!(redis = %redis.describe(), %error, "Redis is not reachable at start"),
    }
}

/// Adds Redis to `/readyz`: failing it only when a part cannot work without Redis
/// (`critical`: a rate limit that fails closed), else reported as advisory, since failing
/// readiness on every replica at once would turn a degraded part into an outage.
pub(crate) fn readiness(probes: ProbesBuilder, redis: &Redis, critical: bool) -> ProbesBuilder {
    let redis = redis.clone();
    let ping = move || {
        let redis = redis.clone();
        async move { redis.ping().await.map_err(readiness_reason) }
    };
    if critical {
        probes.with_readiness_check("redis", ping)
    } else {
        probes.with_advisory_readiness_check("redis", ping)
    }
}

/// Readiness details are served on the application port: our words, not Redis' (whose text
/// can name nodes or echo server replies). The detail goes to the log.
fn readiness_reason(error: ebb_redis::Error) -> String {
    let text = error.to_string();
    tracing::debug!(%error, "Redis readiness check failed");
    if text.contains(ebb_redis::ENV_REDIS_CA_FILE) {
        format!("TLS verification failed: check {}", ebb_redis::ENV_REDIS_CA_FILE)
    } else if matches!(error, ebb_redis::Error::Timeout(_)) {
        "Redis did not answer in time".to_owned()
    } else {
        "Redis is unreachable or refused the connection (details in the log)".to_owned()
    }
}
