//! ebb's own HTTP listener: hyper-util's HTTP/1 + HTTP/2 server with what `axum::serve`
//! cannot do.
//!
//! - **Timeouts per connection**: a header read timeout (slowloris) separate from the
//!   keep-alive idle timeout, HTTP/2 keep-alive pings ([`Limits`](crate::Limits)).
//! - **A connection cap**: at the cap the listener stops accepting; and a per-client cap:
//!   a client (not a trusted proxy) over its share has new connections closed at once.
//! - **A drain that needs no retries** from the balancer in front: from the signal on,
//!   HTTP/1 responses carry `Connection: close` (the edge's decision) and HTTP/2
//!   connections get GOAWAY, so that
//!   clients move to other replicas by themselves during the delay; when the delay ends,
//!   connections already in the backlog are still served, idle ones close, busy ones finish
//!   their response; request heads still arriving then are cut and counted.
//! - **Upgraded connections** (WebSocket) stay counted until they close, and fail at the
//!   shutdown deadline like any request.

mod accept;
mod connection;
mod gated;
mod h2_heads;
mod io;
mod service;
mod state;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use ebb_shutdown::Shutdown;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

pub use connection::HTTP_CONNECTION_TIMEOUTS_TOTAL;

use crate::Limits;
use crate::client_share::{ClientShares, Clients};

/// Serves `app` on `socket` with `limits`. With a `shutdown`, the connections follow its
/// phases and the future completes once the listener stopped and every connection closed;
/// without one, it serves until dropped. With `clients`, each client (trusted proxies
/// exempt) may hold at most `limits.max_connections_per_client` connections.
pub(crate) fn serve(
    socket: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: Option<Shutdown>,
    clients: Option<Clients>,
) -> impl Future<Output = std::io::Result<()>> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // No timer for HTTP/1: hyper's header read timeout would also close idle keep-alive
    // connections; ours tells the two apart (see `state`).
    builder.http1().keep_alive(true);
    // Bounded per-connection buffering: a client gets 256 KiB per stream, 1 MiB per
    // connection and 100 streams at once (hyper: 1 MiB windows, 200 streams).
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.http2_keepalive)
        .keep_alive_timeout(limits.http2_keepalive)
        .initial_stream_window_size(256 * 1024)
        .initial_connection_window_size(1024 * 1024)
        .max_concurrent_streams(100);
    // `with_state(())` turns every route's handler into its service once, here, as
    // `axum::serve` does; without it the router would do so again for every request.
    let app = app.with_state(());
    // A share that is the whole cap is no share.
    let shared = limits.max_connections_per_client < limits.max_connections;
    let shares =
        clients.filter(|_| shared).map(|clients| (clients, ClientShares::new(limits.max_connections_per_client)));
    let listener = Arc::new(connection::Listener { builder, app, limits, shutdown, shares });
    let stop = listener.stop_accepting();
    accept::serve(socket, listener, stop)
}
