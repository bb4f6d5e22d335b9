//! Runs a fetch query against the archive and builds one page.
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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::Either;
use futures::{StreamExt, TryStreamExt};
use otelvault_codec::filter::{ItemRef, retain_items, skip_items, truncate_items};
use otelvault_codec::partition::FUTURE_TOLERANCE_NANOS;
use otelvault_codec::proto::common::{KeyValue, any_value};
use otelvault_codec::{Batch, Format, Granularity};
use otelvault_storage::{ListUnit, ObjectStore, PartitionKey, StorageError, list_units};

use super::cursor::Position;
use super::request::{AttrValue, Query};
use crate::error::ApiError;

/// Partition listings in flight at once.
const LIST_CONCURRENCY: usize = 4;
/// Object reads in flight at once.
const READ_CONCURRENCY: usize = 8;
/// Largest object accepted after decompression (ingest caps requests at 64 MiB).
const MAX_OBJECT_BYTES: usize = 256 * 1024 * 1024;
/// Skipped objects named in one page at most.
const MAX_REPORTED_SKIPS: usize = 100;

/// How a page is bounded.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Encoded size of the page's items, in the response format.
    pub bytes: usize,
    /// Wall-clock time spent on one page before returning what it has.
    pub time: Duration,
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
}

/// Where archive data is and how it is partitioned.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Partition width the archive was written with.
    pub granularity: Granularity,
    /// How long after its event time an item may arrive (receive-time
    /// partitioning): partitions up to this much after the range are read.
    pub late_arrival: u64,
}

/// The time an item counts as having, for range matching: its event time,
/// or its partition's start when the event time is missing or was too far
/// in the future to have been used for partitioning.
fn effective_time(t: u64, partition: u64, layout: Layout) -> u64 {
    let partition_end = partition.saturating_add(layout.granularity.nanos());
    if t == 0 || t > partition_end.saturating_add(FUTURE_TOLERANCE_NANOS) {
        partition
    } else {
        t
    }
}

fn value_matches(value: Option<&any_value::Value>, want: &AttrValue) -> bool {
    match (value, want) {
        (Some(any_value::Value::StringValue(s)), AttrValue::Str(w)) => s == w,
        (Some(any_value::Value::BoolValue(b)), AttrValue::Bool(w)) => b == w,
        (Some(any_value::Value::IntValue(i)), AttrValue::Int(w)) => i == w,
        (Some(any_value::Value::IntValue(i)), AttrValue::Double(w)) => (*i as f64) == *w,
        (Some(any_value::Value::DoubleValue(d)), AttrValue::Double(w)) => d == w,
        (Some(any_value::Value::DoubleValue(d)), AttrValue::Int(w)) => *d == (*w as f64),
        // A string filter also matches the text form of other scalars, so
        // `{"http.status_code": "200"}` finds an int attribute.
        (Some(any_value::Value::IntValue(i)), AttrValue::Str(w)) => i.to_string() == *w,
        (Some(any_value::Value::BoolValue(b)), AttrValue::Str(w)) => b.to_string() == *w,
        _ => false,
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

/// Does `item` (stored in `partition`) match the query?
fn matches(q: &Query, item: &ItemRef<'_>, partition: u64, end: u64, layout: Layout) -> bool {
    let t = effective_time(item.time, partition, layout);
    if t < q.start || t >= end {
        return false;
    }
    let resource_attrs: &[KeyValue] = item
        .resource
        .map(|r| r.attributes.as_slice())
        .unwrap_or(&[]);
    if let Some(service) = &q.service_name
        && !value_matches(
            attr(resource_attrs, "service.name"),
            &AttrValue::Str(service.clone()),
        )
    {
        return false;
    }
    if let Some(trace_id) = &q.trace_id
        && item.trace_id != trace_id.as_slice()
    {
        return false;
    }
    if let Some(min) = q.min_severity
        && item.severity_number < min
    {
        return false;
    }
    if let Some(name) = &q.metric_name
        && item.metric_name != Some(name.as_str())
    {
        return false;
    }
    q.attributes.iter().all(|(key, want)| {
        value_matches(attr(item.attributes, key), want)
            || value_matches(attr(resource_attrs, key), want)
    })
}

/// What the object stream yields, in archive order.
enum Entry {
    /// An object of the listing unit starting at `unit`, to read skipping
    /// this many matching items.
    Object { unit: u64, key: String, skip: u64 },
    /// Every object of the unit ending here has been yielded.
    UnitEnd(u64),
}

/// A read object (with the partition its key names), or a unit's end.
enum Loaded {
    Object {
        unit: u64,
        key: String,
        skip: u64,
        result: Result<Result<(u64, Batch), String>, StorageError>,
        bytes: usize,
    },
    UnitEnd(u64),
}

/// Keys of `signal` objects of one listing unit, after `after`.
async fn list_unit(
    store: &dyn ObjectStore,
    query: &Query,
    unit: ListUnit,
    after: Option<String>,
    requests: &AtomicUsize,
) -> Result<Vec<Entry>, StorageError> {
    let pages: Vec<Vec<otelvault_storage::ObjectMeta>> =
        otelvault_storage::list(store, &unit.prefix, after)
            .try_collect()
            .await?;
    requests.fetch_add(pages.len().max(1), Ordering::Relaxed);
    let entries = pages
        .into_iter()
        .flatten()
        .filter(|meta| {
            // Foreign files under the prefix are not archive objects.
            PartitionKey::parse(&meta.key).is_ok_and(|k| k.signal == query.signal)
        })
        .map(|meta| Entry::Object {
            unit: unit.start,
            key: meta.key,
            skip: 0,
        })
        .chain(std::iter::once(Entry::UnitEnd(unit.end)))
        .collect();
    Ok(entries)
}

async fn load(store: &dyn ObjectStore, unit: u64, key: String, skip: u64) -> Loaded {
    let raw = match store.get(&key).await {
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
    let name = key.clone();
    let decoded = tokio::task::spawn_blocking(move || decode_object(&name, &raw))
        .await
        .unwrap_or_else(|e| Err(format!("decoder failed: {e}")));
    Loaded::Object {
        unit,
        key,
        skip,
        result: Ok(decoded),
        bytes,
    }
}

/// The object's partition start (from its key) and content.
fn decode_object(key: &str, raw: &[u8]) -> Result<(u64, Batch), String> {
    let parsed = PartitionKey::parse(key).map_err(|e| e.to_string())?;
    if raw.is_empty() {
        return Ok((parsed.partition_start, Batch::empty(parsed.signal)));
    }
    let data = parsed
        .compression
        .decompress(raw, MAX_OBJECT_BYTES)
        .map_err(|e| e.to_string())?;
    Batch::decode(parsed.signal, parsed.format, &data)
        .map(|batch| (parsed.partition_start, batch))
        .map_err(|e| e.to_string())
}

fn encoded_size(batch: &Batch, format: Format) -> usize {
    match (format, batch) {
        (Format::Json, b) => b.encode(Format::Json).len(),
        (Format::Protobuf, Batch::Traces(r)) => prost::Message::encoded_len(r),
        (Format::Protobuf, Batch::Metrics(r)) => prost::Message::encoded_len(r),
        (Format::Protobuf, Batch::Logs(r)) => prost::Message::encoded_len(r),
    }
}

/// Runs one page of `query`, from `resume` (a cursor's position) or from
/// the start of the range.
pub async fn fetch_page(
    store: &dyn ObjectStore,
    layout: Layout,
    query: &Query,
    resume: Option<Position>,
    now: u64,
    format: Format,
    budget: Budget,
) -> Result<Page, ApiError> {
    let started = Instant::now();
    let end = match &resume {
        Some(p) => p.end,
        None if query.end == 0 => now.max(query.start.saturating_add(1)),
        None => query.end,
    };
    // Positions name the listing unit they are in; units are recomputed
    // identically on every page because the range (end included) is fixed.
    let first_unit = resume.as_ref().map(|p| p.partition).unwrap_or(0);
    let units: Vec<ListUnit> = list_units(
        query.start,
        end.saturating_add(layout.late_arrival),
        layout.granularity,
    )
    .into_iter()
    .filter(|u| u.start >= first_unit)
    .collect();

    let mut stats = Stats::default();
    // The resumed object comes first, then the rest of its unit after it,
    // then the following units.
    let head: Vec<Entry> = match &resume {
        Some(p) if p.include_key => vec![Entry::Object {
            unit: p.partition,
            key: p.key.clone(),
            skip: p.skip,
        }],
        _ => Vec::new(),
    };
    let resume_after = resume
        .as_ref()
        .filter(|p| !p.key.is_empty())
        .map(|p| (p.partition, p.key.clone()));
    stats.partitions = units.len();
    let list_requests = AtomicUsize::new(0);
    let list_requests = &list_requests;
    let listings = futures::stream::iter(units)
        .map(|unit| {
            let after = match &resume_after {
                Some((u, key)) if *u == unit.start => Some(key.clone()),
                _ => unit.after.clone(),
            };
            list_unit(store, query, unit, after, list_requests)
        })
        .buffered(LIST_CONCURRENCY);
    let entries = futures::stream::iter(head.into_iter().map(|e| Ok::<_, StorageError>(vec![e])))
        .chain(listings)
        .map_ok(|entries| futures::stream::iter(entries.into_iter().map(Ok::<_, StorageError>)))
        .try_flatten();
    let mut loaded = Box::pin(
        entries
            .map(|entry| match entry {
                Ok(Entry::Object { unit, key, skip }) => {
                    Either::Left(async move { Ok(load(store, unit, key, skip).await) })
                }
                Ok(Entry::UnitEnd(end)) => {
                    Either::Right(futures::future::ready(Ok(Loaded::UnitEnd(end))))
                }
                Err(e) => Either::Right(futures::future::ready(Err(e))),
            })
            .buffered(READ_CONCURRENCY),
    );

    let mut parts: Vec<Batch> = Vec::new();
    let mut taken = 0usize;
    let mut bytes = 0usize;
    let mut skipped = Vec::new();
    let mut next = None;
    while let Some(item) = loaded.next().await {
        let (unit, key, skip, result, read) = match item? {
            Loaded::UnitEnd(unit_end) => {
                if started.elapsed() >= budget.time {
                    next = Some(Position {
                        end,
                        partition: unit_end,
                        key: String::new(),
                        include_key: false,
                        skip: 0,
                    });
                    break;
                }
                continue;
            }
            Loaded::Object {
                unit,
                key,
                skip,
                result,
                bytes,
            } => (unit, key, skip, result, bytes),
        };
        stats.objects += 1;
        stats.bytes_read += read;
        let (partition, mut batch) = match result? {
            Ok(decoded) => decoded,
            Err(error) => {
                tracing::warn!(key, error, "Skipped an unreadable archive object.");
                if skipped.len() < MAX_REPORTED_SKIPS {
                    skipped.push(Skipped { key, error });
                }
                continue;
            }
        };
        retain_items(&mut batch, |it| matches(query, it, partition, end, layout));
        skip_items(&mut batch, usize::try_from(skip).unwrap_or(usize::MAX));
        let available = batch.item_count();
        let mut take = available.min(query.limit - taken);
        if take < available {
            truncate_items(&mut batch, take);
        }
        let mut size = if take > 0 {
            encoded_size(&batch, format)
        } else {
            0
        };
        if bytes + size > budget.bytes {
            // Largest prefix of this object's items that still fits.
            let (mut lo, mut hi) = (0usize, take);
            while lo < hi {
                let mid = (lo + hi).div_ceil(2);
                let mut probe = batch.clone();
                truncate_items(&mut probe, mid);
                if bytes + encoded_size(&probe, format) <= budget.bytes {
                    lo = mid;
                } else {
                    hi = mid - 1;
                }
            }
            // A page always makes progress, even past the budget for one
            // oversized item.
            take = if lo == 0 && taken == 0 { 1 } else { lo };
            truncate_items(&mut batch, take);
            size = encoded_size(&batch, format);
        }
        if take > 0 {
            parts.push(batch);
            taken += take;
            bytes += size;
        }
        if take < available {
            next = Some(Position {
                end,
                partition: unit,
                key,
                include_key: true,
                skip: skip + take as u64,
            });
            break;
        }
        if taken >= query.limit || started.elapsed() >= budget.time {
            next = Some(Position {
                end,
                partition: unit,
                key,
                include_key: false,
                skip: 0,
            });
            break;
        }
    }
    drop(loaded);
    stats.list_requests = list_requests.load(Ordering::Relaxed);
    let batch = otelvault_codec::merge(parts).unwrap_or_else(|| Batch::empty(query.signal));
    Ok(Page {
        batch,
        next,
        skipped,
        stats,
    })
}
