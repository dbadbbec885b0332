//! [`Offload`]: the handle that moves bytes between clients and the object store and keeps
//! the metadata.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};
use serde::Serialize;

use crate::config::{OffloadConfig, StoreConfig};
use crate::metadata::{Metadata, MetadataStore};
use crate::{ObjectKey, OffloadError, names};

/// How long the readiness check and each store request may wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Large objects in S3-compatible storage; the service keeps only metadata. Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use ebb_offload::{MemoryMetadata, Offload, OffloadConfig};
/// let offload = Offload::from_config(&OffloadConfig::from_env().map_err(|e| format!("{e:?}"))?,
///                                    Arc::new(MemoryMetadata::new()))?;
/// let key = ebb_offload::ObjectKey::parse("reports/q3.pdf")?;
/// let url = offload.presign(http::Method::GET, &key).await?;
/// println!("{}", url.url);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Offload {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn ObjectStore>,
    signer: Option<Arc<dyn Signer>>,
    pub(crate) metadata: Arc<dyn MetadataStore>,
    pub(crate) limits: OffloadConfig,
    description: String,
    /// Whether the store keeps attributes (the content type) with the object; local
    /// directories do not, and the metadata store has it anyway.
    pub(crate) keeps_attributes: bool,
    /// The upload memory budget, in KiB permits (see [`OffloadConfig::memory_budget`]).
    pub(crate) budget: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Offload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Offload")
            .field("store", &self.inner.description)
            .field("metadata", &self.inner.metadata.kind())
            .field("max_size", &self.inner.limits.max_size)
            .finish_non_exhaustive()
    }
}

/// Why the store could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// object_store refused the settings (it names the problem).
    #[error("cannot configure the S3 store: {0}")]
    S3(#[source] object_store::Error),
    /// The local directory cannot be created or used.
    #[error("cannot use {dir} for objects: {reason}")]
    Local {
        /// The directory.
        dir: String,
        /// Why.
        reason: String,
    },
}

/// A presigned URL: the client sends `method` to `url` until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PresignedUrl {
    /// The URL, with its signature.
    pub url: String,
    /// `PUT` for uploads, `GET` for downloads.
    pub method: String,
    /// When it stops working, RFC 3339.
    pub expires_at: String,
}

impl Offload {
    /// The store `config` describes: S3 with the `AWS_*` settings (retrying briefly, so a
    /// down store answers 503 within seconds), or a local directory (created if missing).
    ///
    /// # Errors
    /// See [`BuildError`].
    pub fn from_config(config: &OffloadConfig, metadata: Arc<dyn MetadataStore>) -> Result<Self, BuildError> {
        match &config.store {
            StoreConfig::S3(vars) => {
                let s3 = s3_store(vars)?;
                let description = format!("s3 ({s3})");
                let s3 = Arc::new(s3);
                Ok(Self::with_parts(s3.clone(), Some(s3), metadata, config.clone(), description, true))
            }
            StoreConfig::Local(dir) => {
                let local_error = |reason: String| BuildError::Local { dir: dir.display().to_string(), reason };
                std::fs::create_dir_all(dir).map_err(|e| local_error(e.to_string()))?;
                let local = LocalFileSystem::new_with_prefix(dir).map_err(|e| local_error(e.to_string()))?;
                let description = format!("local directory {}", dir.display());
                Ok(Self::with_parts(Arc::new(local), None, metadata, config.clone(), description, false))
            }
        }
    }

    /// Any object_store (with its signer, if it signs URLs) and the limits of `config`. The
    /// content type is kept in the metadata store only.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        signer: Option<Arc<dyn Signer>>,
        metadata: Arc<dyn MetadataStore>,
        limits: OffloadConfig,
    ) -> Self {
        let description = store.to_string();
        Self::with_parts(store, signer, metadata, limits, description, false)
    }

    fn with_parts(
        store: Arc<dyn ObjectStore>,
        signer: Option<Arc<dyn Signer>>,
        metadata: Arc<dyn MetadataStore>,
        limits: OffloadConfig,
        description: String,
        keeps_attributes: bool,
    ) -> Self {
        let budget = Arc::new(tokio::sync::Semaphore::new(budget_kib(&limits)));
        Self { inner: Arc::new(Inner { store, signer, metadata, limits, description, keeps_attributes, budget }) }
    }

    /// Bytes of the upload memory budget that uploads in progress hold now (in KiB steps).
    pub fn upload_memory_held(&self) -> u64 {
        (budget_kib(&self.inner.limits).saturating_sub(self.inner.budget.available_permits()) as u64) * 1024
    }

    /// Whether objects stay on this machine (no S3 configured).
    pub fn is_local(&self) -> bool {
        self.inner.signer.is_none()
    }

    /// What the store is, for logs (no secrets).
    pub fn describe(&self) -> &str {
        &self.inner.description
    }

    /// The limits in use.
    pub fn limits(&self) -> &OffloadConfig {
        &self.inner.limits
    }

    /// The metadata of `key`: from the metadata store, else from the object store itself
    /// (objects uploaded with a presigned URL).
    ///
    /// # Errors
    /// [`OffloadError::NotFound`], or a store failure.
    pub async fn metadata(&self, key: &ObjectKey) -> Result<Metadata, OffloadError> {
        let result = self.lookup(key).await;
        names::record("head", result.as_ref().map(|_| ()));
        result
    }

    pub(crate) async fn lookup(&self, key: &ObjectKey) -> Result<Metadata, OffloadError> {
        if let Some(meta) = self.inner.metadata.get(key.as_str()).await? {
            return Ok(meta);
        }
        let head =
            self.inner.store.head(&self.path(key)).await.map_err(|e| OffloadError::from_store(key.as_str(), e))?;
        Ok(Metadata {
            key: key.as_str().to_owned(),
            size: head.size,
            etag: head.e_tag.map(|tag| quote(&tag)),
            sha256: None,
            content_type: "application/octet-stream".to_owned(),
            created: humantime::format_rfc3339_seconds(SystemTime::from(head.last_modified)).to_string(),
        })
    }

    /// Deletes the object and its metadata. Deleting a missing key is not an error.
    ///
    /// # Errors
    /// A store failure.
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), OffloadError> {
        let result = async {
            match self.inner.store.delete(&self.path(key)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => return Err(OffloadError::from_store(key.as_str(), error)),
            }
            self.inner.metadata.delete(key.as_str()).await?;
            Ok(())
        }
        .await;
        names::record("delete", result.as_ref().map(|_| ()));
        result
    }

    /// A URL for `PUT` (upload) or `GET` (download) straight to the store, valid for the
    /// configured expiry, so that big transfers never pass through (or hold up the drain
    /// of) the service.
    ///
    /// # Errors
    /// [`OffloadError::PresignUnsupported`] for a local directory.
    pub async fn presign(&self, method: http::Method, key: &ObjectKey) -> Result<PresignedUrl, OffloadError> {
        let result = async {
            let signer = self.inner.signer.as_ref().ok_or(OffloadError::PresignUnsupported)?;
            let expiry = self.inner.limits.url_expiry;
            let url = signer
                .signed_url(method.clone(), &self.path(key), expiry)
                .await
                .map_err(|e| OffloadError::from_store(key.as_str(), e))?;
            let expires_at = humantime::format_rfc3339_seconds(SystemTime::now() + expiry).to_string();
            Ok(PresignedUrl { url: url.to_string(), method: method.to_string(), expires_at })
        }
        .await;
        names::record("presign", result.as_ref().map(|_| ()));
        result
    }

    /// Readiness: the store answers (a HEAD of a key that need not exist).
    ///
    /// # Errors
    /// [`OffloadError::Unavailable`] with the store's reason.
    pub async fn check(&self) -> Result<(), OffloadError> {
        match self.inner.store.head(&Path::from("ebb-readiness-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(OffloadError::Unavailable(error.to_string())),
        }
    }

    pub(crate) fn path(&self, key: &ObjectKey) -> Path {
        key.to_path(None)
    }
}

pub(crate) fn quote(tag: &str) -> String {
    if tag.starts_with('"') || tag.starts_with("W/") { tag.to_owned() } else { format!("\"{tag}\"") }
}

fn s3_store(vars: &[(String, String)]) -> Result<AmazonS3, BuildError> {
    // Client options first: the AWS_ALLOW_HTTP setting below lives in them.
    let options = ClientOptions::new().with_connect_timeout(CONNECT_TIMEOUT);
    let retry = RetryConfig { max_retries: 2, retry_timeout: Duration::from_secs(3), ..RetryConfig::default() };
    let mut builder = AmazonS3Builder::new().with_client_options(options).with_retry(retry);
    for (name, value) in vars {
        if let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
            builder = builder.with_config(key, value);
        }
    }
    builder.build().map_err(BuildError::S3)
}

/// The upload memory budget in KiB permits: never less than one upload's footprint.
fn budget_kib(limits: &OffloadConfig) -> usize {
    usize::try_from(limits.memory_budget.max(limits.upload_footprint()) / 1024)
        .unwrap_or(usize::MAX)
        .min(tokio::sync::Semaphore::MAX_PERMITS)
}
