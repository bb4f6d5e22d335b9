//! Reading: runs a query against the archive and builds one page.
//!
//! Partitions in the range are listed (a few at once) and their objects read
//! and decoded (several at once) while the page is assembled strictly in
//! archive order: partition time, then object key, then item order inside
//! the object. Partitions are listed a whole hour (or day) at a time where
//! the range covers it, which yields the same keys in the same order with
//! far fewer list requests. That order makes a position — listing unit,
//! object key, items of that object already returned — enough to resume, so
//! following cursors returns every matching item exactly once.
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
use otelvault_codec::{Batch, Format, Signal, UtcMinute};
use otelvault_parquet::CompactError;
use otelvault_parquet::scan::PartFile;
use otelvault_parquet::spans::{RecordBatch, SpanNeeds};
use otelvault_storage::{KeyPrefix, ObjectKey, ObjectMeta, ObjectStore, StorageError};

use std::collections::{HashMap, HashSet};

use otelvault_parquet::scan::Work;

use crate::query::effective_time;
use crate::tier::{HOUR, HourScan, manifest};
use crate::{Archive, ArchiveError, ListUnit, PartitionKey, Partitioning, Query, list_units};

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
    /// Encoded size of the page's items, in the response format.
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
    },
    /// A raw object of a compacted hour, read from its Parquet parts.
    Compacted {
        unit: u64,
        key: ObjectKey,
        parsed: PartitionKey,
        skip: u64,
        hour: Arc<HourScan>,
        object: u32,
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

/// A read and sieved object, or a unit's end.
enum Loaded {
    Object {
        unit: u64,
        key: ObjectKey,
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
    /// Whether compacted hours look up the rows that may match (a page
    /// does); a visit reads every row of their parts and tests it.
    find_rows: bool,
}

/// The objects of `query.signal` of one listing unit after `after`, and
/// `after` itself first when `include` gives its items already returned:
/// raw objects, and those of compacted hours from their parts (only the
/// ones with rows that may match), in key order.
async fn list_unit(
    read: &UnitRead<'_>,
    unit: ListUnit,
    after: Option<String>,
    include: Option<u64>,
) -> Result<Vec<Entry>, ArchiveError> {
    let store = &*read.archive.store;
    let signal = read.query.signal;
    let listing = |e| ArchiveError::storage(format!("listing {}", unit.prefix), e);
    let prefix = KeyPrefix::new(unit.prefix.as_str()).map_err(listing)?;
    let pages: Vec<Vec<ObjectMeta>> = otelvault_storage::list(store, &prefix, after.clone())
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
    let raw: Vec<(ObjectKey, PartitionKey)> = pages
        .into_iter()
        .flatten()
        .filter_map(|meta| parse(meta.key))
        .collect();
    // The resumed object, which may have been deleted since: nothing to
    // give then. A key that is not an archive key of this signal has
    // nothing to give either.
    let resumed = match (&after, include) {
        (Some(key), Some(_)) => ObjectKey::new(key.as_str()).ok().and_then(parse),
        _ => None,
    };
    let skip_of = |key: &ObjectKey| match (&after, include) {
        (Some(k), Some(skip)) if k == key.as_str() => skip,
        _ => 0,
    };
    let mut entries = Vec::new();
    let mut covered: HashSet<String> = HashSet::new();
    if read.tiered {
        let mut hour = unit.start - unit.start % HOUR;
        while hour < unit.end {
            let found = manifest(store, signal, hour).await?;
            read.work.requests.fetch_add(1, Ordering::Relaxed);
            if let Some(manifest) = found {
                // The covered objects of this unit from `after` on.
                let wanted: Vec<u32> = manifest
                    .raw
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| {
                        k.starts_with(&unit.prefix)
                            && after
                                .as_ref()
                                .is_none_or(|a| *k > a || (include.is_some() && *k == a))
                    })
                    .map(|(i, _)| index(i))
                    .collect::<Result<_, _>>()?;
                if !wanted.is_empty() {
                    let scan = HourScan::open(
                        &read.archive.store,
                        signal,
                        hour,
                        &manifest,
                        &wanted,
                        read.query,
                        read.end,
                        read.work,
                        read.find_rows,
                    )
                    .await?;
                    let scan = Arc::new(scan);
                    for object in scan.objects() {
                        let Some((key, parsed)) = manifest
                            .raw
                            .get(object as usize)
                            .and_then(|k| ObjectKey::new(k.as_str()).ok())
                            .and_then(parse)
                        else {
                            continue;
                        };
                        entries.push(Entry::Compacted {
                            unit: unit.start,
                            skip: skip_of(&key),
                            key,
                            parsed,
                            hour: Arc::clone(&scan),
                            object,
                        });
                    }
                }
                // Covered objects are read from the parts, or not at all.
                covered.extend(manifest.raw);
            }
            hour += HOUR;
        }
    }
    let raw_entries = resumed
        .into_iter()
        .chain(raw)
        .filter(|(key, _)| !covered.contains(key.as_str()));
    for (key, parsed) in raw_entries {
        entries.push(Entry::Object {
            unit: unit.start,
            skip: skip_of(&key),
            key,
            parsed,
        });
    }
    entries.sort_by(|a, b| entry_key(a).cmp(entry_key(b)));
    entries.push(Entry::UnitEnd(unit.end));
    Ok(entries)
}

fn entry_key(entry: &Entry) -> &str {
    match entry {
        Entry::Object { key, .. } | Entry::Compacted { key, .. } => key.as_str(),
        Entry::UnitEnd(_) => "",
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
        let query = &self.query;
        retain_items(batch, |it| {
            query.matches(it, partition, self.end, self.partitioning)
        });
        skip_items(batch, usize::try_from(skip).unwrap_or(usize::MAX));
        truncate_items(batch, query.limit.saturating_add(1));
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
    key: ObjectKey,
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
                key,
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
        key,
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
    key: ObjectKey,
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
        key,
        skip,
        result: Ok(sieved),
        bytes: 0,
    })
}

impl PartitionKey {
    /// Decodes an object's content as its key says it is encoded; the
    /// error says why it cannot be read.
    pub fn decode(&self, raw: &[u8]) -> Result<Batch, String> {
        if raw.is_empty() {
            return Ok(Batch::empty(self.signal));
        }
        let data = self
            .compression
            .decompress(raw, MAX_OBJECT_BYTES)
            .map_err(|e| e.to_string())?;
        // Bounded like a request: a planted or corrupt object cannot take
        // the reader's memory.
        Batch::decode_limited(self.signal, self.format, &data, MAX_OBJECT_DECODED)
            .map_err(|e| e.to_string())
    }
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
        };
        // The resumed unit starts at the resumed object (itself included
        // when it has items left), the others where their listing starts.
        let listings = futures::stream::iter(units)
            .map(|unit| {
                let (after, include) = match &resume {
                    Some(p) if p.unit_start == unit.start && !p.key.is_empty() => {
                        (Some(p.key.clone()), p.include_key.then_some(p.skip))
                    }
                    _ => (unit.after.clone(), None),
                };
                list_unit(read, unit, after, include)
            })
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
                    key,
                    skip,
                    result,
                    bytes,
                } => page.object(unit, key, skip, result, bytes)?,
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
            Entry::UnitEnd(_) => {}
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
fn decode_part(part: PartFile, rows: Option<Vec<u64>>, needs: SpanNeeds) -> PartBatches {
    let (mut sender, receiver) = futures::channel::mpsc::channel(1);
    tokio::spawn(async move {
        let batches = otelvault_parquet::spans::span_batches(part, rows.as_deref(), needs).await;
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
            .map(|(unit, key, parsed)| load(archive, sieve, unit, key, parsed, 0))
            .buffer_unordered(READ_CONCURRENCY);
        while !self.stopped
            && let Some(loaded) = loads.next().await
        {
            let Loaded::Object {
                key, result, bytes, ..
            } = loaded
            else {
                continue;
            };
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
    /// parts decoding at once.
    async fn columnar_hours(
        &mut self,
        hours: &[VisitedHour],
        each: &mut impl FnMut(&dyn SpanView) -> bool,
    ) -> Result<(), ArchiveError> {
        let needs = self.needs;
        let parts: Vec<(usize, PartFile, Option<Vec<u64>>)> = hours
            .iter()
            .enumerate()
            .filter(|(_, (h, _))| h.columnar())
            .flat_map(|(n, (hour, _))| {
                (0..hour.part_count())
                    .filter_map(move |i| hour.part(i).map(|(part, rows)| (n, part, rows)))
            })
            .collect();
        self.visit.stats.objects += hours
            .iter()
            .filter(|(h, _)| h.columnar())
            .map(|(_, o)| o.len())
            .sum::<usize>();
        let mut decoding = futures::stream::iter(parts)
            .map(|(n, part, rows)| futures::future::ready((n, decode_part(part, rows, needs))))
            .buffer_unordered(DECODE_CONCURRENCY)
            .map(|(n, batches)| batches.map(move |batch| (n, batch)))
            .flatten_unordered(DECODE_CONCURRENCY);
        while !self.stopped
            && let Some((n, batch)) = decoding.next().await
        {
            let (hour, objects) = &hours[n];
            let batch = batch.map_err(|e| hour.failed(&e))?;
            let mut items = 0;
            let finished = otelvault_parquet::spans::visit_batch(&batch, needs, |object, span| {
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
        mut each: impl FnMut(&dyn SpanView) -> bool,
    ) -> Result<Visit, ArchiveError> {
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
        let work = &Arc::new(Work::default());
        let read = &UnitRead {
            archive: self,
            query,
            end,
            tiered,
            requests: list_requests,
            work,
            find_rows: false,
        };
        let entries: Vec<Vec<Entry>> = futures::stream::iter(units)
            .map(|unit| {
                let after = unit.after.clone();
                list_unit(read, unit, after, None)
            })
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
        visit.raw_objects(self, &sieve, raw, &mut each).await?;
        visit.rebuilt_hours(&hours, &mut each).await?;
        visit.columnar_hours(&hours, &mut each).await?;
        let mut done = visit.visit;
        done.complete = !visit.stopped;
        done.stats.list_requests = list_requests.load(Ordering::Relaxed);
        done.stats.parquet_requests = work.requests.load(Ordering::Relaxed);
        done.stats.bytes_read += work.bytes.load(Ordering::Relaxed);
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
        }) => Either::Left(Either::Left(async move {
            Ok(load(archive, sieve, unit, key, parsed, skip).await)
        })),
        Ok(Entry::Compacted {
            unit,
            key,
            parsed,
            skip,
            hour,
            object,
        }) => Either::Left(Either::Right(async move {
            load_compacted(archive, sieve, unit, key, parsed, skip, &hour, object).await
        })),
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
        })
    }

    /// Takes what fits of one object's items (its first `skip` were on
    /// earlier pages); the position the next page starts from once the
    /// page is full. An unreadable object is skipped and named.
    fn object(
        &mut self,
        unit: u64,
        key: ObjectKey,
        skip: u64,
        result: Result<Result<Batch, String>, StorageError>,
        read: usize,
    ) -> Result<Option<Position>, ArchiveError> {
        self.stats.objects += 1;
        self.stats.bytes_read += read;
        let mut batch = match result {
            Err(e) => return Err(ArchiveError::storage(format!("reading {key}"), e)),
            Ok(Ok(batch)) => batch,
            Ok(Err(error)) => {
                tracing::warn!(key = %key, error, "Skipped an unreadable archive object.");
                if self.skipped.len() < MAX_REPORTED_SKIPS {
                    self.skipped.push(Skipped {
                        key: key.into_string(),
                        error,
                    });
                }
                return Ok(None);
            }
        };
        let available = batch.item_count();
        let take = self.take(&mut batch);
        let position = |include_key, skip| Position {
            end: self.end,
            unit_start: unit,
            key: key.clone().into_string(),
            include_key,
            skip,
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
        let mut size = if take > 0 {
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
