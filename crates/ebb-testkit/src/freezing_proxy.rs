//! A TCP proxy that can freeze the connections it carries while still accepting new ones:
//! a frozen NAT entry, a half-open connection after a network change, a stuck middlebox.
//! It also keeps what its clients sent (the first [`RECORDED_AT_MOST`] bytes), so a test can
//! read a request off the wire (the headers a service sends to its store, say).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most bytes [`FreezingProxy::sent`] keeps: a long load through the proxy does not
/// grow the test's memory without bound.
pub const RECORDED_AT_MOST: usize = 4 << 20;

/// Forwards a free loopback port to a target. [`freeze`](Self::freeze) silences every
/// connection open at that moment, in both directions and for good, without closing it;
/// connections made afterwards work normally.
#[derive(Debug)]
pub struct FreezingProxy {
    addr: SocketAddr,
    state: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Connections are numbered by generation; those at or below `frozen_upto` are frozen.
    generation: AtomicU64,
    frozen_upto: AtomicU64,
    stopped: AtomicBool,
    /// What clients sent to the target, in arrival order, up to [`RECORDED_AT_MOST`].
    sent: Mutex<Vec<u8>>,
}

impl FreezingProxy {
    /// Starts forwarding to `target`.
    pub fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(State { generation: AtomicU64::new(1), ..State::default() });
        let accepting = Arc::clone(&state);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if accepting.stopped.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(target) else { continue };
                let generation = accepting.generation.load(Ordering::SeqCst);
                for (from, to, records) in [(&client, &server, true), (&server, &client, false)] {
                    let (from, to) = (from.try_clone().expect("clone"), to.try_clone().expect("clone"));
                    let state = Arc::clone(&accepting);
                    std::thread::spawn(move || pump(from, to, generation, records, &state));
                }
            }
        });
        Self { addr, state }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `http://` URL of [`addr`](Self::addr).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What clients have sent through the proxy so far (up to [`RECORDED_AT_MOST`] bytes),
    /// as text (lossy).
    pub fn sent(&self) -> String {
        String::from_utf8_lossy(&self.state.sent.lock().expect("lock")).into_owned()
    }

    /// Freezes every connection open now; later ones are unaffected.
    pub fn freeze(&self) {
        let current = self.state.generation.fetch_add(1, Ordering::SeqCst);
        self.state.frozen_upto.store(current, Ordering::SeqCst);
    }
}

impl Drop for FreezingProxy {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
    }
}

/// Copies `from` to `to` until either closes; `records`: the copy is kept in `state.sent`.
fn pump(mut from: TcpStream, mut to: TcpStream, generation: u64, records: bool, state: &State) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buffer = [0u8; 16 * 1024];
    while !state.stopped.load(Ordering::Relaxed) {
        if state.frozen_upto.load(Ordering::SeqCst) >= generation {
            // Frozen: hold the sockets open, forward nothing, read nothing.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                if state.frozen_upto.load(Ordering::SeqCst) >= generation {
                    continue; // froze while reading: these bytes are lost in the middlebox
                }
                if records {
                    let mut sent = state.sent.lock().expect("lock");
                    let room = RECORDED_AT_MOST.saturating_sub(sent.len()).min(n);
                    sent.extend_from_slice(&buffer[..room]);
                }
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
