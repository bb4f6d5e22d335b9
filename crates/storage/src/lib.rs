//! Generic object storage: a small [`ObjectStore`] trait (put, get, list a
//! page by prefix, delete) with three backends — [`FsStore`] (the default,
//! a local directory), [`MemoryStore`] (tests) and [`S3Store`] (any
//! S3-compatible service) — and [`StorageUrl`], which names one of them.
//!
//! Keys are typed ([`ObjectKey`], [`KeyPrefix`]) and validated once when
//! made, so no key a backend is given can escape its root. What the keys
//! mean (the archive layout) is not this crate's business.

mod error;
mod fs;
mod memory;
mod path;
mod s3;
mod url;

use std::fmt;
use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

pub use error::StorageError;
pub use fs::FsStore;
pub use memory::MemoryStore;
pub use path::{KeyPrefix, ObjectKey};
pub use s3::{S3Options, S3Store, S3Timeouts};
pub use url::StorageUrl;

/// The most keys one [`ObjectStore::list_page`] call returns (S3's page size).
pub const LIST_PAGE_SIZE: usize = 1000;

/// How an object is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// `Content-Type` metadata (`application/json`, `application/x-protobuf`).
    pub content_type: Option<String>,
    /// `Content-Encoding` metadata (`gzip`, `zstd`), so that S3 clients that
    /// honour it can read the object.
    pub content_encoding: Option<String>,
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The key, relative to the store's root.
    pub key: ObjectKey,
    /// Size in bytes.
    pub size: u64,
}

/// `range` clamped to an object of `len` bytes, as indices into it.
pub(crate) fn clamp(range: &Range<u64>, len: usize) -> Range<usize> {
    let len64 = len as u64;
    let start = range.start.min(len64) as usize;
    let end = range.end.clamp(range.start.min(len64), len64) as usize;
    start..end
}

/// One page of a listing, in ascending key order (byte order, as S3 lists).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Up to [`LIST_PAGE_SIZE`] objects.
    pub objects: Vec<ObjectMeta>,
    /// True when more keys follow the last one of this page.
    pub is_truncated: bool,
    /// The last key this page covered, including one left out as invalid:
    /// the next page starts after it.
    pub last_key: Option<String>,
}

/// The storage operations otelvault needs. Keys are `/`-separated and
/// relative to the store's root (an S3 prefix or a directory); their types
/// guarantee that they cannot escape that root.
#[async_trait]
pub trait ObjectStore: Send + Sync + fmt::Debug {
    /// Writes `body` at `key`, replacing any object there. Returns only once
    /// the object is durably stored.
    async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        options: &PutOptions,
    ) -> Result<(), StorageError>;

    /// Reads the whole object at `key`.
    async fn get(&self, key: &ObjectKey) -> Result<Bytes, StorageError>;

    /// Reads the bytes `range` of the object at `key` (offsets, end
    /// excluded), clamped to the object: shorter at its end, empty past it.
    /// An empty range reads nothing. A missing object is `NotFound`.
    async fn get_range(&self, key: &ObjectKey, range: Range<u64>) -> Result<Bytes, StorageError>;

    /// The size of the object at `key` (`NotFound` when there is none).
    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta, StorageError>;

    /// Lists up to [`LIST_PAGE_SIZE`] keys that start with `prefix` and sort
    /// after `start_after`, in ascending byte order. `prefix` need not end at
    /// a `/`. Objects whose names are not valid keys (written by other
    /// tools) are left out.
    async fn list_page(
        &self,
        prefix: &KeyPrefix,
        start_after: Option<&str>,
    ) -> Result<ListPage, StorageError>;

    /// Deletes the object at `key`; deleting a missing object succeeds.
    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError>;

    /// The "directories" right below `prefix` (which is empty or ends in
    /// `/`): the distinct `prefix…/` that start at least one key, in
    /// ascending order, as S3 lists common prefixes with a `/` delimiter.
    /// Walking a hierarchy this way costs one call per level, not one per
    /// possible name.
    async fn list_dirs(&self, prefix: &KeyPrefix) -> Result<Vec<String>, StorageError>;

    /// Checks with one cheap call that the store can be reached and listed
    /// (the bucket exists, the credentials are accepted, the directory is
    /// readable), so that a misconfiguration shows at start.
    async fn check(&self) -> Result<(), StorageError> {
        self.list_page(&KeyPrefix::ROOT, None).await.map(|_| ())
    }

    /// Removes what writers killed mid-write left under `prefix` (the
    /// temporary files of a directory store, once older than any write
    /// takes); how many. A store whose writes leave nothing behind has
    /// nothing to do.
    async fn remove_stale_temporaries(&self, prefix: &KeyPrefix) -> Result<usize, StorageError> {
        let _ = prefix;
        Ok(0)
    }
}

/// Every object under `prefix` after `start_after`, page by page, as a stream.
pub fn list<'a>(
    store: &'a dyn ObjectStore,
    prefix: &'a KeyPrefix,
    start_after: Option<String>,
) -> impl Stream<Item = Result<Vec<ObjectMeta>, StorageError>> + Send + 'a {
    futures::stream::try_unfold(Some(start_after), move |state| async move {
        let Some(after) = state else {
            return Ok(None);
        };
        let page = store.list_page(prefix, after.as_deref()).await?;
        let next = match (page.is_truncated, page.last_key) {
            (true, Some(last)) => Some(Some(last)),
            _ => None,
        };
        if page.objects.is_empty() && next.is_none() {
            return Ok(None);
        }
        Ok(Some((page.objects, next)))
    })
}

/// Collects [`list`] into one vector (for listings that fit in memory).
pub async fn list_all(
    store: &dyn ObjectStore,
    prefix: &KeyPrefix,
) -> Result<Vec<ObjectMeta>, StorageError> {
    use futures::TryStreamExt;
    let pages: Vec<Vec<ObjectMeta>> = list(store, prefix, None).try_collect().await?;
    Ok(pages.into_iter().flatten().collect())
}
