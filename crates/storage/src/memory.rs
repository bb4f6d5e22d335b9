//! In-memory store, for tests.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

use async_trait::async_trait;
use bytes::Bytes;

use crate::key::validate_prefix;
use crate::{
    LIST_PAGE_SIZE, ListPage, ObjectMeta, ObjectStore, PutOptions, StorageError, validate_key,
};

/// Objects in a sorted map. Validates keys like the other backends, so tests
/// against it catch the same mistakes.
#[derive(Debug, Default)]
pub struct MemoryStore {
    objects: RwLock<BTreeMap<String, Bytes>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn poisoned() -> StorageError {
        StorageError::Failed {
            message: "memory store lock poisoned".into(),
        }
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    async fn put(&self, key: &str, body: Bytes, _options: &PutOptions) -> Result<(), StorageError> {
        validate_key(key)?;
        self.objects
            .write()
            .map_err(|_| Self::poisoned())?
            .insert(key.to_owned(), body);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        validate_key(key)?;
        self.objects
            .read()
            .map_err(|_| Self::poisoned())?
            .get(key)
            .cloned()
            .ok_or_else(|| StorageError::NotFound {
                key: key.to_owned(),
            })
    }

    async fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<ListPage, StorageError> {
        validate_prefix(prefix)?;
        let objects = self.objects.read().map_err(|_| Self::poisoned())?;
        let lower = match start_after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let mut page: Vec<ObjectMeta> = objects
            .range::<str, _>((lower, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(LIST_PAGE_SIZE + 1)
            .map(|(k, v)| ObjectMeta {
                key: k.clone(),
                size: v.len() as u64,
            })
            .collect();
        let is_truncated = page.len() > LIST_PAGE_SIZE;
        page.truncate(LIST_PAGE_SIZE);
        Ok(ListPage {
            objects: page,
            is_truncated,
        })
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        self.objects
            .write()
            .map_err(|_| Self::poisoned())?
            .remove(key);
        Ok(())
    }
}
