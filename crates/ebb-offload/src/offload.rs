//! [`Offload`]: the handle that moves bytes between clients and the object store and keeps
//! the metadata.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};

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
/// let url = offload.presign_download(&key).await?;
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
    pub(crate) multipart: Option<Arc<dyn MultipartStore>>,
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
                let mut offload =
                    Self::with_parts(s3.clone(), Some(s3.clone()), metadata, config.clone(), description, true);
                if let Some(inner) = Arc::get_mut(&mut offload.inner) {
                    inner.multipart = Some(s3);
                }
                Ok(offload)
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
        let inner = Inner { store, signer, multipart: None, metadata, limits, description, keeps_attributes, budget };
        Self { inner: Arc::new(inner) }
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

    /// The metadata of `key` as it would be served: size and entity tag from the store,
    /// SHA-256 and content type from the record when it describes those bytes.
    ///
    /// # Errors
    /// [`OffloadError::NotFound`], or a store failure.
    pub async fn metadata(&self, key: &ObjectKey) -> Result<Metadata, OffloadError> {
        let result = async {
            for _ in 0..3 {
                if let Some(located) = self.locate(key).await? {
                    return Ok(located.meta);
                }
            }
            Err(OffloadError::Unavailable("the object kept changing while it was being read".to_owned()))
        }
        .await;
        names::record("head", result.as_ref().map(|_| ()));
        result
    }

    /// Deletes the object: its record first (atomically, so a concurrent upload either
    /// lands after it or is deleted with it), then its bytes. Deleting a missing key is not
    /// an error.
    ///
    /// # Errors
    /// A store failure.
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), OffloadError> {
        let result = async {
            let taken = self
                .inner
                .metadata
                .take(key.as_str())
                .await
                .map_err(|e| OffloadError::from_metadata(key.as_str(), e))?;
            if let Some(record) = &taken {
                self.discard(key, record).await;
            }
            // An object written at the key itself, around the service, goes too.
            match self.inner.store.delete(&self.path(key)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(error) => Err(OffloadError::from_store(key.as_str(), error)),
            }
        }
        .await;
        names::record("delete", result.as_ref().map(|_| ()));
        result
    }

    /// Readiness: the store answers (a HEAD of a key that need not exist).
    ///
    /// # Errors
    /// [`OffloadError::Unavailable`] with the store's reason.
    pub async fn check(&self) -> Result<(), OffloadError> {
        match self.inner.store.head(&Path::from("ebb-readiness-probe")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => {
                tracing::warn!(%error, "object store readiness check failed");
                Err(OffloadError::Unavailable(error.to_string()))
            }
        }
    }

    pub(crate) fn signer(&self) -> Result<&Arc<dyn Signer>, OffloadError> {
        self.inner.signer.as_ref().ok_or(OffloadError::PresignUnsupported)
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
    let mut builder = AmazonS3Builder::new()
        .with_client_options(options)
        .with_retry(retry)
        .with_http_connector(crate::forward::ForwardingConnector);
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
