//! Compacting one (signal, hour) of raw objects into Parquet parts.
//!
//! The raw objects of the hour that its manifest does not cover yet are
//! read in key order and written as parts of at most [`PART_ROWS`] rows, so
//! memory stays bounded whatever the hour's size. Parts are named after
//! the raw keys they cover, so a re-run over the same objects rewrites the
//! same names. The manifest (`_manifest.json`) is written last and is the
//! commit point; it only grows: late arrivals (a replay of old data, a
//! slow exporter) are compacted into parts of their own and appended, so
//! rows whose raw objects were deleted (`delete_raw`, a lifecycle rule)
//! are never rewritten. Parts no manifest lists (a crashed run's) are
//! removed after it is written, and raw objects only with `delete_raw`,
//! once the manifest that covers them is durable. One compaction of an
//! archive runs at a time: [`compact_range`] holds the archive's lease
//! (`parquet/_lease.json`, see [`crate::Lease`]) while it runs.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt as _, StreamExt as _};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use bytes::Bytes;
use otelvault_codec::{Batch, Format, Signal, UtcMinute};
use otelvault_storage::{KeyPrefix, ObjectKey, ObjectStore, PutOptions, StorageError, list_all};
use serde_json::{Value, json};

use otelvault_parquet::index::HourIndexes;
use otelvault_parquet::{CompactError, Table};

use crate::lease::Lease;
use crate::marker::{FORWARD_PENDING_PREFIX, ForwardMarker};
use crate::tier::HOUR;
use crate::{PartitionKey, content_id};

/// Items (rows of all of a signal's tables) of a shard at most: its
/// part's size when memory allows.
pub const PART_ROWS: usize = 50_000;

/// Memory a compaction takes for the items it holds and encodes, when
/// [`CompactOptions::memory`] does not say.
pub const DEFAULT_MEMORY: usize = 128 << 20;

/// Memory a shard slot takes at least: with less memory than a slot per
/// core, fewer shards compact at once.
const SLOT_MEMORY: usize = 64 << 20;

/// What encoding a shard takes beside its decoded items: its rows placed
/// and sorted, the columns of a slice of them, the row group being
/// written, the part, and its indexes (measured: about 16 MiB for 50,000
/// spans).
const ENCODING_MEMORY: usize = 24 << 20;

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
    /// Raw objects deleted (with `delete_raw`).
    pub deleted_raw: usize,
    /// Parts of an earlier format rewritten in today's (or, on a dry run,
    /// that would be).
    pub upgraded_parts: usize,
    /// Shards handed to workers (an hour planned, see [`fanout`]).
    pub shards: usize,
}

/// What a compaction run over many hours did: the one tally of the
/// `compact` command, the local server's background compaction and the
/// scheduled compaction function.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Signal-hours compacted (or, on a dry run, that would be).
    pub compacted: usize,
    /// Signal-hours whose manifest already covered every raw object.
    pub up_to_date: usize,
    /// Rows written.
    pub rows: usize,
    /// Stored bytes of the raw objects compacted.
    pub raw_bytes: u64,
    /// Bytes of the parts written.
    pub parquet_bytes: u64,
    /// Raw objects deleted (with `delete_raw`).
    pub deleted_raw: usize,
    /// Parts of an earlier format rewritten.
    pub upgraded_parts: usize,
    /// Raw objects left out of the tier because they cannot be decoded.
    pub unreadable: Vec<String>,
    /// Signal-hours cut into shards for workers (see [`fanout`]).
    pub planned: usize,
    /// The shards handed to workers.
    pub shards: usize,
}

impl RunReport {
    /// Counts one hour's report.
    pub fn add(&mut self, hour: &HourReport) {
        match hour.outcome {
            Outcome::Compacted | Outcome::WouldCompact => {
                self.compacted += 1;
                self.rows += hour.rows;
                self.raw_bytes += hour.raw_bytes;
                self.parquet_bytes += hour.parquet_bytes;
            }
            Outcome::UpToDate => self.up_to_date += 1,
            Outcome::Planned => {
                self.planned += 1;
                self.shards += hour.shards;
            }
            Outcome::Empty => {}
        }
        self.deleted_raw += hour.deleted_raw;
        self.upgraded_parts += hour.upgraded_parts;
        self.unreadable.extend(hour.unreadable.iter().cloned());
    }
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
    /// Cut into shards for workers, which compact them and commit the
    /// hour (see [`fanout`]).
    Planned,
}

/// `parquet/{signal}/year=YYYY/month=MM/day=DD/hour=HH/`: where the hour's
/// manifest is.
pub fn hour_prefix(signal: Signal, hour: u64) -> String {
    dir_hour_prefix(signal.as_str(), hour)
}

/// `parquet/{dir}/year=YYYY/month=MM/day=DD/hour=HH/`.
fn dir_hour_prefix(dir: &str, hour: u64) -> String {
    let t = UtcMinute::from_unix_nanos(hour);
    format!(
        "parquet/{dir}/year={:04}/month={:02}/day={:02}/hour={:02}/",
        t.year, t.month, t.day, t.hour
    )
}

/// Where the hour's parts of `table` are.
pub fn table_hour_prefix(table: &Table, hour: u64) -> String {
    dir_hour_prefix(table.dir, hour)
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

/// How to compact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactOptions {
    /// Say what would be done; write and delete nothing.
    pub dry_run: bool,
    /// Once the manifest is written, delete the raw objects it covers.
    pub delete_raw: bool,
    /// Items per part (a shard's objects reach it); [`PART_ROWS`] when
    /// not set.
    pub part_rows: Option<usize>,
    /// Bytes of memory the compaction may take for the items it holds
    /// and encodes, whatever the hours' sizes: [`DEFAULT_MEMORY`] when not
    /// set. It sets how many shards compact at once (one per core at
    /// most) and how large they are; the process takes a few tens of MiB
    /// more.
    pub memory: Option<usize>,
}

/// How a compaction shares its memory: shards are held in slots (being
/// filled with decoded objects, or being encoded), each holding about
/// `shard_weight` bytes of decoded items.
struct Shards {
    slots: Arc<Semaphore>,
    at_once: usize,
    shard_weight: usize,
    part_rows: usize,
}

impl Shards {
    fn of(options: &CompactOptions) -> Shards {
        let memory = options.memory.unwrap_or(DEFAULT_MEMORY);
        let at_once = (memory / SLOT_MEMORY).clamp(1, cores());
        Shards {
            slots: Arc::new(Semaphore::new(at_once)),
            at_once,
            shard_weight: (memory / at_once).saturating_sub(ENCODING_MEMORY).max(1),
            part_rows: options.part_rows.unwrap_or(PART_ROWS).max(1),
        }
    }

    /// A slot for the next shard: waits while every slot is taken.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, CompactError> {
        Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| CompactError::Manifest("the shard slots closed".into()))
    }
}

/// About what an object's items take in memory once decoded, from the
/// bytes of its content and how it is encoded (measured on
/// production-like traffic: decoded spans take 1.7 times their OTLP/JSON
/// and 3.5 times their protobuf; log records 1.3 and 2.4 times).
fn decoded_weight(format: Format, content_bytes: usize) -> usize {
    match format {
        Format::Json => content_bytes.saturating_mul(2),
        Format::Protobuf => content_bytes.saturating_mul(4),
    }
}

/// Compacts the hour starting at `hour` (unix nanoseconds, a whole hour)
/// of `signal` in `store`. Idempotent; see the module documentation.
pub async fn compact_hour(
    store: &dyn ObjectStore,
    signal: Signal,
    hour: u64,
    options: CompactOptions,
) -> Result<HourReport, CompactError> {
    compact_hour_sharing(store, signal, hour, options, &Shards::of(&options)).await
}

/// [`compact_hour`], with the run's shard slots.
async fn compact_hour_sharing(
    store: &dyn ObjectStore,
    signal: Signal,
    hour: u64,
    options: CompactOptions,
    shards: &Shards,
) -> Result<HourReport, CompactError> {
    let hour = hour - hour % HOUR;
    let raw = list_raw(store, signal, hour).await?;
    let prefix = hour_prefix(signal, hour);
    let manifest_key = key(format!("{prefix}_manifest.json"))?;
    let previous = read_manifest(store, &manifest_key, &prefix).await?;
    compact_listed(store, signal, hour, options, shards, raw, previous).await
}

/// [`compact_hour_sharing`] of an hour whose raw objects were listed and
/// whose manifest was read (`previous`).
async fn compact_listed(
    store: &dyn ObjectStore,
    signal: Signal,
    hour: u64,
    options: CompactOptions,
    shards: &Shards,
    raw: Vec<RawObject>,
    mut previous: Option<Manifest>,
) -> Result<HourReport, CompactError> {
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
        deleted_raw: 0,
        upgraded_parts: 0,
        shards: 0,
    };
    let prefix = hour_prefix(signal, hour);
    let manifest_key = key(format!("{prefix}_manifest.json"))?;
    // An hour an earlier release compacted is rewritten in today's format
    // (from its parts: its raw objects may be gone), so that SQL engines
    // read every hour alike.
    let old_format = previous
        .as_ref()
        .is_some_and(|m| m.version < MANIFEST_VERSION && !m.parts.is_empty());
    // The hour's indexes, fed each part as it is written.
    let mut indexes = HourIndexes::new(signal);
    if old_format && let Some(manifest) = previous.as_mut() {
        report.upgraded_parts = manifest.parts.len();
        if !options.dry_run {
            upgrade(store, signal, hour, manifest, &mut indexes).await?;
        }
    }
    let (new, deletable) = split_new(&raw, previous.as_ref());
    let rewritten = old_format && !options.dry_run;
    if new.is_empty() && !rewritten {
        if old_format {
            report.outcome = Outcome::WouldCompact;
        } else if let Some(previous) = &previous {
            report.outcome = Outcome::UpToDate;
            report.rows = previous.rows;
            report.parts = previous.parts.len();
            if options.delete_raw && !options.dry_run {
                report.deleted_raw = delete_raw(store, &deletable).await?;
            }
        }
        return Ok(report);
    }
    report.raw_objects = new.len();
    report.raw_bytes = new.iter().map(|(_, _, size)| size).sum();
    if options.dry_run {
        report.outcome = Outcome::WouldCompact;
        return Ok(report);
    }
    let mut manifest = previous.unwrap_or_default();
    let first_part = manifest.parts.len();
    let new_keys: Vec<&str> = new.iter().map(|(k, _, _)| k.as_str()).collect();
    let run = content_id(new_keys.join("\n").as_bytes());
    let appended = append_parts(
        store,
        hour,
        shards,
        &new,
        numbered(manifest.raw.len(), new.len())?,
        &run,
        &mut indexes,
    )
    .await?;
    manifest
        .raw
        .extend(new_keys.iter().map(|k| (*k).to_owned()));
    manifest
        .unreadable
        .extend(appended.unreadable.iter().cloned());
    manifest.parts.extend(appended.parts);
    report.unreadable = appended.unreadable;
    let written = &manifest.parts[first_part..];
    report.rows = written.iter().map(|p| p.rows).sum();
    report.parts = written.len();
    report.parquet_bytes = written.iter().map(|p| p.bytes).sum();
    manifest.rows = manifest.parts.iter().map(|p| p.rows).sum();
    // Parts of earlier runs are read again for the indexes; those an
    // upgrade rewrote were indexed as they were written.
    let earlier = if rewritten { 0 } else { first_part };
    manifest.indexes = write_indexes(store, hour, indexes, &manifest.parts, earlier).await?;
    put_json(
        store,
        &manifest_key,
        manifest.to_json(signal, hour).into_bytes(),
    )
    .await?;
    report.outcome = Outcome::Compacted;
    // The manifest is the commit point; it is read again, so that a
    // compaction committed meanwhile keeps its parts.
    let current = read_manifest(store, &manifest_key, &prefix)
        .await?
        .unwrap_or_default();
    remove_unlisted_parts(store, signal, hour, &current).await?;
    if options.delete_raw {
        let covered: HashSet<&str> = current.covered().map(|(_, key)| key).collect();
        let deletable: Vec<ObjectKey> = raw
            .iter()
            .filter(|(key, _, _)| covered.contains(key.as_str()))
            .map(|(key, _, _)| key.clone())
            .collect();
        report.deleted_raw = delete_raw(store, &deletable).await?;
    }
    Ok(report)
}

/// A raw object of an hour: its key, parsed, and its size.
type RawObject = (ObjectKey, PartitionKey, u64);

/// The raw objects of `signal` in the hour, in key order.
async fn list_raw(
    store: &dyn ObjectStore,
    signal: Signal,
    hour: u64,
) -> Result<Vec<RawObject>, CompactError> {
    let raw_prefix = raw_prefix(hour);
    let listed = list_all(
        store,
        &KeyPrefix::new(raw_prefix.as_str()).map_err(storage(format!("listing {raw_prefix}")))?,
    )
    .await
    .map_err(storage(format!("listing {raw_prefix}")))?;
    let mut raw: Vec<RawObject> = listed
        .into_iter()
        .filter_map(|meta| {
            let parsed = PartitionKey::parse(&meta.key).ok()?;
            (parsed.signal == signal).then_some((meta.key, parsed, meta.size))
        })
        .collect();
    raw.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    Ok(raw)
}

/// The raw objects the manifest does not know yet (neither covered nor
/// found undecodable), and those it covers (which `delete_raw` deletes).
fn split_new<'a>(
    raw: &'a [RawObject],
    manifest: Option<&Manifest>,
) -> (Vec<&'a RawObject>, Vec<ObjectKey>) {
    let known: HashSet<&str> = manifest
        .iter()
        .flat_map(|m| m.raw.iter().chain(&m.unreadable))
        .map(String::as_str)
        .collect();
    let covered: HashSet<&str> = manifest
        .iter()
        .flat_map(|m| m.covered().map(|(_, key)| key))
        .collect();
    let (done, new): (Vec<_>, Vec<_>) = raw
        .iter()
        .partition(|(key, _, _)| known.contains(key.as_str()));
    let deletable = done
        .iter()
        .filter(|(key, _, _)| covered.contains(key.as_str()))
        .map(|(key, _, _)| key.clone())
        .collect();
    (new, deletable)
}

/// The number of the first of `more` objects after `have` in an hour's
/// manifest (rows name their object by its place in the manifest's `raw`,
/// which only ever grows).
fn numbered(have: usize, more: usize) -> Result<u32, CompactError> {
    have.checked_add(more)
        .and_then(|last| u32::try_from(last).ok())
        .and_then(|_| u32::try_from(have).ok())
        .ok_or_else(|| {
            CompactError::Manifest(format!("more than {} raw objects in one hour", u32::MAX))
        })
}

/// What compacting raw objects wrote: the parts, and the objects that
/// could not be decoded.
struct Appended {
    parts: Vec<ManifestPart>,
    unreadable: Vec<String>,
}

/// Decodes `new` in order and writes its rows as parts named after `run`
/// (objects are not split), the rows of `new[i]` numbering their object
/// `first + i`; objects that cannot be decoded are left out and listed.
///
/// Objects are cut into shards of at most `shards.part_rows` items and
/// about `shards.shard_weight` bytes decoded, each compacting to a part
/// per table. A shard takes a slot of the run when its first object is
/// decoded and keeps it until it is encoded, so the run holds no more
/// shards than it has slots, whatever the hours' sizes. Work runs on
/// every core: objects are fetched and decoded a few ahead, and each
/// shard is encoded and indexed on a blocking thread of its own while the
/// next ones fill. Parts, their rows' object numbers and the indexes are
/// the same as one thread would write with the same shards.
async fn append_parts(
    store: &dyn ObjectStore,
    hour: u64,
    shards: &Shards,
    new: &[&RawObject],
    first: u32,
    run: &str,
    indexes: &mut HourIndexes,
) -> Result<Appended, CompactError> {
    let mut appended = Appended {
        parts: Vec::new(),
        unreadable: Vec::new(),
    };
    let signal = indexes.signal();
    // Boxed, so that the future of a compaction stays `Send` whatever
    // lifetimes the objects have.
    let reads: Vec<BoxFuture<'_, Result<Decoded<'_>, CompactError>>> = new
        .iter()
        .map(|raw| fetch_and_decode(store, raw).boxed())
        .collect();
    let mut decoded = futures::stream::iter(reads).buffered(shards.at_once);
    // Shards being encoded, in order.
    let mut running: VecDeque<Shard> = VecDeque::new();
    // The shard being filled, and its slot.
    let mut slot = None;
    let mut pending: Vec<(u32, Batch)> = Vec::new();
    let (mut pending_items, mut pending_weight) = (0usize, 0usize);
    let mut numbered = 0;
    let mut index = first;
    while let Some(next) = decoded.next().await {
        let (object, decoded) = next?;
        index += 1;
        let Ok((batch, weight)) = decoded else {
            appended.unreadable.push(object.as_str().to_owned());
            continue;
        };
        if slot.is_none() {
            slot = Some(shards.slot().await?);
        }
        let index = index - 1;
        pending_items += batch.item_count();
        pending_weight += weight;
        pending.push((index, batch));
        if pending_items >= shards.part_rows || pending_weight >= shards.shard_weight {
            if running.len() >= shards.at_once
                && let Some(shard) = running.pop_front()
            {
                shard.finish(store, &mut appended.parts, indexes).await?;
            }
            let objects = std::mem::take(&mut pending);
            let slot = match slot.take() {
                Some(slot) => slot,
                None => shards.slot().await?,
            };
            running.push_back(Shard::start(hour, run, numbered, objects, signal, slot));
            numbered += 1;
            (pending_items, pending_weight) = (0, 0);
        }
    }
    drop(decoded);
    if pending_items > 0 {
        let slot = match slot.take() {
            Some(slot) => slot,
            None => shards.slot().await?,
        };
        running.push_back(Shard::start(hour, run, numbered, pending, signal, slot));
    }
    drop(slot);
    while let Some(shard) = running.pop_front() {
        shard.finish(store, &mut appended.parts, indexes).await?;
    }
    Ok(appended)
}

/// A raw object and what decoding it gave: its items and about what they
/// take in memory.
type Decoded<'a> = (&'a ObjectKey, Result<(Batch, usize), String>);

/// Reads a raw object and decodes it on a blocking thread.
async fn fetch_and_decode<'a>(
    store: &dyn ObjectStore,
    (object, parsed, _): &'a RawObject,
) -> Result<Decoded<'a>, CompactError> {
    let bytes = store
        .get(object)
        .await
        .map_err(storage(format!("reading {object}")))?;
    let parsed = parsed.clone();
    let decoded = tokio::task::spawn_blocking(move || {
        parsed
            .decode_sized(&bytes)
            .map(|(batch, size)| (batch, decoded_weight(parsed.format, size)))
    })
    .await
    .unwrap_or_else(|e| Err(format!("decoder failed: {e}")));
    Ok((object, decoded))
}

/// The cores of the machine (or those the process may use).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// The Parquet objects of a shard: (name, rows, bytes).
type Encoded = Vec<(String, usize, Bytes)>;

/// One part's objects being encoded and indexed on a blocking thread.
struct Shard {
    work: tokio::task::JoinHandle<Result<(Encoded, HourIndexes), CompactError>>,
}

impl Shard {
    /// Starts encoding `objects` as the parts numbered `number` of run
    /// `run` of the hour.
    fn start(
        hour: u64,
        run: &str,
        number: usize,
        objects: Vec<(u32, Batch)>,
        signal: Signal,
        slot: OwnedSemaphorePermit,
    ) -> Shard {
        let run = run.to_owned();
        let work = tokio::task::spawn_blocking(move || {
            // Held while the shard is encoded.
            let _slot = slot;
            let mut indexes = HourIndexes::new(signal);
            let mut encoded = Vec::new();
            let parts = otelvault_parquet::write_parts(&objects, &mut indexes)?;
            drop(objects);
            for (table, rows, bytes) in parts {
                let bytes = Bytes::from(bytes);
                let name = format!(
                    "{}part-{run}-{number:04}.parquet",
                    table_hour_prefix(table, hour)
                );
                encoded.push((name, rows, bytes));
            }
            Ok((encoded, indexes))
        });
        Shard { work }
    }

    /// Waits for the shard, stores its parts and adds them to `parts` and
    /// its indexes to `indexes`.
    async fn finish(
        self,
        store: &dyn ObjectStore,
        parts: &mut Vec<ManifestPart>,
        indexes: &mut HourIndexes,
    ) -> Result<(), CompactError> {
        let (encoded, theirs) = self.work.await.map_err(|e| CompactError::Schema {
            table: "part",
            problem: format!("encoder failed: {e}"),
        })??;
        indexes.merge(theirs);
        for (name, rows, bytes) in encoded {
            parts.push(put_parquet(store, name, rows, bytes).await?);
        }
        Ok(())
    }
}

/// Deletes the hour's parts that `current` (the committed manifest) does
/// not name: a crashed run's, or those of a compaction that lost a race
/// with this one, so that engines reading every file of a table's
/// directory count each row once; and the stale temporary files of
/// writers killed mid-write.
async fn remove_unlisted_parts(
    store: &dyn ObjectStore,
    signal: Signal,
    hour: u64,
    current: &Manifest,
) -> Result<(), CompactError> {
    let dirs: std::collections::BTreeSet<String> = Table::of(signal)
        .chain(Table::indexes_of(signal))
        .map(|table| table_hour_prefix(table, hour))
        .chain([hour_prefix(signal, hour)])
        .collect();
    // And what a compaction (or a write) killed mid-part left behind.
    for dir in dirs
        .iter()
        .map(String::as_str)
        .chain([raw_prefix(hour).as_str()])
    {
        let prefix = KeyPrefix::new(dir).map_err(storage(format!("listing {dir}")))?;
        let swept = store
            .remove_stale_temporaries(&prefix)
            .await
            .map_err(storage(format!("sweeping {dir}")))?;
        if swept > 0 {
            tracing::info!(dir, swept, "Removed temporary files a killed writer left.");
        }
    }
    for dir in dirs {
        let found = list_all(
            store,
            &KeyPrefix::new(dir.as_str()).map_err(storage(format!("listing {dir}")))?,
        )
        .await
        .map_err(storage(format!("listing {dir}")))?;
        for meta in found {
            let name = meta.key.as_str();
            let named = current
                .parts
                .iter()
                .chain(&current.indexes)
                .any(|p| p.key == name);
            if name.ends_with(".parquet") && !named {
                store
                    .delete(&meta.key)
                    .await
                    .map_err(storage(format!("deleting {}", meta.key)))?;
            }
        }
    }
    Ok(())
}

/// The hours of `[start, end)` of the days that hold raw objects.
async fn hours_with_data(
    store: &dyn ObjectStore,
    start: u64,
    end: u64,
) -> Result<Vec<u64>, CompactError> {
    let first = start - start % HOUR;
    let days = crate::days_with_data(store, first, end.max(first))
        .await
        .map_err(|e| match e {
            crate::ArchiveError::Storage { action, source } => {
                CompactError::Storage { action, source }
            }
            other => CompactError::Schema {
                table: "archive",
                problem: other.to_string(),
            },
        })?;
    Ok(days
        .into_iter()
        .flat_map(|day| (0..24).map(move |h| day + h * HOUR))
        .filter(|hour| *hour >= first && *hour < end)
        .collect())
}

/// Compacts every hour of `[start, end)` of every signal, in time order,
/// calling `each` with each hour's report and how many signal-hours are
/// done of how many. Only the days that hold raw objects are looked at, so
/// a range of years costs what the archive holds. The caller leaves out
/// the hour still being written.
pub async fn compact_range(
    store: &dyn ObjectStore,
    start: u64,
    end: u64,
    options: CompactOptions,
    mut each: impl FnMut(&HourReport, (usize, usize)),
) -> Result<(), CompactError> {
    let hours = hours_with_data(store, start, end).await?;
    let total = hours.len() * Signal::ALL.len();
    // One compaction of an archive at a time (a dry run writes nothing).
    let lease = match options.dry_run || hours.is_empty() {
        true => None,
        false => Some(Lease::acquire(store).await?),
    };
    // Signal-hours compact a few at once; their shards share the run's
    // slots, so memory stays bounded. Reports come in order.
    let shards = Shards::of(&options);
    let jobs: Vec<BoxFuture<'_, Result<HourReport, CompactError>>> = hours
        .iter()
        .flat_map(|hour| Signal::ALL.map(|signal| (*hour, signal)))
        .map(|(hour, signal)| compact_hour_sharing(store, signal, hour, options, &shards).boxed())
        .collect();
    let mut done = 0;
    run_under_lease(store, lease, jobs, shards.at_once, |report| {
        done += 1;
        each(&report, (done, total));
    })
    .await
}

/// Runs `jobs` (one per signal-hour) `at_once` at a time, handing their
/// results to `each` in order, with `lease` renewed after each and given
/// back at the end. The first error stops the run: the jobs still running
/// are dropped, and their hours converge on the next run, as after a
/// crash.
async fn run_under_lease<'a, T>(
    store: &dyn ObjectStore,
    mut lease: Option<Lease>,
    jobs: Vec<BoxFuture<'a, Result<T, CompactError>>>,
    at_once: usize,
    mut each: impl FnMut(T),
) -> Result<(), CompactError> {
    let mut running = futures::stream::iter(jobs).buffered(at_once);
    let mut result = Ok(());
    while let Some(done) = running.next().await {
        match done {
            Ok(done) => each(done),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
        if let Some(lease) = lease.as_mut()
            && let Err(e) = lease.renew(store).await
        {
            result = Err(e);
            break;
        }
    }
    drop(running);
    let released = match lease {
        Some(lease) => lease.release(store).await,
        None => Ok(()),
    };
    result.and(released)
}

/// The hour's manifest, if it has one. One that cannot be parsed stops
/// the hour: its parts may hold rows whose raw objects are gone.
async fn read_manifest(
    store: &dyn ObjectStore,
    key: &ObjectKey,
    prefix: &str,
) -> Result<Option<Manifest>, CompactError> {
    match store.get(key).await {
        Ok(bytes) => Manifest::parse(&bytes, prefix).map(Some).ok_or_else(|| {
            CompactError::Manifest(format!(
                "{key} cannot be parsed; if the hour's raw objects are all still there, delete it (and the hour's parts) to compact the hour again"
            ))
        }),
        Err(StorageError::NotFound { .. }) => Ok(None),
        Err(e) => Err(storage(format!("reading {key}"))(e)),
    }
}

/// The manifest version this release writes: 3 keeps in the lossless
/// column (`OtlpRest`) only what the SQL columns cannot say; 2 named parts
/// by key, with each table in its directory and microsecond times, and
/// kept attributes, end times and kinds in the lossless column again; 1
/// (the first release) named them beside the manifest, with nanosecond
/// times.
const MANIFEST_VERSION: u64 = 3;

/// Rewrites the parts of `manifest`, written by an earlier release, in
/// today's format, batch by batch of whole raw objects (the parts one run
/// wrote together): memory stays bounded as in compaction. The rows keep
/// their raw objects and positions. The caller writes the manifest, which
/// commits the new parts, then removes the old ones.
async fn upgrade(
    store: &dyn ObjectStore,
    signal: Signal,
    hour: u64,
    manifest: &mut Manifest,
    indexes: &mut HourIndexes,
) -> Result<(), CompactError> {
    // Part names end with -{run}-{index}.parquet: the parts of one run
    // and index hold the same raw objects, whole.
    let mut batches: Vec<(&str, Vec<&ManifestPart>)> = Vec::new();
    for part in &manifest.parts {
        let name = part.key.rsplit('/').next().unwrap_or(&part.key);
        let batch = name.split_once('-').map_or(name, |(_, batch)| batch);
        match batches.iter_mut().find(|(b, _)| *b == batch) {
            Some((_, parts)) => parts.push(part),
            None => batches.push((batch, vec![part])),
        }
    }
    let mut rewritten = Vec::new();
    for (batch, parts) in batches {
        let mut rows = Vec::new();
        for part in parts {
            let part_key = key(part.key.clone())?;
            let bytes = store
                .get(&part_key)
                .await
                .map_err(storage(format!("reading {part_key}")))?;
            rows.extend(
                tokio::task::spawn_blocking(move || {
                    otelvault_parquet::scan::all_rows(signal, bytes)
                })
                .await
                .map_err(|e| CompactError::Schema {
                    table: "part",
                    problem: format!("decoder failed: {e}"),
                })??,
            );
        }
        rows.sort_by_key(|row| (row.object, row.index));
        let objects = otelvault_parquet::scan::assemble(signal, rows)?;
        let run = content_id(format!("{batch}\nversion {MANIFEST_VERSION}").as_bytes());
        rewritten.extend(write_parts(store, hour, &run, 0, objects, indexes).await?);
    }
    manifest.parts = rewritten;
    manifest.version = MANIFEST_VERSION;
    Ok(())
}

/// Raw keys that forward markers still name: they are not deleted, so
/// that they can still be re-sent.
async fn pinned(store: &dyn ObjectStore) -> Result<HashSet<String>, CompactError> {
    let prefix = KeyPrefix::new(FORWARD_PENDING_PREFIX)
        .map_err(storage(format!("listing {FORWARD_PENDING_PREFIX}")))?;
    let mut out = HashSet::new();
    for meta in list_all(store, &prefix)
        .await
        .map_err(storage(format!("listing {FORWARD_PENDING_PREFIX}")))?
    {
        let body = match store.get(&meta.key).await {
            Ok(body) => body,
            Err(StorageError::NotFound { .. }) => continue,
            Err(e) => return Err(storage(format!("reading {}", meta.key))(e)),
        };
        out.extend(
            ForwardMarker::parse(&body)
                .map(|m| m.keys)
                .unwrap_or_default(),
        );
    }
    Ok(out)
}

/// Deletes raw objects a durable manifest covers, but those a forward
/// marker names (a later run deletes them); returns how many.
async fn delete_raw(store: &dyn ObjectStore, keys: &[ObjectKey]) -> Result<usize, CompactError> {
    if keys.is_empty() {
        return Ok(0);
    }
    let pinned = pinned(store).await?;
    let mut deleted = 0;
    for key in keys.iter().filter(|k| !pinned.contains(k.as_str())) {
        store
            .delete(key)
            .await
            .map_err(storage(format!("deleting {key}")))?;
        deleted += 1;
    }
    Ok(deleted)
}

/// Writes the objects of batch `index` of run `run` (each with its index
/// in the manifest) as one part per table they fill, in the table's
/// directory for `hour`, and adds the parts to `indexes`; returns the
/// parts' keys, rows and bytes.
async fn write_parts(
    store: &dyn ObjectStore,
    hour: u64,
    run: &str,
    index: usize,
    objects: Vec<(u32, Batch)>,
    indexes: &mut HourIndexes,
) -> Result<Vec<ManifestPart>, CompactError> {
    let mut taken = std::mem::replace(indexes, HourIndexes::new(indexes.signal()));
    let (encoded, taken) = tokio::task::spawn_blocking(move || {
        let encoded: Vec<(&'static Table, usize, Bytes)> =
            otelvault_parquet::write_parts(&objects, &mut taken)?
                .into_iter()
                .map(|(table, rows, bytes)| (table, rows, Bytes::from(bytes)))
                .collect();
        Ok::<_, CompactError>((encoded, taken))
    })
    .await
    .map_err(|e| CompactError::Schema {
        table: "part",
        problem: format!("encoder failed: {e}"),
    })??;
    *indexes = taken;
    let mut written = Vec::new();
    for (table, rows, bytes) in encoded {
        let name = format!(
            "{}part-{run}-{index:04}.parquet",
            table_hour_prefix(table, hour)
        );
        written.push(put_parquet(store, name, rows, bytes).await?);
    }
    Ok(written)
}

/// Stores a JSON object (a manifest, a plan, a shard's marker).
async fn put_json(
    store: &dyn ObjectStore,
    key: &ObjectKey,
    body: Vec<u8>,
) -> Result<(), CompactError> {
    let options = PutOptions {
        content_type: Some("application/json".into()),
        content_encoding: None,
    };
    store
        .put(key, Bytes::from(body), &options)
        .await
        .map_err(storage(format!("writing {key}")))
}

/// Stores a Parquet object (a part or an index) as the manifest will name it.
async fn put_parquet(
    store: &dyn ObjectStore,
    name: String,
    rows: usize,
    bytes: Bytes,
) -> Result<ManifestPart, CompactError> {
    let object_key = key(name.clone())?;
    let size = bytes.len() as u64;
    store
        .put(
            &object_key,
            bytes,
            &PutOptions {
                content_type: Some("application/vnd.apache.parquet".into()),
                content_encoding: None,
            },
        )
        .await
        .map_err(storage(format!("writing {object_key}")))?;
    Ok(ManifestPart {
        key: name,
        rows,
        bytes: size,
    })
}

/// Completes the hour's indexes (trace summaries, tags) with the first
/// `earlier` of its `parts`, read one at a time (the others were added as
/// they were written), and writes them beside the parts; returns what the
/// manifest names. Their names come from the parts they index, so a run
/// that is cut short and run again writes the same objects.
async fn write_indexes(
    store: &dyn ObjectStore,
    hour: u64,
    mut index: HourIndexes,
    parts: &[ManifestPart],
    earlier: usize,
) -> Result<Vec<ManifestPart>, CompactError> {
    let failed = |e: tokio::task::JoinError| CompactError::Schema {
        table: "index",
        problem: format!("indexing failed: {e}"),
    };
    let mut names = format!("indexes of version {MANIFEST_VERSION}");
    for part in parts {
        names.push('\n');
        names.push_str(&part.key);
    }
    for part in &parts[..earlier] {
        let part_key = key(part.key.clone())?;
        let bytes = store
            .get(&part_key)
            .await
            .map_err(storage(format!("reading {part_key}")))?;
        index = tokio::task::spawn_blocking(move || index.add_part(bytes).map(|()| index))
            .await
            .map_err(failed)??;
    }
    let objects = tokio::task::spawn_blocking(move || index.finish())
        .await
        .map_err(failed)??;
    let run = content_id(names.as_bytes());
    let mut written = Vec::new();
    for (table, rows, bytes) in objects {
        let name = format!("{}index-{run}.parquet", table_hour_prefix(table, hour));
        written.push(put_parquet(store, name, rows, Bytes::from(bytes)).await?);
    }
    Ok(written)
}

/// What a manifest says.
#[derive(Debug)]
pub struct Manifest {
    /// Its format version (see [`MANIFEST_VERSION`]).
    pub version: u64,
    /// Raw keys covered; a row's `OtlpObject` is an index in this list,
    /// which later runs only append to.
    pub raw: Vec<String>,
    /// Raw keys that could not be decoded.
    pub unreadable: Vec<String>,
    /// Rows in all.
    pub rows: usize,
    /// Part files.
    pub parts: Vec<ManifestPart>,
    /// Index objects derived from the parts (trace summaries, tags;
    /// version 3 on).
    pub indexes: Vec<ManifestPart>,
}

/// A part file a manifest lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPart {
    /// Its key in the archive (`parquet/…`).
    pub key: String,
    /// Its rows.
    pub rows: usize,
    /// Its size in bytes.
    pub bytes: u64,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            version: MANIFEST_VERSION,
            raw: Vec::new(),
            unreadable: Vec::new(),
            rows: 0,
            parts: Vec::new(),
            indexes: Vec::new(),
        }
    }
}

impl Manifest {
    /// The raw objects whose items the parts hold, with their numbers:
    /// those of `raw` not also listed as unreadable (a compaction numbers
    /// every object it was given, readable or not; one that cannot be
    /// decoded stays raw).
    pub fn covered(&self) -> impl Iterator<Item = (usize, &str)> {
        let unreadable: HashSet<&str> = self.unreadable.iter().map(String::as_str).collect();
        self.raw
            .iter()
            .map(String::as_str)
            .enumerate()
            .filter(move |(_, key)| !unreadable.contains(key))
    }

    fn to_json(&self, signal: Signal, hour: u64) -> String {
        json!({
            "version": MANIFEST_VERSION,
            "signal": signal.as_str(),
            "hour": hour.to_string(),
            "rows": self.rows,
            "raw": self.raw,
            "unreadable": self.unreadable,
            "parts": self
                .parts
                .iter()
                .map(|p| json!({"key": p.key, "rows": p.rows, "bytes": p.bytes}))
                .collect::<Vec<_>>(),
            "indexes": self
                .indexes
                .iter()
                .map(|p| json!({"key": p.key, "rows": p.rows, "bytes": p.bytes}))
                .collect::<Vec<_>>(),
        })
        .to_string()
    }

    /// The manifest in `bytes`, read from the directory `prefix`; `None`
    /// when the bytes are not a manifest, or name a part outside `parquet/`.
    /// (Manifests of version 1 name parts relative to their directory.)
    pub fn parse(bytes: &[u8], prefix: &str) -> Option<Manifest> {
        let value: Value = serde_json::from_slice(bytes).ok()?;
        let strings = |field: &str| -> Option<Vec<String>> {
            value[field]
                .as_array()?
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        Some(Manifest {
            version: value["version"].as_u64().unwrap_or(1),
            raw: strings("raw")?,
            unreadable: strings("unreadable").unwrap_or_default(),
            rows: usize::try_from(value["rows"].as_u64()?).ok()?,
            parts: parts(&value["parts"], prefix)?,
            indexes: match &value["indexes"] {
                Value::Null => Vec::new(),
                indexes => parts(indexes, prefix)?,
            },
        })
    }
}

/// The parts a manifest lists in `value`; `None` when one is not a part
/// or is outside `parquet/`.
fn parts(value: &Value, prefix: &str) -> Option<Vec<ManifestPart>> {
    value
        .as_array()?
        .iter()
        .map(|p| {
            let key = match (p["key"].as_str(), p["name"].as_str()) {
                (Some(key), _) => key.to_owned(),
                (None, Some(name)) if !name.contains('/') => format!("{prefix}{name}"),
                _ => return None,
            };
            let inside = key.starts_with("parquet/")
                && key
                    .split('/')
                    .all(|s| !s.is_empty() && s != "." && s != "..");
            Some(ManifestPart {
                key: inside.then_some(key)?,
                rows: usize::try_from(p["rows"].as_u64()?).ok()?,
                bytes: p["bytes"].as_u64()?,
            })
        })
        .collect()
}

pub mod fanout;

#[cfg(test)]
mod tests;
