use std::net::TcpListener;

/// A port that was free on every local address a moment ago. For servers that cannot bind
/// port 0 and report it; a service of ours binds port 0 and logs its address instead.
///
/// Asked of the wildcard address, not loopback: a server listening on one other address (a
/// Docker network's gateway) holds its port there only, and the kernel would hand that port
/// out again for 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("0.0.0.0:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|error| panic!("no free port: {error}"))
}
