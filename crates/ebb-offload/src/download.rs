//! Streaming download: ranges, entity tags, never a whole object in memory — and never a
//! header that describes other bytes than those sent.
//!
//! The store is the source of truth for the bytes, their size and their entity tag: a
//! download asks the store (`HEAD`), then reads exactly that object (`GET` with `If-Match`
//! on its tag). The record adds what the store does not keep (SHA-256, content type) only
//! when it describes those very bytes (same size and tag). The body is checked on the way
//! (see `verify.rs`).

use std::ops::Range;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::path::Path;
use object_store::{Attribute, GetOptions, GetRange, ObjectMeta};

use crate::metadata::Metadata;
use crate::offload::quote;
use crate::verify::Verified;
use crate::{ObjectKey, Offload, OffloadError, names, range};

/// How often a read starts over when the key's object is replaced under it.
const ATTEMPTS: usize = 3;

/// What a download found.
#[non_exhaustive]
pub enum Fetched {
    /// The client's copy is current (`If-None-Match` matched): answer 304.
    NotModified(Metadata),
    /// The bytes, streaming from the store.
    Content(Download),
}

/// A download in progress.
#[non_exhaustive]
pub struct Download {
    /// The object as served: size and entity tag from the store itself.
    pub meta: Metadata,
    /// The byte range sent, when a `Range` was honoured (206); else the whole object.
    pub range: Option<Range<u64>>,
    /// The bytes, read from the store as the client reads them, checked against `meta`.
    pub body: BoxStream<'static, Result<Bytes, object_store::Error>>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download").field("meta", &self.meta).field("range", &self.range).finish_non_exhaustive()
    }
}

impl Download {
    /// Bytes in the body.
    pub fn content_length(&self) -> u64 {
        self.range.as_ref().map_or(self.meta.size, |r| r.end - r.start)
    }
}

/// Where the key's bytes are and what to announce about them.
pub(crate) struct Located {
    pub(crate) path: Path,
    pub(crate) head: ObjectMeta,
    pub(crate) meta: Metadata,
}

impl Offload {
    /// Opens `key` for reading, honouring a `Range` header (single byte range) and
    /// `If-None-Match`.
    ///
    /// # Errors
    /// [`OffloadError::NotFound`], [`OffloadError::RangeNotSatisfiable`], or a store failure.
    pub async fn download(
        &self,
        key: &ObjectKey,
        range_header: Option<&str>,
        if_none_match: Option<&str>,
    ) -> Result<Fetched, OffloadError> {
        let result = self.download_inner(key, range_header, if_none_match).await;
        names::record("download", result.as_ref().map(|_| ()));
        result
    }

    async fn download_inner(
        &self,
        key: &ObjectKey,
        range_header: Option<&str>,
        if_none_match: Option<&str>,
    ) -> Result<Fetched, OffloadError> {
        for _ in 0..ATTEMPTS {
            let Some(Located { path, head, meta }) = self.locate(key).await? else { continue };
            if let (Some(wanted), Some(etag)) = (if_none_match, meta.etag.as_deref())
                && etag_matches(wanted, etag)
            {
                return Ok(Fetched::NotModified(meta));
            }
            let range = range::parse(range_header, meta.size)
                .map_err(|()| OffloadError::RangeNotSatisfiable { size: meta.size })?;
            let options = GetOptions {
                range: range.clone().map(GetRange::Bounded),
                // Exactly the object the headers describe; replaced meanwhile: start over.
                if_match: head.e_tag.clone(),
                ..GetOptions::default()
            };
            let result = match self.inner.store.get_opts(&path, options).await {
                Ok(result) => result,
                Err(object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. }) => continue,
                Err(error) => return Err(OffloadError::from_store(key.as_str(), error)),
            };
            if result.meta.size != meta.size {
                continue;
            }
            let mut meta = meta;
            let length = range.as_ref().map_or(meta.size, |r| r.end - r.start);
            if range.is_some() {
                // The checksum is the whole object's: a part must not announce it.
                meta.sha256 = None;
            }
            let sha256 = meta.sha256.clone();
            let body = result
                .into_stream()
                .inspect(|chunk| {
                    if let Ok(chunk) = chunk {
                        names::bytes("download", chunk.len() as u64);
                    }
                })
                .boxed();
            let body = Verified::new(body, key.as_str(), length, sha256).boxed();
            return Ok(Fetched::Content(Download { meta, range, body }));
        }
        tracing::warn!(key = %key, "the object kept changing while it was being read");
        Err(OffloadError::Unavailable("the object kept changing while it was being read".to_owned()))
    }

    /// The key's current object, as the store has it: `Ok(None)` when it vanished between
    /// reading the record and asking the store (replaced; the caller asks again).
    pub(crate) async fn locate(&self, key: &ObjectKey) -> Result<Option<Located>, OffloadError> {
        let record =
            self.inner.metadata.get(key.as_str()).await.map_err(|e| OffloadError::from_metadata(key.as_str(), e))?;
        let path = match record.as_ref().and_then(|r| r.version.as_deref()) {
            Some(version) => key.version_path(version),
            // No record: an object written at the key itself, around the service.
            None => self.path(key),
        };
        let options = GetOptions { head: true, ..GetOptions::default() };
        let found = match self.inner.store.get_opts(&path, options).await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) if record.is_some() => return Ok(None),
            Err(error) => return Err(OffloadError::from_store(key.as_str(), error)),
        };
        let store_type = found.attributes.get(&Attribute::ContentType).map(|t| t.as_ref().to_owned());
        let head = found.meta;
        let meta = described(key, record, &head, store_type);
        Ok(Some(Located { path, head, meta }))
    }
}

/// What to announce about `head`'s bytes: the store's size and tag; the record's SHA-256 and
/// content type only when the record describes these very bytes.
fn described(key: &ObjectKey, record: Option<Metadata>, head: &ObjectMeta, store_type: Option<String>) -> Metadata {
    let etag = head.e_tag.as_deref().map(quote);
    let created = humantime::format_rfc3339_seconds(std::time::SystemTime::from(head.last_modified)).to_string();
    match record {
        Some(record) if record.size == head.size && (record.etag.is_none() || record.etag == etag) => {
            Metadata { etag, ..record }
        }
        record => {
            if record.is_some() {
                tracing::warn!(key = %key, "the stored bytes differ from their record; serving what the store holds");
            }
            Metadata {
                key: key.as_str().to_owned(),
                version: record.and_then(|r| r.version),
                size: head.size,
                etag,
                sha256: None,
                // The store's own content type, if it keeps one.
                content_type: store_type
                    .and_then(|t| crate::media_type::normalise(&t))
                    .unwrap_or_else(|| crate::DEFAULT_CONTENT_TYPE.to_owned()),
                created,
            }
        }
    }
}

/// `If-None-Match: "a", W/"b"` against our (strong) tag; `*` matches anything.
fn etag_matches(header: &str, etag: &str) -> bool {
    let ours = etag.trim_start_matches("W/");
    header.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
}

#[cfg(test)]
mod tests {
    use super::etag_matches;

    #[test]
    fn weak_comparison_as_rfc_9110_says_for_if_none_match() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("W/\"abc\", \"def\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }
}
