use std::collections::HashMap;
use std::sync::RwLock;

use futures_util::future::{BoxFuture, FutureExt};

use super::{Metadata, MetadataError, MetadataStore};

/// Metadata in this process: lost on restart and not shared, so for one replica only.
#[derive(Debug, Default)]
pub struct MemoryMetadata {
    entries: RwLock<HashMap<String, Metadata>>,
}

impl MemoryMetadata {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl MetadataStore for MemoryMetadata {
    fn swap<'a>(&'a self, meta: &'a Metadata) -> BoxFuture<'a, Result<Option<Metadata>, MetadataError>> {
        let old = self.entries.write().unwrap_or_else(|e| e.into_inner()).insert(meta.key.clone(), meta.clone());
        futures_util::future::ready(Ok(old)).boxed()
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Metadata>, MetadataError>> {
        let found = self.entries.read().unwrap_or_else(|e| e.into_inner()).get(key).cloned();
        futures_util::future::ready(Ok(found)).boxed()
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Metadata>, MetadataError>> {
        let old = self.entries.write().unwrap_or_else(|e| e.into_inner()).remove(key);
        futures_util::future::ready(Ok(old)).boxed()
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
