//! Streaming download: ranges, entity tags, never a whole object in memory.

use std::ops::Range;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::{GetOptions, GetRange};

use crate::metadata::Metadata;
use crate::{ObjectKey, Offload, OffloadError, names, range};

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
    /// The object's metadata.
    pub meta: Metadata,
    /// The byte range sent, when a `Range` was honoured (206); else the whole object.
    pub range: Option<Range<u64>>,
    /// The bytes, read from the store as the client reads them.
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
        let meta = self.lookup(key).await?;
        if let (Some(wanted), Some(etag)) = (if_none_match, meta.etag.as_deref()) {
            if etag_matches(wanted, etag) {
                return Ok(Fetched::NotModified(meta));
            }
        }
        let range = range::parse(range_header, meta.size)
            .map_err(|()| OffloadError::RangeNotSatisfiable { size: meta.size })?;
        let options = GetOptions { range: range.clone().map(GetRange::Bounded), ..GetOptions::default() };
        let result = self
            .inner
            .store
            .get_opts(&self.path(key), options)
            .await
            .map_err(|e| OffloadError::from_store(key.as_str(), e))?;
        let body = result
            .into_stream()
            .inspect(|chunk| {
                if let Ok(chunk) = chunk {
                    names::bytes("download", chunk.len() as u64);
                }
            })
            .boxed();
        Ok(Fetched::Content(Download { meta, range, body }))
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
