//! The shared handle that every phase of the shutdown hangs off.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

use crate::watchdog::{BeforeForcedExit, Begun};
use crate::{DrainLayer, ShutdownConfig};

/// The handle to one process's shutdown: cheap to clone, shared by the server, the drain
/// layer, the probes and the background tasks.
///
/// It holds four moments, each a [`CancellationToken`] that fires once and stays fired:
///
/// 1. [`signalled`](Self::signalled): a signal arrived or [`trigger`](Self::trigger) was
///    called. Readiness must fail from now on ([`shutting_down_token`](Self::shutting_down_token)).
/// 2. [`stop_accepting`](Self::stop_accepting): the delay is over; the listener closes and
///    in-flight requests drain.
/// 3. Background tasks are asked to stop ([`spawn_task`](Self::spawn_task) hands each one a
///    token) and are awaited.
/// 4. The hard deadline: the [`DrainLayer`] answers what is still pending with 503 and
///    aborts streaming bodies; what was cut is counted in the [`ShutdownReport`](crate::ShutdownReport).
///
/// [`Shutdown::run`] drives the phases; they can also be driven by hand.
///
/// # Example
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use ebb_shutdown::{Shutdown, ShutdownConfig};
///
/// let shutdown = Shutdown::new(ShutdownConfig::new());
/// let app = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "hello" }))
///     .layer(shutdown.layer());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.stop_accepting());
/// let report = shutdown.run(server.into_future()).await?;
/// std::process::exit(if report.is_clean() { 0 } else { 1 });
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Shutdown {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: ShutdownConfig,
    signalled: CancellationToken,
    // The same moment as `signalled`, readable without the token's lock: it is checked on
    // every response.
    signalled_flag: AtomicBool,
    // The moment, for threads that cannot await the token (the exit watchdog).
    pub(crate) begun: Begun,
    pub(crate) watchdog_grace: OnceLock<Duration>,
    pub(crate) before_forced_exit: BeforeForcedExit,
    stop_accepting: CancellationToken,
    pub(crate) deadline: CancellationToken,
    tasks: TaskTracker,
    tasks_token: CancellationToken,
    in_flight: AtomicUsize,
    connections: TaskTracker,
    cut_connections: AtomicUsize,
}

impl Shutdown {
    /// A handle in its serving state. Nothing is spawned and no signal handler is installed
    /// until [`run`](Self::run).
    #[must_use]
    pub fn new(config: ShutdownConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                signalled: CancellationToken::new(),
                signalled_flag: AtomicBool::new(false),
                begun: Begun::default(),
                watchdog_grace: OnceLock::new(),
                before_forced_exit: BeforeForcedExit::default(),
                stop_accepting: CancellationToken::new(),
                deadline: CancellationToken::new(),
                tasks: TaskTracker::new(),
                tasks_token: CancellationToken::new(),
                in_flight: AtomicUsize::new(0),
                connections: TaskTracker::new(),
                cut_connections: AtomicUsize::new(0),
            }),
        }
    }

    /// The timing this handle was built with.
    pub fn config(&self) -> &ShutdownConfig {
        &self.inner.config
    }

    /// Starts the shutdown as a signal would. Idempotent.
    pub fn trigger(&self) {
        self.inner.begun.mark();
        self.inner.signalled_flag.store(true, Ordering::Release);
        self.inner.signalled.cancel();
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.signalled_flag.load(Ordering::Acquire)
    }

    /// When shutdown began, if it has. With the [exit watchdog](Self::arm_exit_watchdog)
    /// armed, a signal's own moment, which may be set a moment before the runtime sees it.
    pub fn signalled_at(&self) -> Option<Instant> {
        self.inner.begun.at()
    }

    /// A token cancelled the moment shutdown begins: hand it to readiness so `/readyz` fails
    /// at once (`ebb_probes::ProbesBuilder::with_shutdown_signal`).
    #[must_use]
    pub fn shutting_down_token(&self) -> CancellationToken {
        self.inner.signalled.clone()
    }

    /// Completes when shutdown begins.
    pub fn signalled(&self) -> WaitForCancellationFutureOwned {
        self.inner.signalled.clone().cancelled_owned()
    }

    /// Completes when the delay is over and the listener should stop accepting: pass it to
    /// `axum::serve(..).with_graceful_shutdown(..)` or hyper-util's graceful shutdown.
    pub fn stop_accepting(&self) -> WaitForCancellationFutureOwned {
        self.inner.stop_accepting.clone().cancelled_owned()
    }

    pub(crate) fn begin_stop_accepting(&self) {
        self.inner.stop_accepting.cancel();
    }

    pub(crate) fn begin_cut(&self) {
        self.inner.deadline.cancel();
    }

    /// A token cancelled at the hard deadline, for work the [`DrainLayer`] cannot see
    /// (upgraded connections, hand-rolled streams): stop when it fires.
    #[must_use]
    pub fn deadline_token(&self) -> CancellationToken {
        self.inner.deadline.clone()
    }

    /// Whether the hard deadline has passed and pending work is being cut.
    pub fn is_past_deadline(&self) -> bool {
        self.inner.deadline.is_cancelled()
    }

    /// The layer that counts in-flight requests and cuts them at the deadline.
    #[must_use]
    pub fn layer(&self) -> DrainLayer {
        DrainLayer::new(self.clone())
    }

    /// Requests currently in flight through the [`DrainLayer`] (response bodies included).
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::Acquire)
    }

    /// Spawns a background task (a queue consumer, a flusher) that shutdown cancels and
    /// awaits after the HTTP drain. The task gets a token that is cancelled when it should
    /// stop; it should finish its current unit of work and return.
    ///
    /// # Panics
    /// When called outside a Tokio runtime.
    pub fn spawn_task<F, Fut>(&self, task: F) -> JoinHandle<Fut::Output>
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        self.inner.tasks.spawn(task(self.inner.tasks_token.child_token()))
    }

    /// The tracker behind [`spawn_task`](Self::spawn_task), for tasks spawned elsewhere
    /// (`tracker.track_future(..)`).
    pub fn task_tracker(&self) -> &TaskTracker {
        &self.inner.tasks
    }

    /// The token that tells background tasks to stop.
    #[must_use]
    pub fn tasks_token(&self) -> CancellationToken {
        self.inner.tasks_token.clone()
    }

    pub(crate) fn stop_tasks(&self) {
        self.inner.tasks_token.cancel();
        self.inner.tasks.close();
    }

    /// Counts one connection as open until the returned guard is dropped. A server that
    /// serves connections itself (as `ebb-server` does) holds one per connection, upgraded
    /// ones (WebSocket) included, so that the drain waits for them and the deadline counts
    /// those it has to cut.
    #[must_use = "the connection counts as open only while the guard lives"]
    pub fn track_connection(&self) -> ConnectionGuard {
        ConnectionGuard { _token: self.inner.connections.token() }
    }

    /// Connections currently tracked by [`track_connection`](Self::track_connection).
    pub fn open_connections(&self) -> usize {
        self.inner.connections.len()
    }

    /// Completes once no tracked connection is open. Call after the listener has stopped
    /// accepting; it completes at once when none is open.
    pub async fn connections_closed(&self) {
        self.inner.connections.close();
        self.inner.connections.wait().await;
    }

    /// Records that the server closed a connection with work it never answered (a request
    /// head that was still arriving when the listener closed). Counted in
    /// [`ShutdownReport::cut_connections`](crate::ShutdownReport::cut_connections).
    pub fn record_cut_connection(&self) {
        self.inner.cut_connections.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn recorded_cut_connections(&self) -> usize {
        self.inner.cut_connections.load(Ordering::Acquire)
    }

    /// Counts one request as in flight until the returned [`InFlight`] is dropped (hold it
    /// until the response body ends). This is the count [`in_flight`](Self::in_flight)
    /// reads, the [`DrainLayer`] keeps and the [`ShutdownReport`](crate::ShutdownReport)
    /// reports as cut: a server keeps one count per request, and reads shedding and its
    /// in-flight gauge off it too (see [`admit`](Self::admit)).
    pub fn enter(&self) -> InFlight {
        self.inner.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight { shutdown: self.inner.clone() }
    }

    /// Like [`enter`](Self::enter), unless `max` requests are already in flight: then
    /// `None`, and nothing is counted. Load shedding on the drain's own count, so that a
    /// server keeps one in-flight count, not one per concern.
    pub fn admit(&self, max: usize) -> Option<InFlight> {
        if self.inner.in_flight.fetch_add(1, Ordering::AcqRel) >= max {
            self.inner.in_flight.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(InFlight { shutdown: self.inner.clone() })
    }
}

impl Shutdown {
    /// The same decision as [`InFlight::close_connection_if_draining`], for an answer that
    /// holds no [`InFlight`] (a probe, a shed request).
    pub fn close_connection_if_draining<B>(&self, version: http::Version, response: &mut http::Response<B>) {
        close_if_draining(self.is_shutting_down(), version, response);
    }
}

/// The one `Connection: close` decision, written once.
fn close_if_draining<B>(draining: bool, version: http::Version, response: &mut http::Response<B>) {
    if draining && version <= http::Version::HTTP_11 && response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        response.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    }
}

/// One open connection, counted by [`Shutdown::track_connection`] until dropped.
#[derive(Debug)]
pub struct ConnectionGuard {
    _token: tokio_util::task::task_tracker::TaskTrackerToken,
}

/// One request (and its response body) counted as in flight until dropped. Made by
/// [`Shutdown::enter`] and [`Shutdown::admit`].
#[derive(Debug)]
#[must_use = "the request counts as in flight only while this lives"]
pub struct InFlight {
    shutdown: Arc<Inner>,
}

impl InFlight {
    /// The token cancelled at the hard deadline: a request still pending, or a body still
    /// streaming, must end when it fires. Wait on it only while pending: registering a
    /// waiter takes the token's lock.
    pub fn deadline(&self) -> &CancellationToken {
        &self.shutdown.deadline
    }

    /// Whether shutdown has begun (a plain load).
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.signalled_flag.load(Ordering::Acquire)
    }

    /// The one `Connection: close` decision: from the signal on, an HTTP/1 response tells
    /// its client to take the next request elsewhere, since behind an L4 balancer
    /// (kube-proxy) nothing else moves a keep-alive connection. Not on a protocol switch,
    /// where `Connection: upgrade` must stay. HTTP/2 learns it from the server's GOAWAY.
    pub fn close_connection_if_draining<B>(&self, version: http::Version, response: &mut http::Response<B>) {
        close_if_draining(self.is_shutting_down(), version, response);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shutdown.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn response(status: http::StatusCode) -> http::Response<()> {
        let mut response = http::Response::new(());
        *response.status_mut() = status;
        response
    }

    fn closes(response: &http::Response<()>) -> bool {
        response.headers().get(http::header::CONNECTION).is_some_and(|value| value == "close")
    }

    #[test]
    fn the_phases_are_seen_through_every_accessor() {
        let shutdown = Shutdown::new(ShutdownConfig::new());
        let (signal, deadline, tasks) =
            (shutdown.shutting_down_token(), shutdown.deadline_token(), shutdown.tasks_token());
        assert!(!shutdown.is_shutting_down() && shutdown.signalled_at().is_none() && !shutdown.is_past_deadline());
        shutdown.trigger();
        assert!(shutdown.is_shutting_down() && signal.is_cancelled());
        assert!(shutdown.signalled_at().is_some_and(|at| at.elapsed() < Duration::from_secs(5)));
        assert!(!deadline.is_cancelled() && !shutdown.is_past_deadline());
        shutdown.begin_cut();
        assert!(deadline.is_cancelled() && shutdown.is_past_deadline());
        assert!(!tasks.is_cancelled());
        shutdown.stop_tasks();
        assert!(tasks.is_cancelled());
    }

    #[test]
    fn the_close_decision_is_the_same_with_or_without_an_in_flight_count() {
        let shutdown = Shutdown::new(ShutdownConfig::new());
        let in_flight = shutdown.enter();
        let decide = |version, status| {
            let (mut bare, mut counted) = (response(status), response(status));
            shutdown.close_connection_if_draining(version, &mut bare);
            in_flight.close_connection_if_draining(version, &mut counted);
            assert_eq!(closes(&bare), closes(&counted), "{version:?} {status}");
            closes(&bare)
        };
        assert!(!decide(http::Version::HTTP_11, http::StatusCode::OK), "serving: keep-alive stays");
        shutdown.trigger();
        assert!(decide(http::Version::HTTP_11, http::StatusCode::OK));
        assert!(decide(http::Version::HTTP_10, http::StatusCode::SERVICE_UNAVAILABLE));
        assert!(!decide(http::Version::HTTP_2, http::StatusCode::OK), "HTTP/2 learns it from GOAWAY");
        assert!(!decide(http::Version::HTTP_11, http::StatusCode::SWITCHING_PROTOCOLS), "an upgrade keeps its header");
    }

    #[tokio::test]
    async fn connections_are_counted_until_closed_and_cuts_are_recorded() {
        let shutdown = Shutdown::new(ShutdownConfig::new());
        let connection = shutdown.track_connection();
        assert_eq!(shutdown.open_connections(), 1);
        shutdown.record_cut_connection();
        assert_eq!(shutdown.recorded_cut_connections(), 1);
        let waiter = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { shutdown.connections_closed().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "a connection is still open");
        drop(connection);
        tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("closed").expect("task");
        assert_eq!(shutdown.open_connections(), 0);
    }
}
