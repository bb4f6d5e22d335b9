//! In-memory store, for tests.

use std::collections::BTreeMap;
use std::ops::{Bound, Range};
use std::sync::RwLock;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{
    KeyPrefix, LIST_PAGE_SIZE, ListPage, ObjectKey, ObjectMeta, ObjectStore, PutOptions,
    StorageError,
};

/// Objects in a sorted map, ordered like S3 lists them.
#[derive(Debug, Default)]
pub struct MemoryStore {
    objects: RwLock<BTreeMap<ObjectKey, Bytes>>,
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
    async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        _options: &PutOptions,
    ) -> Result<(), StorageError> {
        self.objects
            .write()
            .map_err(|_| Self::poisoned())?
            .insert(key.clone(), body);
        Ok(())
    }

    async fn get(&self, key: &ObjectKey) -> Result<Bytes, StorageError> {
        self.objects
            .read()
            .map_err(|_| Self::poisoned())?
            .get(key.as_str())
            .cloned()
            .ok_or_else(|| StorageError::NotFound {
                key: key.to_string(),
            })
    }

    async fn get_range(&self, key: &ObjectKey, range: Range<u64>) -> Result<Bytes, StorageError> {
        let body = self.get(key).await?;
        Ok(body.slice(crate::clamp(&range, body.len())))
    }

    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta, StorageError> {
        let body = self.get(key).await?;
        Ok(ObjectMeta {
            key: key.clone(),
            size: body.len() as u64,
        })
    }

    async fn list_page(
        &self,
        prefix: &KeyPrefix,
        start_after: Option<&str>,
    ) -> Result<ListPage, StorageError> {
        let prefix = prefix.as_str();
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
            last_key: page.last().map(|o| o.key.to_string()),
            objects: page,
            is_truncated,
        })
    }

    async fn list_dirs(&self, prefix: &KeyPrefix) -> Result<Vec<String>, StorageError> {
        let objects = self.objects.read().map_err(|_| Self::poisoned())?;
        let prefix = prefix.as_str();
        let mut dirs: Vec<String> = Vec::new();
        for key in objects
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .map(|(k, _)| k.as_str())
            .take_while(|k| k.starts_with(prefix))
        {
            if let Some(i) = key[prefix.len()..].find('/') {
                let dir = &key[..prefix.len() + i + 1];
                if dirs.last().map(String::as_str) != Some(dir) {
                    dirs.push(dir.to_owned());
                }
            }
        }
        Ok(dirs)
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        self.objects
            .write()
            .map_err(|_| Self::poisoned())?
            .remove(key.as_str());
        Ok(())
    }
}
