//! [`Redis`]: the shared handle. One multiplexed connection, replaced in the background when
//! it breaks *or* when it hangs; callers never wait on a dial while a connection is in use.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use redis::{Cmd, FromRedisValue, RedisResult, ScriptInvocation};
use tokio::sync::Notify;

use crate::config::{ENV_REDIS_CA_FILE, Nodes, RedisConfig};
use crate::connection::Connection;
use crate::error::Error;

/// After a failed connect, callers fail at once for this long instead of each dialling.
pub const RECONNECT_BACKOFF: Duration = Duration::from_millis(200);
/// A connection whose commands time out this many times in a row is replaced.
pub const REPLACE_AFTER_TIMEOUTS: u32 = 3;
/// A connection whose commands have only timed out for this long is replaced.
pub const REPLACE_AFTER_SILENCE: Duration = Duration::from_secs(1);

/// The shared Redis handle of a process: cheap to clone, one connection for everyone.
///
/// - **Multiplexed**: every caller's commands share one connection (a Cluster connection
///   holds one per node), pipelined on the wire: no pool, no checkout, no PING per use.
/// - **Bounded**: every command has a timeout (the config's, or the caller's own).
/// - **Self-healing**: a connection that fails with an I/O error is dropped and redialled; one
///   that stays silent ([`REPLACE_AFTER_TIMEOUTS`] timeouts in a row, or only timeouts for
///   [`REPLACE_AFTER_SILENCE`]) is replaced in the background while callers keep using it, so
///   a frozen proxy or a half-open TCP connection costs about a second, not forever.
/// - **Lazy**: nothing connects until the first command; after a failed connect, commands
///   fail at once for [`RECONNECT_BACKOFF`].
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    timeout: Duration,
    describe: String,
    custom_ca: bool,
    current: RwLock<Option<Connection>>,
    dialing: AtomicBool,
    dialed: Notify,
    last_failure: Mutex<Option<(Instant, String)>>,
    /// Timeouts since the last answer, and when the first of them happened (µs since `born`).
    timeouts_in_row: AtomicU32,
    silent_since: AtomicU64,
    born: Instant,
}

enum Target {
    Single(redis::Client),
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster::ClusterClient),
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").field("at", &self.inner.describe).field("timeout", &self.inner.timeout).finish()
    }
}

impl Redis {
    /// A handle for `config`. Nothing connects yet.
    ///
    /// # Errors
    /// When the TLS material cannot be used (checked already by
    /// [`RedisConfig::from_env`], so this is rare).
    pub fn new(config: &RedisConfig) -> Result<Self, Error> {
        if config.is_tls() {
            install_crypto_provider();
        }
        let target = match &config.nodes {
            Nodes::Single(info) => Target::Single(single_client((**info).clone(), config)?),
            #[cfg(feature = "cluster")]
            Nodes::Cluster(infos) => Target::Cluster(cluster_client(infos.clone(), config)?),
            #[cfg(not(feature = "cluster"))]
            Nodes::Cluster(_) => return Err(Error::Unavailable("Cluster support is not built in".to_owned())),
        };
        let inner = Inner {
            target,
            timeout: config.timeout,
            describe: config.describe(),
            custom_ca: config.tls.ca.is_some(),
            current: RwLock::new(None),
            dialing: AtomicBool::new(false),
            dialed: Notify::new(),
            last_failure: Mutex::new(None),
            timeouts_in_row: AtomicU32::new(0),
            silent_since: AtomicU64::new(0),
            born: Instant::now(),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Where Redis is, without credentials.
    pub fn describe(&self) -> &str {
        &self.inner.describe
    }

    /// The default bound on a command.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        match self.inner.target {
            Target::Single(_) => false,
            #[cfg(feature = "cluster")]
            Target::Cluster(_) => true,
        }
    }

    /// Runs `op` on the shared connection within `timeout`, and learns from the outcome:
    /// an I/O error drops the connection, repeated timeouts replace it.
    ///
    /// # Errors
    /// [`Error::Unavailable`] with no connection, [`Error::Timeout`], or Redis' own error.
    pub async fn run<T>(
        &self,
        timeout: Duration,
        op: impl AsyncFnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, Error> {
        let work = async {
            let mut connection = self.connection().await?;
            op(&mut connection).await.map_err(Error::Redis)
        };
        let outcome = match tokio::time::timeout(timeout, work).await {
            Ok(outcome) => outcome,
            Err(_elapsed) => Err(Error::Timeout(timeout)),
        };
        match &outcome {
            Ok(_) => self.answered(),
            Err(Error::Timeout(_)) => self.timed_out(),
            Err(Error::Redis(error)) if error.is_timeout() => self.timed_out(),
            Err(Error::Redis(error))
                if error.is_io_error() || error.is_connection_dropped() || error.is_unrecoverable_error() =>
            {
                self.broken(error);
            }
            Err(Error::Redis(_)) => self.answered(), // Redis answered, with an error.
            Err(Error::Unavailable(_)) => {}
        }
        outcome
    }

    /// One command within the default timeout.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, Error> {
        self.run(self.inner.timeout, async |c| cmd.query_async(c).await).await
    }

    /// A Lua script by `EVALSHA` (loaded on `NOSCRIPT`, on every node of a Cluster) within
    /// `timeout`.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
        timeout: Duration,
    ) -> Result<T, Error> {
        self.run(timeout, async |c| invocation.invoke_async(c).await).await
    }

    /// `PING` within the default timeout: for readiness. The error says why in words fit
    /// for a readiness detail (no secrets).
    ///
    /// # Errors
    /// When Redis does not answer `PONG`.
    pub async fn ping(&self) -> Result<(), Error> {
        let reply: String = self.query(&redis::cmd("PING")).await?;
        if reply == "PONG" { Ok(()) } else { Err(Error::Unavailable(format!("PING answered {reply:?}"))) }
    }

    /// The shared connection, dialling (once, for every waiting caller) when there is none.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when Redis cannot be reached.
    pub async fn connection(&self) -> Result<Connection, Error> {
        if let Some(connection) = self.current() {
            return Ok(connection);
        }
        if let Some(reason) = self.recent_failure() {
            return Err(Error::Unavailable(reason));
        }
        let dialed = self.inner.dialed.notified();
        tokio::pin!(dialed);
        dialed.as_mut().enable();
        self.dial_in_background();
        if let Some(connection) = self.current() {
            return Ok(connection);
        }
        dialed.await;
        self.current()
            .ok_or_else(|| Error::Unavailable(self.recent_failure().unwrap_or_else(|| "connection lost".to_owned())))
    }

    fn current(&self) -> Option<Connection> {
        self.inner.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn recent_failure(&self) -> Option<String> {
        let failure = self.inner.last_failure.lock().unwrap_or_else(|e| e.into_inner());
        failure.as_ref().filter(|(at, _)| at.elapsed() < RECONNECT_BACKOFF).map(|(_, reason)| reason.clone())
    }

    fn answered(&self) {
        if self.inner.timeouts_in_row.load(Ordering::Relaxed) != 0 {
            self.inner.timeouts_in_row.store(0, Ordering::Relaxed);
        }
    }

    fn timed_out(&self) {
        let now = self.micros_since_born();
        let in_row = self.inner.timeouts_in_row.fetch_add(1, Ordering::Relaxed) + 1;
        if in_row == 1 {
            self.inner.silent_since.store(now, Ordering::Relaxed);
        }
        let silent_for = Duration::from_micros(now.saturating_sub(self.inner.silent_since.load(Ordering::Relaxed)));
        if in_row >= REPLACE_AFTER_TIMEOUTS || silent_for >= REPLACE_AFTER_SILENCE {
            // Keep serving from the silent connection until the new one is up: it may
            // still answer, and nobody waits on the dial.
            self.dial_in_background();
        }
    }

    fn broken(&self, error: &redis::RedisError) {
        let dropped = self.inner.current.write().unwrap_or_else(|e| e.into_inner()).take();
        if dropped.is_some() {
            tracing::warn!(redis = %self.inner.describe, %error, "Redis connection lost; reconnecting");
        }
        self.dial_in_background();
    }

    fn micros_since_born(&self) -> u64 {
        u64::try_from(self.inner.born.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn dial_in_background(&self) {
        if self.inner.dialing.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let outcome = tokio::time::timeout(inner.timeout, inner.target.connect(inner.timeout)).await;
            let outcome = match outcome {
                Ok(Ok(connection)) => Ok(connection),
                Ok(Err(error)) => Err(inner.explain(&error)),
                Err(_elapsed) => Err(format!("connect did not finish within {:?}", inner.timeout)),
            };
            match outcome {
                Ok(connection) => {
                    let replaced = inner.current.write().unwrap_or_else(|e| e.into_inner()).replace(connection);
                    let failed_before = inner.last_failure.lock().unwrap_or_else(|e| e.into_inner()).take();
                    inner.timeouts_in_row.store(0, Ordering::Relaxed);
                    if replaced.is_some() {
                        tracing::warn!(redis = %inner.describe, "replaced a Redis connection that stopped answering");
                    } else if failed_before.is_some() {
                        tracing::info!(redis = %inner.describe, "connected to Redis again");
                    }
                }
                Err(reason) => {
                    let mut failure = inner.last_failure.lock().unwrap_or_else(|e| e.into_inner());
                    if failure.is_none() {
                        tracing::warn!(redis = %inner.describe, %reason, "cannot connect to Redis; retrying on use");
                    }
                    *failure = Some((Instant::now(), reason));
                }
            }
            inner.dialing.store(false, Ordering::Release);
            inner.dialed.notify_waiters();
        });
    }
}

impl Inner {
    /// A connect error in words an operator can act on.
    fn explain(&self, error: &redis::RedisError) -> String {
        let text = error.to_string();
        let lower = text.to_ascii_lowercase();
        if self.custom_ca && (lower.contains("certificate") || lower.contains("unknownissuer")) {
            format!("TLS verification failed ({text}): is {ENV_REDIS_CA_FILE} the CA that signed Redis' certificate?")
        } else {
            text
        }
    }
}

impl Target {
    async fn connect(&self, timeout: Duration) -> RedisResult<Connection> {
        match self {
            Self::Single(client) => {
                // Our own timeouts bound each command; redis-rs' would fail the driver.
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(None);
                let mut connection = client.get_multiplexed_async_connection_with_config(&config).await?;
                // The connect handshake does not prove the server answers commands.
                redis::cmd("PING").query_async::<String>(&mut connection).await?;
                Ok(Connection::Single(connection))
            }
            #[cfg(feature = "cluster")]
            Self::Cluster(client) => {
                let mut connection = client.get_async_connection().await?;
                redis::cmd("PING").query_async::<String>(&mut connection).await?;
                Ok(Connection::Cluster(connection))
            }
        }
    }
}

fn single_client(info: redis::ConnectionInfo, config: &RedisConfig) -> Result<redis::Client, Error> {
    #[cfg(feature = "tls")]
    if config.is_tls() && (config.tls.ca.is_some() || config.tls.client.is_some()) {
        return Ok(redis::Client::build_with_tls(info, certificates(config))?);
    }
    let _ = config;
    Ok(redis::Client::open(info)?)
}

#[cfg(feature = "cluster")]
fn cluster_client(
    infos: Vec<redis::ConnectionInfo>,
    config: &RedisConfig,
) -> Result<redis::cluster::ClusterClient, Error> {
    let builder = redis::cluster::ClusterClientBuilder::new(infos)
        .connection_timeout(config.timeout)
        .response_timeout(config.timeout);
    #[cfg(feature = "tls")]
    let builder = if config.is_tls() { builder.certs(certificates(config)) } else { builder };
    Ok(builder.build()?)
}

#[cfg(feature = "tls")]
fn certificates(config: &RedisConfig) -> redis::TlsCertificates {
    redis::TlsCertificates {
        client_tls: config
            .tls
            .client
            .as_ref()
            .map(|(cert, key)| redis::ClientTlsConfig { client_cert: cert.clone(), client_key: key.clone() }),
        root_cert: config.tls.ca.clone(),
    }
}

/// rustls needs one process-wide crypto provider; with several compiled in (ring here,
/// aws-lc-rs from other crates) none is chosen by itself. Keep one a caller installed.
fn install_crypto_provider() {
    #[cfg(feature = "tls")]
    {
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
    }
}
