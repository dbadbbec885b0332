//! [`EdgeLayer`] -> [`Edge`]: what happens to a request before the application sees it, in
//! the order of the [module docs](super).

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;

use ebb_metrics::RequestMetrics;
use ebb_probes::{Details, Probe, Probes};
use ebb_shutdown::Shutdown;
use http::{Request, Response};
use tower::{Layer, Service};

use super::access::AccessLine;
use super::answers::{Answer, HTTP_CLIENT_SHARE_EXCEEDED_TOTAL, HTTP_REQUESTS_SHED_TOTAL};
use super::context::RequestContext;
use super::future::EdgeFuture;
use super::slow_body::{BodyPace, watch_body};
use crate::client_share::{ClientId, ClientShares, Clients};

/// What every request of one listener shares: built once, at start.
#[derive(Debug)]
pub(crate) struct EdgeShared {
    pub(crate) shutdown: Shutdown,
    pub(crate) probes: Probes,
    pub(crate) metrics: RequestMetrics,
    pub(crate) max_in_flight: usize,
    /// Who a request's client is, and each client's share of the in-flight cap and of
    /// probe requests.
    pub(crate) clients: Clients,
    /// `None` when a client's share is the whole cap.
    pub(crate) in_flight_shares: Option<Arc<ClientShares>>,
    pub(crate) probe_shares: Arc<ClientShares>,
    pub(crate) body_pace: BodyPace,
    pub(crate) access_log: bool,
    pub(crate) id_in_request: bool,
}

/// What an admitted request holds until its response body ends: its slot of the in-flight
/// cap and of its client's share.
#[derive(Debug)]
pub(crate) struct Held {
    pub(crate) in_flight: ebb_shutdown::InFlight,
    pub(crate) _client: Option<crate::client_share::ClientHold>,
}

/// Applies [`Edge`]. Clones share one [`EdgeShared`]: one in-flight count, one label cache.
#[derive(Clone, Debug)]
pub(crate) struct EdgeLayer {
    shared: Arc<EdgeShared>,
    request_timeout: Option<Duration>,
}

impl EdgeLayer {
    pub(crate) fn new(shared: EdgeShared) -> Self {
        Self { shared: Arc::new(shared), request_timeout: None }
    }

    /// The same edge with a request timeout: 503 when no response head is ready by then.
    /// Streaming routes have none.
    pub(crate) fn with_request_timeout(&self, timeout: Duration) -> Self {
        Self { shared: self.shared.clone(), request_timeout: Some(timeout) }
    }

    pub(crate) fn request_timeout(&self) -> Option<Duration> {
        self.request_timeout
    }

    /// Whether a request that began before the signal must also watch the shutdown
    /// deadline: not when its own timeout is no longer than the shutdown budget, since it
    /// then meets that first, and the one timer is enough (no waiter on the token).
    pub(crate) fn watches_cut(&self) -> bool {
        self.request_timeout.is_none_or(|timeout| timeout > self.shared.shutdown.config().timeout())
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Edge { inner, layer: self.clone() }
    }
}

/// The edge around one route (or the fallback). See the [module docs](super).
#[derive(Clone, Debug)]
pub(crate) struct Edge<S> {
    inner: S,
    layer: EdgeLayer,
}

impl<S, ResBody> Service<Request<axum::body::Body>> for Edge<S>
where
    S: Service<Request<axum::body::Body>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<axum::body::Body>;
    type Error = S::Error;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<axum::body::Body>) -> Self::Future {
        let shared = &*self.layer.shared;
        let mut context = RequestContext::read(&mut req, shared.id_in_request);
        let version = req.version();
        if let Some(probe) = Probe::from_path(req.uri().path()) {
            // Without details on this port: check names and reasons, versions and revisions
            // are for the metrics port.
            let Some(hold) = shared.probe_shares.take(client_of(shared, &req)) else {
                metrics::counter!(HTTP_CLIENT_SHARE_EXCEEDED_TOTAL, "resource" => "probes").increment(1);
                return EdgeFuture::refused(Answer::ProbesBusy, context, &shared.shutdown, version);
            };
            let answer = shared.probes.answer(probe, &req, Details::Never);
            return EdgeFuture::probe(answer, hold, context, &shared.shutdown, version);
        }
        let record = shared.metrics.start_known(&req, context.grpc);
        let access = shared.access_log.then(|| AccessLine::new(&req));
        // The client's share first: a client at its share must not take a slot of the cap.
        let hold = match &shared.in_flight_shares {
            Some(shares) => match shares.take(client_of(shared, &req)) {
                Some(hold) => Some(hold),
                None => {
                    metrics::counter!(HTTP_CLIENT_SHARE_EXCEEDED_TOTAL, "resource" => "requests").increment(1);
                    return EdgeFuture::answered(
                        Answer::ClientBusy,
                        context,
                        record,
                        access,
                        version,
                        &shared.shutdown,
                    );
                }
            },
            None => None,
        };
        let Some(in_flight) = shared.shutdown.admit(shared.max_in_flight) else {
            metrics::counter!(HTTP_REQUESTS_SHED_TOTAL).increment(1);
            return EdgeFuture::answered(Answer::Overloaded, context, record, access, version, &shared.shutdown);
        };
        let pace = if self.layer.request_timeout.is_some() { shared.body_pace } else { shared.body_pace.streaming() };
        let (req, stalled) = watch_body(req, pace);
        let inner = context.enter(|| self.inner.call(req));
        EdgeFuture::new(
            inner,
            context,
            record,
            access,
            version,
            Held { in_flight, _client: hold },
            stalled,
            &self.layer,
        )
    }
}

/// Who sent `req`, for the per-client shares; resolved only where a share is checked.
fn client_of(shared: &EdgeShared, req: &Request<axum::body::Body>) -> ClientId {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| *peer);
    shared.clients.of_request(peer, req.headers())
}
