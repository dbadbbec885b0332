//! `--push REGISTRY/REPO[:TAG]`: the OCI distribution API — each blob unless the registry
//! has it (HEAD, then POST + PUT monolithic upload), then the manifest under the tag. The
//! bytes pushed are the ones `build_image` wrote, so the digest stays the one it printed.
//!
//! # Registry authentication
//!
//! Every request goes out anonymously until the registry answers `401 Unauthorized`; then
//! its `WWW-Authenticate` challenge (parsed with the `http-auth` crate) decides:
//!
//! - `Basic`: the request is sent again with the credentials for the registry's host.
//! - `Bearer realm=…,service=…`: a token for `repository:REPO:pull,push` is fetched from
//!   `realm` (with the credentials as Basic, when there are any; anonymously otherwise), and
//!   the request is sent again with `Authorization: Bearer <token>`.
//!
//! The header is kept for the rest of the push. Credentials come from the Docker config
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`): `credHelpers[host]`, then
//! `credsStore` (running `docker-credential-<name> get`), then `auths[host]`; see
//! `credentials.rs`. It is read only when a registry asks for credentials.
//!
//! # Errors
//!
//! A refusal is one line that says what to do, and never holds a secret:
//!
//! ```text
//! push to 127.0.0.1:5000 refused: 401 Unauthorized — no credentials for 127.0.0.1:5000 in ~/.docker/config.json (docker login 127.0.0.1:5000)
//! push to 127.0.0.1:5000 refused: 401 Unauthorized — the credentials for 127.0.0.1:5000 (from ~/.docker/config.json) were refused
//! ```
//!
//! Tested against Debian's `docker-registry` (distribution 2.8) with `auth: htpasswd`
//! (Basic) and with `auth: token` (Bearer), the latter fed by a token endpoint the test
//! writes itself (`xtask/tests/registry_auth.rs`); no hosted registry is reachable here.

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};

use super::credentials::{Credentials, DockerConfig};
use super::oci::{Image, MANIFEST};

/// `host[:port]/repo/path[:tag]` split into (registry, repository, tag).
pub(crate) fn parse_target(target: &str) -> anyhow::Result<(String, String, String)> {
    let (registry, rest) =
        target.split_once('/').context("expected REGISTRY/REPO[:TAG], e.g. 127.0.0.1:5000/ebb/api")?;
    let (repository, tag) = match rest.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, tag),
        _ => (rest, "latest"),
    };
    if repository.is_empty()
        || !repository.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b))
    {
        bail!("`{repository}` is not a repository name (lowercase letters, digits, `._-/`)");
    }
    Ok((registry.to_owned(), repository.to_owned(), tag.to_owned()))
}

/// `target` with `tag` when it has none (never an implicit `latest`).
pub(crate) fn with_default_tag(target: &str, tag: &str) -> String {
    let last = target.rsplit('/').next().unwrap_or(target);
    if last.contains(':') { target.to_owned() } else { format!("{target}:{tag}") }
}

/// Pushes `image` and returns `registry/repo@sha256:...`.
pub(crate) fn push(image: &Image, target: &str) -> anyhow::Result<String> {
    let (registry, repository, tag) = parse_target(target)?;
    let host = registry
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(registry.as_str(), |(host, _)| host);
    let scheme = if host.starts_with("127.") || host == "localhost" || host == "[::1]" { "http" } else { "https" };
    let base = format!("{scheme}://{registry}/v2/{repository}");
    let client = Client::builder().timeout(std::time::Duration::from_secs(300)).build()?;
    let mut session = Session::new(client, &registry, &repository);
    let [config, layer, _manifest] = image.blobs();
    for (digest, bytes) in [config, layer] {
        let exists = session.send(|client| client.head(format!("{base}/blobs/{digest}")))?;
        if exists.status() == StatusCode::OK {
            eprintln!("ebb-deploy: {digest} already in {registry}");
            continue;
        }
        let started = session.send(|client| client.post(format!("{base}/blobs/uploads/")))?;
        if started.status() != StatusCode::ACCEPTED {
            bail!("{registry} refused to start an upload: {} {}", started.status(), started.text().unwrap_or_default());
        }
        let location = started.headers().get("location").and_then(|v| v.to_str().ok()).context("no upload location")?;
        let location =
            if location.starts_with("http") { location.to_owned() } else { format!("{scheme}://{registry}{location}") };
        let separator = if location.contains('?') { '&' } else { '?' };
        eprintln!("ebb-deploy: pushing {digest} ({} KiB)", bytes.len() / 1024);
        let put = session.send(|client| {
            client
                .put(format!("{location}{separator}digest={digest}"))
                .header("content-type", "application/octet-stream")
                .body(bytes.to_vec())
        })?;
        if put.status() != StatusCode::CREATED {
            bail!("{registry} refused blob {digest}: {} {}", put.status(), put.text().unwrap_or_default());
        }
    }
    let put = session.send(|client| {
        client.put(format!("{base}/manifests/{tag}")).header("content-type", MANIFEST).body(image.manifest.clone())
    })?;
    if put.status() != StatusCode::CREATED {
        bail!("{registry} refused the manifest: {} {}", put.status(), put.text().unwrap_or_default());
    }
    Ok(format!("{registry}/{repository}@{}", image.digest))
}

/// The requests of one push: anonymous until the registry challenges, then with the
/// `Authorization` that answered the challenge.
struct Session<'a> {
    client: Client,
    registry: &'a str,
    repository: &'a str,
    config: DockerConfig,
    /// Looked up at the first challenge.
    credentials: Option<Credentials>,
    authorization: Option<HeaderValue>,
}

impl<'a> Session<'a> {
    fn new(client: Client, registry: &'a str, repository: &'a str) -> Self {
        let config = DockerConfig::from_env();
        Self { client, registry, repository, config, credentials: None, authorization: None }
    }

    /// Sends the request `build` makes; on a challenge, answers it and sends it again.
    /// Any status but 401 and 403 is the caller's to judge.
    fn send(&mut self, build: impl Fn(&Client) -> RequestBuilder) -> anyhow::Result<Response> {
        let response = self.attempt(&build)?;
        if response.status() != StatusCode::UNAUTHORIZED || self.authorization.is_some() {
            return self.judge(response);
        }
        let challenge = response.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let authorization = self.answer(challenge)?;
        self.authorization = Some(authorization);
        let response = self.attempt(&build)?;
        self.judge(response)
    }

    fn attempt(&self, build: &impl Fn(&Client) -> RequestBuilder) -> anyhow::Result<Response> {
        let mut request = build(&self.client);
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        request.send().with_context(|| format!("cannot reach {}", self.registry))
    }

    /// 401 or 403 with an answered challenge: refused, and why.
    fn judge(&self, response: Response) -> anyhow::Result<Response> {
        let status = response.status();
        if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
            return Ok(response);
        }
        Err(self.refused(status, None))
    }

    /// The `Authorization` header that answers `challenge`.
    fn answer(&mut self, challenge: &str) -> anyhow::Result<HeaderValue> {
        let challenges = http_auth::parse_challenges(challenge).unwrap_or_default();
        let bearer = challenges.iter().find(|c| c.scheme.eq_ignore_ascii_case("bearer"));
        let basic = challenges.iter().any(|c| c.scheme.eq_ignore_ascii_case("basic"));
        self.credentials = self.config.lookup(self.registry)?;
        if let Some(bearer) = bearer {
            let param = |name: &str| {
                bearer.params.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, v)| v.to_unescaped())
            };
            let realm = param("realm").with_context(|| {
                self.refused_message(StatusCode::UNAUTHORIZED, Some("a Bearer challenge without a realm"))
            })?;
            let token = self.token(&realm, param("service").as_deref())?;
            return sensitive(&format!("Bearer {token}"));
        }
        if !basic {
            bail!(
                self.refused_message(StatusCode::UNAUTHORIZED, Some(&format!("unsupported challenge `{challenge}`")))
            );
        }
        let Some(credentials) = &self.credentials else {
            return Err(self.refused(StatusCode::UNAUTHORIZED, None));
        };
        let encoded = STANDARD.encode(format!("{}:{}", credentials.username, credentials.secret));
        sensitive(&format!("Basic {encoded}"))
    }

    /// A token for pushing to the repository from the Bearer challenge's `realm`.
    fn token(&self, realm: &str, service: Option<&str>) -> anyhow::Result<String> {
        #[derive(serde::Deserialize)]
        struct Answer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let scope = format!("repository:{}:pull,push", self.repository);
        let mut query = vec![("scope", scope.as_str())];
        if let Some(service) = service {
            query.push(("service", service));
        }
        let mut request = self.client.get(realm).query(&query);
        if let Some(credentials) = &self.credentials {
            request = request.basic_auth(&credentials.username, Some(&credentials.secret));
        }
        let response = request.send().with_context(|| format!("cannot reach the token server {realm}"))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(self.refused(status, None));
        }
        if !status.is_success() {
            bail!(self.refused_message(status, Some(&format!("the token server {realm} answered {status}"))));
        }
        let answer: Answer =
            response.json().with_context(|| format!("the token server {realm} answered no token JSON"))?;
        answer.token.or(answer.access_token).with_context(|| format!("the token server {realm} answered no token"))
    }

    fn refused(&self, status: StatusCode, why: Option<&str>) -> anyhow::Error {
        anyhow::anyhow!(self.refused_message(status, why))
    }

    /// `push to HOST refused: 401 Unauthorized — <why, or what to do>`.
    fn refused_message(&self, status: StatusCode, why: Option<&str>) -> String {
        let host = self.registry;
        let why = match (why, &self.credentials) {
            (Some(why), _) => why.to_owned(),
            (None, None) => {
                format!("no credentials for {host} in {} (docker login {host})", self.config.display())
            }
            (None, Some(credentials)) if status == StatusCode::FORBIDDEN => {
                format!("the credentials for {host} (from {}) may not push to {}", credentials.from, self.repository)
            }
            (None, Some(credentials)) => {
                format!("the credentials for {host} (from {}) were refused", credentials.from)
            }
        };
        format!("push to {host} refused: {status} — {why}")
    }
}

fn sensitive(value: &str) -> anyhow::Result<HeaderValue> {
    let mut value = HeaderValue::from_str(value).context("the credentials are no valid HTTP header")?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::parse_target;

    #[test]
    fn targets() {
        let parse = |t| parse_target(t).expect("valid");
        assert_eq!(parse("127.0.0.1:5000/ebb/api:1.0"), ("127.0.0.1:5000".into(), "ebb/api".into(), "1.0".into()));
        assert_eq!(parse("registry.example/ebb/api"), ("registry.example".into(), "ebb/api".into(), "latest".into()));
        assert!(parse_target("no-slash").is_err());
        assert!(parse_target("host/Upper").is_err());
    }
}
