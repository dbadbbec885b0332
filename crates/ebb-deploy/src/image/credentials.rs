//! Registry credentials as `docker login` leaves them: `$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`.
//!
//! For a registry host, in Docker's order: `credHelpers[host]`, then `credsStore` — each runs
//! `docker-credential-<name> get` with the host on stdin and reads `{"Username","Secret"}` —
//! then `auths[host]`: `auth` (base64 `user:password`) or `username` and `password`. No file,
//! or no entry for the host, is anonymous. Keys of `auths` may carry a scheme and a path
//! (`https://host/v1/`); they match by host.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// A user name and its password (or token) for one registry. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub(crate) username: String,
    pub(crate) secret: String,
    /// Where they came from: the config file or the helper, for error messages.
    pub(crate) from: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// Where the credentials for a host were looked up, for error messages.
#[derive(Debug, Clone)]
pub(crate) struct DockerConfig {
    /// `$DOCKER_CONFIG/config.json` or `~/.docker/config.json` (it may not exist).
    pub(crate) path: PathBuf,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct File {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(serde::Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// What `docker-credential-<name> get` prints.
#[derive(serde::Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

impl DockerConfig {
    /// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    pub(crate) fn from_env() -> Self {
        let dir = match std::env::var_os("DOCKER_CONFIG") {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".docker"),
        };
        Self { path: dir.join("config.json") }
    }

    /// The file as the user would name it: `~/...` under the home directory.
    pub(crate) fn display(&self) -> String {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        match home.as_deref().and_then(|home| self.path.strip_prefix(home).ok()) {
            Some(rest) if !rest.as_os_str().is_empty() => format!("~/{}", rest.display()),
            _ => self.path.display().to_string(),
        }
    }

    /// The credentials for `host` (`name[:port]`), or `None` for anonymous access.
    ///
    /// # Errors
    ///
    /// A file that is no valid Docker config, an `auth` that is not base64 `user:password`,
    /// or a credential helper that cannot run or answers nonsense. The messages name the file
    /// or the helper and never hold a secret.
    pub(crate) fn lookup(&self, host: &str) -> anyhow::Result<Option<Credentials>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => bail!("cannot read {}: {error}", self.display()),
        };
        // serde_json's messages quote no input, only line and column.
        let file: File = serde_json::from_str(&text)
            .map_err(|error| anyhow::anyhow!("{} is not a valid Docker config: {error}", self.display()))?;
        let keys = lookup_keys(host);
        let helper = keys.iter().find_map(|key| file.cred_helpers.get(key.as_str())).or(file.creds_store.as_ref());
        if let Some(helper) = helper
            && let Some(credentials) = run_helper(helper, host, &self.display())?
        {
            return Ok(Some(credentials));
        }
        let Some((key, entry)) = file.auths.iter().find(|(key, _)| keys.contains(&normalize(key))) else {
            return Ok(None);
        };
        let describe = || format!("auths[\"{key}\"] in {}", self.display());
        if let Some(auth) = entry.auth.as_deref().filter(|auth| !auth.is_empty()) {
            let decoded = STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .with_context(|| format!("{}: `auth` is not base64", describe()))?;
            let (username, secret) = decoded
                .split_once(':')
                .with_context(|| format!("{}: `auth` is not base64 of user:password", describe()))?;
            return Ok(Some(Credentials {
                username: username.to_owned(),
                secret: secret.to_owned(),
                from: self.display(),
            }));
        }
        match (&entry.username, &entry.password) {
            (Some(username), Some(password)) => {
                Ok(Some(Credentials { username: username.clone(), secret: password.clone(), from: self.display() }))
            }
            _ => Ok(None),
        }
    }
}

/// The names `host` goes by as a key: itself, and Docker Hub's historical key for Docker Hub.
fn lookup_keys(host: &str) -> Vec<String> {
    let host = normalize(host);
    if matches!(host.as_str(), "docker.io" | "index.docker.io" | "registry-1.docker.io") {
        return vec![host, "index.docker.io".to_owned()];
    }
    vec![host]
}

/// `https://host:port/v1/` -> `host:port`.
fn normalize(key: &str) -> String {
    let key = key.split_once("://").map_or(key, |(_, rest)| rest);
    key.split('/').next().unwrap_or_default().to_ascii_lowercase()
}

/// `docker-credential-<name> get`, the host on stdin. `None` when the helper has nothing
/// for the host (it says "credentials not found" and exits non-zero).
fn run_helper(name: &str, host: &str, config: &str) -> anyhow::Result<Option<Credentials>> {
    let program = format!("docker-credential-{name}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run the credential helper {program} (named in {config})"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading closes the pipe; its exit status tells.
        let _ = stdin.write_all(host.as_bytes());
    }
    let output = child.wait_with_output().with_context(|| format!("the credential helper {program} failed"))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if said.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        // Helpers print their error on stdout; it holds no secret (they had none to give).
        let said = said.lines().next().unwrap_or_default().to_owned();
        bail!("the credential helper {program} failed for {host} ({}): {said}", output.status);
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout).map_err(|error| {
        anyhow::anyhow!("the credential helper {program} answered no {{\"Username\",\"Secret\"}} JSON: {error}")
    })?;
    if answer.username == "<token>" {
        bail!(
            "the credential helper {program} gave an identity token for {host}; only user and password (or a registry token as the password) are supported"
        );
    }
    Ok(Some(Credentials { username: answer.username, secret: answer.secret, from: program }))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn write_config(dir: &Path, json: &str) -> DockerConfig {
        std::fs::write(dir.join("config.json"), json).expect("write config");
        DockerConfig { path: dir.join("config.json") }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ebb-credentials-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn auths_by_base64_or_fields_and_by_host_only() {
        let dir = temp("auths");
        let config = write_config(
            &dir,
            r#"{"auths": {
                "https://registry.example:5000/v2/": {"auth": "YWxpY2U6czNjcjN0OndpdGgtY29sb24="},
                "other.example": {"username": "bob", "password": "hunter2"},
                "empty.example": {}
            }}"#,
        );
        let alice = config.lookup("registry.example:5000").expect("valid").expect("found");
        assert_eq!((alice.username.as_str(), alice.secret.as_str()), ("alice", "s3cr3t:with-colon"));
        let bob = config.lookup("other.example").expect("valid").expect("found");
        assert_eq!((bob.username.as_str(), bob.secret.as_str()), ("bob", "hunter2"));
        assert!(config.lookup("empty.example").expect("valid").is_none());
        assert!(config.lookup("registry.example").expect("valid").is_none(), "the port is part of the host");
        assert!(!format!("{alice:?}").contains("s3cr3t"), "Debug shows no secret");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn no_file_is_anonymous_and_a_broken_one_is_named_without_its_secrets() {
        let dir = temp("broken");
        let missing = DockerConfig { path: dir.join("missing.json") };
        assert!(missing.lookup("host").expect("anonymous").is_none());
        let broken = write_config(&dir, r#"{"auths": {"host": {"auth": "c2VjcmV0"#);
        let error = broken.lookup("host").expect_err("broken").to_string();
        assert!(error.contains("config.json is not a valid Docker config"), "{error}");
        let no_colon = write_config(&dir, r#"{"auths": {"host": {"auth": "c2VjcmV0"}}}"#);
        let error = no_colon.lookup("host").expect_err("no colon").to_string();
        assert!(error.contains("auths[\"host\"]") && !error.contains("secret"), "{error}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn keys_match_by_host() {
        assert_eq!(normalize("https://Index.Docker.io/v1/"), "index.docker.io");
        assert_eq!(normalize("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(lookup_keys("docker.io"), ["docker.io", "index.docker.io"]);
    }
}
