//! Whether an HTTP/2 connection is in the middle of a request head: a HEADERS frame (and
//! its CONTINUATION frames) whose header block has not ended.
//!
//! hyper gives a header block no deadline of its own: a client that sends HEADERS without
//! END_HEADERS and then nothing holds its connection, and with it a graceful shutdown,
//! for as long as the keep-alive pings are answered. While a header block is open, HTTP/2
//! allows no other frame on the connection, so a stalled one stalls the whole connection:
//! the listener treats it as an HTTP/1 slow head (cut at the header read timeout and at
//! the stop). Reading frame boundaries needs only the 9-byte frame headers: payloads are
//! skipped by their length.

/// The client connection preface (RFC 9113, section 3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_HEADER: usize = 9;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_HEADERS: u8 = 0x4;

/// Follows the frames a client sends.
#[derive(Debug)]
pub(crate) enum H2Heads {
    /// Comparing the first bytes with the preface: this many matched so far.
    Preface(usize),
    /// Not HTTP/2 (with prior knowledge): nothing to follow.
    NotH2,
    /// Reading frames.
    Frames(Frames),
}

#[derive(Debug, Default)]
pub(crate) struct Frames {
    header: [u8; FRAME_HEADER],
    header_len: usize,
    payload_left: usize,
    /// A header block began and has not ended.
    open: bool,
    /// The frame being read ends its header block.
    ends_block: bool,
}

impl H2Heads {
    pub(crate) fn new() -> Self {
        Self::Preface(0)
    }

    /// Follows `bytes`, the next ones the client sent. Returns whether a header block is
    /// open afterwards (`false` when not HTTP/2).
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> bool {
        if let Self::Preface(matched) = self {
            let n = (PREFACE.len() - *matched).min(bytes.len());
            if bytes[..n] != PREFACE[*matched..*matched + n] {
                *self = Self::NotH2;
                return false;
            }
            *matched += n;
            bytes = &bytes[n..];
            if *matched < PREFACE.len() {
                return false;
            }
            *self = Self::Frames(Frames::default());
        }
        match self {
            Self::Frames(frames) => frames.feed(bytes),
            Self::Preface(_) | Self::NotH2 => false,
        }
    }
}

impl Frames {
    fn feed(&mut self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(bytes.len());
                self.payload_left -= n;
                bytes = &bytes[n..];
                if self.payload_left == 0 && self.ends_block {
                    self.open = false;
                }
                continue;
            }
            let n = (FRAME_HEADER - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
            self.header_len += n;
            bytes = &bytes[n..];
            if self.header_len < FRAME_HEADER {
                continue;
            }
            self.header_len = 0;
            let [l0, l1, l2, kind, flags, ..] = self.header;
            self.payload_left = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
            self.ends_block = false;
            if kind == HEADERS || kind == CONTINUATION {
                self.open = true;
                self.ends_block = flags & END_HEADERS != 0;
                if self.payload_left == 0 && self.ends_block {
                    self.open = false;
                }
            }
        }
        self.open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        #[allow(clippy::cast_possible_truncation)]
        let mut bytes = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags, 0, 0, 0, 1];
        bytes.extend_from_slice(payload);
        bytes
    }

    const SETTINGS: u8 = 0x4;

    #[test]
    fn a_header_block_is_open_until_end_headers_and_its_payload_are_in() {
        let mut heads = H2Heads::new();
        assert!(!heads.feed(PREFACE));
        assert!(!heads.feed(&frame(SETTINGS, 0, &[0; 6])), "settings are no head");
        assert!(heads.feed(&frame(HEADERS, 0, b"abc")), "HEADERS without END_HEADERS opens a block");
        assert!(heads.feed(&frame(CONTINUATION, 0, b"de")), "still open");
        let end = frame(CONTINUATION, END_HEADERS, b"fg");
        assert!(heads.feed(&end[..10]), "open until its payload is in");
        assert!(!heads.feed(&end[10..]), "closed");
        assert!(!heads.feed(&frame(HEADERS, END_HEADERS | 0x1, b"whole")), "a whole head at once");
    }

    #[test]
    fn bytes_may_come_one_at_a_time() {
        let mut heads = H2Heads::new();
        let mut stream = PREFACE.to_vec();
        stream.extend(frame(HEADERS, 0, b"abc"));
        let open: Vec<bool> = stream.iter().map(|byte| heads.feed(&[*byte])).collect();
        // Opens with the last byte of its frame header, stays open through the payload.
        let opened = stream.len() - 4;
        assert!(!open[..opened].iter().any(|open| *open));
        assert!(open[opened..].iter().all(|open| *open));
    }

    #[test]
    fn a_preface_split_across_reads_with_frames_after_it_is_followed() {
        let mut stream = PREFACE.to_vec();
        stream.extend(frame(SETTINGS, 0, &[0; 6]));
        stream.extend(frame(HEADERS, 0, b"abc"));
        // Inside the preface, inside the settings' frame header, inside the headers'.
        for split in [1, 10, 23, 28, 40] {
            let mut heads = H2Heads::new();
            assert!(!heads.feed(&stream[..split]));
            assert!(heads.feed(&stream[split..]), "split after {split} bytes");
        }
    }

    #[test]
    fn a_payload_length_uses_all_three_bytes() {
        // 0x01_02_03 bytes of DATA, whose payload holds what would be a HEADERS frame
        // header if the length were misread; then a real HEADERS frame.
        const DATA: u8 = 0x0;
        let mut payload = vec![0u8; 0x01_02_03];
        payload[..9].copy_from_slice(&frame(HEADERS, 0, b"")[..9]);
        payload[255..264].copy_from_slice(&frame(HEADERS, 0, b"")[..9]);
        let mut heads = H2Heads::new();
        assert!(!heads.feed(PREFACE));
        assert!(!heads.feed(&frame(DATA, 0, &payload)), "a DATA payload is no head");
        assert!(heads.feed(&frame(HEADERS, 0, b"abc")));
    }

    #[test]
    fn http1_is_not_followed() {
        for request in [&b"GET / HTTP/1.1\r\n"[..], b"POST / HTTP/1.1\r\n", b"PRI * HTTP/1.1\r\n"] {
            let mut heads = H2Heads::new();
            assert!(!heads.feed(request));
            assert!(matches!(heads, H2Heads::NotH2), "{request:?}");
        }
    }
}
