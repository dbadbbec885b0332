//! The shared store: the GCRA script in Redis, one round trip per decision.
//!
//! deadpool-redis makes the connections, but its checkout PINGs every connection it hands
//! out, which would double the round trips. So the store checks one connection out for
//! good and shares it: a multiplexed connection carries any number of concurrent commands
//! (pipelined on the wire). When it breaks, the next decision takes a fresh one from the
//! pool (one task dials, the others wait for it); after a failed attempt, decisions fail at
//! once for [`RECONNECT_BACKOFF`] instead of each paying a connect.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use deadpool_redis::Pool;
use deadpool_redis::redis::aio::MultiplexedConnection;
use deadpool_redis::redis::{self, ErrorKind, Script, ServerErrorKind};

use crate::LimiterError;
use crate::decision::Decision;

/// Minimum time between two attempts to get a new connection.
pub(crate) const RECONNECT_BACKOFF: Duration = Duration::from_millis(200);

const GCRA_LUA: &str = include_str!("../gcra.lua");

pub(crate) struct RedisStore {
    pool: Pool,
    script: Script,
    connection: Mutex<Slot>,
    connecting: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Slot {
    connection: Option<MultiplexedConnection>,
    last_failure: Option<Instant>,
}

impl RedisStore {
    pub(crate) fn new(pool: Pool) -> Self {
        Self {
            pool,
            script: Script::new(GCRA_LUA),
            connection: Mutex::new(Slot::default()),
            connecting: tokio::sync::Mutex::new(()),
        }
    }

    /// One decision: EVALSHA, and on NOSCRIPT (a restarted or flushed Redis) SCRIPT LOAD and
    /// EVALSHA again.
    pub(crate) async fn decide(
        &self,
        key: &str,
        interval: u64,
        burst: u32,
        cost: u32,
    ) -> Result<Decision, LimiterError> {
        let mut connection = self.connection().await?;
        let mut evalsha = redis::cmd("EVALSHA");
        evalsha.arg(self.script.get_hash()).arg(1).arg(key).arg(interval).arg(burst).arg(cost);
        let reply: Result<Vec<i64>, _> = evalsha.query_async(&mut connection).await;
        let reply = match reply {
            Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                let _: String = redis::cmd("SCRIPT").arg("LOAD").arg(GCRA_LUA).query_async(&mut connection).await?;
                evalsha.query_async(&mut connection).await
            }
            reply => reply,
        };
        let reply = reply.inspect_err(|error| self.forget_if_broken(error))?;
        parse(&reply, burst)
    }

    /// PING through the shared connection.
    pub(crate) async fn ping(&self) -> Result<(), LimiterError> {
        let mut connection = self.connection().await?;
        let reply: Result<String, _> = redis::cmd("PING").query_async(&mut connection).await;
        let reply = reply.inspect_err(|error| self.forget_if_broken(error))?;
        if reply == "PONG" { Ok(()) } else { Err(LimiterError::Reply(format!("PING answered {reply:?}"))) }
    }

    async fn connection(&self) -> Result<MultiplexedConnection, LimiterError> {
        if let Some(connection) = self.current() {
            return Ok(connection);
        }
        // One task connects; the others wait for it rather than each dialling Redis.
        let _connecting = self.connecting.lock().await;
        if let Some(connection) = self.current() {
            return Ok(connection);
        }
        if self.slot().last_failure.is_some_and(|at| at.elapsed() < RECONNECT_BACKOFF) {
            return Err(LimiterError::Unavailable);
        }
        match self.pool.get().await {
            Ok(connection) => {
                let connection = deadpool_redis::Connection::take(connection);
                let mut slot = self.slot();
                slot.connection = Some(connection.clone());
                slot.last_failure = None;
                Ok(connection)
            }
            Err(error) => {
                self.slot().last_failure = Some(Instant::now());
                Err(error.into())
            }
        }
    }

    fn current(&self) -> Option<MultiplexedConnection> {
        self.slot().connection.clone()
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn forget_if_broken(&self, error: &redis::RedisError) {
        if error.is_io_error() || error.is_connection_dropped() || error.is_unrecoverable_error() {
            self.slot().connection = None;
        }
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
