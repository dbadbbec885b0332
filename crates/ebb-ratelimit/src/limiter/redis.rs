//! The shared store: the GCRA script in Redis, one round trip per decision, on the process'
//! shared [`ebb_redis::Redis`] connection (multiplexed: concurrent decisions are pipelined on
//! the wire; a broken or silent connection is replaced in the background).

use std::time::Duration;

use ebb_redis::Redis;
use ebb_redis::redis::Script;

use crate::LimiterError;
use crate::decision::Decision;

const GCRA_LUA: &str = include_str!("../gcra.lua");

pub(crate) struct RedisStore {
    redis: Redis,
    script: Script,
}

impl RedisStore {
    pub(crate) fn new(redis: Redis) -> Self {
        Self { redis, script: Script::new(GCRA_LUA) }
    }

    /// One decision: EVALSHA, and on NOSCRIPT (a restarted or flushed Redis, a new Cluster
    /// node) SCRIPT LOAD and EVALSHA again.
    pub(crate) async fn decide(
        &self,
        key: &str,
        interval: u64,
        burst: u32,
        cost: u32,
        timeout: Duration,
        peek: bool,
    ) -> Result<Decision, LimiterError> {
        let mut invocation = self.script.key(key);
        invocation.arg(interval).arg(burst).arg(cost);
        if peek {
            invocation.arg("peek");
        }
        let reply: Vec<i64> = self.redis.invoke(&invocation, timeout).await?;
        parse(&reply, burst)
    }

    /// PING through the shared connection.
    pub(crate) async fn ping(&self) -> Result<(), LimiterError> {
        Ok(self.redis.ping().await?)
    }
}

fn parse(reply: &[i64], burst: u32) -> Result<Decision, LimiterError> {
    let &[allowed, remaining, retry_after, reset] = reply else {
        return Err(LimiterError::Reply(format!("{reply:?}")));
    };
    let micros = |value: i64| Duration::from_micros(u64::try_from(value).unwrap_or(0));
    Ok(Decision {
        allowed: allowed == 1,
        limit: burst,
        remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
        retry_after: micros(retry_after),
        reset: micros(reset),
    })
}
