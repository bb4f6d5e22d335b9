//! The compaction lease: one object, `parquet/_lease.json`, that says which
//! compaction of the archive is running and until when. A compaction takes
//! it before its first hour, renews it as it goes and gives it back at the
//! end; one that finds it held by another waits for a later run. A holder
//! that crashed never blocks for long: its lease expires ([`LEASE_TIME`]).
//!
//! Stores offer no compare-and-swap here, so taking the lease is write,
//! then read back after a moment: of two compactions that start at once,
//! the one whose write lands last keeps it and the other sees that.

use std::time::Duration;

use bytes::Bytes;
use otelvault_parquet::CompactError;
use otelvault_storage::{ObjectKey, ObjectStore, PutOptions, StorageError};
use serde_json::{Value, json};

/// Where the lease is.
pub const LEASE_KEY: &str = "parquet/_lease.json";
/// How long a lease lasts unless renewed.
pub const LEASE_TIME: Duration = Duration::from_secs(15 * 60);
/// A lease is renewed once this much of it has passed.
const RENEW_AFTER: Duration = Duration::from_secs(5 * 60);
/// How long a new holder waits before reading its lease back.
const SETTLE: Duration = Duration::from_millis(250);

/// A lease this process holds.
#[derive(Debug)]
pub struct Lease {
    key: ObjectKey,
    holder: String,
    renewed: std::time::Instant,
}

fn storage(action: &str) -> impl FnOnce(StorageError) -> CompactError + '_ {
    move |source| CompactError::Storage {
        action: action.to_owned(),
        source,
    }
}

/// Another holder has the lease until `until` (unix nanoseconds).
fn busy(holder: String, until: u64) -> CompactError {
    CompactError::Busy {
        holder,
        seconds_left: until
            .saturating_sub(otelvault_codec::now_unix_nanos())
            .div_ceil(1_000_000_000),
    }
}

/// The lease as stored: its holder and when it ends (unix nanoseconds).
async fn read(
    store: &dyn ObjectStore,
    key: &ObjectKey,
) -> Result<Option<(String, u64)>, CompactError> {
    let body = match store.get(key).await {
        Ok(body) => body,
        Err(StorageError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(storage("reading the compaction lease")(e)),
    };
    let value: Value = serde_json::from_slice(&body).unwrap_or_default();
    let holder = value["holder"].as_str().unwrap_or_default().to_owned();
    let until = value["until"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    Ok(Some((holder, until)))
}

impl Lease {
    /// Takes the archive's lease, or says who holds it.
    pub async fn acquire(store: &dyn ObjectStore) -> Result<Lease, CompactError> {
        let key = ObjectKey::new(LEASE_KEY).map_err(storage("naming the lease"))?;
        let now = otelvault_codec::now_unix_nanos();
        if let Some((holder, until)) = read(store, &key).await?
            && until > now
        {
            return Err(busy(holder, until));
        }
        let holder = format!(
            "pid {} at {}",
            std::process::id(),
            crate::content_id(format!("{}:{now}", std::process::id()).as_bytes())
        );
        let mut lease = Lease {
            key,
            holder,
            renewed: std::time::Instant::now(),
        };
        lease.write(store).await?;
        tokio::time::sleep(SETTLE).await;
        match read(store, &lease.key).await? {
            Some((holder, _)) if holder == lease.holder => Ok(lease),
            Some((holder, until)) => Err(busy(holder, until)),
            None => Err(CompactError::Manifest(
                "the compaction lease vanished as it was taken: run again".into(),
            )),
        }
    }

    async fn write(&mut self, store: &dyn ObjectStore) -> Result<(), CompactError> {
        let until = otelvault_codec::now_unix_nanos()
            .saturating_add(u64::try_from(LEASE_TIME.as_nanos()).unwrap_or(u64::MAX));
        let body = json!({"version": 1, "holder": self.holder, "until": until.to_string()});
        store
            .put(
                &self.key,
                Bytes::from(body.to_string()),
                &PutOptions {
                    content_type: Some("application/json".into()),
                    content_encoding: None,
                },
            )
            .await
            .map_err(storage("writing the compaction lease"))?;
        self.renewed = std::time::Instant::now();
        Ok(())
    }

    /// Renews the lease when a good part of it has passed; a lease taken
    /// over meanwhile (this run stalled past it) stops the run.
    pub async fn renew(&mut self, store: &dyn ObjectStore) -> Result<(), CompactError> {
        if self.renewed.elapsed() < RENEW_AFTER {
            return Ok(());
        }
        if let Some((holder, until)) = read(store, &self.key).await?
            && holder != self.holder
        {
            return Err(busy(holder, until));
        }
        self.write(store).await
    }

    /// Gives the lease back (when it is still this process's).
    pub async fn release(self, store: &dyn ObjectStore) -> Result<(), CompactError> {
        if let Some((holder, _)) = read(store, &self.key).await?
            && holder == self.holder
        {
            store
                .delete(&self.key)
                .await
                .map_err(storage("giving the compaction lease back"))?;
        }
        Ok(())
    }
}
