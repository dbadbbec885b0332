use std::sync::{Arc, OnceLock};

use tower_layer::Layer;

use super::HttpMetrics;
use super::tracker::State;
use crate::names::DEFAULT_MAX_LABEL_SETS;

/// Applies [`HttpMetrics`] to a service. See the [module docs](crate::layer).
#[derive(Clone, Debug)]
pub struct HttpMetricsLayer {
    state: Arc<LazyState>,
}

/// The handles are taken from the recorder on the first request, not when the layer is
/// built, so that a layer built before the exporter is installed still records.
pub(crate) struct LazyState {
    max_label_sets: usize,
    state: OnceLock<State>,
}

impl std::fmt::Debug for LazyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyState").field("max_label_sets", &self.max_label_sets).finish_non_exhaustive()
    }
}

impl LazyState {
    pub(crate) fn get(&self) -> &State {
        self.state.get_or_init(|| State::new(self.max_label_sets))
    }
}

impl Default for HttpMetricsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpMetricsLayer {
    /// A layer with the default cap of 1000 distinct label sets.
    #[must_use]
    pub fn new() -> Self {
        Self::with_max_label_sets(DEFAULT_MAX_LABEL_SETS)
    }

    /// A layer that keeps at most `max` distinct `{method, route, status}` label sets; past
    /// that, new combinations are counted under `route="overflow"` and in
    /// `http_requests_label_overflow_total`. Default: 1000.
    #[must_use]
    pub fn with_max_label_sets(max: usize) -> Self {
        Self { state: Arc::new(LazyState { max_label_sets: max, state: OnceLock::new() }) }
    }
}

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = HttpMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetrics::from_parts(inner, self.state.clone())
    }
}
