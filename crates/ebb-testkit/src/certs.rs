//! Throwaway certificates made with the `openssl` command: a CA, and certificates it signs
//! for 127.0.0.1 (servers) or a client name (mutual TLS).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA and the files of the certificates it signed, in a directory of the caller's.
#[derive(Debug, Clone)]
pub struct TestCa {
    dir: PathBuf,
    name: String,
}

impl TestCa {
    /// A new CA whose files are `<name>.pem` and `<name>.key` in `dir`.
    pub fn new(dir: &Path, name: &str) -> Self {
        let ca = Self { dir: dir.to_owned(), name: name.to_owned() };
        openssl(
            dir,
            &["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
            &[
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        ca
    }

    /// The CA certificate (PEM).
    pub fn cert(&self) -> PathBuf {
        self.dir.join(format!("{}.pem", self.name))
    }

    /// A certificate signed by this CA for `subject_alt_name` (`IP:127.0.0.1`,
    /// `DNS:client`): the paths of its PEM certificate and key.
    pub fn issue(&self, file: &str, subject_alt_name: &str) -> (PathBuf, PathBuf) {
        let (key, csr, cert, ext) =
            (format!("{file}.key"), format!("{file}.csr"), format!("{file}.pem"), format!("{file}.ext"));
        std::fs::write(self.dir.join(&ext), format!("subjectAltName={subject_alt_name}\n")).expect("write ext");
        openssl(
            &self.dir,
            &["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
            &["-keyout", &key, "-out", &csr, "-subj", &format!("/CN={file}")],
        );
        let (ca_cert, ca_key) = (format!("{}.pem", self.name), format!("{}.key", self.name));
        openssl(
            &self.dir,
            &["x509", "-req", "-in", &csr, "-CA", &ca_cert, "-CAkey", &ca_key, "-CAcreateserial"],
            &["-out", &cert, "-days", "2", "-extfile", &ext],
        );
        (self.dir.join(cert), self.dir.join(key))
    }
}

fn openssl(dir: &Path, args: &[&str], more: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .args(more)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|error| panic!("cannot run openssl ({error}): install it with `apt-get install openssl`"));
    assert!(output.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
}
