use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::child::ServerChild;
use crate::{TempDir, find_tool, free_port, wait_for_port};

/// A throwaway OCI registry (Debian's `docker-registry`, the CNCF distribution registry) on
/// 127.0.0.1, storing into a temporary directory; killed when dropped.
#[derive(Debug)]
pub struct RegistryServer {
    _child: ServerChild,
    port: u16,
    _dir: TempDir,
}

impl RegistryServer {
    /// Starts one and waits until it listens.
    pub fn start() -> Self {
        let dir = TempDir::new("ebb-registry");
        let port = free_port();
        let config = dir.path().join("config.yml");
        let storage = dir.path().join("storage");
        let yaml = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        std::fs::write(&config, yaml).unwrap_or_else(|error| panic!("cannot write the registry config: {error}"));
        let binary = find_tool(
            "docker-registry",
            "EBB_DOCKER_REGISTRY",
            "install it with `apt-get install docker-registry`, or run `cargo xtask test`",
        );
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start docker-registry: {error}"));
        let mut server = ServerChild::default();
        server.set(child);
        let registry = Self { _child: server, port, _dir: dir };
        wait_for_port(registry.addr(), Duration::from_secs(10));
        registry
    }

    /// Its address (`127.0.0.1:<port>`), the registry part of an image reference.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}
