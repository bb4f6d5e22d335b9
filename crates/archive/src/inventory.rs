//! What an archive holds, per day and signal: raw objects (and, when
//! asked, the items in them) and the compacted tier's hours, read from
//! their manifests. `otelvault stats` prints it.

use std::collections::BTreeMap;

use futures::StreamExt as _;
use otelvault_codec::{Signal, UtcMinute};
use otelvault_storage::{KeyPrefix, ObjectMeta, ObjectStore, list_all};

use crate::{ArchiveError, Manifest, PartitionKey};

/// Objects decoded at once when items are counted.
const DECODING: usize = 8;

/// Raw objects of one day and signal.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RawDay {
    /// Objects.
    pub objects: u64,
    /// Their stored bytes.
    pub bytes: u64,
    /// Items in them (when counted).
    pub items: u64,
    /// Objects that cannot be decoded (when counted).
    pub unreadable: u64,
}

/// Compacted hours of one day and signal.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CompactedDay {
    /// Hours with a manifest.
    pub hours: u64,
    /// Parts their manifests list.
    pub parts: u64,
    /// Bytes of those parts.
    pub bytes: u64,
    /// Rows of those parts.
    pub rows: u64,
}

/// A day (`YYYY-MM-DD`, UTC) and a signal.
pub type DaySignal = (String, Signal);

/// What an archive holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// Raw objects, per day and signal.
    pub raw: BTreeMap<DaySignal, RawDay>,
    /// The compacted tier, per day and signal.
    pub compacted: BTreeMap<DaySignal, CompactedDay>,
}

impl Inventory {
    /// Reads the inventory of `store`; with `count_items`, every raw object
    /// is read and decoded to count its items (unreadable ones are counted
    /// and logged).
    pub async fn read(store: &dyn ObjectStore, count_items: bool) -> Result<Self, ArchiveError> {
        let objects = raw_objects(store).await?;
        let items = if count_items {
            count_items_of(store, &objects).await
        } else {
            Vec::new()
        };
        let mut raw: BTreeMap<DaySignal, RawDay> = BTreeMap::new();
        for (i, (key, meta)) in objects.iter().enumerate() {
            let row = raw
                .entry((day(key.partition_start), key.signal))
                .or_default();
            row.objects += 1;
            row.bytes += meta.size;
            match items.get(i) {
                Some(Ok(n)) => row.items += n,
                Some(Err(e)) => {
                    row.unreadable += 1;
                    tracing::warn!(key = %meta.key, error = e, "Unreadable archive object.");
                }
                None => {}
            }
        }
        Ok(Inventory {
            raw,
            compacted: compacted_hours(store).await?,
        })
    }

    /// True when the archive holds nothing.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty() && self.compacted.is_empty()
    }
}

/// `YYYY-MM-DD` of a time.
fn day(unix_nanos: u64) -> String {
    let t = UtcMinute::from_unix_nanos(unix_nanos);
    format!("{:04}-{:02}-{:02}", t.year, t.month, t.day)
}

fn prefix(text: &str) -> Result<KeyPrefix, ArchiveError> {
    KeyPrefix::new(text).map_err(|e| ArchiveError::storage(format!("naming {text}"), e))
}

/// Every raw object of the archive (keys of other shapes are not ours).
async fn raw_objects(
    store: &dyn ObjectStore,
) -> Result<Vec<(PartitionKey, ObjectMeta)>, ArchiveError> {
    let listed = list_all(store, &prefix("year=")?)
        .await
        .map_err(|e| ArchiveError::storage("listing year=", e))?;
    Ok(listed
        .into_iter()
        .filter_map(|meta| PartitionKey::parse(&meta.key).ok().map(|k| (k, meta)))
        .collect())
}

/// The items of each object, or why it cannot be read.
async fn count_items_of(
    store: &dyn ObjectStore,
    objects: &[(PartitionKey, ObjectMeta)],
) -> Vec<Result<u64, String>> {
    futures::stream::iter(objects)
        .map(|(key, meta)| async move {
            let raw = store.get(&meta.key).await.map_err(|e| e.to_string())?;
            let key = key.clone();
            tokio::task::spawn_blocking(move || key.decode(&raw).map(|b| b.item_count() as u64))
                .await
                .map_err(|e| e.to_string())?
        })
        .buffered(DECODING)
        .collect()
        .await
}

/// Compacted hours, parts, bytes and rows per day and signal, from the
/// manifests under `parquet/`.
async fn compacted_hours(
    store: &dyn ObjectStore,
) -> Result<BTreeMap<DaySignal, CompactedDay>, ArchiveError> {
    let mut out: BTreeMap<DaySignal, CompactedDay> = BTreeMap::new();
    let listed = list_all(store, &prefix("parquet/")?)
        .await
        .map_err(|e| ArchiveError::storage("listing parquet/", e))?;
    for meta in listed {
        // parquet/{signal}/year=YYYY/month=MM/day=DD/hour=HH/_manifest.json
        let parts: Vec<&str> = meta.key.as_str().split('/').collect();
        let [_, signal, year, month, day, _, "_manifest.json"] = parts[..] else {
            continue;
        };
        let (Ok(signal), Some(y), Some(m), Some(d)) = (
            signal.parse::<Signal>(),
            year.strip_prefix("year="),
            month.strip_prefix("month="),
            day.strip_prefix("day="),
        ) else {
            continue;
        };
        let dir = meta.key.as_str().trim_end_matches("_manifest.json");
        let bytes = store
            .get(&meta.key)
            .await
            .map_err(|e| ArchiveError::storage(format!("reading {}", meta.key), e))?;
        let Some(manifest) = Manifest::parse(&bytes, dir) else {
            tracing::warn!(key = %meta.key, "A manifest that cannot be parsed.");
            continue;
        };
        let row = out.entry((format!("{y}-{m}-{d}"), signal)).or_default();
        row.hours += 1;
        row.parts += manifest.parts.len() as u64;
        row.bytes += manifest.parts.iter().map(|p| p.bytes).sum::<u64>();
        row.rows += manifest.rows as u64;
    }
    Ok(out)
}
