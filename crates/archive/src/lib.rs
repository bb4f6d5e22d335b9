//! The otelvault archive: one place that writes and reads its format.
//!
//! An [`Archive`] is an object store and a [`Layout`]. Writing
//! ([`Archive::write`]) splits a batch by time partition, encodes each part,
//! names it by the hash of its content and stores all parts concurrently.
//! Reading ([`Archive::read`]) lists the partitions of a time range, decodes
//! the objects of a [`Query`]'s signal, filters their items and returns one
//! [`Page`] with the [`Position`] the next page starts from. The key layout
//! ([`PartitionKey`]) is the OpenTelemetry Collector `awss3exporter` one, so
//! either side can read the other's data. [`compact_hour`] turns a closed
//! hour of raw objects into the compacted tier (Parquet parts and a
//! manifest, written with `otelvault-parquet`'s tables).
//!
//! HTTP, cursors and API shapes are not this crate's business: servers,
//! commands and scheduled jobs are adapters on it.

mod compact;
mod error;
mod inventory;
mod key;
mod layout;
mod lease;
mod marker;
mod query;
mod read;
mod tier;
mod write;

use std::sync::Arc;

use otelvault_codec::Granularity;
use otelvault_storage::{KeyPrefix, ObjectStore};

pub use compact::fanout::{ShardReport, ShardTask, compact_shard, plan_range};
pub use compact::{
    CompactOptions, HourReport, Manifest, ManifestPart, Outcome, PART_ROWS, RunReport,
    compact_hour, compact_range, hour_prefix,
};
pub use error::ArchiveError;
pub use inventory::{CompactedDay, DaySignal, Inventory, RawDay};
pub use key::{KeyError, ListUnit, PartitionKey, content_id, list_units};
pub use layout::{Layout, PartitionTime, Partitioning};
pub use lease::{LEASE_KEY, LEASE_TIME, Lease};
pub use marker::{FORWARD_PENDING_PREFIX, ForwardMarker};
pub use otelvault_parquet::spans::{SpanFields, SpanNeeds, SpanPredicate, SpanTest};
pub use query::{AttrValue, DEFAULT_LIMIT, Fields, MAX_LIMIT, Query};
pub use read::{
    Budget, Chunk, Page, Position, Skipped, Stats, Summarized, SummarizedSpans, SummaryUse, Tag,
    TraceSummary, TraceVisit, Visit, days_with_data,
};
pub use write::{Encoded, WriteReport};

/// An archive: where it is stored and how it is laid out.
#[derive(Debug, Clone)]
pub struct Archive {
    store: Arc<dyn ObjectStore>,
    layout: Layout,
    /// Objects being decoded at once by the reads of this archive (and its
    /// clones): one per core. Decoding is CPU work, so more would not be
    /// faster, and a decoded object can take many times its stored size.
    decodes: Arc<tokio::sync::Semaphore>,
    /// Start of every hour written to since [`Archive::take_written_hours`]
    /// last ran: what a background compaction has to look at.
    written_hours: Arc<std::sync::Mutex<std::collections::BTreeSet<u64>>>,
}

impl Archive {
    /// The archive in `store`, written (and read) with `layout`.
    pub fn new(store: Arc<dyn ObjectStore>, layout: Layout) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Archive {
            store,
            layout,
            decodes: Arc::new(tokio::sync::Semaphore::new(cores)),
            written_hours: Arc::default(),
        }
    }

    /// The start of every hour this archive (or a clone) has written
    /// objects to since the last call, oldest first.
    pub fn take_written_hours(&self) -> Vec<u64> {
        self.written_hours
            .lock()
            .map(|mut hours| std::mem::take(&mut *hours).into_iter().collect())
            .unwrap_or_default()
    }

    /// The store holding the archive.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// How the archive is laid out.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The partition width of the archive in `store`, read from the
    /// objects of its first hour: a handful of list calls, whatever the
    /// archive's size. `None` when it holds no archive object there.
    pub async fn detect_granularity(
        store: &dyn ObjectStore,
    ) -> Result<Option<Granularity>, ArchiveError> {
        // The first hour, in key order, that still holds a raw object: the
        // hours before it may have been compacted and their raw objects
        // deleted (a directory store can keep their empty directories).
        let mut stack = vec![(String::new(), 0usize)];
        const LEVELS: [&str; 4] = ["year=", "month=", "day=", "hour="];
        while let Some((prefix, level)) = stack.pop() {
            if level == LEVELS.len() {
                let page = store
                    .list_page(&key_prefix(&prefix)?, None)
                    .await
                    .map_err(listing)?;
                if let Some(key) = page
                    .objects
                    .iter()
                    .find_map(|o| PartitionKey::parse(&o.key).ok())
                {
                    return Ok(Some(key.granularity));
                }
                continue;
            }
            let dirs = store
                .list_dirs(&key_prefix(&format!("{prefix}{}", LEVELS[level]))?)
                .await
                .map_err(listing)?;
            stack.extend(dirs.into_iter().rev().map(|dir| (dir, level + 1)));
        }
        Ok(None)
    }

    /// Whether the store holds a compacted tier (hours under `parquet/`),
    /// which reads alike whatever the raw objects' partition width was.
    pub async fn has_compacted_tier(store: &dyn ObjectStore) -> Result<bool, ArchiveError> {
        let dirs = store
            .list_dirs(&key_prefix("parquet/")?)
            .await
            .map_err(listing)?;
        Ok(!dirs.is_empty())
    }
}

fn listing(e: otelvault_storage::StorageError) -> ArchiveError {
    ArchiveError::storage("listing the archive", e)
}

fn key_prefix(text: &str) -> Result<KeyPrefix, ArchiveError> {
    KeyPrefix::new(text).map_err(listing)
}

#[cfg(test)]
mod tests;
