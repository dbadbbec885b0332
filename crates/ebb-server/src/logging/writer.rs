//! The log writer: a formatted line goes into a bounded buffer, and one OS thread of its own
//! writes the buffer to stderr. When nothing drains stderr (a stalled log agent, a paused
//! container runtime), that thread blocks in `write(2)`, the buffer fills, and further lines
//! are dropped and counted ([`LOG_LINES_DROPPED_TOTAL`]): a stuck pipe costs lines, never a
//! runtime thread, so `/livez` keeps answering and SIGTERM is acted on.
//!
//! A line costs a lock, a copy into a buffer allocated once and, when the writer thread is
//! idle, a wake-up; the writer thread writes whatever piled up in one `write(2)`.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::EitherWriter;

/// Counter of log lines dropped because stderr was not drained fast enough.
pub const LOG_LINES_DROPPED_TOTAL: &str = "log_lines_dropped_total";

/// Bytes of lines waiting for stderr (as much again is being written): at ~200 bytes a line,
/// about 1300 lines, or seconds of a busy service's access log.
pub(crate) const CAPACITY: usize = 256 * 1024;

/// The process' writer to stderr, once [`init_tracing`](crate::init_tracing) made it.
static STDERR: OnceLock<LogWriter> = OnceLock::new();

/// Lines dropped by the process' writer so far (0 without one).
pub(crate) fn dropped() -> u64 {
    STDERR.get().map_or(0, LogWriter::dropped)
}

/// The longest a flush at exit waits: 256 KiB take milliseconds on a drained pipe, and
/// waiting longer on a stuck one only delays the exit.
const FLUSH_AT_MOST: Duration = Duration::from_secs(1);
/// Kept between such a flush and the exit watchdog, for the process to exit.
const EXIT_MARGIN: Duration = Duration::from_millis(50);

/// Waits for the process' writer to write what it holds, before the process ends: for
/// [`FLUSH_AT_MOST`] at most, and never closer than [`EXIT_MARGIN`] to `exit_by` (when the
/// exit watchdog ends the process, if one is armed). Never longer: the pipe may be stuck.
pub(crate) fn flush_before(exit_by: Option<Instant>) {
    let mut until = Instant::now() + FLUSH_AT_MOST;
    if let Some(exit_by) = exit_by {
        until = until.min(exit_by.checked_sub(EXIT_MARGIN).unwrap_or(exit_by));
    }
    flush(until);
}

/// Waits until `until` at most for the process' writer to write what it holds.
pub(crate) fn flush(until: Instant) {
    if let Some(writer) = STDERR.get() {
        writer.flush(until);
    }
}

/// The process' stderr for log lines: through a [`LogWriter`] (made, and its thread
/// started, on the first call), or straight to stderr, blocking, when no thread can be had.
pub(crate) fn stderr() -> Stderr {
    if let Some(writer) = STDERR.get() {
        return Stderr::Buffered(writer);
    }
    match LogWriter::spawn(io::stderr(), CAPACITY) {
        Ok(writer) => Stderr::Buffered(STDERR.get_or_init(|| writer)),
        Err(error) => {
            eprintln!("warning: no thread for the log writer ({error}); logging straight to stderr, which may block");
            Stderr::Direct
        }
    }
}

/// See [`stderr`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stderr {
    Buffered(&'static LogWriter),
    Direct,
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = EitherWriter<Line<'a>, io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        match self {
            Self::Buffered(writer) => EitherWriter::A(Line(writer)),
            Self::Direct => EitherWriter::B(io::stderr()),
        }
    }
}

/// A [`MakeWriter`] whose lines never block the caller: see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct LogWriter {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Lines arrived for an idle writer thread.
    arrived: Condvar,
    /// The writer thread wrote everything (for [`LogWriter::flush`]).
    written: Condvar,
    capacity: usize,
    dropped: AtomicU64,
}

#[derive(Debug)]
struct State {
    /// Lines not yet taken by the writer thread.
    pending: Vec<u8>,
    /// The writer thread waits for lines.
    idle: bool,
    /// Someone waits in [`LogWriter::flush`].
    flushing: bool,
    /// Batches written so far.
    written: u64,
    /// `written` when a flush last gave up: while it has not moved, the pipe is stuck and
    /// a flush gives up at once rather than wait again.
    stuck_at: Option<u64>,
}

impl LogWriter {
    /// A writer to `out` holding at most `capacity` bytes of lines; its thread runs for
    /// the rest of the process.
    pub(crate) fn spawn(out: impl Write + Send + 'static, capacity: usize) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                pending: Vec::with_capacity(capacity),
                idle: false,
                flushing: false,
                written: 0,
                stuck_at: None,
            }),
            arrived: Condvar::new(),
            written: Condvar::new(),
            capacity,
            dropped: AtomicU64::new(0),
        });
        let thread = shared.clone();
        std::thread::Builder::new().name("ebb-log-writer".to_owned()).spawn(move || thread.write_forever(out))?;
        Ok(Self { shared })
    }

    /// Lines dropped so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Waits until everything taken so far is written, or `until`; at once when an
    /// earlier flush gave up and nothing was written since.
    pub(crate) fn flush(&self, until: Instant) {
        let mut state = self.shared.lock();
        while !(state.idle && state.pending.is_empty()) {
            let left = until.checked_duration_since(Instant::now()).filter(|left| !left.is_zero());
            let Some(left) = left.filter(|_| state.stuck_at != Some(state.written)) else {
                state.stuck_at = Some(state.written);
                break;
            };
            state.flushing = true;
            state = self.shared.written.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        state.flushing = false;
    }

    /// Takes one whole line, or drops and counts it when the buffer is full.
    fn push(&self, line: &[u8]) {
        let mut state = self.shared.lock();
        if state.pending.len() + line.len() > self.shared.capacity {
            drop(state);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        state.pending.extend_from_slice(line);
        if state.idle {
            state.idle = false;
            drop(state);
            self.shared.arrived.notify_one();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The writer thread: takes what piled up and writes it, blocking on `out` alone.
    fn write_forever(&self, mut out: impl Write) {
        // Swapped with `pending`: two buffers of `capacity`, allocated once.
        let mut batch = Vec::with_capacity(self.capacity);
        let mut written = 0;
        loop {
            {
                let mut state = self.lock();
                state.written = written;
                while state.pending.is_empty() {
                    state.idle = true;
                    if state.flushing {
                        self.written.notify_all();
                    }
                    state = self.arrived.wait(state).unwrap_or_else(PoisonError::into_inner);
                }
                state.idle = false;
                std::mem::swap(&mut state.pending, &mut batch);
            }
            if let Err(unwritten) = write_all(&mut out, &batch) {
                // stderr is closed or refuses writes: the lines are lost, and said so.
                let lines = unwritten.iter().filter(|byte| **byte == b'\n').count();
                self.dropped.fetch_add(lines as u64, Ordering::Relaxed);
            }
            batch.clear();
            written += 1;
        }
    }
}

/// Writes `bytes`, or returns those it could not write.
fn write_all<'a>(out: &mut impl Write, mut bytes: &'a [u8]) -> Result<(), &'a [u8]> {
    while !bytes.is_empty() {
        match out.write(bytes) {
            Ok(0) => return Err(bytes),
            Ok(written) => bytes = &bytes[written..],
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(bytes),
        }
    }
    Ok(())
}

/// One line's writer: tracing-subscriber formats a whole event and writes it with one
/// `write_all`, which is one [`push`](LogWriter::push).
#[derive(Debug)]
pub(crate) struct Line<'a>(&'a LogWriter);

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line(self)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;
    use std::sync::mpsc;

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Lines logged to a stuck pipe; each is about 100 bytes, 2 MB in all.
    const LINES: usize = 20_000;
    /// Lines that fit in [`CAPACITY`] even if the writer thread is not scheduled at all
    /// (a loaded machine): the drained control cannot drop one.
    const FITTING: usize = 1_000;

    /// Logs `lines` lines through `make_writer` on a thread of its own, as a runtime
    /// worker would; the receiver gets a message when the last call returned.
    fn log_lines<W>(make_writer: W, lines: usize) -> mpsc::Receiver<()>
    where
        W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
    {
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            let subscriber = tracing_subscriber::registry()
                .with(tracing_subscriber::fmt::layer().with_writer(make_writer).with_ansi(false));
            tracing::subscriber::with_default(subscriber, || {
                for line in 0..lines {
                    tracing::info!(line, "a line of the size of an access log line, more or less ........");
                }
            });
            let _ = done.send(());
        });
        finished
    }

    /// A socket whose other end nobody reads: writes block once its buffer is full, as on
    /// a pipe to a stalled log agent.
    fn undrained() -> (UnixStream, UnixStream) {
        UnixStream::pair().expect("socket pair")
    }

    #[test]
    fn a_stuck_pipe_drops_and_counts_lines_and_never_blocks_the_caller() {
        let (out, _unread) = undrained();
        let writer = LogWriter::spawn(out, 64 * 1024).expect("writer");
        let finished = log_lines(writer.clone(), LINES);
        finished.recv_timeout(Duration::from_secs(10)).expect("logging never blocks");
        assert!(writer.dropped() > 0, "the socket buffer and 64 KiB cannot hold {LINES} lines");
        let started = Instant::now();
        writer.flush(started + Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(2), "a flush gives up at its bound");
        let again = Instant::now();
        writer.flush(again + Duration::from_secs(5));
        assert!(again.elapsed() < Duration::from_secs(1), "and at once while the pipe stays stuck");
    }

    /// Negative control: the same stuck socket behind a plain blocking writer (what
    /// `with_writer(std::io::stderr)` does) blocks the thread that logs.
    #[test]
    fn a_blocking_writer_to_the_same_stuck_pipe_blocks_the_caller() {
        let (out, mut unread) = undrained();
        let finished = log_lines(Mutex::new(out), LINES);
        assert!(finished.recv_timeout(Duration::from_secs(2)).is_err(), "blocked in write(2)");
        // Drain it to let the thread end.
        std::thread::spawn(move || std::io::copy(&mut unread, &mut std::io::sink()));
        finished.recv_timeout(Duration::from_secs(30)).expect("unblocked once drained");
    }

    /// Control: a drained pipe gets every line, and none is counted as dropped.
    #[test]
    fn a_drained_pipe_gets_every_line() {
        let (out, reader) = undrained();
        let received = Arc::new(AtomicU64::new(0));
        let count = received.clone();
        std::thread::spawn(move || {
            for line in io::BufRead::lines(io::BufReader::new(reader)).map_while(Result::ok) {
                if line.contains("a line of the size") {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let writer = LogWriter::spawn(out, CAPACITY).expect("writer");
        log_lines(writer.clone(), FITTING).recv_timeout(Duration::from_secs(30)).expect("logged");
        writer.flush(Instant::now() + Duration::from_secs(10));
        ebb_testkit::poll_until("every line", Duration::from_secs(10), || {
            (received.load(Ordering::Relaxed) == FITTING as u64).then_some(())
        });
        assert_eq!(writer.dropped(), 0);
    }
}
