//! Where objects go, from the environment: object_store's own `AWS_*` variables for S3 (or
//! MinIO), else a local directory; and the limits of the upload path (`EBB_OFFLOAD_*`).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use ebb_core::env::{DurationBounds, Env, EnvError, Errors, SizeBounds};

/// Directory of the local store used without S3 settings.
pub const ENV_DIR: &str = "EBB_OFFLOAD_DIR";
/// Largest object accepted through the service (bytes, or `512MiB`-style).
pub const ENV_MAX_SIZE: &str = "EBB_OFFLOAD_MAX_SIZE";
/// Size of one multipart part.
pub const ENV_PART_SIZE: &str = "EBB_OFFLOAD_PART_SIZE";
/// Parts uploaded concurrently.
pub const ENV_PARTS_IN_FLIGHT: &str = "EBB_OFFLOAD_PARTS_IN_FLIGHT";
/// Lifetime of presigned URLs.
pub const ENV_URL_EXPIRY: &str = "EBB_OFFLOAD_URL_EXPIRY";
/// Content types served inline (comma-separated); others are served as attachments.
pub const ENV_INLINE_TYPES: &str = "EBB_OFFLOAD_INLINE_TYPES";
/// Variable for [`OffloadConfig::memory_budget`].
pub const ENV_MEMORY_BUDGET: &str = "EBB_OFFLOAD_MEMORY_BUDGET";

/// Default local directory.
pub const DEFAULT_DIR: &str = "data/objects";
/// Default size limit: 5 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 5 << 30;
/// Default part size: 8 MiB (S3 needs at least 5 MiB for every part but the last).
pub const DEFAULT_PART_SIZE: usize = 8 << 20;
/// Default parts in flight: 4, so an upload holds about part size x (4 + 1) = 40 MiB at most.
pub const DEFAULT_PARTS_IN_FLIGHT: usize = 4;
/// Default presigned URL lifetime: 15 minutes.
pub const DEFAULT_URL_EXPIRY: Duration = Duration::from_secs(15 * 60);
/// Default [`OffloadConfig::memory_budget`]: 256 MiB.
pub const DEFAULT_MEMORY_BUDGET: u64 = 256 << 20;
/// The largest object S3 accepts (5 TiB), the bound of `EBB_OFFLOAD_MAX_SIZE`.
pub const MAX_OBJECT_SIZE: u64 = 5 << 40;
/// The largest part S3 accepts (5 GiB), the bound of `EBB_OFFLOAD_PART_SIZE`.
pub const MAX_PART_SIZE: usize = 5 << 30;
/// S3 needs parts of at least 5 MiB.
const MIN_PART_SIZE: usize = 5 << 20;
/// The largest `EBB_OFFLOAD_MEMORY_BUDGET`: 64 GiB.
const MAX_MEMORY_BUDGET: u64 = 64 << 30;
/// What `EBB_OFFLOAD_URL_EXPIRY` accepts: 1 s to 7 days (S3's limit).
const URL_EXPIRY_BOUNDS: DurationBounds =
    DurationBounds::new(Duration::from_secs(1), Duration::from_secs(7 * 24 * 3600));

/// The `AWS_*` variables passed on to object_store (its own names; see its docs).
pub const AWS_VARIABLES: [&str; 11] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "AWS_ALLOW_HTTP",
    "AWS_BUCKET",
    "AWS_BUCKET_NAME",
    "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
];

/// The `AWS_*` variables that hold a URL: object_store parses them only at the first
/// request (and panics on a bad one), so they are checked at start.
const ENDPOINT_VARIABLES: [&str; 2] = ["AWS_ENDPOINT", "AWS_ENDPOINT_URL"];

/// An S3 endpoint: an `http` or `https` URL with a host.
fn check_endpoint(value: &str) -> Result<(), String> {
    let expected = || "an http:// or https:// URL with a host, such as http://127.0.0.1:9000".to_owned();
    let url = url::Url::parse(value.trim()).map_err(|_| expected())?;
    let has_host = url.host_str().is_some_and(|host| !host.is_empty());
    if matches!(url.scheme(), "http" | "https") && has_host { Ok(()) } else { Err(expected()) }
}

/// Where objects are kept.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreConfig {
    /// S3 or an S3-compatible server, from the `AWS_*` variables given (name, value).
    S3(Vec<(String, String)>),
    /// A local directory: for one replica and for development.
    Local(PathBuf),
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Names only: values include the secret key.
            Self::S3(vars) => {
                f.debug_tuple("S3").field(&vars.iter().map(|(name, _)| name).collect::<Vec<_>>()).finish()
            }
            Self::Local(dir) => f.debug_tuple("Local").field(dir).finish(),
        }
    }
}

/// Everything `ebb-offload` reads from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffloadConfig {
    /// Where objects go.
    pub store: StoreConfig,
    /// Largest object accepted (413 beyond). Default 5 GiB.
    pub max_size: u64,
    /// Multipart part size. Default 8 MiB; at least 5 MiB.
    pub part_size: usize,
    /// Parts uploaded at once. Default 4. Memory per upload is about
    /// `part_size x (parts_in_flight + 1)`.
    pub parts_in_flight: usize,
    /// Presigned URL lifetime. Default 15 min; at most 7 days (S3's limit).
    pub url_expiry: Duration,
    /// Bytes that all uploads together may hold in memory. Default 256 MiB; at least one
    /// upload's `part_size x (parts_in_flight + 1)`, at most 64 GiB. Each upload reserves
    /// what it buffers (up to its own bound) and frees it when it ends; an upload that would
    /// go over is refused with 503 and `Retry-After`. So stalled or slow uploads hold at most
    /// this much, however many clients start them.
    pub memory_budget: u64,
    /// Content types served inline (`image/png`, `text/plain`, ...); any other is served as
    /// `application/octet-stream` with `Content-Disposition: attachment`, so that an upload
    /// can never run script on the service's origin. Default
    /// [`DEFAULT_INLINE_TYPES`](crate::DEFAULT_INLINE_TYPES).
    pub inline_types: Vec<String>,
}

impl Default for OffloadConfig {
    fn default() -> Self {
        Self {
            store: StoreConfig::Local(PathBuf::from(DEFAULT_DIR)),
            max_size: DEFAULT_MAX_SIZE,
            part_size: DEFAULT_PART_SIZE,
            parts_in_flight: DEFAULT_PARTS_IN_FLIGHT,
            url_expiry: DEFAULT_URL_EXPIRY,
            memory_budget: DEFAULT_MEMORY_BUDGET,
            inline_types: crate::DEFAULT_INLINE_TYPES.iter().map(|t| (*t).to_owned()).collect(),
        }
    }
}

/// A setting from the environment that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable holds a value that could not be used (ebb's environment grammar,
    /// `ebb_core::env`).
    #[error(transparent)]
    Env(#[from] EnvError),
}

impl OffloadConfig {
    /// Reads the process environment.
    ///
    /// # Errors
    /// Every bad value at once.
    pub fn from_env() -> Result<Self, Vec<ConfigError>> {
        Self::from_vars(&Env::process())
    }

    /// Like [`from_env`](Self::from_env), with variables looked up through `lookup`. S3 is
    /// used when `AWS_BUCKET` (or `AWS_BUCKET_NAME`) is set.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<ConfigError>> {
        Self::from_vars(&Env::from_fn(&lookup))
    }

    /// Like [`from_env`](Self::from_env), with variables read from `env`.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_vars(env: &Env<'_>) -> Result<Self, Vec<ConfigError>> {
        let mut config = Self::default();
        let mut errors: Errors<ConfigError> = Errors::new();
        let non_empty = |value: &String| !value.trim().is_empty();
        let mut aws: Vec<(String, String)> = Vec::new();
        for name in AWS_VARIABLES {
            if let Some(value) = errors.take(env.get(name)).filter(non_empty) {
                if ENDPOINT_VARIABLES.contains(&name)
                    && let Err(expected) = check_endpoint(&value)
                {
                    errors.push(EnvError::new(name, value, expected));
                    continue;
                }
                aws.push((name.to_owned(), value));
            }
        }
        let dir = errors.take(env.get(ENV_DIR)).filter(non_empty);
        if aws.iter().any(|(name, _)| name == "AWS_BUCKET" || name == "AWS_BUCKET_NAME") {
            config.store = StoreConfig::S3(aws);
        } else if let Some(dir) = dir {
            config.store = StoreConfig::Local(PathBuf::from(dir));
        }
        if let Some(size) = errors.take(env.size(ENV_MAX_SIZE, SizeBounds::new(1, MAX_OBJECT_SIZE))) {
            config.max_size = size;
        }
        let part_bounds = SizeBounds::new(MIN_PART_SIZE as u64, MAX_PART_SIZE as u64);
        let part_size = env.parse(ENV_PART_SIZE, |value| {
            let size = part_bounds.parse(value)?;
            usize::try_from(size).map_err(|_| part_bounds.expected())
        });
        if let Some(size) = errors.take(part_size) {
            config.part_size = size;
        }
        let parts = env.parse(ENV_PARTS_IN_FLIGHT, |value| match value.trim().parse::<usize>() {
            Ok(parts @ 1..=64) => Ok(parts),
            _ => Err("a whole number from 1 to 64".to_owned()),
        });
        if let Some(parts) = errors.take(parts) {
            config.parts_in_flight = parts;
        }
        if let Some(expiry) = errors.take(env.duration(ENV_URL_EXPIRY, URL_EXPIRY_BOUNDS)) {
            config.url_expiry = expiry;
        }
        let inline_types = env.parse(ENV_INLINE_TYPES, |value| {
            let types: Vec<String> =
                value.split(',').map(|t| t.trim().to_ascii_lowercase()).filter(|t| !t.is_empty()).collect();
            let dangerous = |t: &String| t.contains("html") || t.contains("xml") || t.contains("script");
            if types.iter().any(|t| t.split_once('/').is_none_or(|(a, b)| a.is_empty() || b.is_empty())) {
                Err("comma-separated content types such as `image/png,text/plain`".to_owned())
            } else if types.iter().any(dangerous) {
                Err("types browsers never run as script (no html, xml or javascript)".to_owned())
            } else {
                Ok(types)
            }
        });
        if let Some(types) = errors.take(inline_types) {
            config.inline_types = types;
        }
        // At least what one upload holds; a footprint above the maximum leaves no valid value.
        let footprint = config.upload_footprint();
        let budget = env.parse(ENV_MEMORY_BUDGET, |value| {
            let bounds = SizeBounds::new(footprint.min(MAX_MEMORY_BUDGET), MAX_MEMORY_BUDGET);
            let explain =
                || format!("{}, and at least one upload's part size x (parts in flight + 1)", bounds.expected());
            match bounds.parse(value) {
                Ok(budget) if budget >= footprint => Ok(budget),
                _ => Err(explain()),
            }
        });
        if let Some(budget) = errors.take(budget) {
            config.memory_budget = budget;
        }
        errors.finish(config)
    }

    /// The most one upload holds in memory: `part_size x (parts_in_flight + 1)`.
    pub fn upload_footprint(&self) -> u64 {
        (self.part_size as u64).saturating_mul(self.parts_in_flight as u64 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<OffloadConfig, Vec<ConfigError>> {
        OffloadConfig::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    /// The README's values, as literals: a changed constant must fail here, not pass.
    #[test]
    fn defaults_are_pinned() {
        let config = from(&[]).expect("valid");
        assert_eq!(config.store, StoreConfig::Local(PathBuf::from("data/objects")));
        assert_eq!(config.max_size, 5 * 1024 * 1024 * 1024);
        assert_eq!(config.part_size, 8 * 1024 * 1024);
        assert_eq!(config.parts_in_flight, 4);
        assert_eq!(config.memory_budget, 256 * 1024 * 1024);
        assert_eq!(config.url_expiry, Duration::from_secs(15 * 60));
        assert_eq!(config, OffloadConfig::default());
        assert!(config.inline_types.iter().any(|t| t == "application/pdf"));
        assert!(!config.inline_types.iter().any(|t| t == "text/html" || t == "image/svg+xml"));
    }

    #[test]
    fn local_without_a_bucket_s3_with_one() {
        assert_eq!(from(&[]).expect("valid").store, StoreConfig::Local(PathBuf::from(DEFAULT_DIR)));
        let config = from(&[("AWS_BUCKET", "files"), ("AWS_SECRET_ACCESS_KEY", "hunter2")]).expect("valid");
        assert!(matches!(&config.store, StoreConfig::S3(vars) if vars.len() == 2));
        assert!(!format!("{config:?}").contains("hunter2"), "secrets must not reach Debug");
    }

    #[test]
    fn endpoints_are_urls_with_a_host() {
        for good in ["http://127.0.0.1:9000", "https://s3.eu-west-1.amazonaws.com", " http://minio:9000/ "] {
            let config = from(&[("AWS_BUCKET", "b"), ("AWS_ENDPOINT", good)]).expect(good);
            assert!(matches!(&config.store, StoreConfig::S3(vars) if vars.len() == 2), "{good}");
        }
        for bad in ["not a url", "127.0.0.1:9000", "ftp://host", "http://", "file:///tmp", "http://host:99999"] {
            for name in ENDPOINT_VARIABLES {
                let errors = from(&[("AWS_BUCKET", "b"), (name, bad)]).expect_err(bad);
                let text = errors[0].to_string();
                assert!(text.starts_with(name) && text.contains("http:// or https:// URL with a host"), "{text}");
            }
        }
    }

    #[test]
    fn sizes_and_bad_values() {
        let size = |text: &str| from(&[(ENV_MAX_SIZE, text)]).map(|config| config.max_size).ok();
        assert_eq!(size("8MiB"), Some(8 << 20));
        assert_eq!(size("5 GB"), Some(5_000_000_000));
        assert_eq!(size("12"), Some(12));
        assert_eq!(size("lots"), None);
        let errors = from(&[
            (ENV_MAX_SIZE, "huge"),
            (ENV_PART_SIZE, "1MiB"),
            (ENV_PARTS_IN_FLIGHT, "0"),
            (ENV_URL_EXPIRY, "30d"),
        ])
        .expect_err("invalid");
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[1].to_string().contains("5MiB"));
    }
}
