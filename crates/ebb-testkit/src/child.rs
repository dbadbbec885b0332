use std::process::Child;

/// A server process that may be stopped and started again; killed when dropped.
#[derive(Debug, Default)]
pub(crate) struct ServerChild(Option<Child>);

impl ServerChild {
    pub(crate) fn set(&mut self, child: Child) {
        self.stop();
        self.0 = Some(child);
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.0.as_ref().map(Child::id)
    }

    /// Sends a signal by name (`STOP`, `CONT`, `TERM`) through `kill`.
    pub(crate) fn signal(&self, name: &str) {
        let Some(child) = &self.0 else { return };
        let status = std::process::Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{name} {} failed", child.id());
    }

    /// SIGKILL, as a crash would, and reap it.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.0.take() {
            // A paused process must be killable too; SIGKILL works on stopped processes.
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
