//! [`Redis`]: the shared handle. One multiplexed connection, replaced in the background when
//! it breaks *or* when it hangs; callers never wait on a dial while a connection is in use.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use redis::{Cmd, FromRedisValue, RedisResult, ScriptInvocation};
use tokio::sync::Notify;

use crate::config::{ENV_REDIS_CA_FILE, Nodes, RedisConfig};
use crate::connection::Connection;
use crate::error::Error;

/// After a failed connect, commands fail at once for this long instead of each dialling,
/// and the next dial happens by itself after it (doubling up to [`MAX_RECONNECT_BACKOFF`]),
/// so the connection comes back without waiting for traffic.
pub const RECONNECT_BACKOFF: Duration = Duration::from_millis(200);
/// The longest pause between two dials while Redis cannot be reached.
pub const MAX_RECONNECT_BACKOFF: Duration = Duration::from_secs(2);
/// How long a health probe of a connection that timed out may take before the connection
/// counts as silent and is replaced (at most the configured timeout).
pub const REPLACE_AFTER_SILENCE: Duration = Duration::from_secs(1);

/// The shared Redis handle of a process: cheap to clone, one connection for everyone.
///
/// - **Multiplexed**: every caller's commands share one connection (a Cluster connection
///   holds one per node), pipelined on the wire: no pool, no checkout, no PING per use.
/// - **Bounded**: every command has a timeout (the config's, or the caller's own).
/// - **Self-healing**: a connection that fails with an I/O error is dropped and redialled.
///   When a command times out, one probe (`PING`, bounded by [`REPLACE_AFTER_SILENCE`])
///   asks the same connection whether it still answers: if not, a new connection is dialled
///   in the background while callers keep using the old one. A frozen proxy or a half-open
///   TCP connection costs about a second, not forever; a merely slow Redis (a 50 ms budget
///   missed) costs nothing.
/// - **Lazy**: nothing connects until the first command. While Redis cannot be reached,
///   commands fail at once instead of each waiting for a dial.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    target: Arc<Target>,
    timeout: Duration,
    describe: String,
    custom_ca: bool,
    current: RwLock<Option<Slot>>,
    /// Numbers connections, so that late outcomes on a replaced one are ignored.
    generations: AtomicU64,
    dialing: AtomicBool,
    dialed: Notify,
    last_failure: Mutex<Option<(Instant, String)>>,
    /// The generation a probe is running for (0: none).
    probing: AtomicU64,
    /// The pause before the next automatic dial, in ms (grows while dials fail).
    retry_ms: AtomicU64,
    #[cfg(feature = "exclusive")]
    exclusive: crate::exclusive::Pool,
}

/// Dials connections of the same target for the exclusive pool.
#[cfg_attr(not(feature = "exclusive"), allow(dead_code))]
pub(crate) struct Dialer {
    target: Arc<Target>,
    timeout: Duration,
}

#[cfg_attr(not(feature = "exclusive"), allow(dead_code))]
impl Dialer {
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn alive_cmd(&self) -> Cmd {
        self.target.alive_cmd()
    }

    /// A connection for one holder: as the shared one, but a Cluster connection without
    /// redis-rs' response timeout (the holder's own bound applies).
    pub(crate) async fn dial_exclusive(&self) -> Result<Connection, Error> {
        let dial = self.target.connect(self.timeout, Use::Exclusive);
        match tokio::time::timeout(self.timeout, dial).await {
            Ok(outcome) => outcome.map_err(Error::Redis),
            Err(_elapsed) => Err(Error::Unavailable(format!("connect did not finish within {:?}", self.timeout))),
        }
    }
}

/// Whom a connection is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    Shared,
    #[cfg_attr(not(feature = "exclusive"), allow(dead_code))]
    Exclusive,
}

#[derive(Clone)]
struct Slot {
    generation: u64,
    connection: Connection,
}

// One per handle, inside its `Arc`: the size of a variant costs nothing per command.
#[allow(clippy::large_enum_variant)]
enum Target {
    Single(redis::Client),
    /// The shared connection's client (with redis-rs' response timeout) and the exclusive
    /// connections' one (without: their reads block).
    #[cfg(feature = "cluster")]
    Cluster {
        shared: redis::cluster::ClusterClient,
        exclusive: redis::cluster::ClusterClient,
    },
    /// Asks the sentinels for the master at every connect (one dial at a time).
    #[cfg(feature = "sentinel")]
    Sentinel(tokio::sync::Mutex<redis::sentinel::SentinelClient>),
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
    /// When the settings cannot make a client (mismatched Cluster nodes, unusable TLS
    /// material); [`RedisConfig::from_env`] reports these at start-up already.
    pub fn new(config: &RedisConfig) -> Result<Self, Error> {
        if config.is_tls() {
            install_crypto_provider();
        }
        let target = match &config.nodes {
            Nodes::Single(info) => Target::Single(single_client((**info).clone(), config)?),
            #[cfg(feature = "cluster")]
            Nodes::Cluster(infos) => Target::Cluster {
                shared: cluster_client(infos.clone(), config, config.timeout)?,
                exclusive: cluster_client(infos.clone(), config, UNBOUNDED_RESPONSE)?,
            },
            #[cfg(not(feature = "cluster"))]
            Nodes::Cluster(_) => return Err(Error::Unavailable("Cluster support is not built in".to_owned())),
            #[cfg(feature = "sentinel")]
            Nodes::Sentinel(sentinels) => Target::Sentinel(tokio::sync::Mutex::new(sentinels.client(&config.tls)?)),
            #[cfg(not(feature = "sentinel"))]
            Nodes::Sentinel(_) => return Err(Error::Unavailable("Sentinel support is not built in".to_owned())),
        };
        let target = Arc::new(target);
        #[cfg(feature = "exclusive")]
        let exclusive = {
            let dialer = Dialer { target: Arc::clone(&target), timeout: config.timeout };
            crate::exclusive::Pool::builder(dialer)
                .max_size(config.exclusive)
                .build()
                .map_err(|error| Error::Unavailable(format!("cannot make the exclusive pool: {error}")))?
        };
        let inner = Inner {
            #[cfg(feature = "exclusive")]
            exclusive,
            target,
            timeout: config.timeout,
            describe: config.describe(),
            custom_ca: config.tls.ca.is_some(),
            current: RwLock::new(None),
            generations: AtomicU64::new(0),
            dialing: AtomicBool::new(false),
            dialed: Notify::new(),
            last_failure: Mutex::new(None),
            probing: AtomicU64::new(0),
            retry_ms: AtomicU64::new(0),
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
        self.inner.target.is_cluster()
    }

    /// A connection of one's own from the bounded pool, for blocking reads and `WATCH`
    /// (see [`Exclusive`](crate::Exclusive)). It connects at its first command.
    #[cfg(feature = "exclusive")]
    pub fn exclusive(&self) -> crate::Exclusive {
        crate::Exclusive::new(self.inner.exclusive.clone(), self.inner.timeout)
    }

    /// Runs `op` on the shared connection within `timeout`, and learns from the outcome:
    /// an I/O error drops the connection, a timeout has it probed.
    ///
    /// # Errors
    /// [`Error::Unavailable`] with no connection, [`Error::Timeout`], or Redis' own error.
    pub async fn run<T>(
        &self,
        timeout: Duration,
        op: impl AsyncFnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, Error> {
        let mut used = None;
        let work = async {
            let slot = self.slot().await?;
            used = Some(slot.generation);
            let mut connection = slot.connection;
            op(&mut connection).await.map_err(Error::Redis)
        };
        let outcome = match tokio::time::timeout(timeout, work).await {
            Ok(outcome) => outcome,
            Err(_elapsed) => Err(Error::Timeout(timeout)),
        };
        if let Some(generation) = used {
            match &outcome {
                Err(Error::Timeout(_)) => self.probe(generation),
                Err(Error::Redis(error)) if error.is_timeout() => self.probe(generation),
                Err(Error::Redis(error)) if error.is_io_error() || error.is_connection_dropped() => {
                    self.broken(generation, error);
                }
                // The server we hold was demoted (a failover): redial, through the
                // sentinels where there are some.
                Err(Error::Redis(error)) if is_read_only(error) => self.broken(generation, error),
                // Answered (an error reply, or a reply of another type, is still an answer).
                _ => {}
            }
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

    /// Whether Redis answers, within the default timeout: for readiness. The error says why
    /// in words fit for a readiness detail (no secrets). On a Cluster one node answering is
    /// enough (`PING` would need every master).
    ///
    /// # Errors
    /// When Redis does not answer.
    pub async fn ping(&self) -> Result<(), Error> {
        let cmd = self.inner.target.alive_cmd();
        let reply: String = self.query(&cmd).await?;
        if reply == ALIVE_REPLY || reply == "PONG" {
            Ok(())
        } else {
            Err(Error::Unavailable(format!("the health command answered {reply:?}")))
        }
    }

    /// The shared connection, dialling when there is none. Only the very first dial is
    /// waited for; after a failure, callers fail at once while the next dial runs.
    ///
    /// Commands sent on it directly bypass the timeouts and the health accounting of
    /// [`run`](Self::run); never send blocking commands (`BLPOP`, `XREADGROUP BLOCK`) on it.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when Redis cannot be reached.
    pub async fn connection(&self) -> Result<Connection, Error> {
        self.slot().await.map(|slot| slot.connection)
    }

    async fn slot(&self) -> Result<Slot, Error> {
        if let Some(slot) = self.current() {
            return Ok(slot);
        }
        if let Some(reason) = self.failure() {
            // Failing: never make a caller wait for a dial that may hang for the timeout.
            if !self.in_backoff() {
                self.dial_in_background();
            }
            return Err(Error::Unavailable(reason));
        }
        let dialed = self.inner.dialed.notified();
        tokio::pin!(dialed);
        dialed.as_mut().enable();
        self.dial_in_background();
        if let Some(slot) = self.current() {
            return Ok(slot);
        }
        dialed.await;
        self.current().ok_or_else(|| Error::Unavailable(self.failure().unwrap_or_else(|| "connection lost".to_owned())))
    }

    fn current(&self) -> Option<Slot> {
        self.inner.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn failure(&self) -> Option<String> {
        let failure = self.inner.last_failure.lock().unwrap_or_else(|e| e.into_inner());
        failure.as_ref().map(|(_, reason)| reason.clone())
    }

    fn in_backoff(&self) -> bool {
        let failure = self.inner.last_failure.lock().unwrap_or_else(|e| e.into_inner());
        failure.as_ref().is_some_and(|(at, _)| at.elapsed() < RECONNECT_BACKOFF)
    }

    /// A command on connection `generation` timed out: ask it, once, whether it still
    /// answers; if it does not, replace it.
    fn probe(&self, generation: u64) {
        let Some(slot) = self.current().filter(|slot| slot.generation == generation) else { return };
        if self.inner.probing.swap(generation, Ordering::AcqRel) == generation {
            return; // a probe of this connection is running
        }
        let this = self.clone();
        let bound = self.inner.timeout.min(REPLACE_AFTER_SILENCE);
        tokio::spawn(async move {
            let mut connection = slot.connection;
            let cmd = this.inner.target.alive_cmd();
            let answered = tokio::time::timeout(bound, cmd.query_async::<String>(&mut connection)).await;
            if !matches!(answered, Ok(Ok(_))) {
                tracing::warn!(redis = %this.inner.describe, "a Redis connection stopped answering; replacing it");
                this.dial_in_background();
            }
            let _ = this.inner.probing.compare_exchange(generation, 0, Ordering::AcqRel, Ordering::Relaxed);
        });
    }

    fn broken(&self, generation: u64, error: &redis::RedisError) {
        // A Cluster connection reconnects to a single node by itself; dropping all of it
        // would take every slot down for one node's fault.
        if self.inner.target.is_cluster() {
            return;
        }
        let mut current = self.inner.current.write().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|slot| slot.generation == generation) {
            *current = None;
            drop(current);
            tracing::warn!(redis = %self.inner.describe, %error, "Redis connection lost; reconnecting");
            self.dial_in_background();
        }
    }

    fn dial_in_background(&self) {
        if self.inner.dialing.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            // Whatever happens to this task (a panic, a runtime shutting down), the next
            // caller may dial again and waiters wake up.
            let _done = DialDone(Arc::clone(&inner));
            let outcome = tokio::time::timeout(inner.timeout, inner.target.connect(inner.timeout, Use::Shared)).await;
            let outcome = match outcome {
                Ok(Ok(connection)) => Ok(connection),
                Ok(Err(error)) => Err(inner.explain(&error)),
                Err(_elapsed) => Err(format!("connect did not finish within {:?}", inner.timeout)),
            };
            match outcome {
                Ok(connection) => {
                    let generation = inner.generations.fetch_add(1, Ordering::Relaxed) + 1;
                    let slot = Slot { generation, connection };
                    let replaced = inner.current.write().unwrap_or_else(|e| e.into_inner()).replace(slot);
                    let failed_before = inner.last_failure.lock().unwrap_or_else(|e| e.into_inner()).take();
                    inner.retry_ms.store(0, Ordering::Relaxed);
                    if replaced.is_some() {
                        tracing::info!(redis = %inner.describe, "replaced a Redis connection that stopped answering");
                    } else if failed_before.is_some() {
                        tracing::info!(redis = %inner.describe, "connected to Redis again");
                    }
                }
                Err(reason) => {
                    let mut failure = inner.last_failure.lock().unwrap_or_else(|e| e.into_inner());
                    if failure.is_none() {
                        tracing::warn!(redis = %inner.describe, %reason, "cannot connect to Redis; retrying");
                    }
                    *failure = Some((Instant::now(), reason));
                    drop(failure);
                    // Dial again by itself later; stop once every handle is gone.
                    let base = u64::try_from(RECONNECT_BACKOFF.as_millis()).unwrap_or(200);
                    let max = u64::try_from(MAX_RECONNECT_BACKOFF.as_millis()).unwrap_or(2000);
                    let pause = inner.retry_ms.load(Ordering::Relaxed).clamp(base, max);
                    inner.retry_ms.store((pause * 2).min(max), Ordering::Relaxed);
                    let weak = Arc::downgrade(&inner);
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                        if let Some(inner) = weak.upgrade() {
                            Redis { inner }.dial_in_background();
                        }
                    });
                }
            }
        });
    }
}

/// Resets the dialing flag and wakes waiters when a dial task ends, however it ends.
struct DialDone(Arc<Inner>);

impl Drop for DialDone {
    fn drop(&mut self) {
        self.0.dialing.store(false, Ordering::Release);
        self.0.dialed.notify_waiters();
    }
}

/// What `ECHO` answers in a Cluster health check.
const ALIVE_REPLY: &str = "ebb";

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
    fn is_cluster(&self) -> bool {
        match self {
            #[cfg(feature = "cluster")]
            Self::Cluster { .. } => true,
            _ => false,
        }
    }

    /// A command that proves the connection answers: `PING`, or on a Cluster `ECHO` (routed
    /// to one node; `PING` goes to every master and fails while one is down).
    fn alive_cmd(&self) -> Cmd {
        if self.is_cluster() {
            let mut cmd = redis::cmd("ECHO");
            cmd.arg(ALIVE_REPLY);
            cmd
        } else {
            redis::cmd("PING")
        }
    }

    async fn connect(&self, timeout: Duration, usage: Use) -> RedisResult<Connection> {
        let _ = usage; // only a Cluster dials differently for an exclusive holder
        match self {
            Self::Single(client) => connect_single(client, timeout).await,
            #[cfg(feature = "cluster")]
            Self::Cluster { shared, exclusive } => {
                let client = if usage == Use::Shared { shared } else { exclusive };
                let mut connection = client.get_async_connection().await?;
                self.alive_cmd().query_async::<String>(&mut connection).await?;
                Ok(Connection::Cluster(connection))
            }
            // The sentinels name the master, and redis-rs checks that it says so itself.
            #[cfg(feature = "sentinel")]
            Self::Sentinel(sentinel) => {
                let client = sentinel.lock().await.async_get_client().await?;
                connect_single(&client, timeout).await
            }
        }
    }
}

async fn connect_single(client: &redis::Client, timeout: Duration) -> RedisResult<Connection> {
    // Our own timeouts bound each command; redis-rs' would fail the driver (and every
    // blocking read of an exclusive connection).
    let config = redis::AsyncConnectionConfig::new().set_connection_timeout(Some(timeout)).set_response_timeout(None);
    let mut connection = client.get_multiplexed_async_connection_with_config(&config).await?;
    // The connect handshake does not prove the server answers commands.
    redis::cmd("PING").query_async::<String>(&mut connection).await?;
    Ok(Connection::Single(connection))
}

/// Whether Redis refused a write as a replica: `READONLY`.
fn is_read_only(error: &redis::RedisError) -> bool {
    error.code() == Some("READONLY")
}

/// The response timeout of an exclusive Cluster connection: in effect none (its holder's own
/// bound applies), since a blocking read must outlast any fixed one.
#[cfg(feature = "cluster")]
const UNBOUNDED_RESPONSE: Duration = Duration::from_secs(24 * 3600);

fn single_client(info: redis::ConnectionInfo, config: &RedisConfig) -> Result<redis::Client, Error> {
    #[cfg(feature = "tls")]
    if config.is_tls() && (config.tls.ca.is_some() || config.tls.client.is_some()) {
        return Ok(redis::Client::build_with_tls(info, certificates(&config.tls))?);
    }
    let _ = config;
    Ok(redis::Client::open(info)?)
}

#[cfg(feature = "cluster")]
fn cluster_client(
    infos: Vec<redis::ConnectionInfo>,
    config: &RedisConfig,
    response_timeout: Duration,
) -> Result<redis::cluster::ClusterClient, Error> {
    let builder = redis::cluster::ClusterClientBuilder::new(infos)
        .connection_timeout(config.timeout)
        .response_timeout(response_timeout);
    #[cfg(feature = "tls")]
    let builder = if config.is_tls() { builder.certs(certificates(&config.tls)) } else { builder };
    Ok(builder.build()?)
}

#[cfg(feature = "tls")]
pub(crate) fn certificates(tls: &crate::config::TlsFiles) -> redis::TlsCertificates {
    redis::TlsCertificates {
        client_tls: tls
            .client
            .as_ref()
            .map(|(cert, key)| redis::ClientTlsConfig { client_cert: cert.clone(), client_key: key.clone() }),
        root_cert: tls.ca.clone(),
    }
}

/// rustls needs one process-wide crypto provider; with several compiled in none is chosen by
/// itself. Keep one a caller installed, else aws-lc-rs: rustls' default, with post-quantum key
/// exchange (its *ring* provider is deprecated for lacking it, from rustls 0.23.48).
fn install_crypto_provider() {
    #[cfg(feature = "tls")]
    {
        let _already_installed = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}
