use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::child::ServerChild;
use crate::{TempDir, find_tool, free_port, wait_for_port};

/// A throwaway S3-compatible server (`s3s-fs`) on 127.0.0.1 over a temporary directory,
/// with SigV4 credentials checked; killed when dropped.
#[derive(Debug)]
pub struct S3Server {
    child: ServerChild,
    host: IpAddr,
    port: u16,
    dir: TempDir,
}

impl S3Server {
    /// Access key the server accepts.
    pub const ACCESS_KEY: &'static str = "ebb-test-access";
    /// Secret key the server accepts.
    pub const SECRET_KEY: &'static str = "ebb-test-secret-key";
    /// Region to sign for.
    pub const REGION: &'static str = "us-east-1";

    /// Starts one with the given buckets already created.
    pub fn start(buckets: &[&str]) -> Self {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), buckets)
    }

    /// Starts one listening on `host` only (a Docker network's gateway address, say).
    pub fn start_on(host: IpAddr, buckets: &[&str]) -> Self {
        let dir = TempDir::new("ebb-s3");
        for bucket in buckets {
            // s3s-fs keeps each bucket as a sub-directory of its root.
            std::fs::create_dir_all(dir.path().join(bucket))
                .unwrap_or_else(|error| panic!("cannot create bucket {bucket}: {error}"));
        }
        let mut server = Self { child: ServerChild::default(), host, port: free_port(), dir };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let binary = find_tool(
            "s3s-fs",
            "EBB_S3S_FS",
            "install it with `cargo install s3s-fs@0.14.1 --locked --features binary --root .tools/s3s-fs`, \
             or run `cargo xtask test`",
        );
        let child = Command::new(binary)
            .args(["--host", &self.host.to_string(), "--port", &self.port.to_string()])
            .args(["--access-key", Self::ACCESS_KEY, "--secret-key", Self::SECRET_KEY])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start s3s-fs: {error}"));
        self.child.set(child);
        wait_for_port(self.addr(), Duration::from_secs(10));
    }

    /// Its data directory: one sub-directory per bucket, multipart uploads in progress as
    /// `.upload-*` files (s3s-fs has no ListMultipartUploads).
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// `http://<host>:<port>`, for `AWS_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// The `AWS_*` variables that point object_store at this server.
    pub fn env(&self, bucket: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", Self::ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", Self::SECRET_KEY.to_owned()),
            ("AWS_REGION", Self::REGION.to_owned()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
            ("AWS_BUCKET", bucket.to_owned()),
        ]
    }

    /// Its process id, while it runs (to pin it to a core, say).
    pub fn pid(&self) -> Option<u32> {
        self.child.pid()
    }

    /// Kills it; its files stay, so [`restart`](Self::restart) brings the objects back.
    pub fn stop(&mut self) {
        self.child.stop();
    }

    /// Starts it again on the same port and directory.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}
