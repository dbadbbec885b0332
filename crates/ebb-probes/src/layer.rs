use tower_layer::Layer;

use crate::{Probes, ProbesService};

/// Answers the probe paths in front of a service. Made by [`Probes::layer`].
#[derive(Clone, Debug)]
pub struct ProbesLayer {
    probes: Probes,
}

impl ProbesLayer {
    /// A layer answering for `probes`.
    #[must_use]
    pub fn new(probes: Probes) -> Self {
        Self { probes }
    }
}

impl<S> Layer<S> for ProbesLayer {
    type Service = ProbesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ProbesService::new(inner, self.probes.clone())
    }
}
