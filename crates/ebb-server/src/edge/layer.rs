use std::time::Duration;

use tower::Layer;

use super::service::Guard;
use super::shed::Shedder;

/// Applies [`Guard`]: the in-flight cap `max_in_flight` (shared by every clone), the
/// body-progress timeout `body_timeout`, and a request timeout where one is set.
#[derive(Clone, Debug)]
pub(crate) struct GuardLayer {
    shedder: Shedder,
    body_timeout: Duration,
    request_timeout: Option<Duration>,
}

impl GuardLayer {
    pub(crate) fn new(max_in_flight: usize, body_timeout: Duration) -> Self {
        Self { shedder: Shedder::new(max_in_flight), body_timeout, request_timeout: None }
    }

    /// The same guard (the same in-flight cap) with a request timeout: 503 when the
    /// response head is not ready by then.
    pub(crate) fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guard::new(inner, self.shedder.clone(), self.body_timeout, self.request_timeout)
    }
}
