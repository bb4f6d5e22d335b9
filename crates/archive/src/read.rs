//! Reading: runs a query against the archive and builds one page.
//!
//! Partitions in the range are listed (a few at once) and their objects read
//! and decoded (several at once) while the page is assembled strictly in
//! archive order: listing unit, hour, the hour's compacted parts chunk by
//! chunk, then its raw objects by key, then item order inside each.
//! Partitions are listed a whole hour (or day) at a time where the range
//! covers it, which yields the same keys in the same order with far fewer
//! list requests. That order makes a position — listing unit, object key or
//! part chunk, items of it already returned — enough to resume, so
//! following cursors returns every matching item exactly once, even while
//! an hour is compacted or grows between pages (see [`Position::covered`]).
//!
//! A page stops at `limit` items, before its encoded body would pass the
//! size budget, or when the time budget is spent (with a cursor to go on).
//! Storage failures fail the page (503: retry with the same cursor). An
//! object that cannot be decoded can never become readable, so it is
//! skipped and reported in the page instead of blocking the range forever.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::SinkExt as _;
use futures::future::Either;
use futures::stream::FuturesOrdered;
use futures::{Stream, StreamExt, TryStreamExt};
use otelvault_codec::filter::{retain_items, skip_items, truncate_items};
use otelvault_codec::proto::collector_trace::ExportTraceServiceRequest;
use otelvault_codec::size::{encoded_len, item_sizes};
use otelvault_codec::view::{OtlpSpan, SpanView};
use otelvault_codec::{Batch, Compression, Format, Signal, UtcMinute};
use otelvault_parquet::CompactError;
use otelvault_parquet::scan::PartFile;
use otelvault_parquet::spans::{RecordBatch, SpanNeeds, SpanRows, SpanTest, TraceIds};
pub use otelvault_parquet::summaries::TraceSummary;
pub use otelvault_parquet::tags::Tag;
use otelvault_storage::{KeyPrefix, ObjectKey, ObjectMeta, ObjectStore, StorageError};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use tokio::sync::OnceCell;

use otelvault_parquet::scan::Work;

use crate::query::effective_time;
use crate::tier::{HOUR, HourScan, manifest};
use crate::{
    Archive, ArchiveError, ListUnit, Manifest, PartitionKey, Partitioning, Query, list_units,
};

/// Partition listings in flight at once.
const LIST_CONCURRENCY: usize = 4;
/// Object reads in flight at once.
const READ_CONCURRENCY: usize = 8;
/// Largest object accepted after decompression (ingest caps requests at 64 MiB).
const MAX_OBJECT_BYTES: usize = 256 * 1024 * 1024;
/// Memory one object may take once decoded (an object holds at most one
/// ingest request, whose own limit is far lower).
const MAX_OBJECT_DECODED: usize = 1 << 30;
/// Skipped objects named in one page at most.
const MAX_REPORTED_SKIPS: usize = 100;

use otelvault_codec::DAY_NANOS as DAY;
/// Ranges longer than this first look up which days exist (one listing per
/// level of `year=/month=/day=` that holds data), so that a range of years
/// costs what the archive holds, not one listing per hour of the range.
const LOOK_UP_DAYS_PAST: u64 = 3 * DAY;

/// The start of every day in `[start, end)` that has raw objects, oldest
/// first, found by walking the `year=`, `month=` and `day=` levels: a few
/// listings per day that exists, none per day that does not.
pub async fn days_with_data(
    store: &dyn ObjectStore,
    start: u64,
    end: u64,
) -> Result<Vec<u64>, ArchiveError> {
    existing_days(store, "", start, end, &AtomicUsize::new(0)).await
}

/// [`days_with_data`] under `base` (empty: the raw tier), counting its
/// list requests in `requests`.
async fn existing_days(
    store: &dyn ObjectStore,
    base: &str,
    start: u64,
    end: u64,
    requests: &AtomicUsize,
) -> Result<Vec<u64>, ArchiveError> {
    let first = UtcMinute::from_unix_nanos(start);
    let last = UtcMinute::from_unix_nanos(end.saturating_sub(1));
    let first = (first.year, first.month, first.day);
    let last = (last.year, last.month, last.day);
    let dirs = async |prefix: &str| {
        requests.fetch_add(1, Ordering::Relaxed);
        let listing = |e| ArchiveError::storage(format!("listing {prefix}"), e);
        let prefix = KeyPrefix::new(prefix).map_err(listing)?;
        store.list_dirs(&prefix).await.map_err(listing)
    };
    // `year=2024/month=10/` → 10.
    let value = |dir: &str, name: &str| -> Option<u32> {
        dir.trim_end_matches('/')
            .rsplit('/')
            .next()?
            .strip_prefix(name)?
            .parse()
            .ok()
    };
    let mut days = Vec::new();
    for year_dir in dirs(base).await? {
        let Some(year) = value(&year_dir, "year=").and_then(|y| i32::try_from(y).ok()) else {
            continue;
        };
        if year < first.0 || year > last.0 {
            continue;
        }
        for month_dir in dirs(&year_dir).await? {
            let Some(month) = value(&month_dir, "month=") else {
                continue;
            };
            if (year, month) < (first.0, first.1) || (year, month) > (last.0, last.1) {
                continue;
            }
            for day_dir in dirs(&month_dir).await? {
                let Some(day) = value(&day_dir, "day=") else {
                    continue;
                };
                if (year, month, day) < first || (year, month, day) > last {
                    continue;
                }
                let at = UtcMinute {
                    year,
                    month,
                    day,
                    hour: 0,
                    minute: 0,
                };
                days.extend(at.to_unix_nanos());
            }
        }
    }
    days.sort_unstable();
    days.dedup();
    Ok(days)
}

/// How a page is bounded.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Encoded size of the page's items, in the response format
    /// (`usize::MAX`: no limit, and sizes are not measured).
    pub bytes: usize,
    /// Wall-clock time spent on one page before returning what it has.
    pub time: Duration,
}

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The resolved end of the query range (fixed on the first page, so that
    /// "until now" does not move while paging).
    pub end: u64,
    /// Start of the listing unit (a partition, or a block of them) to resume in.
    pub unit_start: u64,
    /// The object key to resume at (empty: the start of the unit).
    pub key: String,
    /// Whether `key` itself still has items to return.
    pub include_key: bool,
    /// Matching items of `key` already returned.
    pub skip: u64,
    /// When `key` is a Parquet part of a compacted hour, the chunk of the
    /// rows of it that may match to resume at; `None` when it is a raw
    /// object.
    pub chunk: Option<Chunk>,
    /// The raw objects the manifest of `key`'s hour listed when the page
    /// that made this position read it: the lower ones were returned from
    /// the hour's parts before its raw objects, and those compacted since
    /// are still read once, by key.
    pub covered: u64,
}

/// Rows of a compacted part read together: of the part's rows that may
/// match a query, in the part's order, `rows` from the `first`. A page cut
/// inside a chunk resumes in the same chunk, whatever the next page's
/// limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// The first row, counted among those that may match.
    pub first: u64,
    /// How many.
    pub rows: u64,
}

/// Rows of a compacted part a page reads at once: about what it can take,
/// within the bounds of two of the parts' 2,048-row pages.
fn chunk_rows(limit: usize) -> u64 {
    limit.clamp(128, 4096) as u64
}

/// An object that was skipped because it cannot be read as OTLP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The object key.
    pub key: String,
    /// Why.
    pub error: String,
}

/// One page of results.
#[derive(Debug)]
pub struct Page {
    /// Matching items, equal resources and scopes merged.
    pub batch: Batch,
    /// Where the next page starts; `None` when the range is exhausted.
    pub next: Option<Position>,
    /// Objects skipped because they are corrupt.
    pub skipped: Vec<Skipped>,
    /// Storage work done, for logs and benchmarks.
    pub stats: Stats,
}

/// Storage work done for a page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Prefixes listed: whole hours (days) where the range covers them,
    /// single minute (hour) partitions at its edges.
    pub partitions: usize,
    /// List requests made.
    pub list_requests: usize,
    /// Objects read.
    pub objects: usize,
    /// Bytes read from storage.
    pub bytes_read: usize,
    /// Requests to the compacted tier: manifests, and ranged reads of
    /// parts (footers, bloom filters, column pages).
    pub parquet_requests: usize,
}

/// What the object stream yields, in archive order.
enum Entry {
    /// An object of the listing unit starting at `unit`, to read skipping
    /// this many matching items (its key parsed once, when listed).
    Object {
        unit: u64,
        key: ObjectKey,
        parsed: PartitionKey,
        skip: u64,
        /// What the hour's manifest covered (see [`Position::covered`]).
        covered: u64,
    },
    /// A raw object of a compacted hour, read from its Parquet parts by
    /// key: by a visit, or by a page that resumes past the parts of an
    /// hour compacted further since.
    Compacted {
        unit: u64,
        key: ObjectKey,
        parsed: PartitionKey,
        skip: u64,
        hour: Arc<HourScan>,
        object: u32,
        covered: u64,
    },
    /// A chunk of the rows of a compacted hour's part that may match.
    Chunk {
        unit: u64,
        hour: Arc<HourScan>,
        part: usize,
        chunk: Chunk,
        skip: u64,
    },
    /// Every object of the unit ending here has been yielded.
    UnitEnd(u64),
}

/// `buffered` with a window that starts small and doubles, up to
/// [`READ_CONCURRENCY`], each time the reader asks for more.
struct Readahead<S: Stream>
where
    S::Item: Future,
{
    inner: Pin<Box<S>>,
    done: bool,
    in_flight: FuturesOrdered<S::Item>,
    window: usize,
}

impl<S: Stream> Readahead<S>
where
    S::Item: Future,
{
    fn new(inner: S, window: usize) -> Self {
        Readahead {
            inner: Box::pin(inner),
            done: false,
            in_flight: FuturesOrdered::new(),
            window,
        }
    }

    fn widen(&mut self) {
        self.window = (self.window * 2).min(READ_CONCURRENCY);
    }
}

impl<S: Stream> Stream for Readahead<S>
where
    S::Item: Future,
{
    type Item = <S::Item as Future>::Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        while this.in_flight.len() < this.window && !this.done {
            match this.inner.as_mut().poll_next(cx) {
                Poll::Ready(Some(future)) => this.in_flight.push_back(future),
                Poll::Ready(None) => this.done = true,
                Poll::Pending => break,
            }
        }
        match this.in_flight.poll_next_unpin(cx) {
            Poll::Ready(None) if !this.done => Poll::Pending,
            other => other,
        }
    }
}

/// Where a page's items came from: what its position names.
#[derive(Debug, Clone)]
enum Place {
    /// A raw object (read from the raw tier or from parts).
    Raw { key: ObjectKey, covered: u64 },
    /// A chunk of a compacted hour's part.
    Chunk { part: ObjectKey, chunk: Chunk },
}

impl Place {
    fn key(&self) -> &ObjectKey {
        match self {
            Place::Raw { key, .. } | Place::Chunk { part: key, .. } => key,
        }
    }
}

/// A read and sieved object, or a unit's end.
enum Loaded {
    Object {
        unit: u64,
        place: Place,
        skip: u64,
        result: Result<Result<Batch, String>, StorageError>,
        bytes: usize,
    },
    UnitEnd(u64),
}

/// Where a listing unit is read from.
struct UnitRead<'a> {
    archive: &'a Archive,
    query: &'a Query,
    end: u64,
    /// Whether the signal has a compacted tier at all.
    tiered: bool,
    requests: &'a AtomicUsize,
    work: &'a Arc<Work>,
    /// Whether compacted hours are read for a page (chunk after chunk of
    /// the rows that may match); a visit reads every row of their parts
    /// and tests it.
    find_rows: bool,
    /// Manifests read so far: units of one hour (minutes at a range's
    /// edges) read its manifest once.
    manifests: Mutex<HashMap<u64, Arc<ManifestCell>>>,
}

/// An hour's manifest, read at most once (`None`: not compacted).
type ManifestCell = OnceCell<Option<Arc<Manifest>>>;

impl UnitRead<'_> {
    /// The manifest of the hour starting at `hour`, read once per page.
    async fn manifest(&self, hour: u64) -> Result<Option<Arc<Manifest>>, ArchiveError> {
        let cell = {
            let mut manifests = self.manifests.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(manifests.entry(hour).or_default())
        };
        cell.get_or_try_init(|| async {
            self.work.requests.fetch_add(1, Ordering::Relaxed);
            Ok(manifest(&*self.archive.store, self.query.signal, hour)
                .await?
                .map(Arc::new))
        })
        .await
        .cloned()
    }
}

/// Where a page resumes inside a listing unit.
enum Resume<'a> {
    /// At the unit's start.
    Start,
    /// Inside a compacted hour's parts: at chunk `chunk` of part `part`
    /// (which has `skip` items returned when `include`; otherwise the
    /// rows after it).
    Chunk {
        part: &'a str,
        chunk: Chunk,
        include: Option<u64>,
    },
    /// At the raw object `key` (which has `skip` items returned when
    /// `include`; otherwise the object after it), the objects of its hour
    /// below `covered` in the manifest having been read from parts.
    Raw {
        key: &'a str,
        include: Option<u64>,
        covered: u64,
    },
}

impl<'a> Resume<'a> {
    fn of(position: Option<&'a Position>, unit: &ListUnit) -> Self {
        match position {
            Some(p) if p.unit_start == unit.start && !p.key.is_empty() => {
                let include = p.include_key.then_some(p.skip);
                match p.chunk {
                    Some(chunk) => Resume::Chunk {
                        part: &p.key,
                        chunk,
                        include,
                    },
                    None => Resume::Raw {
                        key: &p.key,
                        include,
                        covered: p.covered,
                    },
                }
            }
            _ => Resume::Start,
        }
    }

    /// The hour of `unit` the position is in: a raw object's, or that of
    /// the manifest naming the part.
    async fn hour(
        &self,
        read: &UnitRead<'_>,
        unit: &ListUnit,
    ) -> Result<Option<u64>, ArchiveError> {
        match self {
            Resume::Start => Ok(None),
            Resume::Chunk { part, .. } => {
                for hour in hours_of(unit) {
                    if let Some(manifest) = read.manifest(hour).await?
                        && manifest.parts.iter().any(|p| p.key == *part)
                    {
                        return Ok(Some(hour));
                    }
                }
                Err(ArchiveError::Rewritten(format!(
                    "the compacted part {part} is gone since this cursor was made (compact upgraded its hour); run the query again from its start"
                )))
            }
            Resume::Raw { key, .. } => Ok(ObjectKey::new(*key)
                .ok()
                .and_then(|k| PartitionKey::parse(&k).ok())
                .map(|p| p.partition_start - p.partition_start % HOUR)),
        }
    }
}

/// The hours a listing unit overlaps, in order.
fn hours_of(unit: &ListUnit) -> impl Iterator<Item = u64> {
    let first = unit.start - unit.start % HOUR;
    (0..)
        .map(move |i: u64| first.saturating_add(i.saturating_mul(HOUR)))
        .take_while(move |h| *h < unit.end)
}

/// The entries of `query.signal` of one listing unit, from where `resume`
/// says, hour by hour: a compacted hour's parts chunk by chunk (only rows
/// that may match), then its raw objects (late arrivals, objects no
/// manifest covers) in key order, and the unit's end last.
async fn list_unit(
    read: &UnitRead<'_>,
    unit: ListUnit,
    position: Option<&Position>,
) -> Result<Vec<Entry>, ArchiveError> {
    let resume = Resume::of(position, &unit);
    let resume_hour = resume.hour(read, &unit).await?;
    let mut raw = raw_by_hour(read, &unit, &resume, resume_hour).await?;
    let skip_of = |key: &str| match &resume {
        Resume::Raw {
            key: k,
            include: Some(skip),
            ..
        } if *k == key => *skip,
        _ => 0,
    };
    let mut entries = Vec::new();
    for hour in hours_of(&unit) {
        if resume_hour.is_some_and(|r| hour < r) {
            continue;
        }
        let manifest = if read.tiered {
            read.manifest(hour).await?
        } else {
            None
        };
        let mut compacted = CompactedEntries::default();
        if let Some(manifest) = &manifest {
            let at = HourResume {
                resume: &resume,
                here: resume_hour == Some(hour),
                skip_of: &skip_of,
            };
            compacted = compacted_entries(read, &unit, hour, manifest, &at).await?;
        }
        entries.append(&mut compacted.chunks);
        // Raw objects no manifest covers are read from the raw tier.
        let mut objects = compacted.objects;
        for (key, parsed) in raw.remove(&hour).unwrap_or_default() {
            if !compacted.covered.contains(key.as_str()) {
                objects.push(Entry::Object {
                    unit: unit.start,
                    skip: skip_of(key.as_str()),
                    key,
                    parsed,
                    covered: compacted.counted,
                });
            }
        }
        objects.sort_by(|a, b| entry_key(a).cmp(entry_key(b)));
        entries.extend(objects);
    }
    entries.push(Entry::UnitEnd(unit.end));
    Ok(entries)
}

/// The raw objects of `read`'s signal a listing unit holds, by hour, in
/// key order, from where `resume` says (the resumed object, which may
/// have been deleted since, included when it has items left); none of an
/// hour before the resumed one.
async fn raw_by_hour(
    read: &UnitRead<'_>,
    unit: &ListUnit,
    resume: &Resume<'_>,
    resume_hour: Option<u64>,
) -> Result<BTreeMap<u64, Vec<(ObjectKey, PartitionKey)>>, ArchiveError> {
    let store = &*read.archive.store;
    let signal = read.query.signal;
    let listing = |e| ArchiveError::storage(format!("listing {}", unit.prefix), e);
    let prefix = KeyPrefix::new(unit.prefix.as_str()).map_err(listing)?;
    let after = match resume {
        Resume::Raw { key, .. } => Some((*key).to_owned()),
        _ => unit.after.clone(),
    };
    let pages: Vec<Vec<ObjectMeta>> = otelvault_storage::list(store, &prefix, after)
        .try_collect()
        .await
        .map_err(listing)?;
    read.requests
        .fetch_add(pages.len().max(1), Ordering::Relaxed);
    let parse = |key: ObjectKey| {
        // Foreign files under the prefix are not archive objects.
        let parsed = PartitionKey::parse(&key).ok()?;
        (parsed.signal == signal).then_some((key, parsed))
    };
    let resumed = match resume {
        Resume::Raw {
            key,
            include: Some(_),
            ..
        } => ObjectKey::new(*key).ok().and_then(parse),
        _ => None,
    };
    let mut raw: BTreeMap<u64, Vec<(ObjectKey, PartitionKey)>> = BTreeMap::new();
    for (key, parsed) in resumed.into_iter().chain(
        pages
            .into_iter()
            .flatten()
            .filter_map(|meta| parse(meta.key)),
    ) {
        let hour = parsed.partition_start - parsed.partition_start % HOUR;
        if resume_hour.is_none_or(|r| hour >= r) {
            raw.entry(hour).or_default().push((key, parsed));
        }
    }
    Ok(raw)
}

/// Where in a compacted hour a page resumes.
struct HourResume<'a, F> {
    resume: &'a Resume<'a>,
    /// Whether the position is in this hour.
    here: bool,
    /// The items of a raw object already returned.
    skip_of: &'a F,
}

/// What a compacted hour gives a listing unit.
#[derive(Default)]
struct CompactedEntries<'m> {
    /// Chunks of its parts, in part and row order.
    chunks: Vec<Entry>,
    /// Objects read from its parts by raw key (sorted with the raw tier's).
    objects: Vec<Entry>,
    /// The raw keys its manifest covers.
    covered: HashSet<&'m str>,
    /// How many raw objects its manifest counts (see
    /// [`Position::covered`]).
    counted: u64,
}

/// The entries of the compacted hour at `hour` (with `manifest`) in
/// `unit`: for a visit, each covered object from the parts; for a page,
/// the parts' candidate rows chunk by chunk, or, resumed at a raw object,
/// the objects compacted since, by key.
async fn compacted_entries<'m>(
    read: &UnitRead<'_>,
    unit: &ListUnit,
    hour: u64,
    manifest: &'m Arc<Manifest>,
    at: &HourResume<'_, impl Fn(&str) -> u64>,
) -> Result<CompactedEntries<'m>, ArchiveError> {
    let signal = read.query.signal;
    let in_unit =
        |key: &str| key.starts_with(&unit.prefix) && unit.after.as_deref().is_none_or(|a| key > a);
    let mut found = CompactedEntries {
        counted: manifest.raw.len() as u64,
        covered: manifest.covered().map(|(_, key)| key).collect(),
        ..CompactedEntries::default()
    };
    // The covered objects of this unit, archive keys of the signal.
    let wanted: Vec<u32> = manifest
        .covered()
        .filter(|(_, k)| {
            in_unit(k)
                && ObjectKey::new(*k)
                    .ok()
                    .and_then(|key| PartitionKey::parse(&key).ok())
                    .is_some_and(|parsed| parsed.signal == signal)
        })
        .map(|(i, _)| index(i))
        .collect::<Result<_, _>>()?;
    let open = |objects: Vec<u32>| async move {
        HourScan::open(
            &read.archive.store,
            signal,
            hour,
            manifest,
            &objects,
            read.query,
            read.end,
            read.work,
            read.find_rows,
        )
        .await
        .map(Arc::new)
    };
    match (at.resume, at.here, read.find_rows) {
        // A visit: each covered object, from the hour's parts.
        (_, _, false) => {
            if !wanted.is_empty() {
                let scan = open(wanted.clone()).await?;
                found
                    .objects
                    .extend(by_key(unit, manifest, &scan, wanted, 0, at.skip_of));
            }
        }
        // Resumed at a raw object: the parts were read before it, as the
        // manifest was then; objects compacted since are read by key, from
        // the parts, after it.
        (
            Resume::Raw {
                key,
                include,
                covered: before,
            },
            true,
            true,
        ) => {
            found.counted = *before;
            let late: Vec<u32> = wanted
                .into_iter()
                .filter(|i| u64::from(*i) >= *before)
                .filter(|i| {
                    manifest
                        .raw
                        .get(*i as usize)
                        .is_some_and(|k| k.as_str() > *key || (include.is_some() && k == key))
                })
                .collect();
            if !late.is_empty() {
                let scan = open(late.clone()).await?;
                found
                    .objects
                    .extend(by_key(unit, manifest, &scan, late, *before, at.skip_of));
            }
        }
        (_, _, true) if wanted.is_empty() => {}
        (resume, here, true) => {
            let scan = open(wanted).await?;
            found.chunks = part_chunks(unit, &scan, resume, here, read.query.limit)?;
        }
    }
    Ok(found)
}

/// The chunks of the candidate rows of `scan`'s parts, from where
/// `resume` says when the position is in this hour (`here`): the chunk a
/// page was cut in, as it was (with its items returned), then the next
/// rows, chunks of a size a page of `limit` items takes.
fn part_chunks(
    unit: &ListUnit,
    scan: &Arc<HourScan>,
    resume: &Resume<'_>,
    here: bool,
    limit: usize,
) -> Result<Vec<Entry>, ArchiveError> {
    // The part to start at, the chunk a page was cut in (with its items
    // returned), and the next row.
    let (first_part, cut, next_row) = match resume {
        Resume::Chunk {
            part,
            chunk,
            include,
        } if here => {
            let Some(i) = scan.part_named(part) else {
                return Err(ArchiveError::Rewritten(format!(
                    "the compacted hour {} was rewritten since this cursor was made (compact upgraded its parts); run the query again from its start",
                    scan.prefix()
                )));
            };
            match include {
                Some(skip) => (i, Some((*chunk, *skip)), chunk.first),
                None => (i, None, chunk.first.saturating_add(chunk.rows)),
            }
        }
        _ => (0, None, 0),
    };
    let size = chunk_rows(limit);
    let mut entries = Vec::new();
    let entry = |part, chunk, skip| Entry::Chunk {
        unit: unit.start,
        hour: Arc::clone(scan),
        part,
        chunk,
        skip,
    };
    for part in first_part..scan.part_count() {
        let mut at = 0;
        if part == first_part {
            at = next_row;
            if let Some((chunk, skip)) = cut {
                entries.push(entry(part, chunk, skip));
                at = chunk.first.saturating_add(chunk.rows);
            }
        }
        let candidates = scan.candidate_rows(part);
        while at < candidates {
            let chunk = Chunk {
                first: at,
                rows: size.min(candidates - at),
            };
            entries.push(entry(part, chunk, 0));
            at += chunk.rows;
        }
    }
    Ok(entries)
}

/// Entries reading each of `objects` (indices in `manifest`) of the
/// compacted hour `scan` by its raw key.
fn by_key<'a>(
    unit: &'a ListUnit,
    manifest: &'a Manifest,
    scan: &'a Arc<HourScan>,
    objects: Vec<u32>,
    covered: u64,
    skip_of: &'a impl Fn(&str) -> u64,
) -> impl Iterator<Item = Entry> + 'a {
    let found: HashSet<u32> = scan.objects().collect();
    objects
        .into_iter()
        .filter(move |o| found.contains(o))
        .filter_map(move |object| {
            let key = ObjectKey::new(manifest.raw.get(object as usize)?.as_str()).ok()?;
            let parsed = PartitionKey::parse(&key).ok()?;
            Some(Entry::Compacted {
                unit: unit.start,
                skip: skip_of(key.as_str()),
                key,
                parsed,
                hour: Arc::clone(scan),
                object,
                covered,
            })
        })
}

fn entry_key(entry: &Entry) -> &str {
    match entry {
        Entry::Object { key, .. } | Entry::Compacted { key, .. } => key.as_str(),
        Entry::Chunk { .. } | Entry::UnitEnd(_) => "",
    }
}

/// A manifest position as a row's object index.
fn index(position: usize) -> Result<u32, ArchiveError> {
    u32::try_from(position)
        .map_err(|_| ArchiveError::Internal("a manifest lists more than 2^32 objects".into()))
}

/// What an object gives a page once decoded: its items that match the
/// query, after the `skip` already returned, and at most one more than a
/// page can take (which tells that the object has more). Applied as soon as
/// the object is decoded, so objects read ahead hold only that.
struct Sieve {
    query: Query,
    end: u64,
    partitioning: Partitioning,
}

impl Sieve {
    fn apply(&self, batch: &mut Batch, partition: u64, skip: u64) {
        self.keep_matching(batch, partition);
        self.skip_and_bound(batch, skip);
    }

    fn keep_matching(&self, batch: &mut Batch, partition: u64) {
        let query = &self.query;
        retain_items(batch, |it| {
            query.matches(it, partition, self.end, self.partitioning)
        });
    }

    fn skip_and_bound(&self, batch: &mut Batch, skip: u64) {
        skip_items(batch, usize::try_from(skip).unwrap_or(usize::MAX));
        truncate_items(batch, self.query.limit.saturating_add(1));
    }

    /// The sieve over a chunk of a part: the items of several raw objects
    /// (each with its partition), merged in one batch in which `skip`
    /// counts.
    fn apply_to_chunk(&self, objects: Vec<(u64, Batch)>, skip: u64) -> Batch {
        let matching = objects.into_iter().map(|(partition, mut batch)| {
            self.keep_matching(&mut batch, partition);
            batch
        });
        let mut batch =
            otelvault_codec::merge(matching).unwrap_or_else(|| Batch::empty(self.query.signal));
        self.skip_and_bound(&mut batch, skip);
        batch
    }

    /// `decode`, then the sieve, on a blocking thread: as many at once as
    /// the archive has cores, since decoding is CPU work and a decoded
    /// object can take many times its stored size.
    async fn run(
        self: &Arc<Self>,
        archive: &Archive,
        partition: u64,
        skip: u64,
        decode: impl FnOnce() -> Result<Batch, String> + Send + 'static,
    ) -> Result<Batch, String> {
        // The semaphore is never closed.
        let permit = archive.decodes.acquire().await.ok();
        let sieve = Arc::clone(self);
        let result = tokio::task::spawn_blocking(move || {
            let mut batch = decode()?;
            sieve.apply(&mut batch, partition, skip);
            Ok(batch)
        })
        .await
        .unwrap_or_else(|e| Err(format!("decoder failed: {e}")));
        drop(permit);
        result
    }
}

async fn load(
    archive: &Archive,
    sieve: &Arc<Sieve>,
    unit: u64,
    (key, covered): (ObjectKey, u64),
    parsed: PartitionKey,
    skip: u64,
) -> Loaded {
    let partition = parsed.partition_start;
    let raw = match archive.store.get(&key).await {
        Ok(raw) => raw,
        // Deleted since it was listed (lifecycle expiry): nothing to return.
        Err(StorageError::NotFound { .. }) => Bytes::new(),
        Err(e) => {
            return Loaded::Object {
                unit,
                place: Place::Raw { key, covered },
                skip,
                result: Err(e),
                bytes: 0,
            };
        }
    };
    let bytes = raw.len();
    let decoded = sieve
        .run(archive, partition, skip, move || parsed.decode(&raw))
        .await;
    Loaded::Object {
        unit,
        place: Place::Raw { key, covered },
        skip,
        result: Ok(decoded),
        bytes,
    }
}

/// Loads a raw object of a compacted hour from its parts and sieves it.
#[allow(clippy::too_many_arguments)]
async fn load_compacted(
    archive: &Archive,
    sieve: &Arc<Sieve>,
    unit: u64,
    (key, covered): (ObjectKey, u64),
    parsed: PartitionKey,
    skip: u64,
    hour: &HourScan,
    object: u32,
) -> Result<Loaded, ArchiveError> {
    let batch = hour.load(object).await?;
    let sieved = sieve
        .run(archive, parsed.partition_start, skip, move || Ok(batch))
        .await;
    Ok(Loaded::Object {
        unit,
        place: Place::Raw { key, covered },
        skip,
        result: Ok(sieved),
        bytes: 0,
    })
}

/// Loads a chunk of a compacted hour's part and sieves it.
async fn load_chunk(
    archive: &Archive,
    sieve: &Arc<Sieve>,
    unit: u64,
    hour: &HourScan,
    (part, chunk): (usize, Chunk),
    skip: u64,
) -> Result<Loaded, ArchiveError> {
    let key = hour.part_key(part).unwrap_or_default();
    let key = ObjectKey::new(key).map_err(|e| ArchiveError::storage(format!("naming {key}"), e))?;
    let objects = hour
        .read_chunk_of_part(part, chunk.first, chunk.rows)
        .await?;
    // The semaphore is never closed.
    let permit = archive.decodes.acquire().await.ok();
    let sieve = Arc::clone(sieve);
    let batch = tokio::task::spawn_blocking(move || sieve.apply_to_chunk(objects, skip))
        .await
        .map_err(|e| ArchiveError::Internal(format!("sieving rows failed: {e}")))?;
    drop(permit);
    Ok(Loaded::Object {
        unit,
        place: Place::Chunk { part: key, chunk },
        skip,
        result: Ok(Ok(batch)),
        bytes: 0,
    })
}

impl PartitionKey {
    /// Decodes an object's content as its key says it is encoded; the
    /// error says why it cannot be read.
    pub fn decode(&self, raw: &[u8]) -> Result<Batch, String> {
        self.decode_sized(raw).map(|(batch, _)| batch)
    }

    /// [`PartitionKey::decode`], with the bytes of the content
    /// decompressed.
    pub fn decode_sized(&self, raw: &[u8]) -> Result<(Batch, usize), String> {
        if raw.is_empty() {
            return Ok((Batch::empty(self.signal), 0));
        }
        // Bounded like a request: a planted or corrupt object cannot take
        // the reader's memory.
        let decode = |data: &[u8]| {
            Batch::decode_limited(self.signal, self.format, data, MAX_OBJECT_DECODED)
                .map(|batch| (batch, data.len()))
                .map_err(|e| e.to_string())
        };
        if self.compression == Compression::None {
            return decode(raw);
        }
        INFLATED.with_borrow_mut(|room| {
            let decoded = self
                .compression
                .decompress_over(raw, MAX_OBJECT_BYTES, room)
                .map_err(|e| e.to_string())
                .and_then(decode);
            if room.capacity() > INFLATED_KEPT {
                *room = Vec::new();
            }
            decoded
        })
    }
}

/// The largest decompression buffer a thread keeps between objects.
const INFLATED_KEPT: usize = 2 << 20;

thread_local! {
    /// Each thread's decompression buffer: objects (hundreds of KiB of
    /// JSON each in a busy hour) are decompressed one after another into
    /// the same memory, not each into fresh pages.
    static INFLATED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// How many leading items of `batch` fit in `room` bytes, from the size of
/// the whole and of each item: never more than fit, and no encoding per
/// candidate cut.
fn items_that_fit(batch: &Batch, whole: usize, format: Format, room: usize) -> usize {
    let sizes = item_sizes(batch, format);
    let mut used = whole.saturating_sub(sizes.iter().sum());
    sizes
        .iter()
        .take_while(|size| {
            used += **size;
            used <= room
        })
        .count()
}
impl Archive {
    /// Runs one page of `query`, from `resume` (a cursor's position) or from
    /// the start of the range. `now` resolves an open end of the range on
    /// the first page.
    pub async fn read(
        &self,
        query: &Query,
        resume: Option<Position>,
        now: u64,
        format: Format,
        budget: Budget,
    ) -> Result<Page, ArchiveError> {
        let started = Instant::now();
        let end = match &resume {
            Some(p) => p.end,
            None if query.end == 0 => now.max(query.start.saturating_add(1)),
            None => query.end,
        };
        let list_requests = &AtomicUsize::new(0);
        let tiered = self.has_tier(query, list_requests).await?;
        let units = self
            .units_to_read(query, end, resume.as_ref(), tiered, list_requests)
            .await?;
        let mut page = PageFill::new(query, end, format, budget, started, units.len());
        let sieve = &Arc::new(Sieve {
            query: query.clone(),
            end,
            partitioning: self.layout.partitioning,
        });
        let work = &Arc::new(Work::default());
        let read = &UnitRead {
            archive: self,
            query,
            end,
            tiered,
            requests: list_requests,
            work,
            find_rows: true,
            manifests: Mutex::default(),
        };
        // The resumed unit starts at the resumed object or chunk (itself
        // included when it has items left), the others where their
        // listing starts.
        let listings = futures::stream::iter(units)
            .map(|unit| list_unit(read, unit, resume.as_ref()))
            .buffered(LIST_CONCURRENCY);
        let loads = listings
            .map_ok(|entries| futures::stream::iter(entries.into_iter().map(Ok::<_, ArchiveError>)))
            .try_flatten()
            .map(|entry| load_entry(self, sieve, entry));
        // A resumed page most often continues inside one object that fills
        // it: read ahead only as the page proves to need more.
        let mut loaded = Readahead::new(loads, if resume.is_some() { 1 } else { 2 });
        let mut next = None;
        while let Some(item) = loaded.next().await {
            next = match item? {
                Loaded::UnitEnd(unit_end) => page.unit_end(unit_end),
                Loaded::Object {
                    unit,
                    place,
                    skip,
                    result,
                    bytes,
                } => page.object(unit, place, skip, result, bytes)?,
            };
            if next.is_some() {
                break;
            }
            loaded.widen();
        }
        drop(loaded);
        page.stats.list_requests = list_requests.load(Ordering::Relaxed);
        page.stats.parquet_requests = work.requests.load(Ordering::Relaxed);
        page.stats.bytes_read += work.bytes.load(Ordering::Relaxed);
        Ok(page.finish(next))
    }

    /// Whether the query's signal has a compacted tier: one listing, and
    /// none of the manifest lookups when it has not.
    async fn has_tier(&self, query: &Query, requests: &AtomicUsize) -> Result<bool, ArchiveError> {
        let tier = format!("parquet/{}/", query.signal.as_str());
        let listing = |e| ArchiveError::storage(format!("listing {tier}"), e);
        let prefix = KeyPrefix::new(tier.as_str()).map_err(listing)?;
        requests.fetch_add(1, Ordering::Relaxed);
        Ok(!self
            .store
            .list_dirs(&prefix)
            .await
            .map_err(listing)?
            .is_empty())
    }

    /// The listing units of the page, from the resumed one on. Positions
    /// name the unit they are in; units are recomputed identically on every
    /// page because the range (end included) is fixed.
    async fn units_to_read(
        &self,
        query: &Query,
        end: u64,
        resume: Option<&Position>,
        tiered: bool,
        requests: &AtomicUsize,
    ) -> Result<Vec<ListUnit>, ArchiveError> {
        let store = &*self.store;
        let partitioning = self.layout.partitioning;
        let first_unit = resume.map_or(0, |p| p.unit_start);
        let range_end = end.saturating_add(partitioning.late_arrival());
        if range_end.saturating_sub(query.start) <= LOOK_UP_DAYS_PAST {
            return Ok(list_units(query.start, range_end, partitioning.granularity)
                .into_iter()
                .filter(|u| u.start >= first_unit)
                .collect());
        }
        // A long range: list only the days that exist, in either tier.
        // Within a day the units are the ones the whole range would give, so
        // positions stay valid from page to page.
        let mut days = existing_days(store, "", query.start, range_end, requests).await?;
        if tiered {
            let tier = format!("parquet/{}/", query.signal.as_str());
            days.extend(existing_days(store, &tier, query.start, range_end, requests).await?);
            days.sort_unstable();
            days.dedup();
        }
        Ok(days
            .into_iter()
            .flat_map(|day| {
                list_units(
                    day.max(query.start),
                    day.saturating_add(DAY).min(range_end),
                    partitioning.granularity,
                )
            })
            .filter(|u| u.start >= first_unit)
            .collect())
    }
}

/// What a visit of a range did.
#[derive(Debug, Default)]
pub struct Visit {
    /// Items handed over.
    pub items: usize,
    /// Whether the whole range was read: false when the time ran out or
    /// the visitor asked to stop.
    pub complete: bool,
    /// Objects skipped because they are corrupt.
    pub skipped: Vec<Skipped>,
    /// Storage work done.
    pub stats: Stats,
}

impl Visit {
    fn skip(&mut self, key: ObjectKey, error: String) {
        tracing::warn!(key = %key, error, "Skipped an unreadable archive object.");
        if self.skipped.len() < MAX_REPORTED_SKIPS {
            self.skipped.push(Skipped {
                key: key.into_string(),
                error,
            });
        }
    }
}

/// A compacted hour a visit reads, with the partition of each of its
/// objects to read.
type VisitedHour = (Arc<HourScan>, HashMap<u32, u64>);

/// The compacted hours of listing units' entries, and their raw objects.
type UnitEntries = (Vec<VisitedHour>, Vec<(u64, ObjectKey, PartitionKey)>);

fn split_entries(entries: Vec<Entry>) -> UnitEntries {
    let mut hours: Vec<VisitedHour> = Vec::new();
    let mut raw = Vec::new();
    for entry in entries {
        match entry {
            Entry::Object {
                unit, key, parsed, ..
            } => raw.push((unit, key, parsed)),
            Entry::Compacted {
                hour,
                object,
                parsed,
                ..
            } => {
                let partition = parsed.partition_start;
                // Units of one hour (minutes at a range's edges) each open
                // it: its parts are read once, for all their objects.
                match hours.iter_mut().find(|(h, _)| h.prefix() == hour.prefix()) {
                    Some((_, objects)) => {
                        objects.insert(object, partition);
                    }
                    None => hours.push((hour, HashMap::from([(object, partition)]))),
                }
            }
            Entry::Chunk { .. } | Entry::UnitEnd(_) => {}
        }
    }
    (hours, raw)
}

/// Parts of compacted hours decoded at once by a visit.
const DECODE_CONCURRENCY: usize = 4;

/// Batches of one part, decoded by a task of their own.
type PartBatches = futures::channel::mpsc::Receiver<Result<RecordBatch, CompactError>>;

/// Reads part `part` of `needs` on a task of its own, a batch or two
/// ahead of the visit: parts decode on every core while the visit, on
/// one, tests their rows.
fn decode_part(part: PartFile, rows: PartRows, needs: SpanNeeds) -> PartBatches {
    let (mut sender, receiver) = futures::channel::mpsc::channel(1);
    tokio::spawn(async move {
        let rows = match &rows {
            PartRows::All => SpanRows::All,
            PartRows::Rows(rows) => SpanRows::Rows(rows),
            PartRows::Traces(traces) => SpanRows::Traces(traces),
            PartRows::Matching(test) => SpanRows::Matching(test),
        };
        let batches = otelvault_parquet::spans::span_batches(part, rows, needs).await;
        let mut batches = match batches {
            Ok(batches) => batches,
            Err(e) => {
                let _ = sender.send(Err(e)).await;
                return;
            }
        };
        while let Some(batch) = batches.next().await {
            let batch = batch.map_err(CompactError::Parquet);
            // The visit stopped: so does the read.
            if sender.send(batch).await.is_err() {
                return;
            }
        }
    });
    receiver
}

/// The rows of a part a visit reads ([`SpanRows`], owned).
#[derive(Debug, Clone)]
enum PartRows {
    All,
    Rows(Vec<u64>),
    Traces(Arc<TraceIds>),
    Matching(SpanTest),
}

/// A span visit under way: its range, its time, and what it has done.
struct SpanVisit {
    start: u64,
    end: u64,
    partitioning: Partitioning,
    started: Instant,
    time: Duration,
    needs: SpanNeeds,
    visit: Visit,
    /// The visitor asked to stop, or the time ran out.
    stopped: bool,
}

/// Hands each span of `request` to `each`; false once `each` asks to stop.
fn spans_of(
    request: &ExportTraceServiceRequest,
    mut each: impl FnMut(&OtlpSpan<'_>) -> bool,
) -> bool {
    for rs in &request.resource_spans {
        let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes);
        for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
            if !each(&OtlpSpan { resource, span }) {
                return false;
            }
        }
    }
    true
}

impl SpanVisit {
    /// Whether a span of raw object `object` (of a compacted hour whose
    /// objects' partitions are `objects`) counts in the range.
    fn in_range(&self, object: u32, span: &dyn SpanView, objects: &HashMap<u32, u64>) -> bool {
        objects.get(&object).is_some_and(|partition| {
            let t = effective_time(span.start(), *partition, self.partitioning);
            t >= self.start && t < self.end
        })
    }

    /// Stops the visit once its time has passed.
    fn check_time(&mut self) {
        if self.started.elapsed() >= self.time {
            self.stopped = true;
        }
    }

    /// The raw objects' spans, decoded (the sieve keeps those in range).
    async fn raw_objects(
        &mut self,
        archive: &Archive,
        sieve: &Arc<Sieve>,
        raw: Vec<(u64, ObjectKey, PartitionKey)>,
        each: &mut impl FnMut(&dyn SpanView) -> bool,
    ) -> Result<(), ArchiveError> {
        let mut loads = futures::stream::iter(raw)
            .map(|(unit, key, parsed)| load(archive, sieve, unit, (key, 0), parsed, 0))
            .buffer_unordered(READ_CONCURRENCY);
        while !self.stopped
            && let Some(loaded) = loads.next().await
        {
            let Loaded::Object {
                place,
                result,
                bytes,
                ..
            } = loaded
            else {
                continue;
            };
            let key = place.key().clone();
            self.visit.stats.objects += 1;
            self.visit.stats.bytes_read += bytes;
            match result {
                Err(e) => return Err(ArchiveError::storage(format!("reading {key}"), e)),
                Ok(Err(error)) => self.visit.skip(key, error),
                Ok(Ok(Batch::Traces(request))) => {
                    let items = &mut self.visit.items;
                    self.stopped = !spans_of(&request, |span| {
                        *items += 1;
                        each(span)
                    });
                }
                Ok(Ok(_)) => {}
            }
            self.check_time();
        }
        Ok(())
    }

    /// The spans of hours compacted by earlier versions: their parts are
    /// rebuilt whole.
    async fn rebuilt_hours(
        &mut self,
        hours: &[VisitedHour],
        each: &mut impl FnMut(&dyn SpanView) -> bool,
    ) -> Result<(), ArchiveError> {
        for (hour, objects) in hours.iter().filter(|(h, _)| !h.columnar()) {
            self.visit.stats.objects += objects.len();
            for i in 0..hour.part_count() {
                if self.stopped {
                    return Ok(());
                }
                for (object, batch) in hour.read_part(i).await? {
                    let Batch::Traces(request) = batch else {
                        continue;
                    };
                    let mut items = 0;
                    let go_on = spans_of(&request, |span| {
                        if !self.in_range(object, span, objects) {
                            return true;
                        }
                        items += 1;
                        each(span)
                    });
                    self.visit.items += items;
                    if !go_on {
                        self.stopped = true;
                        return Ok(());
                    }
                }
                self.check_time();
            }
        }
        Ok(())
    }

    /// The spans of hours compacted by this version, by column, several
    /// parts decoding at once: of each hour `which` names (an index in
    /// `hours`), the rows it says.
    async fn columnar_hours(
        &mut self,
        hours: &[VisitedHour],
        which: &[(usize, PartRows)],
        each: &mut impl FnMut(&dyn SpanView) -> bool,
    ) -> Result<(), ArchiveError> {
        let needs = self.needs;
        let parts: Vec<(usize, PartFile, PartRows)> = which
            .iter()
            .flat_map(|(n, rows)| {
                let hour = &hours[*n].0;
                (0..hour.part_count()).filter_map(move |i| {
                    let (part, found) = hour.part(i)?;
                    let rows = match (found, rows) {
                        (Some(found), _) => PartRows::Rows(found),
                        (None, rows) => rows.clone(),
                    };
                    Some((*n, part, rows))
                })
            })
            .collect();
        let mut decoding = futures::stream::iter(parts)
            .map(|(n, part, rows)| {
                let passed = matches!(rows, PartRows::Matching(_));
                futures::future::ready((n, passed, decode_part(part, rows, needs)))
            })
            .buffer_unordered(DECODE_CONCURRENCY)
            .map(|(n, passed, batches)| batches.map(move |batch| (n, passed, batch)))
            .flatten_unordered(DECODE_CONCURRENCY);
        while !self.stopped
            && let Some((n, passed, batch)) = decoding.next().await
        {
            let (hour, objects) = &hours[n];
            let batch = batch.map_err(|e| hour.failed(&e))?;
            let mut items = 0;
            let finished =
                otelvault_parquet::spans::visit_batch(&batch, needs, passed, |object, span| {
                    if !self.in_range(object, span, objects) {
                        return true;
                    }
                    items += 1;
                    each(span)
                })
                .map_err(|e| hour.failed(&e))?;
            self.visit.items += items;
            self.stopped = !finished;
            self.check_time();
        }
        Ok(())
    }

    /// Whether hour `n` of `hours` can answer by its trace summaries: it
    /// has them, lies wholly in the range and every raw object it covers is
    /// listed, so that each of its spans counts in the range by its own
    /// start (or, lacking a usable one, by its partition, which is in the
    /// range too).
    fn summarizable(&self, (hour, objects): &VisitedHour) -> bool {
        hour.columnar()
            && hour.summaries().is_some()
            && hour.hour() >= self.start
            && hour.hour().saturating_add(HOUR) <= self.end
            && objects.len() == hour.raw_objects()
    }

    /// The summaries of hours `which` of `hours`: each trace whose spans
    /// in the hour all lie in the range goes to `each` (with its id); the
    /// spans of a trace that the range cuts (late spans of the first hour,
    /// say) are visited instead. What was summarized, by hour.
    async fn summarized_hours(
        &mut self,
        hours: &[VisitedHour],
        which: Vec<usize>,
        services: bool,
        each: &mut impl FnMut(&dyn SpanView) -> bool,
        each_summary: &mut impl FnMut([u8; 16], &TraceSummary<'_>) -> bool,
    ) -> Result<Vec<(usize, Vec<u128>)>, ArchiveError> {
        let mut reading = futures::stream::iter(which)
            .map(|n| async move {
                let hour = &hours[n].0;
                let Some(part) = hour.summaries() else {
                    return Ok((n, Vec::new()));
                };
                otelvault_parquet::summaries::read_summaries(part.clone(), services)
                    .await
                    .map(|batches| (n, batches))
                    .map_err(|e| hour.failed(&e))
            })
            .buffered(LIST_CONCURRENCY);
        let mut summarized = Vec::new();
        let mut cut = Vec::new();
        while !self.stopped
            && let Some(read) = reading.next().await
        {
            let (n, batches) = read?;
            let (mut ids, mut spans_of_cut) = (Vec::new(), TraceIds::new());
            let (start, end) = (self.start, self.end);
            let mut go_on = true;
            for batch in &batches {
                otelvault_parquet::summaries::visit_summaries(batch, |summary| {
                    // The trace's spans lie in [start, end + 999 ns].
                    let last = summary.end.saturating_add(999);
                    let id = trace_key(summary.trace_id);
                    let inside = summary.start >= start && summary.start > 0 && last < end;
                    let outside = summary.start > 0 && last < start;
                    match id {
                        Some(id) if inside => {
                            if go_on {
                                ids.push(u128::from_be_bytes(id));
                                self.visit.items += usize::try_from(summary.spans).unwrap_or(0);
                                go_on = each_summary(id, summary);
                            }
                        }
                        _ if outside => {}
                        _ => {
                            spans_of_cut.insert(summary.trace_id.to_owned());
                        }
                    }
                })
                .map_err(|e| hours[n].0.failed(&e))?;
            }
            self.stopped |= !go_on;
            ids.sort_unstable();
            summarized.push((n, ids));
            if !spans_of_cut.is_empty() {
                cut.push((n, PartRows::Traces(Arc::new(spans_of_cut))));
            }
            self.check_time();
        }
        drop(reading);
        self.columnar_hours(hours, &cut, each).await?;
        Ok(summarized)
    }
}

/// A visit once listed, with what must be decoded whole read.
struct Opened {
    visit: SpanVisit,
    hours: Vec<VisitedHour>,
    list_requests: usize,
    work: Arc<Work>,
}

impl SpanVisit {
    /// What the visit did, with its listing and Parquet work.
    fn done(self, list_requests: usize, work: &Work) -> Visit {
        let mut done = self.visit;
        done.complete = !self.stopped;
        done.stats.list_requests = list_requests;
        done.stats.parquet_requests = work.requests.load(Ordering::Relaxed);
        done.stats.bytes_read += work.bytes.load(Ordering::Relaxed);
        done
    }

    /// The tag indexes of hours `which` of `hours` (rows of `key` only,
    /// with one), handed to `each`, of the hours whose summaries show that
    /// every span lies in the range; the others, to be visited by span.
    async fn tagged_hours(
        &mut self,
        hours: &[VisitedHour],
        which: Vec<usize>,
        key: Option<&str>,
        each: &mut impl FnMut(&Tag<'_>) -> bool,
    ) -> Result<Vec<usize>, ArchiveError> {
        let (start, end) = (self.start, self.end);
        let mut reading = futures::stream::iter(which)
            .map(|n| async move {
                let hour = &hours[n].0;
                let (Some(summaries), Some(tags)) = (hour.summaries(), hour.tags()) else {
                    return Ok((n, None));
                };
                let failed = |e: CompactError| hour.failed(&e);
                let summaries =
                    otelvault_parquet::summaries::read_summaries(summaries.clone(), false)
                        .await
                        .map_err(failed)?;
                let mut inside = true;
                for batch in &summaries {
                    otelvault_parquet::summaries::visit_summaries(batch, |s| {
                        inside &=
                            s.start >= start && s.start > 0 && s.end.saturating_add(999) < end;
                    })
                    .map_err(failed)?;
                }
                if !inside {
                    return Ok((n, None));
                }
                otelvault_parquet::tags::read_tags(tags.clone(), key)
                    .await
                    .map(|batches| (n, Some(batches)))
                    .map_err(failed)
            })
            .buffered(LIST_CONCURRENCY);
        let mut by_span = Vec::new();
        while !self.stopped
            && let Some(read) = reading.next().await
        {
            let (n, batches) = read?;
            let Some(batches) = batches else {
                by_span.push(n);
                continue;
            };
            let mut go_on = true;
            for batch in &batches {
                otelvault_parquet::tags::visit_tags(batch, |tag| {
                    if key.is_none_or(|k| tag.key == k) {
                        go_on = go_on && each(tag);
                    }
                })
                .map_err(|e| hours[n].0.failed(&e))?;
            }
            self.stopped |= !go_on;
            self.check_time();
        }
        Ok(by_span)
    }
}

/// A trace id in hex as 16 bytes, if it is one.
fn trace_key(hex: &str) -> Option<[u8; 16]> {
    if hex.len() != 32 {
        return None;
    }
    u128::from_str_radix(hex, 16).ok().map(u128::to_be_bytes)
}

/// What a visit of traces read ([`Archive::visit_traces`]).
#[derive(Debug)]
pub struct TraceVisit {
    /// Spans handed over (with those of summaries) and the work done.
    pub visit: Visit,
    /// The hours answered by their summaries, for
    /// [`Archive::visit_summarized`].
    pub summarized: Summarized,
}

/// The hours a visit of traces answered by their summaries, with the
/// traces each summarized.
pub struct Summarized {
    hours: Vec<VisitedHour>,
    traces: Vec<Vec<u128>>,
    start: u64,
    end: u64,
    partitioning: Partitioning,
    work: Arc<Work>,
}

impl std::fmt::Debug for Summarized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Summarized")
            .field("hours", &self.hours.len())
            .finish()
    }
}

impl Summarized {
    /// Whether any hour was summarized.
    pub fn is_empty(&self) -> bool {
        self.hours.is_empty()
    }
}

/// Which spans of summarized hours [`Archive::visit_summarized`] hands
/// over.
#[derive(Debug, Clone, Copy)]
pub enum SummarizedSpans<'a> {
    /// The spans of these traces.
    Traces(&'a [[u8; 16]]),
    /// The spans in range that pass a test, as views of their trace id and
    /// start alone: what decides a condition that summaries cannot. The
    /// rest of a row is never decoded, nor its trace id unless it passes.
    Passing(&'a SpanTest),
}

/// How a visit of traces may use summaries.
#[derive(Debug, Clone, Copy)]
pub struct SummaryUse {
    /// Whether the summaries handed over say which services a trace went
    /// through ([`TraceSummary::has_service`]).
    pub services: bool,
}

impl Archive {
    /// Hands every span that starts in `[start, end)` (by the archive's
    /// rule, as [`Archive::read`] counts it) to `each`, in no particular
    /// order, until `each` returns false or `time` has passed. Spans of
    /// compacted hours are read from the columns a search needs
    /// ([`SpanNeeds`]) and never rebuilt as OTLP; those of raw objects are
    /// decoded. A span's view outlives neither the call nor the batch it
    /// was read in. `now` resolves an open end (0).
    pub async fn visit_spans(
        &self,
        start: u64,
        end: u64,
        now: u64,
        time: Duration,
        needs: SpanNeeds,
        each: impl FnMut(&dyn SpanView) -> bool,
    ) -> Result<Visit, ArchiveError> {
        let visit = self
            .visit_traces(start, end, now, time, needs, None, each, |_, _| true)
            .await?;
        Ok(visit.visit)
    }

    /// As [`Archive::visit_spans`], except that with `summaries`, a
    /// compacted hour that lies wholly in the range hands over one
    /// summary per trace (to `each_summary`, with the trace's id) instead
    /// of its spans: all of the trace's spans in that hour, in the range.
    /// A trace may have spans in several hours, each summarized or not.
    /// [`Archive::visit_summarized`] then visits the spans of chosen
    /// traces in the summarized hours.
    #[allow(clippy::too_many_arguments)]
    pub async fn visit_traces(
        &self,
        start: u64,
        end: u64,
        now: u64,
        time: Duration,
        needs: SpanNeeds,
        summaries: Option<SummaryUse>,
        mut each: impl FnMut(&dyn SpanView) -> bool,
        mut each_summary: impl FnMut([u8; 16], &TraceSummary<'_>) -> bool,
    ) -> Result<TraceVisit, ArchiveError> {
        let Opened {
            mut visit,
            hours,
            list_requests,
            work,
        } = self
            .open_visit(start, end, now, time, needs, &mut each)
            .await?;
        let (start, end, partitioning) = (visit.start, visit.end, visit.partitioning);
        let (by_summary, by_span): (Vec<usize>, Vec<usize>) = (0..hours.len())
            .filter(|n| hours[*n].0.columnar())
            .partition(|n| summaries.is_some() && visit.summarizable(&hours[*n]));
        let by_span: Vec<(usize, PartRows)> =
            by_span.into_iter().map(|n| (n, PartRows::All)).collect();
        visit.columnar_hours(&hours, &by_span, &mut each).await?;
        let services = summaries.is_some_and(|s| s.services);
        let summarized = visit
            .summarized_hours(&hours, by_summary, services, &mut each, &mut each_summary)
            .await?;
        let done = visit.done(list_requests, &work);
        let (hours, traces) = summarized
            .into_iter()
            .map(|(n, ids)| (hours[n].clone(), ids))
            .unzip();
        Ok(TraceVisit {
            visit: done,
            summarized: Summarized {
                hours,
                traces,
                start,
                end,
                partitioning,
                work,
            },
        })
    }

    /// As [`Archive::visit_spans`], except that a compacted hour that lies
    /// wholly in the range, with every span in it (as its trace summaries
    /// show), hands over its tag index instead of its spans: each
    /// attribute name of its spans and resources (of `key` only, with a
    /// key) with its most frequent values, to `each_tag`.
    #[allow(clippy::too_many_arguments)]
    pub async fn visit_tags(
        &self,
        start: u64,
        end: u64,
        now: u64,
        time: Duration,
        needs: SpanNeeds,
        key: Option<&str>,
        mut each: impl FnMut(&dyn SpanView) -> bool,
        mut each_tag: impl FnMut(&Tag<'_>) -> bool,
    ) -> Result<Visit, ArchiveError> {
        let Opened {
            mut visit,
            hours,
            list_requests,
            work,
        } = self
            .open_visit(start, end, now, time, needs, &mut each)
            .await?;
        let (whole, by_span): (Vec<usize>, Vec<usize>) = (0..hours.len())
            .filter(|n| hours[*n].0.columnar())
            .partition(|n| visit.summarizable(&hours[*n]) && hours[*n].0.tags().is_some());
        let mut by_span: Vec<(usize, PartRows)> =
            by_span.into_iter().map(|n| (n, PartRows::All)).collect();
        by_span.extend(
            visit
                .tagged_hours(&hours, whole, key, &mut each_tag)
                .await?
                .into_iter()
                .map(|n| (n, PartRows::All)),
        );
        visit.columnar_hours(&hours, &by_span, &mut each).await?;
        Ok(visit.done(list_requests, &work))
    }

    /// Lists what a visit of `[start, end)` reads and visits what must be
    /// decoded whole (raw objects, hours compacted by earlier versions);
    /// hours of this version are left to the caller.
    async fn open_visit(
        &self,
        start: u64,
        end: u64,
        now: u64,
        time: Duration,
        needs: SpanNeeds,
        each: &mut impl FnMut(&dyn SpanView) -> bool,
    ) -> Result<Opened, ArchiveError> {
        let started = Instant::now();
        let end = match end {
            0 => now.max(start.saturating_add(1)),
            end => end,
        };
        let query = &Query {
            start,
            end,
            limit: usize::MAX,
            ..Query::new(Signal::Traces)
        };
        let partitioning = self.layout.partitioning;
        let list_requests = &AtomicUsize::new(0);
        let tiered = self.has_tier(query, list_requests).await?;
        let units = self
            .units_to_read(query, end, None, tiered, list_requests)
            .await?;
        let work = Arc::new(Work::default());
        let read = &UnitRead {
            archive: self,
            query,
            end,
            tiered,
            requests: list_requests,
            work: &work,
            find_rows: false,
            manifests: Mutex::default(),
        };
        let entries: Vec<Vec<Entry>> = futures::stream::iter(units)
            .map(|unit| list_unit(read, unit, None))
            .buffered(LIST_CONCURRENCY)
            .try_collect()
            .await?;
        let (hours, raw) = split_entries(entries.into_iter().flatten().collect());
        let mut visit = SpanVisit {
            start,
            end,
            partitioning,
            started,
            time,
            needs,
            visit: Visit::default(),
            stopped: false,
        };
        let sieve = Arc::new(Sieve {
            query: query.clone(),
            end,
            partitioning,
        });
        visit.raw_objects(self, &sieve, raw, each).await?;
        visit.rebuilt_hours(&hours, each).await?;
        visit.visit.stats.objects += hours
            .iter()
            .filter(|(h, _)| h.columnar())
            .map(|(_, o)| o.len())
            .sum::<usize>();
        Ok(Opened {
            visit,
            hours,
            list_requests: list_requests.load(Ordering::Relaxed),
            work,
        })
    }

    /// Hands the spans `which` of the hours a visit of traces summarized
    /// to `each`, read as [`Archive::visit_spans`] reads them, until `each`
    /// returns false or `time` has passed.
    pub async fn visit_summarized(
        &self,
        summarized: &Summarized,
        which: SummarizedSpans<'_>,
        time: Duration,
        needs: SpanNeeds,
        mut each: impl FnMut(&dyn SpanView) -> bool,
    ) -> Result<Visit, ArchiveError> {
        let before = (
            summarized.work.requests.load(Ordering::Relaxed),
            summarized.work.bytes.load(Ordering::Relaxed),
        );
        let mut visit = SpanVisit {
            start: summarized.start,
            end: summarized.end,
            partitioning: summarized.partitioning,
            started: Instant::now(),
            time,
            needs,
            visit: Visit::default(),
            stopped: false,
        };
        let which: Vec<(usize, PartRows)> = summarized
            .traces
            .iter()
            .enumerate()
            .filter_map(|(n, ids)| {
                let traces = match which {
                    SummarizedSpans::Traces(traces) => traces,
                    SummarizedSpans::Passing(test) => {
                        return Some((n, PartRows::Matching(test.clone())));
                    }
                };
                let theirs: TraceIds = traces
                    .iter()
                    .filter(|id| ids.binary_search(&u128::from_be_bytes(**id)).is_ok())
                    .map(|id| otelvault_codec::values::hex(id))
                    .collect();
                (!theirs.is_empty()).then(|| (n, PartRows::Traces(Arc::new(theirs))))
            })
            .collect();
        visit
            .columnar_hours(&summarized.hours, &which, &mut each)
            .await?;
        let mut done = visit.visit;
        done.complete = !visit.stopped;
        done.stats.parquet_requests = summarized.work.requests.load(Ordering::Relaxed) - before.0;
        done.stats.bytes_read = summarized.work.bytes.load(Ordering::Relaxed) - before.1;
        Ok(done)
    }
}

/// Loads one listed entry: a raw object, a compacted one, or the end of a
/// listing unit.
fn load_entry<'a>(
    archive: &'a Archive,
    sieve: &'a Arc<Sieve>,
    entry: Result<Entry, ArchiveError>,
) -> impl Future<Output = Result<Loaded, ArchiveError>> + 'a {
    match entry {
        Ok(Entry::Object {
            unit,
            key,
            parsed,
            skip,
            covered,
        }) => Either::Left(Either::Left(async move {
            Ok(load(archive, sieve, unit, (key, covered), parsed, skip).await)
        })),
        Ok(Entry::Compacted {
            unit,
            key,
            parsed,
            skip,
            hour,
            object,
            covered,
        }) => Either::Left(Either::Right(Either::Left(async move {
            load_compacted(
                archive,
                sieve,
                unit,
                (key, covered),
                parsed,
                skip,
                &hour,
                object,
            )
            .await
        }))),
        Ok(Entry::Chunk {
            unit,
            hour,
            part,
            chunk,
            skip,
        }) => Either::Left(Either::Right(Either::Right(async move {
            load_chunk(archive, sieve, unit, &hour, (part, chunk), skip).await
        }))),
        Ok(Entry::UnitEnd(end)) => Either::Right(futures::future::ready(Ok(Loaded::UnitEnd(end)))),
        Err(e) => Either::Right(futures::future::ready(Err(e))),
    }
}

/// A page being filled, object by object, within its limit and budget.
struct PageFill<'a> {
    query: &'a Query,
    end: u64,
    format: Format,
    budget: Budget,
    started: Instant,
    parts: Vec<Batch>,
    taken: usize,
    bytes: usize,
    skipped: Vec<Skipped>,
    stats: Stats,
}

impl<'a> PageFill<'a> {
    fn new(
        query: &'a Query,
        end: u64,
        format: Format,
        budget: Budget,
        started: Instant,
        partitions: usize,
    ) -> Self {
        PageFill {
            query,
            end,
            format,
            budget,
            started,
            parts: Vec::new(),
            taken: 0,
            bytes: 0,
            skipped: Vec::new(),
            stats: Stats {
                partitions,
                ..Stats::default()
            },
        }
    }

    fn out_of_time(&self) -> bool {
        self.started.elapsed() >= self.budget.time
    }

    /// At the end of a listing unit: the next page starts at the next unit
    /// when the time is up.
    fn unit_end(&self, unit_end: u64) -> Option<Position> {
        self.out_of_time().then(|| Position {
            end: self.end,
            unit_start: unit_end,
            key: String::new(),
            include_key: false,
            skip: 0,
            chunk: None,
            covered: 0,
        })
    }

    /// Takes what fits of one object's items (its first `skip` were on
    /// earlier pages); the position the next page starts from once the
    /// page is full. An unreadable object is skipped and named.
    fn object(
        &mut self,
        unit: u64,
        place: Place,
        skip: u64,
        result: Result<Result<Batch, String>, StorageError>,
        read: usize,
    ) -> Result<Option<Position>, ArchiveError> {
        self.stats.objects += 1;
        self.stats.bytes_read += read;
        let key = place.key();
        let mut batch = match result {
            Err(e) => return Err(ArchiveError::storage(format!("reading {key}"), e)),
            Ok(Ok(batch)) => batch,
            Ok(Err(error)) => {
                tracing::warn!(key = %key, error, "Skipped an unreadable archive object.");
                if self.skipped.len() < MAX_REPORTED_SKIPS {
                    self.skipped.push(Skipped {
                        key: key.to_string(),
                        error,
                    });
                }
                return Ok(None);
            }
        };
        let available = batch.item_count();
        let take = self.take(&mut batch);
        let (chunk, covered) = match &place {
            Place::Raw { covered, .. } => (None, *covered),
            Place::Chunk { chunk, .. } => (Some(*chunk), 0),
        };
        let position = |include_key, skip| Position {
            end: self.end,
            unit_start: unit,
            key: place.key().to_string(),
            include_key,
            skip,
            chunk,
            covered,
        };
        Ok(if take < available {
            Some(position(true, skip + take as u64))
        } else if self.taken >= self.query.limit || self.out_of_time() {
            Some(position(false, 0))
        } else {
            None
        })
    }

    /// Keeps the leading items of `batch` that fit in the page's limit and
    /// byte budget; how many. A page always makes progress, even past the
    /// budget for one oversized item.
    fn take(&mut self, batch: &mut Batch) -> usize {
        // Sieved: at most one item more than a page takes.
        let available = batch.item_count();
        let mut take = available.min(self.query.limit - self.taken);
        if take < available {
            truncate_items(batch, take);
        }
        // A reader without a byte budget (the Loki API's) does not pay for
        // measuring the encoding.
        let mut size = if take > 0 && self.budget.bytes != usize::MAX {
            encoded_len(batch, self.format)
        } else {
            0
        };
        if self.bytes + size > self.budget.bytes {
            let room = self.budget.bytes.saturating_sub(self.bytes);
            let fit = items_that_fit(batch, size, self.format, room);
            take = if fit == 0 && self.taken == 0 { 1 } else { fit };
            truncate_items(batch, take);
            size = encoded_len(batch, self.format);
        }
        if take > 0 {
            self.parts
                .push(std::mem::replace(batch, Batch::empty(self.query.signal)));
            self.taken += take;
            self.bytes += size;
        }
        take
    }

    fn finish(self, next: Option<Position>) -> Page {
        let batch =
            otelvault_codec::merge(self.parts).unwrap_or_else(|| Batch::empty(self.query.signal));
        Page {
            batch,
            next,
            skipped: self.skipped,
            stats: self.stats,
        }
    }
}
