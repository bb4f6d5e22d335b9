//! The compacted tier on the read path.
//!
//! A compacted hour's manifest lists the raw objects its Parquet parts
//! hold; a read takes those objects' items from the parts and every other
//! raw object (a late arrival, one that could not be decoded) from the raw
//! tier. Rows remember their raw object and their position in it.
//!
//! Opening an hour reads the parts' footers, skips row groups by
//! statistics and bloom filters and reads narrow columns to find the rows
//! that may match. A page then reads those rows chunk by chunk in the
//! part's order (rows sorted by service and time lie together, so each
//! part's pages are read about once however many pages the hour takes),
//! and names its position by part and chunk. A page that resumes at a raw
//! object of an hour compacted since reads that hour's newly covered
//! objects by key ([`HourScan::load`]): a cursor taken before a compaction
//! stays valid after it.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use otelvault_codec::{Batch, Signal};
use otelvault_parquet::CompactError;
use otelvault_parquet::scan::{self, Candidate, Filter, PartFile, Work};
use otelvault_storage::{ObjectKey, ObjectStore, StorageError};

use crate::{ArchiveError, Fields, Manifest, Query, hour_prefix};

pub(crate) use otelvault_codec::HOUR_NANOS as HOUR;

/// Rows read at once when loading objects, at least and at most.
const CHUNK_ROWS: Range<usize> = 1024..16_384;

/// The partition of each raw object `manifest` lists, when its key is an
/// archive key of `signal`.
fn partitions(signal: Signal, manifest: &Manifest) -> Vec<Option<u64>> {
    let mut out = vec![None; manifest.raw.len()];
    for (i, key) in manifest.covered() {
        out[i] = ObjectKey::new(key)
            .ok()
            .and_then(|key| crate::PartitionKey::parse(&key).ok())
            .filter(|parsed| parsed.signal == signal)
            .map(|parsed| parsed.partition_start);
    }
    out
}

/// The manifest of the hour starting at `hour`, if it has been compacted.
/// A manifest that cannot be parsed is ignored (the raw tier is read), with
/// a warning: compacting the hour again rewrites it.
pub(crate) async fn manifest(
    store: &dyn ObjectStore,
    signal: Signal,
    hour: u64,
) -> Result<Option<Manifest>, ArchiveError> {
    let prefix = hour_prefix(signal, hour);
    let text = format!("{prefix}_manifest.json");
    let key = ObjectKey::new(text.as_str())
        .map_err(|e| ArchiveError::storage(format!("naming {text}"), e))?;
    match store.get(&key).await {
        Ok(bytes) => {
            let manifest = Manifest::parse(&bytes, &prefix);
            if manifest.is_none() {
                tracing::warn!(key = %key, "Ignored a manifest that cannot be parsed; the hour is read from raw objects. Run compact again to rewrite it.");
            }
            Ok(manifest)
        }
        Err(StorageError::NotFound { .. }) => Ok(None),
        Err(e) => Err(ArchiveError::storage(format!("reading {key}"), e)),
    }
}

fn is_not_found(e: &CompactError) -> bool {
    matches!(
        e,
        CompactError::Storage {
            source: StorageError::NotFound { .. },
            ..
        }
    )
}

/// True when a part of `manifest` is missing for good: the hour's manifest,
/// read again, still names the same parts, so no compaction replaced them
/// meanwhile. Lifecycle rules expire objects by their own age, and an hour
/// compacted again (late data) has a manifest younger than its first parts:
/// those expire first, and the hour is then what remains.
async fn expired(
    store: &Arc<dyn ObjectStore>,
    signal: Signal,
    hour: u64,
    manifest: &Manifest,
) -> bool {
    let keys = |m: &Manifest| m.parts.iter().map(|p| p.key.clone()).collect::<Vec<_>>();
    match self::manifest(&**store, signal, hour).await {
        Ok(Some(now)) => keys(&now) == keys(manifest),
        _ => false,
    }
}

/// Why loading failed, kept for every object of a chunk.
#[derive(Debug, Clone)]
struct Failure {
    retryable: bool,
    message: String,
}

impl Failure {
    fn of(e: &CompactError) -> Failure {
        match e {
            CompactError::Storage { action, source } => Failure {
                // A part that is gone was replaced by a compaction running
                // now: the next try reads the new manifest.
                retryable: source.is_retryable() || matches!(source, StorageError::NotFound { .. }),
                message: format!("{action}: {source}"),
            },
            other => Failure {
                retryable: false,
                message: other.to_string(),
            },
        }
    }

    fn error(&self, hour: &str) -> ArchiveError {
        let message = self.message.clone();
        let source = if self.retryable {
            StorageError::Unavailable { message }
        } else {
            StorageError::Failed { message }
        };
        ArchiveError::storage(format!("reading the compacted hour {hour}"), source)
    }
}

/// Objects whose rows are read together (ascending).
struct Chunk {
    objects: Vec<u32>,
    loaded: tokio::sync::OnceCell<Result<Mutex<HashMap<u32, Batch>>, Failure>>,
}

/// Where an hour's trace summaries lie.
const SUMMARIES: &str = "parquet/trace_summaries/";
/// Where an hour's tag index of traces lies.
const TAGS: &str = "parquet/tags/traces/";

/// One compacted hour, opened for one page.
pub(crate) struct HourScan {
    signal: Signal,
    prefix: String,
    parts: Vec<PartFile>,
    /// Per part, the rows that may match, in the part's order.
    candidates: Vec<Vec<Candidate>>,
    /// Objects with rows that may match, in key order (the order a page
    /// reads them in), and their row counts.
    objects: Vec<(u32, usize)>,
    chunks: Vec<Chunk>,
    /// The manifest's version: parts of version 3 on are read by column.
    version: u64,
    /// Whether the rows that may match were looked up; if not, every row
    /// of every part is a candidate.
    find_rows: bool,
    /// Whether records are read as lines only ([`Fields::LogLines`]), and
    /// then the texts their bodies must hold: tested as lines are read,
    /// so that each body is decoded once.
    lines: Option<Arc<[String]>>,
    /// Rows of each part, as the manifest says.
    rows: Vec<usize>,
    /// Each part's key.
    part_keys: Vec<String>,
    /// The partition of each raw object the manifest lists (by index),
    /// when its key is an archive key of the signal.
    partitions: Vec<Option<u64>>,
    /// The hour's start, unix nanoseconds.
    hour: u64,
    /// The hour's trace summaries, when it has them (traces, manifest
    /// version 3 on).
    summaries: Option<PartFile>,
    /// The hour's tag index, likewise.
    tags: Option<PartFile>,
}

impl std::fmt::Debug for HourScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HourScan")
            .field("prefix", &self.prefix)
            .field("objects", &self.objects.len())
            .finish()
    }
}

/// Whether an hour's trace summaries show that it has no span of the
/// trace `query` looks up. Summaries that cannot be read say nothing: the
/// parts' own bloom filters then decide.
async fn lacks_trace(summaries: Option<&PartFile>, query: &Query) -> bool {
    let (Some(summaries), Some(id)) = (summaries, &query.trace_id) else {
        return false;
    };
    let hex = otelvault_codec::values::hex(id);
    match otelvault_parquet::summaries::may_hold_trace(summaries.clone(), &hex).await {
        Ok(may) => !may,
        Err(e) => {
            tracing::warn!(error = %e, "An hour's trace summaries could not be read: its parts are searched for the trace.");
            false
        }
    }
}

impl HourScan {
    /// Finds the rows of the raw objects `objects` (indices in the
    /// manifest, ascending) of the hour at `hour` that may match `query`
    /// over `[query.start, end)`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn open(
        store: &Arc<dyn ObjectStore>,
        signal: Signal,
        hour: u64,
        manifest: &Manifest,
        objects: &[u32],
        query: &Query,
        end: u64,
        work: &Arc<Work>,
        find_rows: bool,
    ) -> Result<HourScan, ArchiveError> {
        let prefix = hour_prefix(signal, hour);
        let index = |dir: &str| -> Result<Option<PartFile>, ArchiveError> {
            let found = manifest.indexes.iter().find(|p| p.key.starts_with(dir));
            let Some(index) = found.filter(|_| signal == Signal::Traces && manifest.version >= 3)
            else {
                return Ok(None);
            };
            let key = ObjectKey::new(index.key.as_str())
                .map_err(|e| ArchiveError::storage(format!("naming {}", index.key), e))?;
            Ok(Some(PartFile::new(
                Arc::clone(store),
                key,
                index.bytes,
                Arc::clone(work),
            )))
        };
        let (summaries, tags) = (index(SUMMARIES)?, index(TAGS)?);
        let lines = (query.fields == Fields::LogLines
            && signal == Signal::Logs
            && manifest.version >= 3
            && query.trace_id.is_none()
            && query.attributes.is_empty())
        .then(|| Arc::from(query.body_contains.as_slice()));
        let parts = manifest
            .parts
            .iter()
            .map(|part| {
                let key = ObjectKey::new(part.key.as_str())
                    .map_err(|e| ArchiveError::storage(format!("naming {}", part.key), e))?;
                Ok(PartFile::new(
                    Arc::clone(store),
                    key,
                    part.bytes,
                    Arc::clone(work),
                ))
            })
            .collect::<Result<Vec<_>, ArchiveError>>()?;
        if !find_rows {
            // A visit: every row is read, and tested as it is.
            return Ok(HourScan {
                signal,
                prefix,
                candidates: vec![Vec::new(); parts.len()],
                parts,
                objects: objects.iter().map(|o| (*o, 0)).collect(),
                chunks: Vec::new(),
                version: manifest.version,
                find_rows,
                lines,
                rows: manifest.parts.iter().map(|p| p.rows).collect(),
                part_keys: manifest.parts.iter().map(|p| p.key.clone()).collect(),
                partitions: partitions(signal, manifest),
                hour,
                summaries,
                tags,
            });
        }
        let filter = Filter {
            start: query.start,
            end,
            // Past its partition (and a tolerance), an item counts at its
            // partition's start, whatever its time says: from the end of the
            // hour on, a time is not what the rule will use.
            unreliable_from: hour.saturating_add(HOUR),
            service: query.service_name.clone(),
            trace_id: query.trace_id.clone(),
            // Row groups are skipped by the range; rows by the list below.
            objects: objects.first().copied().unwrap_or(0)
                ..objects.last().map_or(0, |last| last.saturating_add(1)),
            attributes: query
                .attributes
                .iter()
                .map(|(key, value)| (key.clone(), value.texts()))
                .collect(),
            // Read as lines, bodies are tested as they are read.
            body_contains: match lines {
                Some(_) => Vec::new(),
                None => query.body_contains.clone(),
            },
        };
        let found = if lacks_trace(summaries.as_ref(), query).await {
            // No part holds the trace: none is opened.
            parts.iter().map(|_| Ok(Vec::new())).collect()
        } else {
            let filter = Arc::new(filter);
            on_every_core(parts.iter().cloned(), |part| {
                let filter = Arc::clone(&filter);
                async move { scan::candidates(part, signal, &filter).await }
            })
            .await
        };
        let mut candidates = Vec::with_capacity(found.len());
        for (part, result) in manifest.parts.iter().zip(found) {
            let mut rows = match result {
                Err(e) if is_not_found(&e) && expired(store, signal, hour, manifest).await => {
                    tracing::warn!(
                        part = %part.key,
                        "A part its manifest names is gone (expired by the bucket's lifecycle): the hour is read without it."
                    );
                    Vec::new()
                }
                result => result.map_err(|e| Failure::of(&e).error(&prefix))?,
            };
            rows.retain(|c| objects.binary_search(&c.object).is_ok());
            rows.sort_unstable_by_key(|c| c.row);
            candidates.push(rows);
        }
        let mut counts: HashMap<u32, usize> = HashMap::new();
        for c in candidates.iter().flatten() {
            *counts.entry(c.object).or_default() += 1;
        }
        let mut objects: Vec<(u32, usize)> = counts.into_iter().collect();
        let key_of = |object: u32| manifest.raw.get(object as usize).map(String::as_str);
        objects.sort_unstable_by(|a, b| key_of(a.0).cmp(&key_of(b.0)));
        // What a page can take (one more tells it that more follow).
        let target = query
            .limit
            .saturating_add(1)
            .clamp(CHUNK_ROWS.start, CHUNK_ROWS.end);
        let mut chunks = Vec::new();
        let mut chunk = Vec::new();
        let mut rows = 0usize;
        for (i, (object, n)) in objects.iter().enumerate() {
            chunk.push(*object);
            rows += n;
            if rows >= target || i + 1 == objects.len() {
                chunk.sort_unstable();
                chunks.push(Chunk {
                    objects: std::mem::take(&mut chunk),
                    loaded: tokio::sync::OnceCell::new(),
                });
                rows = 0;
            }
        }
        Ok(HourScan {
            signal,
            prefix,
            parts,
            candidates,
            objects,
            chunks,
            version: manifest.version,
            find_rows,
            lines,
            rows: manifest.parts.iter().map(|p| p.rows).collect(),
            part_keys: manifest.parts.iter().map(|p| p.key.clone()).collect(),
            partitions: partitions(signal, manifest),
            hour,
            summaries,
            tags,
        })
    }

    /// The raw objects with rows that may match, in key order.
    pub(crate) fn objects(&self) -> impl Iterator<Item = u32> + '_ {
        self.objects.iter().map(|(object, _)| *object)
    }

    /// The items of `object` that may match, in the object's order (the
    /// caller applies the query's rule). Each object is loaded once.
    pub(crate) async fn load(&self, object: u32) -> Result<Batch, ArchiveError> {
        let Some(chunk) = self
            .chunks
            .iter()
            .find(|c| c.objects.binary_search(&object).is_ok())
        else {
            return Ok(Batch::empty(self.signal));
        };
        let loaded = chunk
            .loaded
            .get_or_init(|| self.read_chunk(&chunk.objects))
            .await;
        match loaded {
            Ok(objects) => Ok(objects
                .lock()
                .ok()
                .and_then(|mut objects| objects.remove(&object))
                .unwrap_or_else(|| Batch::empty(self.signal))),
            Err(failure) => Err(failure.error(&self.prefix)),
        }
    }

    /// How many parts the hour has.
    pub(crate) fn part_count(&self) -> usize {
        self.parts.len()
    }

    /// Every object's items that may match in part `i` (all of them when
    /// the hour was opened without looking up rows), read in one pass over
    /// the part (each page once) and rebuilt on a blocking thread: each
    /// object in order, its items in the object's order. An object with
    /// rows in several parts comes back once per part: a visit, which
    /// takes items in no particular order, needs no more.
    pub(crate) async fn read_part(&self, i: usize) -> Result<Vec<(u32, Batch)>, ArchiveError> {
        let Some((part, wanted)) = self.part(i) else {
            return Ok(Vec::new());
        };
        let wanted =
            wanted.unwrap_or_else(|| (0..self.rows.get(i).copied().unwrap_or(0) as u64).collect());
        let mut rows = read_rows(part, self.signal, wanted, self.lines.clone())
            .await
            .map_err(|e| self.failed(&e))?;
        let signal = self.signal;
        tokio::task::spawn_blocking(move || {
            rows.sort_unstable_by_key(|r| (r.object, r.index));
            scan::assemble(signal, rows)
        })
        .await
        .map_err(|e| ArchiveError::Internal(format!("assembling rows failed: {e}")))?
        .map_err(|e| self.failed(&e))
    }

    /// The hour's directory (what tells hours apart).
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether the hour's parts are read by column
    /// (`otelvault_parquet::spans`): parts of manifest version 3 on.
    pub(crate) fn columnar(&self) -> bool {
        self.version >= 3
    }

    /// The hour's start, unix nanoseconds.
    pub(crate) fn hour(&self) -> u64 {
        self.hour
    }

    /// The hour's trace summaries, if it has them.
    pub(crate) fn summaries(&self) -> Option<&PartFile> {
        self.summaries.as_ref()
    }

    /// The hour's tag index, if it has one.
    pub(crate) fn tags(&self) -> Option<&PartFile> {
        self.tags.as_ref()
    }

    /// How many raw objects the parts hold (the manifest lists those that
    /// cannot be decoded too).
    pub(crate) fn raw_objects(&self) -> usize {
        self.partitions.iter().flatten().count()
    }

    /// Part `i` and the rows of it that may match (`None`: every row).
    pub(crate) fn part(&self, i: usize) -> Option<(PartFile, Option<Vec<u64>>)> {
        let part = self.parts.get(i)?.clone();
        if !self.find_rows {
            return Some((part, None));
        }
        let mut rows: Vec<u64> = self.candidates.get(i)?.iter().map(|c| c.row).collect();
        rows.sort_unstable();
        Some((part, Some(rows)))
    }

    /// How many rows of part `i` may match.
    pub(crate) fn candidate_rows(&self, i: usize) -> u64 {
        self.candidates.get(i).map_or(0, |rows| rows.len() as u64)
    }

    /// Part `i`'s key.
    pub(crate) fn part_key(&self, i: usize) -> Option<&str> {
        self.part_keys.get(i).map(String::as_str)
    }

    /// Which part `key` is, if the manifest still names it.
    pub(crate) fn part_named(&self, key: &str) -> Option<usize> {
        self.part_keys.iter().position(|k| k == key)
    }

    /// The items of `rows` of part `i`'s candidate rows from the `first`, with the
    /// partition of the raw object each batch comes from (the caller
    /// applies the query's rule): each object's items in the object's
    /// order, objects in manifest order. A chunk's rows lie together in
    /// the part, so a read of the hour chunk after chunk reads each of its
    /// pages about once, whatever the order of the raw objects.
    pub(crate) async fn read_chunk_of_part(
        &self,
        i: usize,
        first: u64,
        rows: u64,
    ) -> Result<Vec<(u64, Batch)>, ArchiveError> {
        let (Some(part), Some(candidates)) = (self.parts.get(i), self.candidates.get(i)) else {
            return Ok(Vec::new());
        };
        let index = |n: u64| {
            usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(candidates.len())
        };
        let first = index(first);
        let last = index((first as u64).saturating_add(rows));
        let wanted: Vec<u64> = candidates[first..last].iter().map(|c| c.row).collect();
        let (signal, lines) = (self.signal, &self.lines);
        // A task of its own: chunks read ahead decode on every core.
        let read = on_every_core([(part.clone(), wanted)], |(part, wanted)| {
            read_rows(part, signal, wanted, lines.clone())
        });
        let mut rows = read
            .await
            .pop()
            .unwrap_or_else(|| Ok(Vec::new()))
            .map_err(|e| self.failed(&e))?;
        let objects = tokio::task::spawn_blocking(move || {
            rows.sort_unstable_by_key(|r| (r.object, r.index));
            scan::assemble(signal, rows)
        })
        .await
        .map_err(|e| ArchiveError::Internal(format!("assembling rows failed: {e}")))?
        .map_err(|e| self.failed(&e))?;
        Ok(objects
            .into_iter()
            .filter_map(|(object, batch)| {
                let partition = self.partitions.get(object as usize).copied().flatten()?;
                Some((partition, batch))
            })
            .collect())
    }

    /// A reading failure of this hour, as the archive reports it.
    pub(crate) fn failed(&self, e: &CompactError) -> ArchiveError {
        Failure::of(e).error(&self.prefix)
    }

    async fn read_chunk(&self, objects: &[u32]) -> Result<Mutex<HashMap<u32, Batch>>, Failure> {
        let reads = self.parts.iter().zip(&self.candidates).map(|(part, rows)| {
            let mut wanted: Vec<u64> = rows
                .iter()
                .filter(|c| objects.binary_search(&c.object).is_ok())
                .map(|c| c.row)
                .collect();
            wanted.sort_unstable();
            (part.clone(), wanted)
        });
        let (signal, lines) = (self.signal, &self.lines);
        let mut rows = Vec::new();
        let read = on_every_core(reads, |(part, wanted)| {
            read_rows(part, signal, wanted, lines.clone())
        });
        for result in read.await {
            rows.extend(result.map_err(|e| Failure::of(&e))?);
        }
        let signal = self.signal;
        let assembled = tokio::task::spawn_blocking(move || {
            rows.sort_unstable_by_key(|r| (r.object, r.index));
            scan::assemble(signal, rows)
        })
        .await
        .map_err(|e| Failure {
            retryable: false,
            message: format!("assembling rows failed: {e}"),
        })?
        .map_err(|e| Failure::of(&e))?;
        Ok(Mutex::new(assembled.into_iter().collect()))
    }
}

/// The rows `wanted` of `part`: whole, or as log lines only (those whose
/// bodies hold every text of `lines`).
async fn read_rows(
    part: PartFile,
    signal: Signal,
    wanted: Vec<u64>,
    lines: Option<Arc<[String]>>,
) -> Result<Vec<scan::Row>, CompactError> {
    match lines {
        Some(texts) => scan::read_log_lines(part, &wanted, &texts).await,
        None => scan::read_rows(part, signal, &wanted).await,
    }
}

/// `work` on each of `items` as tasks of their own, so that the parts of
/// an hour decode on every core at once; the results in `items`' order.
/// Dropping the future stops the tasks that have not finished.
async fn on_every_core<T, F, R>(
    items: impl IntoIterator<Item = T>,
    work: impl Fn(T) -> F,
) -> Vec<Result<R, CompactError>>
where
    F: Future<Output = Result<R, CompactError>> + Send + 'static,
    R: Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let work = work(item);
        tasks.spawn(async move { (i, work.await) });
        out.push(Err(CompactError::Storage {
            action: "reading a part".into(),
            source: StorageError::Unavailable {
                message: "the server is shutting down".into(),
            },
        }));
    }
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((i, result)) => out[i] = result,
            // As if the work had run here.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: the runtime is shutting down, and the error stays.
            Err(_) => {}
        }
    }
    out
}
