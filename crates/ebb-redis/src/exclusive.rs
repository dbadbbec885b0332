//! Exclusive connections, for the commands that hold a connection to themselves: blocking
//! reads (`XREADGROUP … BLOCK`, `BLPOP`) and `WATCH`. Request traffic stays on the shared
//! multiplexed connection, where a blocking read would stall every other caller.
//!
//! The connections come from a bounded pool (deadpool's managed pool; up to
//! `EBB_REDIS_EXCLUSIVE_CONNECTIONS`, opened on demand) dialled exactly like the shared one:
//! the same TLS material, ACL user and database; through the sentinels for Sentinel; a
//! Cluster connection of its own for a Cluster. deadpool-redis' own managers are not used:
//! for a Cluster and for Sentinel they take no TLS certificates and keep redis-rs' response
//! timeout, which fails any read that blocks longer; one manager over ebb's own dialer keeps
//! one way to connect for every topology.
//!
//! **A read the caller gave up on is never returned to the pool.** A client that stops
//! waiting before the server answers leaves the read alive on the server, which would hand
//! the next entry to nobody. So a command that did not finish (timed out, or its future was
//! dropped) takes its connection out of the pool and closes it: the server then drops the
//! blocked read with the connection.

use std::time::Duration;

use deadpool::managed::{self, Metrics, Object, RecycleError, RecycleResult};
use redis::{Cmd, FromRedisValue};

use crate::client::Dialer;
use crate::connection::Connection;
use crate::error::Error;

/// The pool of exclusive connections of one [`crate::Redis`] handle.
pub(crate) type Pool = managed::Pool<Dialer>;

impl managed::Manager for Dialer {
    type Type = Connection;
    type Error = Error;

    async fn create(&self) -> Result<Connection, Error> {
        self.dial_exclusive().await
    }

    /// A connection goes back to a caller only if it still answers (deadpool-redis does the
    /// same; it costs one round trip per checkout, and a holder checks out once).
    async fn recycle(&self, connection: &mut Connection, _: &Metrics) -> RecycleResult<Error> {
        let alive = tokio::time::timeout(self.timeout(), self.alive_cmd().query_async::<String>(connection)).await;
        match alive {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(RecycleError::Backend(Error::Redis(error))),
            Err(_elapsed) => Err(RecycleError::message("the connection stopped answering")),
        }
    }
}

/// A connection of one's own, for blocking reads and `WATCH`: from
/// [`Redis::exclusive`](crate::Redis::exclusive). Hold it for as long as the reads go on
/// (a consumer holds one for its life); dropping it returns the connection to the pool.
/// It connects at its first command, and again after a command that did not finish.
pub struct Exclusive {
    pool: Pool,
    connection: Option<Object<Dialer>>,
    timeout: Duration,
}

impl std::fmt::Debug for Exclusive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exclusive").field("connected", &self.connection.is_some()).finish()
    }
}

impl Exclusive {
    pub(crate) fn new(pool: Pool, timeout: Duration) -> Self {
        Self { pool, connection: None, timeout }
    }

    /// A blocking command whose server-side block is `block` (the `BLOCK` argument of
    /// `XREADGROUP`, the timeout of `BLPOP`): the caller waits that long plus the handle's
    /// timeout, so a frozen server is noticed.
    ///
    /// # Errors
    /// [`Error::Timeout`] when no answer came in that time (the connection is then closed,
    /// never reused), [`Error::Unavailable`] without a connection, or Redis' own error.
    pub async fn blocking<T: FromRedisValue>(&mut self, cmd: &Cmd, block: Duration) -> Result<T, Error> {
        self.run(cmd, block.saturating_add(self.timeout)).await
    }

    /// A command within the handle's timeout (`WATCH`, `MULTI`/`EXEC` and whatever runs
    /// between them on this connection).
    ///
    /// # Errors
    /// As [`blocking`](Self::blocking).
    pub async fn query<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T, Error> {
        self.run(cmd, self.timeout).await
    }

    async fn run<T: FromRedisValue>(&mut self, cmd: &Cmd, within: Duration) -> Result<T, Error> {
        if self.connection.is_none() {
            self.connection = Some(self.checkout().await?);
        }
        // Until the answer is in, the connection counts as abandoned: if this future is
        // dropped or times out, the guard closes it instead of returning it to the pool.
        let mut guard = Abandoned(Some(&mut self.connection));
        let reply = {
            let Some(Some(connection)) = guard.0.as_deref_mut() else { unreachable!("connected above") };
            tokio::time::timeout(within, cmd.query_async::<T>(&mut **connection)).await
        };
        match reply {
            Ok(Ok(value)) => {
                guard.0 = None;
                Ok(value)
            }
            Ok(Err(error)) if error.is_io_error() || error.is_connection_dropped() || error.is_timeout() => {
                Err(Error::Redis(error))
            }
            Ok(Err(error)) => {
                guard.0 = None; // an error reply is an answer
                Err(Error::Redis(error))
            }
            Err(_elapsed) => Err(Error::Timeout(within)),
        }
    }
}

impl Exclusive {
    /// A connection from the pool, waiting at most the handle's timeout for one to be free.
    async fn checkout(&self) -> Result<Object<Dialer>, Error> {
        match tokio::time::timeout(self.timeout, self.pool.get()).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(managed::PoolError::Backend(error))) => Err(error),
            Ok(Err(error)) => Err(Error::Unavailable(format!("no exclusive connection: {error}"))),
            Err(_elapsed) => Err(Error::Unavailable(format!(
                "all {} exclusive connections stayed in use for {:?}",
                self.pool.status().max_size,
                self.timeout
            ))),
        }
    }
}

/// Closes a connection whose command did not finish: taken out of the pool, then dropped.
struct Abandoned<'a>(Option<&'a mut Option<Object<Dialer>>>);

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take()
            && let Some(connection) = slot.take()
        {
            drop(Object::take(connection));
        }
    }
}
