//! Compacting one (signal, hour) of raw objects into Parquet parts.
//!
//! The raw objects of the hour are read in key order and written as parts
//! of at most [`PART_ROWS`] rows, so memory stays bounded whatever the
//! hour's size. Parts are named after the raw keys they cover, so a re-run
//! over the same objects rewrites the same names. The manifest
//! (`_manifest.json`) is written last and is the commit point: an hour
//! without one, or whose manifest lists other raw keys than the archive
//! now holds (late arrivals, a replay), is compacted again, and the parts
//! of the previous manifest that the new one does not list are removed
//! only after it is written. Raw objects are never touched here.

use bytes::Bytes;
use otelvault_codec::{Batch, Signal, UtcMinute};
use otelvault_storage::{KeyPrefix, ObjectKey, ObjectStore, PutOptions, StorageError, list_all};
use serde_json::{Value, json};

use otelvault_compact::CompactError;

use crate::{PartitionKey, content_id};

/// Items (rows of all of a signal's tables) buffered before parts are
/// written: what bounds memory.
pub const PART_ROWS: usize = 50_000;

const HOUR: u64 = 3_600_000_000_000;

/// What compacting one hour did (or, on a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourReport {
    /// The signal.
    pub signal: Signal,
    /// Start of the hour, unix nanoseconds.
    pub hour: u64,
    /// What happened.
    pub outcome: Outcome,
    /// Raw objects covered.
    pub raw_objects: usize,
    /// Their stored bytes.
    pub raw_bytes: u64,
    /// Raw objects that could not be decoded: left out of the manifest, so
    /// readers keep seeing them as raw.
    pub unreadable: Vec<String>,
    /// Rows written.
    pub rows: usize,
    /// Parts written.
    pub parts: usize,
    /// Bytes of the parts written.
    pub parquet_bytes: u64,
}

/// The outcome of one hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Parts and a manifest were written.
    Compacted,
    /// Would be compacted (dry run).
    WouldCompact,
    /// The manifest already covers exactly the hour's raw objects.
    UpToDate,
    /// No raw objects of the signal in the hour.
    Empty,
}

/// `parquet/{signal}/year=YYYY/month=MM/day=DD/hour=HH/`.
pub fn hour_prefix(signal: Signal, hour: u64) -> String {
    let t = UtcMinute::from_unix_nanos(hour);
    format!(
        "parquet/{}/year={:04}/month={:02}/day={:02}/hour={:02}/",
        signal.as_str(),
        t.year,
        t.month,
        t.day,
        t.hour
    )
}

/// The raw prefix of an hour (every minute of it).
fn raw_prefix(hour: u64) -> String {
    let t = UtcMinute::from_unix_nanos(hour);
    format!(
        "year={:04}/month={:02}/day={:02}/hour={:02}/",
        t.year, t.month, t.day, t.hour
    )
}

fn storage(action: String) -> impl FnOnce(StorageError) -> CompactError {
    move |source| CompactError::Storage { action, source }
}

fn key(text: String) -> Result<ObjectKey, CompactError> {
    ObjectKey::new(text.as_str()).map_err(storage(format!("naming {text}")))
}

/// Compacts the hour starting at `hour` (unix nanoseconds, a whole hour)
/// of `signal` in `store`. Idempotent; see the module documentation.
pub async fn compact_hour(
    store: &dyn ObjectStore,
    signal: Signal,
    hour: u64,
    dry_run: bool,
) -> Result<HourReport, CompactError> {
    let hour = hour - hour % HOUR;
    let mut report = HourReport {
        signal,
        hour,
        outcome: Outcome::Empty,
        raw_objects: 0,
        raw_bytes: 0,
        unreadable: Vec::new(),
        rows: 0,
        parts: 0,
        parquet_bytes: 0,
    };
    let raw_prefix = raw_prefix(hour);
    let listed = list_all(
        store,
        &KeyPrefix::new(raw_prefix.as_str()).map_err(storage(format!("listing {raw_prefix}")))?,
    )
    .await
    .map_err(storage(format!("listing {raw_prefix}")))?;
    let mut raw: Vec<(ObjectKey, PartitionKey, u64)> = listed
        .into_iter()
        .filter_map(|meta| {
            let parsed = PartitionKey::parse(&meta.key).ok()?;
            (parsed.signal == signal).then_some((meta.key, parsed, meta.size))
        })
        .collect();
    raw.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    if raw.is_empty() {
        return Ok(report);
    }
    report.raw_objects = raw.len();
    report.raw_bytes = raw.iter().map(|(_, _, size)| size).sum();
    let prefix = hour_prefix(signal, hour);
    let manifest_key = key(format!("{prefix}_manifest.json"))?;
    let previous = match store.get(&manifest_key).await {
        Ok(bytes) => Some(Manifest::parse(&bytes)),
        Err(StorageError::NotFound { .. }) => None,
        Err(e) => return Err(storage(format!("reading {manifest_key}"))(e)),
    };
    let keys: Vec<&str> = raw.iter().map(|(k, _, _)| k.as_str()).collect();
    if let Some(Some(previous)) = &previous {
        // Unreadable objects stay out of a manifest; they are not news.
        let covered: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| !previous.unreadable.iter().any(|u| u == k))
            .collect();
        if previous.raw == covered {
            report.outcome = Outcome::UpToDate;
            report.rows = previous.rows;
            report.parts = previous.parts.len();
            return Ok(report);
        }
    }
    if dry_run {
        report.outcome = Outcome::WouldCompact;
        return Ok(report);
    }

    let run = content_id(keys.join("\n").as_bytes());
    // Decoded objects waiting to be written, and their items.
    let mut pending: Vec<(u32, Batch)> = Vec::new();
    let mut pending_items = 0usize;
    let mut covered: Vec<String> = Vec::new();
    let mut parts: Vec<(String, usize, u64)> = Vec::new();
    let mut batches = 0usize;
    for (object, parsed, _) in &raw {
        let bytes = store
            .get(object)
            .await
            .map_err(storage(format!("reading {object}")))?;
        let parsed = parsed.clone();
        let decoded = tokio::task::spawn_blocking(move || parsed.decode(&bytes))
            .await
            .unwrap_or_else(|e| Err(format!("decoder failed: {e}")));
        let batch = match decoded {
            Ok(batch) => batch,
            Err(_) => {
                report.unreadable.push(object.as_str().to_owned());
                continue;
            }
        };
        // Rows name their object by its index in the manifest's `raw`.
        let index = u32::try_from(covered.len()).map_err(|_| CompactError::Schema {
            table: "manifest",
            problem: format!("more than {} raw objects in one hour", u32::MAX),
        })?;
        covered.push(object.as_str().to_owned());
        pending_items += batch.item_count();
        pending.push((index, batch));
        if pending_items >= PART_ROWS {
            let full = std::mem::take(&mut pending);
            pending_items = 0;
            parts.extend(write_parts(store, &prefix, &run, batches, full).await?);
            batches += 1;
        }
    }
    if pending_items > 0 {
        parts.extend(write_parts(store, &prefix, &run, batches, pending).await?);
    }
    report.rows = parts.iter().map(|(_, rows, _)| rows).sum();
    report.parts = parts.len();
    report.parquet_bytes = parts.iter().map(|(_, _, bytes)| bytes).sum();

    let manifest = json!({
        "version": 1,
        "signal": signal.as_str(),
        "hour": hour.to_string(),
        "rows": report.rows,
        "raw": covered,
        "unreadable": report.unreadable,
        "parts": parts
            .iter()
            .map(|(name, rows, bytes)| json!({"name": name, "rows": rows, "bytes": bytes}))
            .collect::<Vec<_>>(),
    });
    store
        .put(
            &manifest_key,
            Bytes::from(manifest.to_string()),
            &PutOptions {
                content_type: Some("application/json".into()),
                content_encoding: None,
            },
        )
        .await
        .map_err(storage(format!("writing {manifest_key}")))?;
    // The manifest is the commit point. Parts it does not name (an earlier
    // manifest's, or a crashed run's) go now, so that engines reading every
    // file of the prefix count each row once.
    let listed = list_all(
        store,
        &KeyPrefix::new(prefix.as_str()).map_err(storage(format!("listing {prefix}")))?,
    )
    .await
    .map_err(storage(format!("listing {prefix}")))?;
    for meta in listed {
        let name = &meta.key.as_str()[prefix.len()..];
        if name.ends_with(".parquet") && !parts.iter().any(|(part, _, _)| part == name) {
            store
                .delete(&meta.key)
                .await
                .map_err(storage(format!("deleting {}", meta.key)))?;
        }
    }
    report.outcome = Outcome::Compacted;
    Ok(report)
}

/// Writes the objects of batch `index` of run `run` (each with its index
/// in the manifest) as one part per table they fill; returns the parts'
/// names, rows and bytes.
async fn write_parts(
    store: &dyn ObjectStore,
    prefix: &str,
    run: &str,
    index: usize,
    objects: Vec<(u32, Batch)>,
) -> Result<Vec<(String, usize, u64)>, CompactError> {
    let encoded = tokio::task::spawn_blocking(move || encode(&objects))
        .await
        .map_err(|e| CompactError::Schema {
            table: "part",
            problem: format!("encoder failed: {e}"),
        })??;
    let mut written = Vec::new();
    for (table, rows, bytes) in encoded {
        let name = format!("{table}-{run}-{index:04}.parquet");
        let part_key = key(format!("{prefix}{name}"))?;
        let size = bytes.len() as u64;
        store
            .put(
                &part_key,
                Bytes::from(bytes),
                &PutOptions {
                    content_type: Some("application/vnd.apache.parquet".into()),
                    content_encoding: None,
                },
            )
            .await
            .map_err(storage(format!("writing {part_key}")))?;
        written.push((name, rows, size));
    }
    Ok(written)
}

/// A part to write: the table its name starts with, its rows, its bytes.
type Part = (&'static str, usize, Vec<u8>);

/// The parts of some objects of one signal.
fn encode(objects: &[(u32, Batch)]) -> Result<Vec<Part>, CompactError> {
    use otelvault_compact::{logs, metrics, traces};
    let rows = objects.iter().map(|(_, b)| b.item_count()).sum();
    // Objects of another signal than the first are not in an hour of it.
    macro_rules! requests {
        ($variant:ident) => {
            objects
                .iter()
                .filter_map(|(i, b)| match b {
                    Batch::$variant(r) => Some((*i, r)),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
    }
    Ok(match objects.first().map(|(_, b)| b.signal()) {
        None => Vec::new(),
        Some(Signal::Traces) => vec![("part", rows, traces::write(&requests!(Traces))?)],
        Some(Signal::Logs) => vec![("part", rows, logs::write(&requests!(Logs))?)],
        Some(Signal::Metrics) => metrics::write(&requests!(Metrics))?
            .into_iter()
            .map(|(kind, rows, bytes)| (kind.as_str(), rows, bytes))
            .collect(),
    })
}

/// What a manifest says, as far as compaction needs it.
#[derive(Debug, Default)]
pub struct Manifest {
    /// Raw keys covered, in key order.
    pub raw: Vec<String>,
    /// Raw keys that could not be decoded.
    pub unreadable: Vec<String>,
    /// Rows in all.
    pub rows: usize,
    /// Part files.
    pub parts: Vec<ManifestPart>,
}

/// A part file a manifest lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPart {
    /// Its name, relative to the hour's prefix.
    pub name: String,
    /// Its rows.
    pub rows: usize,
    /// Its size in bytes.
    pub bytes: u64,
}

impl Manifest {
    /// `None` when the bytes are not a manifest (it is then rewritten).
    pub fn parse(bytes: &[u8]) -> Option<Manifest> {
        let value: Value = serde_json::from_slice(bytes).ok()?;
        let strings = |field: &str| -> Option<Vec<String>> {
            value[field]
                .as_array()?
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        Some(Manifest {
            raw: strings("raw")?,
            unreadable: strings("unreadable").unwrap_or_default(),
            rows: usize::try_from(value["rows"].as_u64()?).ok()?,
            parts: value["parts"]
                .as_array()?
                .iter()
                .map(|p| {
                    Some(ManifestPart {
                        name: p["name"].as_str()?.to_owned(),
                        rows: usize::try_from(p["rows"].as_u64()?).ok()?,
                        bytes: p["bytes"].as_u64()?,
                    })
                })
                .collect::<Option<Vec<_>>>()?,
        })
    }
}

#[cfg(test)]
mod tests;
