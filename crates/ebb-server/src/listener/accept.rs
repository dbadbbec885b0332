//! The accept loop: a connection cap, and a listener that closes without resetting the
//! connections the kernel already accepted.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::connection::{Listener, Slot, serve_connection};

/// Pause after an accept error that is not the peer's (out of file descriptors), so that
/// the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(250);

/// Serves `socket` until `stop` completes, then serves the backlog, then waits for every
/// connection (upgraded ones included) to close. At `max_connections` open connections it
/// stops accepting until one closes: new clients wait in the kernel's backlog.
///
/// Dropping the returned future closes every connection it still serves.
pub(crate) async fn serve(
    socket: TcpListener,
    listener: Arc<Listener>,
    stop: impl Future<Output = ()>,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(listener.limits.max_connections));
    let mut connections = JoinSet::new();
    let mut stop = pin!(stop);
    loop {
        let permit = tokio::select! {
            biased;
            () = &mut stop => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, remote) = tokio::select! {
            biased;
            () = &mut stop => break,
            accepted = socket.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) if is_peer_error(&error) => continue,
                Err(error) => {
                    tracing::warn!(%error, "accept failed; retrying");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        // A client over its share is closed at once (its place under the cap with it).
        let Ok(client) = listener.client_share(remote.ip()) else {
            tracing::debug!(%remote, "the client holds its share of connections: closing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let listener = listener.clone();
        // The slot lives with the socket: an upgraded connection keeps it.
        connections.spawn(serve_connection(listener, stream, remote, Slot::new(permit, client)));
    }

    // Connections already in the backlog were accepted by the kernel: closing the socket
    // would reset them. Serve them instead (they get `Connection: close`).
    let socket = socket.into_std()?;
    loop {
        match socket.accept() {
            Ok((stream, remote)) => {
                let stream = match stream.set_nonblocking(true).and_then(|()| TcpStream::from_std(stream)) {
                    Ok(stream) => stream,
                    Err(_) => continue,
                };
                connections.spawn(serve_connection(listener.clone(), stream, remote, Slot::default()));
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
            Err(error) if is_peer_error(&error) => {}
            Err(_) => break,
        }
    }
    drop(socket);

    while connections.join_next().await.is_some() {}
    if let Some(shutdown) = &listener.shutdown {
        shutdown.connections_closed().await;
    }
    Ok(())
}

fn is_peer_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}
