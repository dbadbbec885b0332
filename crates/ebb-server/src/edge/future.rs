//! [`EdgeFuture`]: the one response future of the edge. It polls the application in the
//! request's log context with panics caught, keeps the one deadline, and finishes every
//! answer (the application's or the edge's own) the same way: the request id, the
//! `Connection: close` decision, the metrics record, the access line, the body wrapper.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use ebb_metrics::{RequestRecord, StreamRecord};
use ebb_probes::ProbeAnswer;
use ebb_shutdown::Shutdown;
use http::{Response, Version};
use http_body_util::Full;
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::WaitForCancellationFutureOwned;

use super::EdgeBody;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
use super::access::AccessLine;
use super::answers::Answer;
use super::context::{RequestContext, mark_sensitive_response};
use super::layer::{EdgeLayer, Held};
use super::panic::catch;
use super::slow_body::{Stalled, stalled_failure};
use crate::client_share::ClientHold;
use crate::trace::X_REQUEST_ID;

pin_project! {
    /// Response future of the edge.
    pub(crate) struct EdgeFuture<F> {
        #[pin]
        kind: Kind<F>,
        context: Option<RequestContext>,
        request: Option<Admitted>,
        // For an answer that holds no in-flight count (a probe, a shed request): the
        // shutdown, for the same `Connection: close` decision.
        unadmitted: Option<(Shutdown, Version)>,
        #[pin]
        deadline: Option<Sleep>,
        #[pin]
        cut: Option<WaitForCancellationFutureOwned>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Probe { #[pin] answer: ProbeAnswer, hold: ClientHold },
        Answered { answer: Answer },
        Done,
    }
}

/// What a counted request carries until its answer.
struct Admitted {
    record: Option<RequestRecord>,
    access: Option<AccessLine>,
    version: Version,
    in_flight: Option<Held>,
    stalled: Stalled,
    request_timeout: Option<Duration>,
    watch_cut: bool,
}

impl<F> EdgeFuture<F> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        future: F,
        context: RequestContext,
        record: RequestRecord,
        access: Option<AccessLine>,
        version: Version,
        in_flight: Held,
        stalled: Stalled,
        layer: &EdgeLayer,
    ) -> Self {
        // A request that arrives after the signal can meet the shutdown deadline before its
        // own timeout: it watches the deadline too.
        let watch_cut = layer.watches_cut() || in_flight.in_flight.is_shutting_down();
        let admitted = Admitted {
            record: Some(record),
            access,
            version,
            in_flight: Some(in_flight),
            stalled,
            request_timeout: layer.request_timeout(),
            watch_cut,
        };
        Self::with(Kind::Inner { future }, context, Some(admitted), None)
    }

    /// A probe: answered here, never counted as traffic; `hold` is its place in the
    /// client's share of probe requests, given back with the answer.
    pub(crate) fn probe(
        answer: ProbeAnswer,
        hold: ClientHold,
        context: RequestContext,
        shutdown: &Shutdown,
        version: Version,
    ) -> Self {
        Self::with(Kind::Probe { answer, hold }, context, None, Some((shutdown.clone(), version)))
    }

    /// A probe refused before it is evaluated: not counted as traffic either.
    pub(crate) fn refused(answer: Answer, context: RequestContext, shutdown: &Shutdown, version: Version) -> Self {
        Self::with(Kind::Answered { answer }, context, None, Some((shutdown.clone(), version)))
    }

    /// An answer of the edge's own (shedding), counted and logged like any other.
    pub(crate) fn answered(
        answer: Answer,
        context: RequestContext,
        record: RequestRecord,
        access: Option<AccessLine>,
        version: Version,
        shutdown: &Shutdown,
    ) -> Self {
        let admitted = Admitted {
            record: Some(record),
            access,
            version,
            in_flight: None,
            stalled: None,
            request_timeout: None,
            watch_cut: false,
        };
        Self::with(Kind::Answered { answer }, context, Some(admitted), Some((shutdown.clone(), version)))
    }

    fn with(
        kind: Kind<F>,
        context: RequestContext,
        request: Option<Admitted>,
        unadmitted: Option<(Shutdown, Version)>,
    ) -> Self {
        Self { kind, context: Some(context), request, unadmitted, deadline: None, cut: None }
    }
}

impl<F, B, E> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let outcome = match this.kind.as_mut().project() {
            KindProj::Inner { future } => {
                let route =
                    this.request.as_ref().and_then(|r| r.record.as_ref()).map_or("unmatched", RequestRecord::route);
                // Panics are caught inside the request's context, so that their log line
                // carries its id.
                let polled = match this.context.as_mut() {
                    Some(context) => context.enter(|| catch(route, || future.poll(cx))),
                    None => catch(route, || future.poll(cx)),
                };
                match polled {
                    Ok(Poll::Ready(Ok(response))) => Outcome::Response(response),
                    Ok(Poll::Ready(Err(error))) => Outcome::Error(error),
                    // The handler's future is unusable after a panic: dropped below.
                    Err(()) => Outcome::Answer(Answer::Panicked),
                    Ok(Poll::Pending) => {
                        match expired(this.request.as_ref(), this.deadline.as_mut(), this.cut.as_mut(), cx) {
                            Some(answer) => Outcome::Answer(answer),
                            None => return Poll::Pending,
                        }
                    }
                }
            }
            KindProj::Probe { answer, .. } => match answer.poll(cx) {
                Poll::Ready(response) => Outcome::Probe(response),
                Poll::Pending => return Poll::Pending,
            },
            KindProj::Answered { answer } => Outcome::Answer(*answer),
            KindProj::Done => return Poll::Pending,
        };
        // Drops the handler's future now (after a panic or a timeout it must not run on),
        // in the request's context: what it logs as it is dropped carries the id.
        match this.context.as_mut() {
            Some(context) => context.enter(|| this.kind.set(Kind::Done)),
            None => this.kind.set(Kind::Done),
        }
        // The access line is logged in the request's context, with its id and trace id.
        let mut context = this.context.take();
        let mut log = |access: AccessLine, route: &str, answer| match &mut context {
            Some(context) => context.enter(|| access.log(route, answer)),
            None => access.log(route, answer),
        };
        let request = this.request.take();
        let mut response = match outcome {
            Outcome::Response(response) => {
                let stalled = request.as_ref().is_some_and(|r| stalled_failure(&r.stalled, response.status()));
                if stalled { Answer::BodyStalled.response(Reply::Canned) } else { response.map(Reply::App) }
            }
            Outcome::Answer(answer) => answer.response(Reply::Canned),
            Outcome::Probe(response) => response.map(Reply::Probe),
            Outcome::Error(error) => {
                if let Some(mut request) = request
                    && let Some(record) = request.record.take()
                {
                    if let Some(access) = request.access.take() {
                        log(access, record.route(), None);
                    }
                    record.fail();
                }
                return Poll::Ready(Err(error));
            }
        };
        mark_sensitive_response(response.headers_mut());
        if let Some((shutdown, version)) = this.unadmitted.take() {
            shutdown.close_connection_if_draining(version, &mut response);
        }
        let (mut in_flight, mut stream) = (None, None);
        if let Some(request) = request {
            let Admitted { record, access, version, in_flight: admitted, .. } = request;
            if let Some(admitted) = &admitted {
                admitted.in_flight.close_connection_if_draining(version, &mut response);
            }
            stream = record.and_then(|record| {
                if let Some(access) = access {
                    let length = response.body().exact_length();
                    log(access, record.route(), Some((response.status().as_u16(), response.headers(), length)));
                }
                record.respond(&response)
            });
            in_flight = admitted;
        }
        if let Some(id) = context.and_then(RequestContext::into_id) {
            response.headers_mut().insert(X_REQUEST_ID, id.into_header_value());
        }
        Poll::Ready(Ok(response.map(|reply| reply.into_body(in_flight, stream))))
    }
}

/// The largest body of known length that is sent without the edge's body wrapper: it is
/// in memory already, so the request stops counting as in flight with its head.
const SENT_WITH_THE_HEAD: u64 = 16 * 1024;

/// The body of an answer, before the edge decides whether it needs [`EdgeBody`].
enum Reply<B> {
    App(B),
    Canned(Bytes),
    Probe(Full<Bytes>),
}

impl<B> Reply<B>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// The body's length when its size hint is exact (for the access line).
    fn exact_length(&self) -> Option<u64> {
        match self {
            Self::App(body) => body.size_hint().exact(),
            Self::Canned(text) => u64::try_from(text.len()).ok(),
            Self::Probe(full) => http_body::Body::size_hint(full).exact(),
        }
    }

    /// The response body: the application's wrapped in [`EdgeBody`] when it is still to be
    /// produced (it holds the in-flight count until it ends, records gRPC trailers, and is
    /// cut at the shutdown deadline); passed on as it is when it is already complete (a
    /// body of known length up to [`SENT_WITH_THE_HEAD`], or the edge's own answers), which
    /// spares boxing it a second time.
    fn into_body(self, in_flight: Option<Held>, stream: Option<StreamRecord>) -> Body {
        match self {
            Self::App(body) => {
                let complete = body.size_hint().exact().is_some_and(|length| length <= SENT_WITH_THE_HEAD);
                if complete && stream.is_none() {
                    Body::new(body)
                } else {
                    Body::new(EdgeBody::new(body, in_flight, stream))
                }
            }
            Self::Canned(text) => Body::from(text),
            Self::Probe(full) => Body::new(full),
        }
    }
}

enum Outcome<B, E> {
    Response(Response<B>),
    Error(E),
    Answer(Answer),
    Probe(Response<http_body_util::Full<bytes::Bytes>>),
}

/// The one deadline of a pending request: its own timeout (armed on the first pending
/// poll, so a request answered at once never touches the timer wheel) or, where that could
/// come later, the shutdown deadline. `Some` once one has passed.
fn expired(
    request: Option<&Admitted>,
    mut deadline: Pin<&mut Option<Sleep>>,
    mut cut: Pin<&mut Option<WaitForCancellationFutureOwned>>,
    cx: &mut Context<'_>,
) -> Option<Answer> {
    let request = request?;
    if let Some(timeout) = request.request_timeout {
        if deadline.is_none() {
            deadline.set(Some(tokio::time::sleep_until(Instant::now() + timeout)));
        }
        if deadline.as_mut().as_pin_mut().is_some_and(|sleep| sleep.poll(cx).is_ready()) {
            return Some(Answer::TooSlow);
        }
    }
    if request.watch_cut {
        if cut.is_none() {
            let held = request.in_flight.as_ref()?;
            cut.set(Some(held.in_flight.deadline().clone().cancelled_owned()));
        }
        if cut.as_mut().as_pin_mut().is_some_and(|wait| wait.poll(cx).is_ready()) {
            return Some(Answer::Cut);
        }
    }
    None
}
