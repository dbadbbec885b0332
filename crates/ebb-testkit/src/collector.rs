//! A trace collector that speaks just enough OTLP/HTTP for tests: it records every POST (its
//! request line and protobuf body) and answers `200`; or, [`OtlpCollector::hung`], it
//! accepts connections and never answers, as a collector stuck behind a full disk does.
//! No OpenTelemetry Collector binary can be installed here; this is a real HTTP endpoint on
//! loopback, and the bodies it records are what the exporter really sent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// Request line and body of one POST.
pub type Export = (String, Vec<u8>);

/// See the module docs. Its thread lives until the process ends.
#[derive(Debug)]
pub struct OtlpCollector {
    /// `http://127.0.0.1:<port>`: the value of `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub url: String,
    received: Arc<Mutex<Vec<Export>>>,
}

impl OtlpCollector {
    /// A collector that answers every export with `200`.
    pub fn start() -> Self {
        Self::spawn(true)
    }

    /// A collector that accepts connections and never reads or answers them.
    pub fn hung() -> Self {
        Self::spawn(false)
    }

    fn spawn(answers: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let record = received.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                if answers {
                    if let Some(export) = answer(stream) {
                        record.lock().expect("lock").push(export);
                    }
                } else {
                    held.push(stream);
                }
            }
        });
        Self { url, received }
    }

    /// Every export received so far.
    pub fn exports(&self) -> Vec<Export> {
        self.received.lock().expect("lock").clone()
    }

    /// Whether some export's body holds `bytes` (a trace id, a span name).
    pub fn received(&self, bytes: &[u8]) -> bool {
        self.exports().iter().any(|(_, body)| body.windows(bytes.len()).any(|window| window == bytes))
    }
}

/// Reads one request and answers `200`, closing the connection.
fn answer(stream: TcpStream) -> Option<Export> {
    let mut reader = BufReader::new(stream);
    let (mut request_line, mut length) = (String::new(), 0);
    reader.read_line(&mut request_line).ok()?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let _ = reader.get_mut().write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    Some((request_line.trim().to_owned(), body))
}
