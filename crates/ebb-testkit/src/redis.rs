use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::child::ServerChild;
use crate::{TempDir, find_tool, free_port, poll_until};

/// A throwaway `redis-server` on 127.0.0.1, without persistence; killed when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: ServerChild,
    port: u16,
    dir: TempDir,
}

impl RedisServer {
    /// Starts one and waits until it answers `PING`.
    pub fn start() -> Self {
        let dir = TempDir::new("ebb-redis");
        let mut server = Self { child: ServerChild::default(), port: free_port(), dir };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let binary = find_tool(
            "redis-server",
            "EBB_REDIS_SERVER",
            "install it with `apt-get install redis-server`, or run `cargo xtask test`",
        );
        let child = Command::new(binary)
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start redis-server: {error}"));
        self.child.set(child);
        let addr = self.addr();
        poll_until(&format!("redis-server on {addr} to answer PING"), Duration::from_secs(10), || {
            ping(addr).then_some(())
        });
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
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

fn ping(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}
