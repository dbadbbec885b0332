//! Presigned URLs: big transfers go straight between the client and the store, never
//! through (or holding up the drain of) the service.
//!
//! - **Download**: a `GET` URL for the key's current version.
//! - **Upload**: the client says the size first (above the limit: 413, no URL); the URL is
//!   for a fresh version. The object becomes the key's only when the client calls
//!   [`Offload::complete_upload`]: the service reads its true size and tag from the store,
//!   deletes it if it is over the size limit (413), and swaps the record, as for an upload
//!   through the service. Never completed, it is never served.
//!
//!   object_store will not sign `Content-Length` (it reserves the header), so the store
//!   itself accepts a longer body; the completion check is what bounds what can become
//!   visible: an object over the limit is deleted at completion and never served.

use std::time::SystemTime;

use http::{HeaderValue, Method, header};
use object_store::signer::SignedUrlOptions;
use object_store::{Attribute, GetOptions, ObjectStoreExt};
use serde::Serialize;

use crate::commit::new_version;
use crate::metadata::Metadata;
use crate::offload::quote;
use crate::{ObjectKey, Offload, OffloadError, names};

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

/// A presigned upload: `PUT` the bytes to `url` with exactly these `headers`, then complete
/// it with `version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PresignedUpload {
    /// The URL, with its signature.
    pub url: String,
    /// Always `PUT`.
    pub method: String,
    /// When it stops working, RFC 3339.
    pub expires_at: String,
    /// The version the bytes go to; name it when completing.
    pub version: String,
    /// Headers the request must carry as they are (they are part of the signature).
    pub headers: std::collections::BTreeMap<String, String>,
}

impl Offload {
    /// A `GET` URL for the current version of `key`.
    ///
    /// # Errors
    /// [`OffloadError::NotFound`], [`OffloadError::PresignUnsupported`] for a local
    /// directory, or a store failure.
    pub async fn presign_download(&self, key: &ObjectKey) -> Result<PresignedUrl, OffloadError> {
        let result = async {
            let signer = self.signer()?.clone();
            let located = self.locate(key).await?.ok_or_else(|| OffloadError::NotFound(key.as_str().to_owned()))?;
            let expiry = self.inner.limits.url_expiry;
            let url = signer
                .signed_url(Method::GET, &located.path, expiry)
                .await
                .map_err(|e| OffloadError::from_store(key.as_str(), e))?;
            Ok(PresignedUrl { url: url.to_string(), method: "GET".to_owned(), expires_at: self.expires_at() })
        }
        .await;
        names::record("presign", result.as_ref().map(|_| ()));
        result
    }

    /// A `PUT` URL for `size` bytes of a new version of `key`.
    ///
    /// # Errors
    /// [`OffloadError::TooLarge`] above the size limit, [`OffloadError::PresignUnsupported`]
    /// for a local directory, or a store failure.
    pub async fn presign_upload(
        &self,
        key: &ObjectKey,
        size: u64,
        content_type: Option<&str>,
    ) -> Result<PresignedUpload, OffloadError> {
        let result = async {
            let signer = self.signer()?.clone();
            let limit = self.inner.limits.max_size;
            if size > limit {
                return Err(OffloadError::TooLarge { limit });
            }
            let version = new_version();
            let mut options = SignedUrlOptions::new();
            let mut headers = std::collections::BTreeMap::from([("content-length".to_owned(), size.to_string())]);
            if let Some(given) = content_type {
                let normal = crate::media_type::normalise(given).ok_or_else(crate::upload::not_a_media_type)?;
                let value = HeaderValue::from_str(&normal).map_err(|_| crate::upload::not_a_media_type())?;
                options = options.with_signed_header(header::CONTENT_TYPE, value);
                headers.insert("content-type".to_owned(), normal);
            }
            let url = signer
                .signed_url_opts(Method::PUT, &key.pending_path(&version), self.inner.limits.url_expiry, &options)
                .await
                .map_err(|e| OffloadError::from_store(key.as_str(), e))?;
            Ok(PresignedUpload {
                url: url.to_string(),
                method: "PUT".to_owned(),
                expires_at: self.expires_at(),
                version,
                headers,
            })
        }
        .await;
        names::record("presign", result.as_ref().map(|_| ()));
        result
    }

    /// Makes the bytes uploaded to `version` (with a presigned URL) the object of `key`, with
    /// the size and tag the store reports. Completing again answers the same.
    ///
    /// # Errors
    /// [`OffloadError::BadRequest`] for a malformed version, [`OffloadError::Conflict`] when
    /// nothing was uploaded to it, [`OffloadError::TooLarge`] (the bytes are deleted), or a
    /// store failure.
    pub async fn complete_upload(&self, key: &ObjectKey, version: &str) -> Result<Metadata, OffloadError> {
        let result = async {
            check_version(version)?;
            if let Some(current) = self.completed(key, version).await? {
                return Ok(current);
            }
            let pending = key.pending_path(version);
            let head = match self.inner.store.head(&pending).await {
                Ok(head) => head,
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(OffloadError::Conflict(format!(
                        "nothing is waiting to be completed for version {version} of `{key}`: PUT the bytes to the \
                         upload URL first (a completed upload cannot be completed into another object)"
                    )));
                }
                Err(error) => return Err(OffloadError::from_store(key.as_str(), error)),
            };
            let limit = self.inner.limits.max_size;
            if head.size > limit {
                self.forget(&pending).await;
                return Err(OffloadError::TooLarge { limit });
            }
            // Copied, not renamed in place: the URL may be used again, but only ever writes
            // to the pending path, never to a served version.
            let store_error = |e| OffloadError::from_store(key.as_str(), e);
            self.inner.store.copy(&pending, &key.version_path(version)).await.map_err(store_error)?;
            self.forget(&pending).await;
            self.adopt(key, version).await
        }
        .await;
        names::record("complete", result.as_ref().map(|_| ()));
        result
    }

    /// The key's record, when it already names `version` (a completion repeated).
    pub(crate) async fn completed(&self, key: &ObjectKey, version: &str) -> Result<Option<Metadata>, OffloadError> {
        let current =
            self.inner.metadata.get(key.as_str()).await.map_err(|e| OffloadError::from_metadata(key.as_str(), e))?;
        Ok(current.filter(|current| current.version.as_deref() == Some(version)))
    }

    /// Makes the bytes at `version`'s path the object of `key`: size and tag from the store,
    /// the size limit enforced (over it, the bytes are deleted).
    pub(crate) async fn adopt(&self, key: &ObjectKey, version: &str) -> Result<Metadata, OffloadError> {
        if let Some(current) = self.completed(key, version).await? {
            return Ok(current);
        }
        let options = GetOptions { head: true, ..GetOptions::default() };
        let found = self
            .inner
            .store
            .get_opts(&key.version_path(version), options)
            .await
            .map_err(|e| OffloadError::from_store(key.as_str(), e))?;
        let meta = Metadata {
            key: key.as_str().to_owned(),
            version: Some(version.to_owned()),
            size: found.meta.size,
            etag: found.meta.e_tag.as_deref().map(quote),
            sha256: None,
            // What the client sent to the store, normalised (it chose it if unsigned).
            content_type: found
                .attributes
                .get(&Attribute::ContentType)
                .and_then(|t| crate::media_type::normalise(t.as_ref()))
                .unwrap_or_else(|| crate::DEFAULT_CONTENT_TYPE.to_owned()),
            created: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        };
        let limit = self.inner.limits.max_size;
        if meta.size > limit {
            self.discard(key, &meta).await;
            return Err(OffloadError::TooLarge { limit });
        }
        self.commit(key, meta).await
    }

    async fn forget(&self, path: &object_store::path::Path) {
        if let Err(error) = self.inner.store.delete(path).await {
            tracing::warn!(%path, %error, "could not delete a completed presigned upload");
        }
    }

    pub(crate) fn expires_at(&self) -> String {
        humantime::format_rfc3339_seconds(SystemTime::now() + self.inner.limits.url_expiry).to_string()
    }
}

/// Versions are ours: 40 lowercase hex digits (see `commit.rs`).
pub(crate) fn check_version(version: &str) -> Result<(), OffloadError> {
    if version.len() == 40 && version.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(OffloadError::BadRequest("the version is not one this service issued".to_owned()))
    }
}
