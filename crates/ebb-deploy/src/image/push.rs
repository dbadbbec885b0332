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
//! The header is kept for the rest of the push, and sent only to the registry itself.
//!
//! # Where credentials go
//!
//! As Docker's client does, credentials and tokens go only to the registry's own origin
//! (scheme, host and port) and, as Basic, to the `realm` its challenge named:
//!
//! - an upload `Location` on another origin (a storage backend) gets the upload without an
//!   `Authorization` header, and a `401` from there is a refusal, not a challenge;
//! - a `Location`, a `realm` or a redirect over plain `http://` is refused unless the
//!   registry itself is a loopback registry over plain HTTP; so nothing ever downgrades
//!   from `https://`.
//!
//! The registry is spoken to over HTTPS, except a loopback one (`127.*`, `localhost`,
//! `[::1]`), which gets plain HTTP unless the target says `https://`
//! (`--push https://127.0.0.1:5000/ebb/api`). Server certificates are checked against
//! Mozilla's roots and the system's store; `SSL_CERT_FILE` names a PEM bundle that replaces
//! the system's store (as in OpenSSL), for a registry with a private CA.
//!
//! Credentials come from the Docker config
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
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{StatusCode, Url, redirect};

use super::credentials::{Credentials, DockerConfig};
use super::oci::{Image, MANIFEST};

/// A push target: `[https://|http://]host[:port]/repo/path[:tag]`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// `host[:port]`, as image references name it.
    pub(crate) registry: String,
    pub(crate) repository: String,
    pub(crate) tag: String,
    /// `https`, or `http` for a loopback registry.
    pub(crate) scheme: &'static str,
}

/// Parses a push target. No scheme: HTTPS, or plain HTTP for a loopback registry.
pub(crate) fn parse_target(target: &str) -> anyhow::Result<Target> {
    let (scheme, rest) = match target.split_once("://") {
        Some(("https", rest)) => (Some("https"), rest),
        Some(("http", rest)) => (Some("http"), rest),
        Some((other, _)) => bail!("`{other}://`: a registry is reached over https:// (or http:// on loopback)"),
        None => (None, target),
    };
    let (registry, rest) = rest.split_once('/').context("expected REGISTRY/REPO[:TAG], e.g. 127.0.0.1:5000/ebb/api")?;
    let (repository, tag) = match rest.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, tag),
        _ => (rest, "latest"),
    };
    if repository.is_empty()
        || !repository.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b))
    {
        bail!("`{repository}` is not a repository name (lowercase letters, digits, `._-/`)");
    }
    let host = registry
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(registry, |(host, _)| host);
    let loopback = host.starts_with("127.") || host == "localhost" || host == "[::1]";
    let scheme = match scheme {
        Some("http") if !loopback => {
            bail!("`{registry}` over plain http://: only a loopback registry is spoken to without TLS")
        }
        Some(scheme) => scheme,
        None if loopback => "http",
        None => "https",
    };
    Ok(Target { registry: registry.to_owned(), repository: repository.to_owned(), tag: tag.to_owned(), scheme })
}

/// `target` with `tag` when it has none (never an implicit `latest`).
pub(crate) fn with_default_tag(target: &str, tag: &str) -> String {
    let last = target.rsplit('/').next().unwrap_or(target);
    if last.contains(':') { target.to_owned() } else { format!("{target}:{tag}") }
}

/// Pushes `image` and returns `registry/repo@sha256:...`.
pub(crate) fn push(image: &Image, target: &str) -> anyhow::Result<String> {
    let Target { registry, repository, tag, scheme } = parse_target(target)?;
    let origin = Url::parse(&format!("{scheme}://{registry}/"))
        .with_context(|| format!("`{registry}` is not a registry host[:port]"))?;
    let base = format!("{scheme}://{registry}/v2/{repository}");
    let trust = Trust { origin, plain_http: scheme == "http" };
    let redirects = trust.clone();
    let client = Client::builder()
        .timeout(std::time::Duration::from_secs(300))
        // reqwest drops `Authorization` on a redirect to another host; this refuses one that
        // would leave TLS.
        .redirect(redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 10 {
                attempt.error("more than 10 redirects")
            } else if redirects.scheme_allowed(attempt.url()) {
                attempt.follow()
            } else {
                let refusal = redirects.plain_http_refusal("redirect", attempt.url());
                attempt.error(refusal)
            }
        }))
        .build()?;
    let mut session = Session::new(client, trust, &registry, &repository);
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
        let mut location = session.trust.resolve("upload location", location)?;
        location.query_pairs_mut().append_pair("digest", &digest);
        eprintln!("ebb-deploy: pushing {digest} ({} KiB)", bytes.len() / 1024);
        let put = session.send(|client| {
            client.put(location.clone()).header("content-type", "application/octet-stream").body(bytes.to_vec())
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

/// What a push trusts: the registry's origin with the credentials, and plain HTTP only
/// when the registry itself is a loopback registry over plain HTTP.
#[derive(Clone, Debug)]
struct Trust {
    /// `scheme://host:port/` of the registry.
    origin: Url,
    plain_http: bool,
}

impl Trust {
    /// Whether `url` is the registry itself: the only place `Authorization` goes.
    fn is_registry(&self, url: &Url) -> bool {
        url.origin() == self.origin.origin()
    }

    /// `https:`, or `http:` beside a loopback registry over plain HTTP; never a downgrade.
    fn scheme_allowed(&self, url: &Url) -> bool {
        url.scheme() == "https" || (self.plain_http && url.scheme() == "http")
    }

    fn plain_http_refusal(&self, what: &str, url: &Url) -> String {
        let origin = self.origin.as_str().trim_end_matches('/');
        format!(
            "{origin} sent a {what} to {}://{}: refused, a push over HTTPS never continues over plain HTTP",
            url.scheme(),
            url.host_str().unwrap_or_default()
        )
    }

    /// A URL the registry named (`Location`, `realm`), resolved against the registry and
    /// refused when it would leave TLS.
    fn resolve(&self, what: &str, named: &str) -> anyhow::Result<Url> {
        let url = self.origin.join(named).with_context(|| format!("the {what} `{named}` is no URL"))?;
        if !self.scheme_allowed(&url) {
            bail!(self.plain_http_refusal(what, &url));
        }
        Ok(url)
    }
}

/// The requests of one push: anonymous until the registry challenges, then with the
/// `Authorization` that answered the challenge.
struct Session<'a> {
    client: Client,
    trust: Trust,
    registry: &'a str,
    repository: &'a str,
    config: DockerConfig,
    /// Looked up at the first challenge.
    credentials: Option<Credentials>,
    authorization: Option<HeaderValue>,
}

impl<'a> Session<'a> {
    fn new(client: Client, trust: Trust, registry: &'a str, repository: &'a str) -> Self {
        let config = DockerConfig::from_env();
        Self { client, trust, registry, repository, config, credentials: None, authorization: None }
    }

    /// Sends the request `build` makes; on the registry's challenge, answers it and sends
    /// it again. Any status but 401 and 403 is the caller's to judge.
    fn send(&mut self, build: impl Fn(&Client) -> RequestBuilder) -> anyhow::Result<Response> {
        let (response, to_registry) = self.attempt(&build)?;
        if !to_registry && response.status() == StatusCode::UNAUTHORIZED {
            let url = response.url();
            let why = format!(
                "{}://{} (not the registry) asked for credentials; none are sent there",
                url.scheme(),
                url.host_str().unwrap_or_default()
            );
            return Err(self.refused(StatusCode::UNAUTHORIZED, Some(&why)));
        }
        if response.status() != StatusCode::UNAUTHORIZED || self.authorization.is_some() {
            return self.judge(response);
        }
        let challenge = response.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let authorization = self.answer(challenge)?;
        self.authorization = Some(authorization);
        let (response, _) = self.attempt(&build)?;
        self.judge(response)
    }

    /// Sends the request, with the `Authorization` header only when it goes to the
    /// registry itself; says whether it did.
    fn attempt(&self, build: &impl Fn(&Client) -> RequestBuilder) -> anyhow::Result<(Response, bool)> {
        let mut request = build(&self.client).build().context("cannot build the request")?;
        let to_registry = self.trust.is_registry(request.url());
        if let (true, Some(authorization)) = (to_registry, &self.authorization) {
            request.headers_mut().insert(AUTHORIZATION, authorization.clone());
        }
        let host = request.url().host_str().unwrap_or_default().to_owned();
        let response = self.client.execute(request).map_err(|error| {
            // A refused redirect carries our own message; any other failure is the host's.
            match std::error::Error::source(&error) {
                Some(source) if error.is_redirect() => anyhow::anyhow!("push to {} refused: {source}", self.registry),
                _ => anyhow::Error::new(error).context(format!("cannot reach {host}")),
            }
        })?;
        Ok((response, to_registry))
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
            let realm = self.trust.resolve("token realm", &realm).map_err(|refusal| {
                anyhow::anyhow!(self.refused_message(StatusCode::UNAUTHORIZED, Some(&refusal.to_string())))
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
    fn token(&self, realm: &Url, service: Option<&str>) -> anyhow::Result<String> {
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
        let mut request = self.client.get(realm.clone()).query(&query);
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
    use super::*;

    #[test]
    fn targets() {
        let parse = |t| {
            let Target { registry, repository, tag, scheme } = parse_target(t).expect("valid");
            (registry, repository, tag, scheme)
        };
        assert_eq!(
            parse("127.0.0.1:5000/ebb/api:1.0"),
            ("127.0.0.1:5000".into(), "ebb/api".into(), "1.0".into(), "http")
        );
        assert_eq!(
            parse("registry.example/ebb/api"),
            ("registry.example".into(), "ebb/api".into(), "latest".into(), "https")
        );
        assert_eq!(parse("https://127.0.0.1:5000/ebb/api").3, "https", "TLS on loopback when asked");
        assert_eq!(parse("https://registry.example/ebb/api").0, "registry.example");
        assert!(parse_target("http://registry.example/ebb/api").is_err(), "plain HTTP only on loopback");
        assert!(parse_target("ftp://127.0.0.1/ebb/api").is_err());
        assert!(parse_target("no-slash").is_err());
        assert!(parse_target("host/Upper").is_err());
    }

    fn trust(origin: &str) -> Trust {
        let origin = Url::parse(origin).expect("url");
        Trust { plain_http: origin.scheme() == "http", origin }
    }

    #[test]
    fn only_the_registrys_own_origin_is_the_registry() {
        let trust = trust("https://registry.example:5000/");
        let is = |url: &str| trust.is_registry(&Url::parse(url).expect("url"));
        assert!(is("https://registry.example:5000/v2/ebb/api/blobs/uploads/1"));
        assert!(!is("https://storage.example:5000/upload"), "another host");
        assert!(!is("https://registry.example:5001/upload"), "another port");
        assert!(!is("http://registry.example:5000/upload"), "another scheme");
        // Negative control: the default ports are one origin.
        let default = super::tests::trust("https://registry.example/");
        assert!(default.is_registry(&Url::parse("https://registry.example:443/v2/").expect("url")));
    }

    #[test]
    fn named_urls_never_leave_tls_unless_the_registry_is_loopback_http() {
        let tls = trust("https://127.0.0.1:5000/");
        let refused = tls.resolve("token realm", "http://127.0.0.1:5001/token").expect_err("downgrade").to_string();
        assert!(
            refused.contains("https://127.0.0.1:5000 sent a token realm to http://127.0.0.1: refused"),
            "{refused}"
        );
        assert!(tls.resolve("upload location", "//other.example/upload").is_ok_and(|u| u.scheme() == "https"));
        assert_eq!(
            tls.resolve("upload location", "/v2/ebb/api/blobs/uploads/1?state=x").expect("relative").as_str(),
            "https://127.0.0.1:5000/v2/ebb/api/blobs/uploads/1?state=x"
        );
        // Negative control: a loopback registry over plain HTTP may name plain HTTP.
        let plain = trust("http://127.0.0.1:5000/");
        assert!(plain.resolve("token realm", "http://127.0.0.1:5001/token").is_ok());
        assert!(plain.resolve("upload location", "file:///etc/passwd").is_err(), "no other scheme");
    }
}
