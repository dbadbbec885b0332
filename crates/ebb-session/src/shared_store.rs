//! The store a composition root picks at start-up.

use async_trait::async_trait;
use ebb_redis::Redis;
use tower_sessions::MemoryStore;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use crate::RedisSessionStore;

/// Sessions in Redis, or in this process: what a composition root picks at start-up
/// (Redis when the process has it, the in-process `MemoryStore`, one replica only, when it
/// does not). One type either way, so the session layer is the same type in both cases.
#[derive(Clone, Debug)]
pub enum SharedStore {
    /// Shared by every replica.
    Redis(RedisSessionStore),
    /// This process only: sessions are lost on restart and unknown to other replicas.
    Memory(MemoryStore),
}

impl SharedStore {
    /// Redis when `redis` is given, memory otherwise.
    pub fn new(redis: Option<&Redis>) -> Self {
        match redis {
            Some(redis) => Self::Redis(RedisSessionStore::new(redis.clone())),
            None => Self::Memory(MemoryStore::default()),
        }
    }

    /// Whether sessions live in this process only.
    pub fn is_in_process(&self) -> bool {
        matches!(self, Self::Memory(_))
    }
}

#[async_trait]
impl SessionStore for SharedStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Self::Redis(store) => store.create(record).await,
            Self::Memory(store) => store.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Self::Redis(store) => store.save(record).await,
            Self::Memory(store) => store.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Self::Redis(store) => store.load(id).await,
            Self::Memory(store) => store.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Self::Redis(store) => store.delete(id).await,
            Self::Memory(store) => store.delete(id).await,
        }
    }
}
