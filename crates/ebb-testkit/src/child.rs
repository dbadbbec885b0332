use std::process::Child;

/// A server process that may be stopped and started again; killed when dropped.
#[derive(Debug, Default)]
pub(crate) struct ServerChild(Option<Child>);

impl ServerChild {
    pub(crate) fn set(&mut self, child: Child) {
        self.stop();
        self.0 = Some(child);
    }

    /// SIGKILL, as a crash would, and reap it.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        self.stop();
    }
}
