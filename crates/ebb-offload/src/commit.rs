//! The commit point of every write: the record swap. Bytes go to a fresh version path
//! first; only the atomic swap of the key's record makes them the key's object. So a key
//! always names one whole version, and concurrent writers cannot mix: the last swap wins,
//! and its record describes its own bytes.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use object_store::ObjectStoreExt;

use crate::metadata::Metadata;
use crate::{ObjectKey, Offload, OffloadError};

impl Offload {
    /// Makes `meta` (whose bytes are already at its version's path) the object of `key`,
    /// then deletes the bytes of the version it replaced.
    ///
    /// # Errors
    /// The metadata store refused: the new bytes are deleted and the key is as it was
    /// ([`OffloadError::Metadata`]). The swap was sent but not confirmed: nothing is deleted,
    /// since the new version may be the key's object now ([`OffloadError::OutcomeUnknown`]).
    pub(crate) async fn commit(&self, key: &ObjectKey, meta: Metadata) -> Result<Metadata, OffloadError> {
        match self.inner.metadata.swap(&meta).await {
            Ok(replaced) => {
                // A retried swap (a Cluster client retries on timeouts) can hand back our
                // own record: never delete the bytes the key now names.
                if let Some(old) = replaced.filter(|old| old.version != meta.version) {
                    self.discard(key, &old).await;
                }
                Ok(meta)
            }
            Err(error) => {
                let error = OffloadError::from_metadata(key.as_str(), error);
                if !matches!(error, OffloadError::OutcomeUnknown) {
                    self.discard(key, &meta).await;
                }
                Err(error)
            }
        }
    }

    /// Deletes the bytes of a version no record names any more (best effort: a failure
    /// leaves an unreferenced object, never a wrong one).
    pub(crate) async fn discard(&self, key: &ObjectKey, old: &Metadata) {
        let Some(version) = &old.version else { return };
        match self.inner.store.delete(&key.version_path(version)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => tracing::warn!(key = %key, version, %error, "could not delete a replaced version"),
        }
    }
}

/// A version id no other upload, on any replica, will take: the time in nanoseconds (so
/// versions sort by age) and 64 random bits.
pub(crate) fn new_version() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    // std's RandomState is seeded from the OS's randomness once per process.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(nanos);
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    format!("{:024x}{:016x}", nanos, hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::new_version;

    #[test]
    fn versions_are_unique_and_sort_by_age() {
        let versions: Vec<String> = (0..1000).map(|_| new_version()).collect();
        let unique: std::collections::HashSet<_> = versions.iter().collect();
        assert_eq!(unique.len(), versions.len());
        assert!(versions.windows(2).all(|w| w[0][..24] <= w[1][..24]));
    }
}
