//! The connection's socket, watched: bytes that start a request head, the HTTP/2 preface,
//! and the shutdown deadline for connections that outlive their HTTP exchange (upgrades).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ebb_shutdown::{ConnectionGuard, Shutdown};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::WaitForCancellationFutureOwned;

use super::connection::Slot;
use super::h2_heads::H2Heads;
use super::state::ConnState;

const H2_PREFACE_START: &[u8] = b"PRI * HTTP/2";

/// A TCP stream that reports activity to its [`ConnState`] and, once detached from hyper
/// (an upgraded WebSocket), fails at the shutdown deadline so that nothing outlives it.
pub(crate) struct WatchedIo {
    stream: TcpStream,
    state: Arc<ConnState>,
    shutdown: Option<Shutdown>,
    deadline_wait: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    // Counts the connection as open for the drain as long as the socket lives, upgrades
    // included; released (and counted as cut) when the deadline cuts it.
    guard: Option<ConnectionGuard>,
    // The connection's places under the caps, held as long as the socket lives.
    _slot: Slot,
    heads: H2Heads,
}

impl WatchedIo {
    pub(crate) fn new(stream: TcpStream, state: Arc<ConnState>, shutdown: Option<Shutdown>, slot: Slot) -> Self {
        let guard = shutdown.as_ref().map(Shutdown::track_connection);
        Self { stream, state, shutdown, deadline_wait: None, guard, _slot: slot, heads: H2Heads::new() }
    }

    /// After an upgrade, hyper no longer drives this socket: the deadline must. The first
    /// time it fires, the connection is counted as cut.
    fn past_deadline(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.state.is_detached() {
            return false;
        }
        let Some(shutdown) = &self.shutdown else { return false };
        let wait = self.deadline_wait.get_or_insert_with(|| Box::pin(shutdown.deadline_token().cancelled_owned()));
        if wait.as_mut().poll(cx).is_pending() {
            return false;
        }
        if self.guard.take().is_some() {
            shutdown.record_cut_connection();
        }
        true
    }
}

impl WatchedIo {
    fn on_write(&self, result: &Poll<io::Result<usize>>) {
        match result {
            Poll::Ready(Ok(written)) => self.state.on_write(*written),
            Poll::Pending => self.state.on_write(0),
            Poll::Ready(Err(_)) => {}
        }
    }
}

fn cut() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "connection cut by the shutdown deadline")
}

impl AsyncRead for WatchedIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.past_deadline(cx) {
            return Poll::Ready(Err(cut()));
        }
        let this = &mut *self;
        let before = buf.filled().len();
        let result = Pin::new(&mut this.stream).poll_read(cx, buf);
        let read = &buf.filled()[before..];
        if !read.is_empty() {
            if before == 0 && this.state.is_fresh() && read.starts_with(H2_PREFACE_START) {
                this.state.mark_h2();
            }
            if !matches!(this.heads, H2Heads::NotH2) {
                this.state.set_h2_head_open(this.heads.feed(read));
            }
            this.state.on_bytes();
        }
        result
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.past_deadline(cx) {
            return Poll::Ready(Err(cut()));
        }
        let result = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.on_write(&result);
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.past_deadline(cx) {
            return Poll::Ready(Err(cut()));
        }
        let result = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.on_write(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
