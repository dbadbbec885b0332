use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::child::ServerChild;
use crate::{TempDir, TestCa, find_tool, free_port, wait_for_port};

/// A throwaway OCI registry (Debian's `docker-registry`, the CNCF distribution registry) on
/// 127.0.0.1, storing into a temporary directory; killed when dropped.
///
/// Anonymous ([`start`](Self::start)), or refusing every request without credentials:
/// HTTP Basic against an htpasswd file ([`start_with_htpasswd`](Self::start_with_htpasswd)),
/// or Bearer tokens from a token server of the caller's
/// ([`start_with_token_auth`](Self::start_with_token_auth)), over HTTPS with a certificate
/// of a [`TestCa`] ([`start_tls_with_token_auth`](Self::start_tls_with_token_auth)).
#[derive(Debug)]
pub struct RegistryServer {
    _child: ServerChild,
    port: u16,
    tls: bool,
    dir: TempDir,
}

/// The registry's `auth:` section.
enum Auth<'a> {
    None,
    Htpasswd { user: &'a str, password: &'a str },
    Token(&'a RegistryTokenAuth),
}

/// What a registry that takes Bearer tokens trusts (distribution's `auth: token`).
#[derive(Debug, Clone)]
pub struct RegistryTokenAuth {
    /// Where clients get tokens: the `realm` of the registry's challenge.
    pub realm: String,
    /// The `service` of the challenge; tokens must name it as their audience (`aud`).
    pub service: String,
    /// The issuer (`iss`) tokens must name.
    pub issuer: String,
    /// A PEM certificate: tokens are signed by its key and carry it in their `x5c` header.
    pub root_certificate: PathBuf,
}

impl RegistryServer {
    /// Starts an anonymous one and waits until it listens.
    pub fn start() -> Self {
        Self::start_with(Auth::None, None)
    }

    /// Starts one that answers `401` with a `Basic` challenge to every request without the
    /// password of `user` (an htpasswd file made with `htpasswd -B`, bcrypt as the registry
    /// requires).
    pub fn start_with_htpasswd(user: &str, password: &str) -> Self {
        Self::start_with(Auth::Htpasswd { user, password }, None)
    }

    /// Starts one that answers `401` with a `Bearer realm=…,service=…,scope=…` challenge to
    /// every request without a token signed by `auth.root_certificate`'s key that grants it.
    pub fn start_with_token_auth(auth: &RegistryTokenAuth) -> Self {
        Self::start_with(Auth::Token(auth), None)
    }

    /// Like [`start_with_token_auth`](Self::start_with_token_auth), over HTTPS only, with a
    /// certificate for `127.0.0.1` signed by `ca` (clients must trust `ca.cert()`).
    pub fn start_tls_with_token_auth(auth: &RegistryTokenAuth, ca: &TestCa) -> Self {
        Self::start_with(Auth::Token(auth), Some(ca))
    }

    fn start_with(auth: Auth<'_>, ca: Option<&TestCa>) -> Self {
        let dir = TempDir::new("ebb-registry");
        let port = free_port();
        let config = dir.path().join("config.yml");
        let storage = dir.path().join("storage");
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        if let Some(ca) = ca {
            let (certificate, key) = ca.issue(&format!("registry-{port}"), "IP:127.0.0.1");
            yaml.push_str(&format!("  tls:\n    certificate: {}\n    key: {}\n", certificate.display(), key.display()));
        }
        match auth {
            Auth::None => {}
            Auth::Htpasswd { user, password } => {
                let users = dir.path().join("htpasswd");
                htpasswd(&users, user, password);
                yaml.push_str(&format!("auth:\n  htpasswd:\n    realm: ebb-test\n    path: {}\n", users.display()));
            }
            Auth::Token(token) => yaml.push_str(&format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                token.realm,
                token.service,
                token.issuer,
                token.root_certificate.display()
            )),
        }
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
        let registry = Self { _child: server, port, tls: ca.is_some(), dir };
        wait_for_port(registry.addr(), Duration::from_secs(10));
        registry
    }

    /// Its address (`127.0.0.1:<port>`), the registry part of an image reference.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `https://127.0.0.1:<port>` or `http://…`: where its API is.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr())
    }

    /// Its temporary directory (config, storage, htpasswd), removed when it is dropped.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// `htpasswd -B -b -c FILE USER PASSWORD`: one bcrypt entry.
fn htpasswd(file: &Path, user: &str, password: &str) {
    let binary = find_tool(
        "htpasswd",
        "EBB_HTPASSWD",
        "install it with `apt-get install apache2-utils`, or run `cargo xtask test`",
    );
    let output = Command::new(binary)
        .args(["-B", "-b", "-c"])
        .arg(file)
        .args([user, password])
        .output()
        .unwrap_or_else(|error| panic!("cannot run htpasswd: {error}"));
    assert!(output.status.success(), "htpasswd failed: {}", String::from_utf8_lossy(&output.stderr));
}
