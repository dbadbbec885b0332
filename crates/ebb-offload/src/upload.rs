//! Streaming upload: the request body goes to the store part by part, hashed on the way.
//!
//! Memory is bounded by `part_size x (parts_in_flight + 1)` whatever the object's size:
//! the body is read only as fast as parts are accepted. All uploads together stay within
//! the memory budget: each reserves what it buffers, and one that would go over is
//! refused (503) rather than queued, so stalled uploads cannot pile up memory. Objects smaller than one part go up
//! in a single PUT. Whatever goes wrong midway — the client disconnects, the body breaks,
//! the size limit is crossed, the store fails, or the request is dropped — the multipart
//! upload is aborted, so no partial object ever becomes visible.
//!
//! Each upload writes a version of its own (see `commit.rs`): the key's record is
//! swapped to it only once every byte is stored.

use std::time::SystemTime;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use object_store::{Attribute, Attributes, PutMultipartOptions, PutOptions, PutPayload, PutResult, WriteMultipart};
use sha2::{Digest, Sha256};

use crate::commit::new_version;
use crate::metadata::Metadata;
use crate::offload::quote;
use crate::{ObjectKey, Offload, OffloadError, names};

/// The content type recorded when the client sends none.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

impl Offload {
    /// Streams `body` to the object `key` and records its metadata.
    ///
    /// `declared_len` (the request's `Content-Length`) lets an oversized upload be refused
    /// before a byte is stored; the limit is enforced on the bytes actually read as well.
    ///
    /// # Errors
    /// [`OffloadError::TooLarge`], [`OffloadError::Interrupted`] (the body failed),
    /// [`OffloadError::Unavailable`] (the store failed) — each after aborting the upload.
    pub async fn upload<S, E>(
        &self,
        key: &ObjectKey,
        content_type: Option<&str>,
        declared_len: Option<u64>,
        body: S,
    ) -> Result<Metadata, OffloadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let result = self.stream_to_store(key, content_type, declared_len, body).await;
        names::record("upload", result.as_ref().map(|_| ()));
        if let Ok(meta) = &result {
            names::bytes("upload", meta.size);
        }
        result
    }

    async fn stream_to_store<E: std::fmt::Display>(
        &self,
        key: &ObjectKey,
        content_type: Option<&str>,
        declared_len: Option<u64>,
        body: impl Stream<Item = Result<Bytes, E>> + Send,
    ) -> Result<Metadata, OffloadError> {
        let limits = &self.inner.limits;
        let limit = limits.max_size;
        if declared_len.is_some_and(|len| len > limit) {
            return Err(OffloadError::TooLarge { limit });
        }
        let content_type = match content_type {
            None => DEFAULT_CONTENT_TYPE.to_owned(),
            Some(given) => crate::media_type::normalise(given).ok_or_else(not_a_media_type)?,
        };
        let mut attributes = Attributes::new();
        if self.inner.keeps_attributes {
            attributes.insert(Attribute::ContentType, content_type.clone().into());
        }
        let version = new_version();
        let path = key.version_path(&version);
        let store_error = |error| OffloadError::from_store(key.as_str(), error);

        let mut body = std::pin::pin!(body);
        let mut hasher = Sha256::new();
        let mut size = 0_u64;
        let mut reserved = Reservation::new(&self.inner.budget, limits.upload_footprint());
        // The first part is held back: if the body ends within it, one PUT is enough.
        let mut first_part: Vec<Bytes> = Vec::new();
        let mut writer: Option<AbortOnDrop> = None;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => return Err(abort(writer, OffloadError::Interrupted(error.to_string())).await),
            };
            size += chunk.len() as u64;
            if size > limit {
                return Err(abort(writer, OffloadError::TooLarge { limit }).await);
            }
            if !reserved.cover(size) {
                return Err(abort(writer, OffloadError::Busy).await);
            }
            hasher.update(&chunk);
            match writer.as_mut() {
                Some(writer) => {
                    if let Err(error) = writer.get().wait_for_capacity(limits.parts_in_flight).await {
                        return Err(abort(Some(std::mem::take(writer)), store_error(error)).await);
                    }
                    writer.get().put(chunk);
                }
                None => {
                    first_part.push(chunk);
                    if size >= limits.part_size as u64 {
                        let options = PutMultipartOptions { attributes: attributes.clone(), ..Default::default() };
                        let upload = self.inner.store.put_multipart_opts(&path, options).await.map_err(store_error)?;
                        let mut started =
                            AbortOnDrop(Some(WriteMultipart::new_with_chunk_size(upload, limits.part_size)));
                        for chunk in first_part.drain(..) {
                            started.get().put(chunk);
                        }
                        writer = Some(started);
                    }
                }
            }
        }
        let result: PutResult = match writer {
            Some(mut writer) => writer.take().finish().await.map_err(store_error)?,
            None => {
                let payload = PutPayload::from_iter(first_part);
                let options = PutOptions { attributes, ..Default::default() };
                self.inner.store.put_opts(&path, payload, options).await.map_err(store_error)?
            }
        };
        let meta = Metadata {
            key: key.as_str().to_owned(),
            version: Some(version),
            size,
            etag: result.e_tag.as_deref().map(quote),
            sha256: Some(hex(&hasher.finalize())),
            content_type,
            created: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        };
        self.commit(key, meta).await
    }
}

/// The part of the memory budget one upload holds: what it has buffered, up to its
/// footprint. Released when the upload ends, however it ends.
struct Reservation {
    budget: std::sync::Arc<tokio::sync::Semaphore>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    held_kib: u64,
    footprint_kib: u64,
}

impl Reservation {
    fn new(budget: &std::sync::Arc<tokio::sync::Semaphore>, footprint: u64) -> Self {
        Self { budget: budget.clone(), permit: None, held_kib: 0, footprint_kib: footprint.div_ceil(1024) }
    }

    /// Grows the reservation to cover `buffered` bytes (capped at the footprint); `false`
    /// when the budget cannot.
    fn cover(&mut self, buffered: u64) -> bool {
        let need = buffered.div_ceil(1024).min(self.footprint_kib);
        if need <= self.held_kib {
            return true;
        }
        let Ok(more) = u32::try_from(need - self.held_kib) else { return false };
        match self.budget.clone().try_acquire_many_owned(more) {
            Ok(permit) => {
                match &mut self.permit {
                    Some(held) => held.merge(permit),
                    None => self.permit = Some(permit),
                }
                self.held_kib = need;
                true
            }
            Err(_) => false,
        }
    }
}

/// Aborts the multipart upload (if one started) and hands back `error`.
async fn abort(writer: Option<AbortOnDrop>, error: OffloadError) -> OffloadError {
    if let Some(mut writer) = writer
        && let Err(abort_error) = writer.take().abort().await
    {
        tracing::warn!(
            "could not abort a multipart upload ({abort_error}); the store's lifecycle rules must clean it up"
        );
    }
    error
}

/// Owns a multipart upload; dropping it unfinished (the request future was dropped) aborts
/// the upload in the background.
#[derive(Default)]
struct AbortOnDrop(Option<WriteMultipart>);

impl AbortOnDrop {
    fn get(&mut self) -> &mut WriteMultipart {
        self.0.as_mut().expect("the upload is present until taken")
    }

    fn take(&mut self) -> WriteMultipart {
        self.0.take().expect("the upload is taken once")
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let (Some(writer), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(async move {
                if let Err(error) = writer.abort().await {
                    tracing::warn!("could not abort a dropped multipart upload: {error}");
                }
            });
        }
    }
}

/// Lowercase hex, as SHA-256 digests are shown and compared.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The answer to a `Content-Type` that is not a media type (its value is not repeated).
pub(crate) fn not_a_media_type() -> OffloadError {
    OffloadError::BadRequest(
        "the Content-Type is not a media type: one `type/subtype`, such as `image/png` or \
         `text/plain; charset=utf-8`"
            .to_owned(),
    )
}
