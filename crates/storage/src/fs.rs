//! Local filesystem store: the default, embedded backend.
//!
//! Writes are atomic and durable: the body goes to a temporary file in the
//! target directory (named with a leading `.`, which no valid key has), is
//! fsynced, renamed over the final name, and the directory is fsynced. Keys
//! are [`ObjectKey`]s, so they can never leave the root.

use std::io::{ErrorKind, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;

use crate::{
    KeyPrefix, LIST_PAGE_SIZE, ListPage, ObjectKey, ObjectMeta, ObjectStore, PutOptions,
    StorageError,
};

/// Objects as files under a root directory.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary file this old belongs to a writer that was killed: no write
/// takes this long.
pub const STALE_TEMPORARY: std::time::Duration = std::time::Duration::from_secs(600);

/// Whether `name` is one of our temporary files.
fn is_temporary(name: &str) -> bool {
    name.starts_with(".otelvault-") && name.ends_with(".tmp")
}

/// `work` on a blocking thread: file system calls block, and one hop for a
/// whole operation costs less than one per call.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(StorageError::Failed {
            message: format!("a file system call failed: {e}"),
        })
    })
}

/// The path of `key` under `root`, refused when a component of it below
/// the root is a symbolic link (see [`FsStore::checked_path`]); blocking.
fn checked_path(root: &Path, key: &ObjectKey) -> Result<PathBuf, StorageError> {
    let mut path = root.to_path_buf();
    for part in key.as_str().split('/') {
        path.push(part);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(StorageError::Failed {
                    message: format!(
                        "refusing {}: a symbolic link inside the archive (objects are plain files under its root)",
                        path.display()
                    ),
                });
            }
            Ok(_) => {}
            // What does not exist yet cannot be a link.
            Err(_) => break,
        }
    }
    Ok(root.join(key.as_str()))
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> StorageError {
    let message = format!("{what} {}: {e}", path.display());
    match e.kind() {
        // Running out of space or file handles can pass; a retry may succeed.
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::Interrupted => {
            StorageError::Unavailable { message }
        }
        _ => StorageError::Failed { message },
    }
}

impl FsStore {
    /// A store rooted at `root`, creating the directory if needed.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| io_error("creating", &root, e))?;
        Ok(FsStore { root })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of `key`, refused when a component of it below the root is
    /// a symbolic link: keys cannot leave the root, and a link planted in
    /// the archive must not take a read, a write or a delete out of it.
    async fn checked_path(&self, key: &ObjectKey) -> Result<PathBuf, StorageError> {
        let (root, key) = (self.root.clone(), key.clone());
        blocking(move || checked_path(&root, &key)).await
    }

    fn write_atomic(path: &Path, body: &[u8]) -> Result<(), StorageError> {
        let dir = path.parent().ok_or_else(|| StorageError::Failed {
            message: format!("{} has no parent directory", path.display()),
        })?;
        let temp = dir.join(format!(
            ".otelvault-{}-{}.tmp",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        // A delete of the directory's last object removes the directory:
        // when that happens between creating it and the file, create again.
        let mut attempts = 0;
        let mut file = loop {
            std::fs::create_dir_all(dir).map_err(|e| io_error("creating", dir, e))?;
            // A new file only: never one planted there, nor a symlink.
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)
            {
                Ok(file) => break file,
                Err(e) if e.kind() == ErrorKind::NotFound && attempts < 3 => attempts += 1,
                Err(e) => return Err(io_error("creating", &temp, e)),
            }
        };
        let result = (|| {
            file.write_all(body)
                .map_err(|e| io_error("writing", &temp, e))?;
            file.sync_all().map_err(|e| io_error("syncing", &temp, e))?;
            std::fs::rename(&temp, path).map_err(|e| io_error("renaming into", path, e))?;
            // The rename is durable only once the directory entry is.
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_error("syncing", dir, e))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result
    }

    /// Removes the stale temporary files under `dir`, recursively.
    fn sweep(dir: &Path, now: std::time::SystemTime) -> Result<usize, StorageError> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound || e.kind() == ErrorKind::NotADirectory => {
                return Ok(0);
            }
            Err(e) => return Err(io_error("listing", dir, e)),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(|e| io_error("listing", dir, e))?;
            let path = entry.path();
            let file_type = entry.file_type().map_err(|e| io_error("listing", dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if file_type.is_dir() && !name.starts_with('.') {
                removed += Self::sweep(&path, now)?;
            } else if file_type.is_file() && is_temporary(&name) {
                let age = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|modified| now.duration_since(modified).ok());
                if age.is_some_and(|age| age >= STALE_TEMPORARY) {
                    match std::fs::remove_file(&path) {
                        Ok(()) => removed += 1,
                        Err(e) if e.kind() == ErrorKind::NotFound => {}
                        Err(e) => return Err(io_error("deleting", &path, e)),
                    }
                }
            }
        }
        Ok(removed)
    }

    /// Every key under `dir_rel` (a directory relative to the root) whose
    /// key starts with `prefix` and sorts after `after`.
    fn collect(
        &self,
        dir_rel: &str,
        prefix: &str,
        after: Option<&str>,
        out: &mut Vec<ObjectMeta>,
    ) -> Result<(), StorageError> {
        let dir = if dir_rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(dir_rel)
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound || e.kind() == ErrorKind::NotADirectory => {
                return Ok(());
            }
            Err(e) => return Err(io_error("listing", &dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_error("listing", &dir, e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue; // Not UTF-8: cannot be a key.
            };
            if name.starts_with('.') {
                continue; // Temporary files and other hidden entries.
            }
            let key = if dir_rel.is_empty() {
                name
            } else {
                format!("{dir_rel}/{name}")
            };
            let file_type = entry
                .file_type()
                .map_err(|e| io_error("listing", &dir, e))?;
            if file_type.is_dir() {
                // Descend only where keys below could still match the prefix.
                let as_dir = format!("{key}/");
                if as_dir.starts_with(prefix) || prefix.starts_with(&as_dir) {
                    self.collect(&key, prefix, after, out)?;
                }
            } else if file_type.is_file()
                && key.starts_with(prefix)
                && after.is_none_or(|a| key.as_str() > a)
            {
                // Names no key can have (a backslash, a control character)
                // were not written through a store: leave them out.
                let Ok(key) = ObjectKey::new(key) else {
                    continue;
                };
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                out.push(ObjectMeta { key, size });
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for FsStore {
    async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        _options: &PutOptions,
    ) -> Result<(), StorageError> {
        let path = self.checked_path(key).await?;
        tokio::task::spawn_blocking(move || Self::write_atomic(&path, &body))
            .await
            .map_err(|e| StorageError::Failed {
                message: format!("write task failed: {e}"),
            })?
    }

    async fn get(&self, key: &ObjectKey) -> Result<Bytes, StorageError> {
        let (root, key) = (self.root.clone(), key.clone());
        blocking(move || {
            let path = checked_path(&root, &key)?;
            match std::fs::read(&path) {
                Ok(body) => Ok(Bytes::from(body)),
                Err(e)
                    if e.kind() == ErrorKind::NotFound || e.kind() == ErrorKind::IsADirectory =>
                {
                    Err(StorageError::NotFound {
                        key: key.to_string(),
                    })
                }
                Err(e) => Err(io_error("reading", &path, e)),
            }
        })
        .await
    }

    async fn get_range(&self, key: &ObjectKey, range: Range<u64>) -> Result<Bytes, StorageError> {
        let (root, key) = (self.root.clone(), key.clone());
        blocking(move || {
            use std::io::{Read as _, Seek as _};
            let path = checked_path(&root, &key)?;
            let reading = |e| io_error("reading", &path, e);
            let mut file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Err(StorageError::NotFound {
                        key: key.to_string(),
                    });
                }
                Err(e) => return Err(reading(e)),
            };
            let meta = file.metadata().map_err(reading)?;
            if meta.is_dir() {
                return Err(StorageError::NotFound {
                    key: key.to_string(),
                });
            }
            let len = usize::try_from(meta.len()).unwrap_or(usize::MAX);
            let wanted = crate::clamp(&range, len);
            let mut body = vec![0u8; wanted.len()];
            file.seek(std::io::SeekFrom::Start(wanted.start as u64))
                .map_err(reading)?;
            file.read_exact(&mut body).map_err(reading)?;
            Ok(Bytes::from(body))
        })
        .await
    }

    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta, StorageError> {
        let path = self.checked_path(key).await?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(ObjectMeta {
                key: key.clone(),
                size: meta.len(),
            }),
            Ok(_) => Err(StorageError::NotFound {
                key: key.to_string(),
            }),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(StorageError::NotFound {
                key: key.to_string(),
            }),
            Err(e) => Err(io_error("reading", &path, e)),
        }
    }

    async fn list_page(
        &self,
        prefix: &KeyPrefix,
        start_after: Option<&str>,
    ) -> Result<ListPage, StorageError> {
        let store = self.clone();
        let prefix = prefix.clone();
        let after = start_after.map(str::to_owned);
        tokio::task::spawn_blocking(move || {
            // Start the walk at the deepest directory the prefix names.
            let mut keys = Vec::new();
            store.collect(prefix.directory(), &prefix, after.as_deref(), &mut keys)?;
            // Directory order is not key order ('-' sorts before '/'): sort.
            keys.sort_unstable_by(|a, b| a.key.cmp(&b.key));
            let is_truncated = keys.len() > LIST_PAGE_SIZE;
            keys.truncate(LIST_PAGE_SIZE);
            Ok(ListPage {
                last_key: keys.last().map(|o| o.key.to_string()),
                objects: keys,
                is_truncated,
            })
        })
        .await
        .map_err(|e| StorageError::Failed {
            message: format!("list task failed: {e}"),
        })?
    }

    async fn list_dirs(&self, prefix: &KeyPrefix) -> Result<Vec<String>, StorageError> {
        let store = self.clone();
        let prefix = prefix.clone();
        tokio::task::spawn_blocking(move || {
            let dir = store.root.join(prefix.directory());
            // What follows the last '/' of the prefix must start the name.
            let (parent, start) = match prefix.as_str().rsplit_once('/') {
                Some((parent, start)) => (format!("{parent}/"), start),
                None => (String::new(), prefix.as_str()),
            };
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e)
                    if e.kind() == ErrorKind::NotFound || e.kind() == ErrorKind::NotADirectory =>
                {
                    return Ok(Vec::new());
                }
                Err(e) => return Err(io_error("listing", &dir, e)),
            };
            let mut dirs = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| io_error("listing", &dir, e))?;
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let is_dir = entry
                    .file_type()
                    .map_err(|e| io_error("listing", &dir, e))?
                    .is_dir();
                // An empty directory counts too (S3 has none): listing it
                // later finds nothing, which costs one call.
                if is_dir && !name.starts_with('.') && name.starts_with(start) {
                    dirs.push(format!("{parent}{name}/"));
                }
            }
            dirs.sort_unstable();
            Ok(dirs)
        })
        .await
        .map_err(|e| StorageError::Failed {
            message: format!("list task failed: {e}"),
        })?
    }

    async fn check(&self) -> Result<(), StorageError> {
        match tokio::fs::read_dir(&self.root).await {
            Ok(_) => Ok(()),
            Err(e) => Err(io_error("listing", &self.root, e)),
        }
    }

    async fn remove_stale_temporaries(&self, prefix: &KeyPrefix) -> Result<usize, StorageError> {
        // The directory the prefix names (or the one it is in).
        let dir = self.root.join(prefix.directory());
        let now = std::time::SystemTime::now();
        tokio::task::spawn_blocking(move || Self::sweep(&dir, now))
            .await
            .map_err(|e| StorageError::Failed {
                message: format!("sweeping temporary files: {e}"),
            })?
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        let path = self.checked_path(key).await?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error("deleting", &path, e)),
        }
        // Directories left empty go too, as prefixes do in S3: an archive
        // whose raw objects were deleted lists no empty days.
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| *d != self.root && d.starts_with(&self.root)) {
            if tokio::fs::remove_dir(d).await.is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn a_symbolic_link_planted_in_the_archive_leads_nowhere() {
        let outside = tempfile::tempdir().expect("outside");
        std::fs::write(outside.path().join("secret.json"), b"not yours").expect("write");
        let dir = tempfile::tempdir().expect("dir");
        let store = FsStore::new(dir.path()).expect("store");
        std::os::unix::fs::symlink(outside.path(), dir.path().join("year=2024")).expect("link");
        let key = ObjectKey::new("year=2024/secret.json").expect("key");
        for result in [
            store.get(&key).await.map(|_| ()),
            store.get_range(&key, 0..3).await.map(|_| ()),
            store.head(&key).await.map(|_| ()),
            store
                .put(&key, Bytes::from_static(b"x"), &PutOptions::default())
                .await,
            store.delete(&key).await,
        ] {
            let err = result.expect_err("refused");
            assert!(err.to_string().contains("symbolic link"), "{err}");
        }
        assert_eq!(
            std::fs::read(outside.path().join("secret.json")).expect("still there"),
            b"not yours"
        );
        // Listing does not descend into it either.
        let listed = crate::list_all(&store, &KeyPrefix::ROOT)
            .await
            .expect("list");
        assert!(listed.is_empty(), "{listed:?}");
    }

    #[tokio::test]
    async fn a_killed_writers_temporary_files_are_swept_once_stale() {
        let dir = tempfile::tempdir().expect("dir");
        let store = FsStore::new(dir.path()).expect("store");
        let hour = dir.path().join("parquet/traces/year=2024/hour=03");
        std::fs::create_dir_all(&hour).expect("dirs");
        let stale = hour.join(".otelvault-4242-7.tmp");
        let fresh = hour.join(".otelvault-4242-8.tmp");
        let other = hour.join(".hidden-by-someone-else");
        for path in [&stale, &fresh, &other] {
            std::fs::write(path, b"half a part").expect("write");
        }
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&stale)
            .and_then(|f| f.set_modified(an_hour_ago))
            .expect("age it");
        let prefix = KeyPrefix::new("parquet/traces/").expect("prefix");
        assert_eq!(store.remove_stale_temporaries(&prefix).await.ok(), Some(1));
        assert!(!stale.exists() && fresh.exists() && other.exists());
        // Nothing left to sweep; a prefix with no directory is nothing.
        assert_eq!(store.remove_stale_temporaries(&prefix).await.ok(), Some(0));
        let none = KeyPrefix::new("parquet/logs/").expect("prefix");
        assert_eq!(store.remove_stale_temporaries(&none).await.ok(), Some(0));
    }
}
