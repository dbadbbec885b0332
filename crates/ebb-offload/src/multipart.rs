//! Presigned multipart uploads, for browsers and clients sending objects too big for one
//! `PUT`: the service creates the upload (for a fresh version of the key), signs one URL
//! per part, and completes or aborts it; the parts go straight to the store.
//!
//! Completion reads the object's true size from the store: above the size limit it is
//! deleted (413), else the key's record is swapped to it, as for any upload. Abandoned
//! uploads hold storage until aborted: configure the bucket's lifecycle rule
//! `AbortIncompleteMultipartUpload` (for example after 1 day), which every S3 implements.

use http::Method;
use object_store::ObjectStoreExt;
use object_store::multipart::PartId;
use object_store::signer::SignedUrlOptions;
use serde::Serialize;

use crate::commit::new_version;
use crate::metadata::Metadata;
use crate::presign::{PresignedUrl, check_version};
use crate::{ObjectKey, Offload, OffloadError, names};

/// The most parts an S3 multipart upload may have.
pub const MAX_PARTS: u32 = 10_000;

/// A multipart upload in progress: name both ids in every later call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MultipartUpload {
    /// The version the object will be.
    pub version: String,
    /// The store's id of the upload.
    pub upload_id: String,
}

impl Offload {
    /// Starts a multipart upload of a new version of `key`.
    ///
    /// # Errors
    /// [`OffloadError::PresignUnsupported`] without an S3 store, or a store failure.
    pub async fn start_multipart(&self, key: &ObjectKey) -> Result<MultipartUpload, OffloadError> {
        let result = async {
            let store = self.inner.multipart.clone().ok_or(OffloadError::PresignUnsupported)?;
            let version = new_version();
            let upload_id = store
                .create_multipart(&key.version_path(&version))
                .await
                .map_err(|e| OffloadError::from_store(key.as_str(), e))?;
            Ok(MultipartUpload { version, upload_id })
        }
        .await;
        names::record("multipart_start", result.as_ref().map(|_| ()));
        result
    }

    /// A `PUT` URL for part `part_number` (1 to 10 000) of an upload.
    ///
    /// # Errors
    /// [`OffloadError::BadRequest`] for a bad part number or ids, or a store failure.
    pub async fn presign_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartUpload,
        part_number: u32,
    ) -> Result<PresignedUrl, OffloadError> {
        let result = async {
            check_ids(upload)?;
            if !(1..=MAX_PARTS).contains(&part_number) {
                return Err(OffloadError::BadRequest(format!("part numbers go from 1 to {MAX_PARTS}")));
            }
            let signer = self.signer()?.clone();
            let query = [("partNumber", part_number.to_string()), ("uploadId", upload.upload_id.clone())];
            let options = SignedUrlOptions::new().with_query(query);
            let url = signer
                .signed_url_opts(
                    Method::PUT,
                    &key.version_path(&upload.version),
                    self.inner.limits.url_expiry,
                    &options,
                )
                .await
                .map_err(|e| OffloadError::from_store(key.as_str(), e))?;
            Ok(PresignedUrl { url: url.to_string(), method: "PUT".to_owned(), expires_at: self.expires_at() })
        }
        .await;
        names::record("presign", result.as_ref().map(|_| ()));
        result
    }

    /// Completes an upload from the `ETag`s the store answered for each part, in part
    /// order, and makes it the object of `key`.
    ///
    /// # Errors
    /// [`OffloadError::BadRequest`] for no parts or bad ids, [`OffloadError::Conflict`] when
    /// the store refuses the parts, [`OffloadError::TooLarge`] (the object is deleted), or a
    /// store failure.
    pub async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload: &MultipartUpload,
        part_etags: Vec<String>,
    ) -> Result<Metadata, OffloadError> {
        let result = async {
            check_ids(upload)?;
            let store = self.inner.multipart.clone().ok_or(OffloadError::PresignUnsupported)?;
            if part_etags.is_empty() || part_etags.len() > MAX_PARTS as usize {
                return Err(OffloadError::BadRequest(format!("name the ETag of each part, 1 to {MAX_PARTS}")));
            }
            let parts = part_etags.into_iter().map(|content_id| PartId { content_id }).collect();
            let path = key.version_path(&upload.version);
            if let Err(error) = store.complete_multipart(&path, &upload.upload_id, parts).await {
                tracing::warn!(key = %key, %error, "completing a multipart upload failed");
                // Completed after all (a repeat, or a reply lost on the way)? Else the
                // client's ids or ETags were wrong if the store answers, or the store is down.
                match self.inner.store.head(&path).await {
                    Ok(_) => {}
                    Err(object_store::Error::NotFound { .. }) => {
                        return Err(OffloadError::Conflict(
                            "the store refused to complete the upload: check the upload id and each part's ETag"
                                .to_owned(),
                        ));
                    }
                    Err(other) => return Err(OffloadError::from_store(key.as_str(), other)),
                }
            }
            self.adopt(key, &upload.version).await
        }
        .await;
        names::record("multipart_complete", result.as_ref().map(|_| ()));
        result
    }

    /// Aborts an upload: its parts are deleted and nothing becomes visible.
    ///
    /// # Errors
    /// A store failure.
    pub async fn abort_multipart(&self, key: &ObjectKey, upload: &MultipartUpload) -> Result<(), OffloadError> {
        let result = async {
            check_ids(upload)?;
            let store = self.inner.multipart.clone().ok_or(OffloadError::PresignUnsupported)?;
            match store.abort_multipart(&key.version_path(&upload.version), &upload.upload_id).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(error) => Err(OffloadError::from_store(key.as_str(), error)),
            }
        }
        .await;
        names::record("multipart_abort", result.as_ref().map(|_| ()));
        result
    }
}

fn check_ids(upload: &MultipartUpload) -> Result<(), OffloadError> {
    check_version(&upload.version)?;
    let id = &upload.upload_id;
    if id.is_empty() || id.len() > 1024 || id.chars().any(|c| c.is_control()) {
        return Err(OffloadError::BadRequest("the upload id is not one the store issued".to_owned()));
    }
    Ok(())
}
