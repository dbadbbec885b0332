use tower_layer::Layer;

use crate::{Probes, ProbesService};

/// Answers the probe paths in front of a service. Made by [`Probes::layer`].
#[derive(Clone, Debug)]
pub struct ProbesLayer {
    probes: Probes,
    details: bool,
}

impl ProbesLayer {
    /// A layer answering for `probes`.
    #[must_use]
    pub fn new(probes: Probes) -> Self {
        Self { probes, details: false }
    }

    /// Whether every answer lists its checks, as `?verbose` asks. Default: `false`, so that
    /// on a public port a failing probe says only that it failed (check names and reasons
    /// can name internal hosts); turn it on for a listener only operators reach, such as
    /// the metrics port.
    #[must_use]
    pub fn with_details(mut self, details: bool) -> Self {
        self.details = details;
        self
    }
}

impl<S> Layer<S> for ProbesLayer {
    type Service = ProbesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ProbesService::new(inner, self.probes.clone()).with_details(self.details)
    }
}
