//! A throwaway Redis Sentinel set on loopback: a master and a replica (`redis-server
//! --replicaof`), watched by 3 sentinels (`redis-server --sentinel`: Debian's
//! `redis-sentinel` is a link to that same binary, so nothing more needs installing).
//! Master name `mymaster`, quorum 2, down after 1 s: a killed master is replaced within a
//! few seconds.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ebb_core::names::{ENV_REDIS_SENTINEL_MASTER, ENV_REDIS_SENTINEL_PASSWORD, ENV_REDIS_SENTINEL_URLS};

use crate::certs::TestCa;
use crate::child::ServerChild;
use crate::{REDIS_TLS_PASSWORD, REDIS_TLS_USER, TempDir, find_tool, free_port, poll_until};

/// The master set's name, as in most charts.
pub const SENTINEL_MASTER_NAME: &str = "mymaster";
/// The master's and replica's password in [`RedisSentinel::start_with_password`] (the
/// `default` user).
pub const SENTINEL_DATA_PASSWORD: &str = "data-s3cret-for-tests-only";
/// The sentinels' own password in [`RedisSentinel::start_with_sentinel_password`]: not the
/// master's, so a client that mixes them up fails.
pub const SENTINEL_OWN_PASSWORD: &str = "sentinel-s3cret-for-tests-only";

const SENTINELS: usize = 3;
const QUORUM: usize = 2;
/// Low enough for fast tests, high enough that a busy 2-core machine does not see a live
/// master as down.
const DOWN_AFTER_MS: u64 = 1000;
const FAILOVER_TIMEOUT_MS: u64 = 3000;
/// A redis-cli call to a node that hangs (paused, half-dead) is given up after this.
const CLI_DEADLINE: Duration = Duration::from_secs(2);

/// A running Sentinel set (a master, a replica, 3 sentinels); every process is killed and
/// every file removed when dropped.
#[derive(Debug)]
pub struct RedisSentinel {
    /// The master and the replica, in the order they started (index 0 was the first master).
    data: Vec<Node>,
    sentinels: Vec<Node>,
    auth: Auth,
    tls: Option<Tls>,
    _dir: TempDir,
}

#[derive(Debug)]
struct Node {
    port: u16,
    dir: PathBuf,
    child: ServerChild,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Auth {
    None,
    /// `requirepass` on the master and replica.
    Data,
    /// That, and `requirepass` on the sentinels (another password).
    DataAndSentinels,
    /// TLS: the ACL user [`REDIS_TLS_USER`] on the master and replica, `default` off.
    AclUser,
}

#[derive(Debug)]
struct Tls {
    ca: TestCa,
    /// Every server's certificate (127.0.0.1), also shown as a client certificate when the
    /// replica and the sentinels connect to each other.
    server: (PathBuf, PathBuf),
    /// The certificate a client needs when every server requires one (mutual TLS).
    client: Option<(PathBuf, PathBuf)>,
}

impl RedisSentinel {
    /// Plain TCP, no passwords. Waits until every sentinel agrees on the master and sees
    /// the replica and the other two sentinels.
    pub fn start() -> Self {
        Self::start_with(Auth::None, |_| None)
    }

    /// The master and replica require [`SENTINEL_DATA_PASSWORD`] (`requirepass`,
    /// `masterauth`); the sentinels are open. The URLs carry the password.
    pub fn start_with_password() -> Self {
        Self::start_with(Auth::Data, |_| None)
    }

    /// Like [`start_with_password`](Self::start_with_password), and the sentinels require
    /// [`SENTINEL_OWN_PASSWORD`] ([`env`](Self::env) gives it as `REDIS_SENTINEL_PASSWORD`).
    pub fn start_with_sentinel_password() -> Self {
        Self::start_with(Auth::DataAndSentinels, |_| None)
    }

    /// Every process speaks only TLS (replication and sentinel links too), with
    /// certificates for 127.0.0.1 from a CA of its own; master and replica allow only the
    /// ACL user [`REDIS_TLS_USER`], as [`RedisServer::start_tls`](crate::RedisServer::start_tls).
    pub fn start_tls() -> Self {
        Self::start_with(Auth::AclUser, |dir| {
            let ca = TestCa::new(dir, "redis-ca");
            let server = ca.issue("redis-server", "IP:127.0.0.1");
            Some(Tls { ca, server, client: None })
        })
    }

    /// Like [`start_tls`](Self::start_tls), and every process requires a client
    /// certificate signed by its CA ([`client_certificate`](Self::client_certificate)).
    pub fn start_mutual_tls() -> Self {
        Self::start_with(Auth::AclUser, |dir| {
            let ca = TestCa::new(dir, "redis-ca");
            let server = ca.issue("redis-server", "IP:127.0.0.1");
            let client = Some(ca.issue("redis-client", "DNS:ebb-client"));
            Some(Tls { ca, server, client })
        })
    }

    fn start_with(auth: Auth, tls: impl FnOnce(&Path) -> Option<Tls>) -> Self {
        let dir = TempDir::new("ebb-redis-sentinel");
        let tls = tls(dir.path());
        let node = |name: String| {
            let node_dir = dir.path().join(name);
            std::fs::create_dir_all(&node_dir).expect("node dir");
            Node { port: free_port(), dir: node_dir, child: ServerChild::default() }
        };
        let data = vec![node("master".into()), node("replica".into())];
        let sentinels = (0..SENTINELS).map(|index| node(format!("sentinel-{index}"))).collect();
        let mut set = Self { data, sentinels, auth, tls, _dir: dir };

        let master = set.data[0].port;
        set.spawn_data(0, None);
        set.spawn_data(1, Some(master));
        // Before the sentinels start: their first INFO of the master then lists the
        // replica, instead of the next one 10 s later.
        set.wait_synced(set.data[1].port, master);
        // All at once: a sentinel retries a refused link to a peer only after 1 s.
        for index in 0..SENTINELS {
            set.write_sentinel_conf(index, master);
        }
        for index in 0..SENTINELS {
            set.spawn_sentinel(index);
        }
        for index in 0..SENTINELS {
            set.wait_sentinel_answers(index);
        }
        set.wait_agreed(master, Duration::from_secs(20));
        set
    }

    fn spawn_data(&mut self, index: usize, replica_of: Option<u16>) {
        let server = redis_server();
        let Node { port, dir, .. } = &self.data[index];
        let port = *port;
        let mut command = Command::new(server);
        command.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]).arg("--dir").arg(dir);
        // What the sentinels hand to clients and to each other.
        command.args(["--replica-announce-ip", "127.0.0.1"]);
        // A full sync starts at once, not after the default 5 s wait for more replicas.
        command.args(["--repl-diskless-sync-delay", "0"]);
        match &self.tls {
            None => {
                command.args(["--port", &port.to_string()]);
            }
            Some(tls) => {
                command.args(["--port", "0", "--tls-port", &port.to_string(), "--tls-replication", "yes"]);
                command.arg("--tls-cert-file").arg(&tls.server.0).arg("--tls-key-file").arg(&tls.server.1);
                command.arg("--tls-ca-cert-file").arg(tls.ca.cert());
                command.args(["--tls-auth-clients", if tls.client.is_some() { "yes" } else { "no" }]);
            }
        }
        match self.auth {
            Auth::None => {}
            Auth::Data | Auth::DataAndSentinels => {
                command.args(["--requirepass", SENTINEL_DATA_PASSWORD, "--masterauth", SENTINEL_DATA_PASSWORD]);
            }
            Auth::AclUser => {
                command.args(["--user", "default", "off"]);
                command.args(["--user", REDIS_TLS_USER, "on", &format!(">{REDIS_TLS_PASSWORD}"), "~*", "&*", "+@all"]);
                command.args(["--masteruser", REDIS_TLS_USER, "--masterauth", REDIS_TLS_PASSWORD]);
            }
        }
        if let Some(master) = replica_of {
            command.args(["--replicaof", "127.0.0.1", &master.to_string()]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start redis-server: {error}"));
        self.data[index].child.set(child);
        poll_until(&format!("redis-server on 127.0.0.1:{port} to answer"), Duration::from_secs(10), || {
            self.data_cli(port, &["PING"]).filter(|reply| reply == "PONG")
        });
    }

    fn write_sentinel_conf(&self, index: usize, master: u16) {
        let Node { port, dir, .. } = &self.sentinels[index];
        let mut conf = String::new();
        let mut line = |text: String| writeln!(conf, "{text}").expect("format");
        line("bind 127.0.0.1".into());
        line(format!("dir {}", dir.display()));
        match &self.tls {
            None => line(format!("port {port}")),
            Some(tls) => {
                // tls-replication: the links to the master, the replica and the other
                // sentinels are TLS too.
                line(format!("port 0\ntls-port {port}\ntls-replication yes"));
                line(format!("tls-cert-file {}\ntls-key-file {}", tls.server.0.display(), tls.server.1.display()));
                line(format!("tls-ca-cert-file {}", tls.ca.cert().display()));
                line(format!("tls-auth-clients {}", if tls.client.is_some() { "yes" } else { "no" }));
            }
        }
        line("sentinel announce-ip 127.0.0.1".into());
        line(format!("sentinel monitor {SENTINEL_MASTER_NAME} 127.0.0.1 {master} {QUORUM}"));
        line(format!("sentinel down-after-milliseconds {SENTINEL_MASTER_NAME} {DOWN_AFTER_MS}"));
        line(format!("sentinel failover-timeout {SENTINEL_MASTER_NAME} {FAILOVER_TIMEOUT_MS}"));
        line(format!("sentinel parallel-syncs {SENTINEL_MASTER_NAME} 1"));
        // Known from the start instead of from hello messages (every 2 s) and INFO (every
        // 10 s): the set is ready in a fraction of a second.
        line(format!("sentinel myid {}", sentinel_id(index)));
        for (other, node) in self.sentinels.iter().enumerate().filter(|(other, _)| *other != index) {
            line(format!(
                "sentinel known-sentinel {SENTINEL_MASTER_NAME} 127.0.0.1 {} {}",
                node.port,
                sentinel_id(other)
            ));
        }
        for node in self.data.iter().filter(|node| node.port != master) {
            line(format!("sentinel known-replica {SENTINEL_MASTER_NAME} 127.0.0.1 {}", node.port));
        }
        match self.auth {
            Auth::None => {}
            Auth::Data => line(format!("sentinel auth-pass {SENTINEL_MASTER_NAME} {SENTINEL_DATA_PASSWORD}")),
            Auth::DataAndSentinels => {
                line(format!("sentinel auth-pass {SENTINEL_MASTER_NAME} {SENTINEL_DATA_PASSWORD}"));
                // Its own password, and the one it gives the other sentinels.
                line(format!("requirepass {SENTINEL_OWN_PASSWORD}\nsentinel sentinel-pass {SENTINEL_OWN_PASSWORD}"));
            }
            Auth::AclUser => {
                line(format!("sentinel auth-user {SENTINEL_MASTER_NAME} {REDIS_TLS_USER}"));
                line(format!("sentinel auth-pass {SENTINEL_MASTER_NAME} {REDIS_TLS_PASSWORD}"));
            }
        }
        std::fs::write(dir.join("sentinel.conf"), conf).expect("write sentinel.conf");
    }

    /// Starts sentinel `index` from its config file, which it rewrites with what it learns:
    /// a restarted sentinel remembers the master, the replica and its peers.
    fn spawn_sentinel(&mut self, index: usize) {
        let child = Command::new(redis_server())
            .arg(self.sentinels[index].dir.join("sentinel.conf"))
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start redis-server --sentinel: {error}"));
        self.sentinels[index].child.set(child);
    }

    fn wait_sentinel_answers(&self, index: usize) {
        let port = self.sentinels[index].port;
        poll_until(&format!("sentinel on 127.0.0.1:{port} to answer"), Duration::from_secs(10), || {
            self.sentinel_cli(port, &["PING"]).filter(|reply| reply == "PONG")
        });
    }

    /// Waits until `replica` has a live link to `master`.
    fn wait_synced(&self, replica: u16, master: u16) {
        poll_until(
            &format!("127.0.0.1:{replica} to sync with the master 127.0.0.1:{master}"),
            Duration::from_secs(10),
            || {
                let info = self.data_cli(replica, &["INFO", "replication"])?;
                let synced = info.contains(&format!("master_port:{master}")) && info.contains("master_link_status:up");
                synced.then_some(())
            },
        );
    }

    /// Waits until every live sentinel names `master`, sees it up, sees every live data
    /// node but it as a replica, and sees the other live sentinels.
    fn wait_agreed(&self, master: u16, timeout: Duration) {
        let live_sentinels = self.live(&self.sentinels).count();
        let replicas: Vec<u16> = self.live(&self.data).map(|node| node.port).filter(|port| *port != master).collect();
        let mut last = String::new();
        let what = format!(
            "the sentinels to agree on the master 127.0.0.1:{master}, its replicas {replicas:?} and each other"
        );
        let deadline = Instant::now() + timeout;
        loop {
            let agreed = self.live(&self.sentinels).all(|sentinel| {
                let Some(view) = self.sentinel_view(sentinel.port, master) else {
                    last = format!("sentinel :{} does not answer", sentinel.port);
                    return false;
                };
                let fine = view.master_ok
                    && view.other_sentinels + 1 >= live_sentinels
                    && replicas.iter().all(|port| view.replicas_ok.contains(port));
                if !fine {
                    last = format!("sentinel :{} sees {view:?}", sentinel.port);
                }
                fine
            });
            if agreed {
                return;
            }
            assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}; last: {last}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the sentinel on `port` knows of the master set, if it names `master`.
    fn sentinel_view(&self, port: u16, master: u16) -> Option<SentinelView> {
        let fields = self.sentinel_cli(port, &["SENTINEL", "MASTER", SENTINEL_MASTER_NAME])?;
        let fields = pairs(&fields);
        let field = |name: &str| fields.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
        let master_ok = field("port") == Some(&master.to_string()) && field("flags") == Some("master");
        // Peers it has a working link to (a peer known from the config file may still be
        // `disconnected`).
        let peers = self.sentinel_cli(port, &["SENTINEL", "SENTINELS", SENTINEL_MASTER_NAME])?;
        let other_sentinels = pairs(&peers).iter().filter(|(key, value)| key == "flags" && value == "sentinel").count();
        let replicas = self.sentinel_cli(port, &["SENTINEL", "REPLICAS", SENTINEL_MASTER_NAME])?;
        // One block of key/value lines per replica, each starting with `name`.
        let mut replicas_ok = Vec::new();
        let mut current: (Option<u16>, bool, bool) = (None, false, false);
        let mut flush = |current: &mut (Option<u16>, bool, bool)| {
            if let (Some(port), true, true) = *current {
                replicas_ok.push(port);
            }
            *current = (None, false, false);
        };
        for (key, value) in pairs(&replicas) {
            match key.as_str() {
                "name" => flush(&mut current),
                "port" => current.0 = value.parse().ok(),
                "flags" => current.1 = value == "slave",
                "master-link-status" => current.2 = value == "ok",
                _ => {}
            }
        }
        flush(&mut current);
        Some(SentinelView { master_ok, other_sentinels, replicas_ok })
    }

    /// `REDIS_SENTINEL_URLS`: every sentinel, comma-separated; `rediss://` with TLS. The
    /// credentials in them are the master's (as ebb reads the variable).
    pub fn urls(&self) -> String {
        let (scheme, credentials) = match (&self.tls, self.auth) {
            (Some(_), _) => ("rediss", format!("{REDIS_TLS_USER}:{REDIS_TLS_PASSWORD}@")),
            (None, Auth::Data | Auth::DataAndSentinels) => ("redis", format!(":{SENTINEL_DATA_PASSWORD}@")),
            (None, _) => ("redis", String::new()),
        };
        let urls: Vec<String> =
            self.sentinels.iter().map(|node| format!("{scheme}://{credentials}127.0.0.1:{}", node.port)).collect();
        urls.join(",")
    }

    /// `mymaster`.
    pub fn master_name(&self) -> &'static str {
        SENTINEL_MASTER_NAME
    }

    /// The variables that point a service here: the sentinel URLs and the master name, the
    /// sentinels' own password when they have one, and for TLS the CA (and the client
    /// certificate when required).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env =
            vec![(ENV_REDIS_SENTINEL_URLS, self.urls()), (ENV_REDIS_SENTINEL_MASTER, self.master_name().to_owned())];
        if self.auth == Auth::DataAndSentinels {
            env.push((ENV_REDIS_SENTINEL_PASSWORD, SENTINEL_OWN_PASSWORD.to_owned()));
        }
        if let Some(tls) = &self.tls {
            env.push(("EBB_REDIS_CA_FILE", tls.ca.cert().display().to_string()));
            if let Some((cert, key)) = &tls.client {
                env.push(("EBB_REDIS_CLIENT_CERT_FILE", cert.display().to_string()));
                env.push(("EBB_REDIS_CLIENT_KEY_FILE", key.display().to_string()));
            }
        }
        env
    }

    /// The CA that signed every certificate, with TLS.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.as_ref().map(|tls| tls.ca.cert())
    }

    /// The client certificate and key that mutual TLS requires.
    pub fn client_certificate(&self) -> Option<(PathBuf, PathBuf)> {
        self.tls.as_ref().and_then(|tls| tls.client.clone())
    }

    /// The sentinels' addresses (live or not).
    pub fn sentinel_addrs(&self) -> Vec<SocketAddr> {
        self.sentinels.iter().map(|node| loopback(node.port)).collect()
    }

    /// The master and replica addresses (live or not), the first master first.
    pub fn data_addrs(&self) -> Vec<SocketAddr> {
        self.data.iter().map(|node| loopback(node.port)).collect()
    }

    /// The master as the first live sentinel that answers names it
    /// (`SENTINEL get-master-addr-by-name`).
    pub fn master_addr(&self) -> SocketAddr {
        poll_until("a sentinel to name the master", Duration::from_secs(5), || {
            self.live(&self.sentinels).find_map(|sentinel| self.named_master(sentinel.port))
        })
    }

    fn named_master(&self, sentinel: u16) -> Option<SocketAddr> {
        let reply = self.sentinel_cli(sentinel, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_MASTER_NAME])?;
        let mut lines = reply.lines();
        let (host, port) = (lines.next()?, lines.next()?.parse().ok()?);
        (host == "127.0.0.1").then(|| loopback(port))
    }

    /// Kills the current master (SIGKILL), as a crash would; returns its address. The
    /// sentinels promote the replica about 2–4 s later ([`wait_for_new_master`](Self::wait_for_new_master)).
    pub fn kill_master(&mut self) -> SocketAddr {
        let master = self.master_addr();
        self.kill(master);
        master
    }

    /// Kills the master, replica or sentinel at `addr` (SIGKILL).
    pub fn kill(&mut self, addr: SocketAddr) {
        let node = self.data.iter_mut().chain(self.sentinels.iter_mut()).find(|node| node.port == addr.port());
        node.unwrap_or_else(|| panic!("{addr} is no node of this Sentinel set")).child.stop();
    }

    /// Starts the killed node at `addr` again on its port, and waits until the sentinels
    /// see it: a data node comes back empty, as a replica of the current master (or as the
    /// master, if the sentinels never replaced it); a sentinel with what it had learnt.
    pub fn restart(&mut self, addr: SocketAddr) {
        if let Some(index) = self.sentinels.iter().position(|node| node.port == addr.port()) {
            self.sentinels[index].child.stop();
            self.spawn_sentinel(index);
            self.wait_sentinel_answers(index);
        } else {
            let index = self.data.iter().position(|node| node.port == addr.port());
            let index = index.unwrap_or_else(|| panic!("{addr} is no node of this Sentinel set"));
            self.data[index].child.stop();
            let master = self.master_addr();
            if master == addr {
                self.spawn_data(index, None);
            } else {
                self.spawn_data(index, Some(master.port()));
                self.wait_synced(addr.port(), master.port());
            }
        }
        self.wait_settled(Duration::from_secs(20));
    }

    /// Waits until every live sentinel agrees on the current master, sees its live
    /// replicas up and the other live sentinels. After a failover the sentinels find each
    /// other again through hello messages (every 2 s); until then another failover cannot
    /// reach its quorum.
    pub fn wait_settled(&self, timeout: Duration) {
        self.wait_agreed(self.master_addr().port(), timeout);
    }

    /// Asks a sentinel to fail over now (`SENTINEL FAILOVER mymaster`), without the master
    /// being down; see [`wait_for_new_master`](Self::wait_for_new_master). Panics on a refusal
    /// (no replica in sync, say).
    pub fn failover(&self) {
        let sentinel = self.live(&self.sentinels).next().expect("a live sentinel").port;
        let reply = self.sentinel_cli(sentinel, &["SENTINEL", "FAILOVER", SENTINEL_MASTER_NAME]);
        assert_eq!(reply.as_deref(), Some("OK"), "sentinel :{sentinel} refused SENTINEL FAILOVER");
    }

    /// Waits until every live sentinel names one master other than `old` and that node
    /// reports `role:master`; returns it.
    pub fn wait_for_new_master(&self, old: SocketAddr, timeout: Duration) -> SocketAddr {
        poll_until(&format!("the sentinels to agree on a master other than {old}"), timeout, || {
            let mut named = self.live(&self.sentinels).map(|sentinel| self.named_master(sentinel.port));
            let first = named.next()??;
            let agreed = first != old && named.all(|other| other == Some(first));
            let promoted =
                agreed && self.data_cli(first.port(), &["ROLE"]).is_some_and(|role| role.starts_with("master"));
            promoted.then_some(first)
        })
    }

    /// Runs a command on the master or replica at `addr` through `redis-cli` (with its TLS
    /// and credentials); its reply as redis-cli prints it, one line per element, or `None`
    /// if it failed (an error reply, a dead node).
    pub fn data_command(&self, addr: SocketAddr, args: &[&str]) -> Option<String> {
        self.data_cli(addr.port(), args)
    }

    fn data_cli(&self, port: u16, args: &[&str]) -> Option<String> {
        let mut command = self.cli(port);
        match self.auth {
            Auth::None => {}
            Auth::Data | Auth::DataAndSentinels => {
                command.args(["-a", SENTINEL_DATA_PASSWORD]);
            }
            Auth::AclUser => {
                command.args(["--user", REDIS_TLS_USER, "-a", REDIS_TLS_PASSWORD]);
            }
        }
        run(command.args(args))
    }

    fn sentinel_cli(&self, port: u16, args: &[&str]) -> Option<String> {
        let mut command = self.cli(port);
        if self.auth == Auth::DataAndSentinels {
            command.args(["-a", SENTINEL_OWN_PASSWORD]);
        }
        run(command.args(args))
    }

    fn cli(&self, port: u16) -> Command {
        let mut command =
            Command::new(find_tool("redis-cli", "EBB_REDIS_CLI", "install it with `apt-get install redis-tools`"));
        // -e: an error reply exits 1, as a refused connection does.
        command.args(["-e", "--no-auth-warning", "-h", "127.0.0.1", "-p", &port.to_string()]);
        if let Some(tls) = &self.tls {
            command.arg("--tls").arg("--cacert").arg(tls.ca.cert());
            if let Some((cert, key)) = &tls.client {
                command.arg("--cert").arg(cert).arg("--key").arg(key);
            }
        }
        command
    }

    fn live<'a>(&self, nodes: &'a [Node]) -> impl Iterator<Item = &'a Node> {
        nodes.iter().filter(|node| node.child.pid().is_some())
    }
}

#[derive(Debug)]
struct SentinelView {
    master_ok: bool,
    other_sentinels: usize,
    /// Replicas up and linked to the master.
    replicas_ok: Vec<u16>,
}

fn redis_server() -> PathBuf {
    find_tool(
        "redis-server",
        "EBB_REDIS_SERVER",
        "install it with `apt-get install redis-server`, or run `cargo xtask test`",
    )
}

/// Sentinel `index`'s run id (40 hex digits, as Redis wants).
fn sentinel_id(index: usize) -> String {
    format!("{:0>40x}", index + 1)
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// redis-cli's lines taken two by two (a flat map reply).
fn pairs(reply: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = reply.lines().collect();
    lines.chunks_exact(2).map(|pair| (pair[0].to_owned(), pair[1].to_owned())).collect()
}

/// Its stdout (trimmed) if it exits 0 within [`CLI_DEADLINE`].
fn run(command: &mut Command) -> Option<String> {
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().ok()?;
    let deadline = Instant::now() + CLI_DEADLINE;
    loop {
        if child.try_wait().ok()?.is_some() {
            break;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = child.wait_with_output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    output.status.success().then_some(text)
}
