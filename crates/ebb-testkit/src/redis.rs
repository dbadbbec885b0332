use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::certs::TestCa;
use crate::child::ServerChild;
use crate::{TempDir, find_tool, free_port, poll_until};

/// The ACL user of a TLS server (the `default` user is switched off there).
pub const REDIS_TLS_USER: &str = "ebb-app";
/// Its password.
pub const REDIS_TLS_PASSWORD: &str = "s3cret-for-tests-only";

/// A throwaway `redis-server` on 127.0.0.1 (or a host address of the test's), without persistence; killed when dropped.
/// Plain ([`start`](Self::start)), or TLS-only with an ACL user and a CA of its own
/// ([`start_tls`](Self::start_tls), [`start_mutual_tls`](Self::start_mutual_tls)).
#[derive(Debug)]
pub struct RedisServer {
    child: ServerChild,
    host: IpAddr,
    port: u16,
    dir: TempDir,
    tls: Option<Tls>,
}

#[derive(Debug)]
struct Tls {
    ca: TestCa,
    server: (PathBuf, PathBuf),
    /// A client certificate the server requires, for mutual TLS.
    client: Option<(PathBuf, PathBuf)>,
}

impl RedisServer {
    /// Starts one and waits until it answers `PING`.
    pub fn start() -> Self {
        Self::with_tls(|_| None)
    }

    /// Starts a plain one listening on `host` only: the gateway address of a Docker network
    /// that the test created, say, which containers reach and nothing outside does.
    pub fn start_on(host: IpAddr) -> Self {
        let mut server =
            Self { child: ServerChild::default(), host, port: free_port(), dir: TempDir::new("ebb-redis"), tls: None };
        server.spawn();
        server
    }

    /// Starts one that speaks only TLS, with a certificate for 127.0.0.1 signed by a CA of
    /// its own ([`ca_file`](Self::ca_file)), and only the ACL user [`REDIS_TLS_USER`].
    pub fn start_tls() -> Self {
        Self::with_tls(|dir| {
            let ca = TestCa::new(dir, "redis-ca");
            let server = ca.issue("redis-server", "IP:127.0.0.1");
            Some(Tls { ca, server, client: None })
        })
    }

    /// Like [`start_tls`](Self::start_tls), and it requires a client certificate signed by
    /// its CA ([`client_certificate`](Self::client_certificate)).
    pub fn start_mutual_tls() -> Self {
        Self::with_tls(|dir| {
            let ca = TestCa::new(dir, "redis-ca");
            let server = ca.issue("redis-server", "IP:127.0.0.1");
            let client = Some(ca.issue("redis-client", "DNS:ebb-client"));
            Some(Tls { ca, server, client })
        })
    }

    fn with_tls(tls: impl FnOnce(&std::path::Path) -> Option<Tls>) -> Self {
        let dir = TempDir::new("ebb-redis");
        let tls = tls(dir.path());
        let host = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut server = Self { child: ServerChild::default(), host, port: free_port(), dir, tls };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let binary = find_tool(
            "redis-server",
            "EBB_REDIS_SERVER",
            "install it with `apt-get install redis-server`, or run `cargo xtask test`",
        );
        let port = self.port.to_string();
        let mut command = Command::new(binary);
        let host = self.host.to_string();
        command.args(["--bind", &host, "--save", "", "--appendonly", "no"]).arg("--dir").arg(self.dir.path());
        if !self.host.is_loopback() {
            // Bound to one address the test chose; protected mode would refuse its clients.
            command.args(["--protected-mode", "no"]);
        }
        match &self.tls {
            None => {
                command.args(["--port", &port]);
            }
            Some(tls) => {
                command.args(["--port", "0", "--tls-port", &port]);
                command.arg("--tls-cert-file").arg(&tls.server.0).arg("--tls-key-file").arg(&tls.server.1);
                command.arg("--tls-ca-cert-file").arg(tls.ca.cert());
                command.args(["--tls-auth-clients", if tls.client.is_some() { "yes" } else { "no" }]);
                command.args(["--user", "default", "off"]);
                command.args(["--user", REDIS_TLS_USER, "on", &format!(">{REDIS_TLS_PASSWORD}"), "~*", "&*", "+@all"]);
            }
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start redis-server: {error}"));
        self.child.set(child);
        let addr = self.addr();
        let tls = self.tls.is_some();
        poll_until(&format!("redis-server on {addr} to answer"), Duration::from_secs(10), || {
            let ready =
                if tls { TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() } else { ping(addr) };
            ready.then_some(())
        });
    }

    /// `redis://<host>:<port>/`, or `rediss://<user>:<password>@127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        match self.tls {
            None => format!("redis://{}/", self.addr()),
            Some(_) => format!("rediss://{REDIS_TLS_USER}:{REDIS_TLS_PASSWORD}@{}/", self.addr()),
        }
    }

    /// The variables that point a service here: `REDIS_URL`, and for TLS the CA (and the
    /// client certificate when required).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("REDIS_URL", self.url())];
        if let Some(tls) = &self.tls {
            env.push(("EBB_REDIS_CA_FILE", tls.ca.cert().display().to_string()));
            if let Some((cert, key)) = &tls.client {
                env.push(("EBB_REDIS_CLIENT_CERT_FILE", cert.display().to_string()));
                env.push(("EBB_REDIS_CLIENT_KEY_FILE", key.display().to_string()));
            }
        }
        env
    }

    /// The CA that signed a TLS server's certificate.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.as_ref().map(|tls| tls.ca.cert())
    }

    /// The client certificate and key a mutual-TLS server accepts.
    pub fn client_certificate(&self) -> Option<(PathBuf, PathBuf)> {
        self.tls.as_ref().and_then(|tls| tls.client.clone())
    }

    /// Its directory (for throwaway files such as a second CA).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// Its process id, while it runs (to pin it to a core, say).
    pub fn pid(&self) -> Option<u32> {
        self.child.pid()
    }

    /// Kills it (SIGKILL), as a crash would. Its data is gone.
    pub fn stop(&mut self) {
        self.child.stop();
    }

    /// Freezes it (SIGSTOP): connections stay open but nothing answers, as with a Redis
    /// stuck on a slow command or a network that drops packets.
    pub fn pause(&self) {
        self.child.signal("STOP");
    }

    /// Unfreezes it (SIGCONT).
    pub fn resume(&self) {
        self.child.signal("CONT");
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

pub(crate) fn ping(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}
