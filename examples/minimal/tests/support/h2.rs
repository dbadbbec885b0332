//! Raw HTTP/2 frames on a real socket, for tests that must see what a library client hides:
//! the server's SETTINGS, its WINDOW_UPDATEs and PINGs, a header block that never ends.

use std::time::Duration;

use ebb_testkit::ServiceProcess;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub(crate) const HEADERS: u8 = 0x1;
pub(crate) const SETTINGS: u8 = 0x4;
pub(crate) const PING: u8 = 0x6;
pub(crate) const GOAWAY: u8 = 0x7;
pub(crate) const WINDOW_UPDATE: u8 = 0x8;
pub(crate) const END_STREAM: u8 = 0x1;
pub(crate) const END_HEADERS: u8 = 0x4;
pub(crate) const ACK: u8 = 0x1;
/// `GET /` over http, `:authority: x`, in HPACK (three static-table entries, one literal).
pub(crate) const GET_ROOT: &[u8] = &[0x82, 0x84, 0x86, 0x41, 0x01, b'x'];

/// One frame as it goes on the wire.
pub(crate) fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    #[allow(clippy::cast_possible_truncation)]
    let mut bytes = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    bytes.extend_from_slice(&stream.to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// A frame read off the wire.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) kind: u8,
    pub(crate) flags: u8,
    pub(crate) stream: u32,
    pub(crate) payload: Vec<u8>,
}

/// The next frame, `Ok(None)` when `within` passed first, `Err` when the connection closed.
pub(crate) async fn read_frame(stream: &mut TcpStream, within: Duration) -> std::io::Result<Option<Frame>> {
    let deadline = tokio::time::Instant::now() + within;
    let mut header = [0u8; 9];
    match tokio::time::timeout_at(deadline, stream.read_exact(&mut header)).await {
        Err(_) => return Ok(None),
        Ok(read) => read?,
    };
    let len = usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
    let mut payload = vec![0u8; len];
    // A frame whose payload does not follow its header is a broken connection.
    tokio::time::timeout_at(deadline, stream.read_exact(&mut payload)).await.map_err(std::io::Error::other)??;
    let stream_id = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
    Ok(Some(Frame { kind: header[3], flags: header[4], stream: stream_id, payload }))
}

/// A connection that has sent the preface and its (empty) settings.
pub(crate) async fn h2_connection(service: &ServiceProcess) -> TcpStream {
    let mut stream = TcpStream::connect(service.app).await.expect("connect");
    let mut hello = PREFACE.to_vec();
    hello.extend(frame(SETTINGS, 0, 0, &[]));
    stream.write_all(&hello).await.expect("preface");
    stream
}
