use std::net::TcpListener;

/// A loopback port that was free a moment ago. For servers that cannot bind port 0 and
/// report it; a service of ours binds port 0 and logs its address instead.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|error| panic!("no free loopback port: {error}"))
}
