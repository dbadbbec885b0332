use tower_layer::Layer;

use super::Drain;
use crate::Shutdown;

/// Applies [`Drain`] to a service. Made by [`Shutdown::layer`].
#[derive(Clone, Debug)]
pub struct DrainLayer {
    shutdown: Shutdown,
}

impl DrainLayer {
    /// A layer that counts requests against `shutdown`.
    #[must_use]
    pub fn new(shutdown: Shutdown) -> Self {
        Self { shutdown }
    }
}

impl<S> Layer<S> for DrainLayer {
    type Service = Drain<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Drain::new(inner, self.shutdown.clone())
    }
}
