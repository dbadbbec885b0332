//! One connection, from accept to close: served by hyper, watched by its timers, moved
//! along by the shutdown phases.

use std::future::{Future, pending};
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use ebb_shutdown::Shutdown;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, sleep};

use super::gated::Gated;
use super::io::WatchedIo;
use super::service::ConnService;
use super::state::{ConnState, Timeouts, Verdict, Watch};
use crate::client_share::{ClientHold, ClientShares, Clients};
use crate::{HTTP_CLIENT_SHARE_EXCEEDED_TOTAL, Limits};

/// Counter of connections closed by a timeout, by `kind`: `header` (a slow first request
/// head), `idle` (keep-alive, or a connection that never sent a request), `send` (a client
/// that stopped reading its response).
pub const HTTP_CONNECTION_TIMEOUTS_TOTAL: &str = "http_connection_timeouts_total";

/// What every connection of one listener shares.
pub(crate) struct Listener {
    pub(crate) builder: auto::Builder<TokioExecutor>,
    pub(crate) app: Router,
    pub(crate) limits: Limits,
    /// `None` for a listener that only ends with the process (metrics).
    pub(crate) shutdown: Option<Shutdown>,
    /// Who a peer is, and each one's share of the connections; `None`: no per-client cap.
    pub(crate) shares: Option<(Clients, Arc<ClientShares>)>,
}

impl Listener {
    /// A place in `peer`'s share of the connections: `Ok(None)` when there is no per-client
    /// cap or the peer is a trusted proxy, `Err(())` when it holds its share already.
    pub(crate) fn client_share(&self, peer: IpAddr) -> Result<Option<ClientHold>, ()> {
        let Some((clients, shares)) = &self.shares else { return Ok(None) };
        if clients.is_trusted(peer) {
            return Ok(None);
        }
        match shares.take(clients.of_peer(peer)) {
            Some(hold) => Ok(Some(hold)),
            None => {
                metrics::counter!(HTTP_CLIENT_SHARE_EXCEEDED_TOTAL, "resource" => "connections").increment(1);
                Err(())
            }
        }
    }

    /// Completes when shutdown begins; never for a listener without one.
    pub(crate) fn signalled(&self) -> impl Future<Output = ()> + use<> {
        or_never(self.shutdown.as_ref().map(Shutdown::signalled))
    }

    /// Completes when the listener must stop accepting; never for a listener without one.
    pub(crate) fn stop_accepting(&self) -> impl Future<Output = ()> + use<> {
        or_never(self.shutdown.as_ref().map(Shutdown::stop_accepting))
    }
}

/// `phase`, or a future that never completes.
async fn or_never(phase: Option<impl Future<Output = ()>>) {
    match phase {
        Some(phase) => phase.await,
        None => pending().await,
    }
}

/// How long a connection that has sent nothing yet may still send its request once the
/// listener stopped: it may have been accepted (or sat in the backlog) just before, with its
/// request on the wire.
const FRESH_GRACE: Duration = Duration::from_secs(1);

/// A connection's places under the connection cap and its client's share, held as long as
/// its socket lives (an upgraded connection keeps them).
#[derive(Debug, Default)]
pub(crate) struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
    _client: Option<ClientHold>,
}

impl Slot {
    pub(crate) fn new(permit: OwnedSemaphorePermit, client: Option<ClientHold>) -> Self {
        Self { _permit: Some(permit), _client: client }
    }
}

/// Serves one connection until it closes.
pub(crate) async fn serve_connection(listener: Arc<Listener>, stream: TcpStream, remote: SocketAddr, slot: Slot) {
    let state = Arc::new(ConnState::new());
    let shutdown = listener.shutdown.as_ref();
    let io = WatchedIo::new(stream, state.clone(), shutdown.cloned(), slot);
    let service = ConnService::new(listener.app.clone(), remote, state.clone());
    let mut conn = pin!(listener.builder.serve_connection_with_upgrades(TokioIo::new(io), service));
    // Polled by the select below on every wake, but polled through only when they fire.
    let mut signalled = pin!(Gated::new(listener.signalled()));
    let mut stop = pin!(Gated::new(listener.stop_accepting()));
    let limits = listener.limits;
    let timer = sleep(limits.header_read_timeout / 2);
    let mut timer = pin!(timer);
    let mut watch = Watch::new();
    let timeouts =
        Timeouts { header: limits.header_read_timeout, idle: limits.idle_timeout, send: limits.body_timeout };
    let (mut signal_seen, mut stop_seen, mut closing) = (false, false, false);
    let mut fresh_until: Option<Instant> = None;
    loop {
        tokio::select! {
            biased;
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%remote, %error, "connection ended with an error");
                }
                break;
            }
            () = &mut signalled, if !signal_seen => {
                signal_seen = true;
                // HTTP/2: GOAWAY now, so the client opens new streams elsewhere while the
                // ones in flight finish. HTTP/1 learns it from `Connection: close`.
                if state.is_h2() && !closing {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
            () = &mut stop, if !stop_seen => {
                stop_seen = true;
                // A head still arriving is no request the service accepted: cut it now
                // (hyper would wait for it on a connection's first request) and count it.
                // (After a served request, such bytes may be a body hyper drains: not counted.)
                // HTTP/2 knows its heads exactly, but cutting the connection would cut its
                // streams too: with streams in flight, the header timer (still running
                // while it closes) cuts a block that stays open.
                let cut_now = if state.is_h2() { !state.is_busy() } else { !state.has_served() };
                if state.has_partial_head() && cut_now {
                    if let Some(shutdown) = shutdown {
                        shutdown.record_cut_connection();
                    }
                    return;
                }
                // Nothing received yet: its request may be on the wire. Serve it if it comes
                // soon (with `Connection: close`); close the connection if it does not.
                if state.is_fresh() {
                    let until = Instant::now() + FRESH_GRACE;
                    fresh_until = Some(until);
                    timer.as_mut().reset(until);
                    continue;
                }
                // Idle HTTP/1 connections close now; busy ones after their response;
                // HTTP/2 after its last stream.
                if !closing {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
            // A closing HTTP/2 connection is still watched: GOAWAY does not end a header
            // block that never completes.
            () = &mut timer, if !closing || state.is_h2() => {
                // After the stop, a connection that still sent nothing gets its grace only.
                if let Some(until) = fresh_until.filter(|_| state.is_fresh()) {
                    if Instant::now() >= until {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    } else {
                        timer.as_mut().reset(until);
                    }
                    continue;
                }
                match state.verdict(&mut watch, timeouts) {
                Verdict::Wait(after) => {
                    // A connection that shows it is HTTP/2 only after the signal still gets
                    // its GOAWAY.
                    if signal_seen && state.is_h2() && !closing {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    timer.as_mut().reset(Instant::now() + after);
                }
                Verdict::CloseIdle => {
                    if !closing {
                        metrics::counter!(HTTP_CONNECTION_TIMEOUTS_TOTAL, "kind" => "idle").increment(1);
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    // HTTP/2 closes once its streams end; until then, heads are watched.
                    timer.as_mut().reset(Instant::now() + timeouts.period());
                }
                Verdict::CutSlowHead => {
                    metrics::counter!(HTTP_CONNECTION_TIMEOUTS_TOTAL, "kind" => "header").increment(1);
                    tracing::debug!(%remote, "request head not complete within the header read timeout: closing");
                    if let Some(shutdown) = shutdown.filter(|_| signal_seen) {
                        shutdown.record_cut_connection();
                    }
                    return;
                }
                Verdict::CutSlowReader => {
                    metrics::counter!(HTTP_CONNECTION_TIMEOUTS_TOTAL, "kind" => "send").increment(1);
                    tracing::debug!(%remote, "the client stopped reading its response: closing");
                    return;
                }
                }
            }
        }
    }
    // An upgraded connection lives on in its handler; its socket now watches the deadline.
    state.detach();
}
