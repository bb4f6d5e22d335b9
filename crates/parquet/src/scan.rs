//! Reading part files for queries, with ranged reads: the footer (and page
//! index) first, then bloom filters and statistics to skip row groups that
//! cannot match, then only the columns a step needs.
//!
//! A query reads a part in two steps. [`candidates`] reads the narrow
//! columns (`ServiceName`, the time, `TraceId`, `OtlpObject`, `OtlpIndex`)
//! of the row groups that may match and keeps the rows that may: a
//! superset of the matches, never fewer, since the archive's own rule
//! decides in the end. [`read_rows`] then reads the lossless columns of
//! chosen rows only, and [`assemble`] rebuilds each raw object's items in
//! their original order from them.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::cast::AsArray as _;
use arrow_array::types::{TimestampMicrosecondType, TimestampNanosecondType, UInt32Type};
use arrow_array::{MapArray, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use bytes::Bytes;
use futures::StreamExt as _;
use futures::future::{BoxFuture, FutureExt as _};
use otelvault_codec::{Batch, Signal};
use otelvault_storage::{ObjectKey, ObjectStore, StorageError};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, RowSelection, RowSelector};
use parquet::arrow::async_reader::{
    AsyncFileReader, ParquetRecordBatchStream, ParquetRecordBatchStreamBuilder,
};
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::statistics::Statistics;

use crate::table::{Context, INDEX_COLUMN, Lossless, OBJECT_COLUMN, item};
use crate::{CompactError, logs, metrics, traces};
use otelvault_codec::proto::logs::LogRecord;
use otelvault_codec::proto::metrics::Metric;
use otelvault_codec::proto::trace::Span;

/// Bytes read from the end of a part at first, and kept: the footer, the
/// page index and the last row group's bloom filters usually fit in it,
/// and a small part (an hour of a quiet service) is read whole, so a part
/// that a lookup rules out costs one request.
const TAIL_BYTES: u64 = 128 * 1024;

/// Ranges of a part closer than this are read in one request: reading a
/// few hundred KiB more costs less than another round trip to S3.
const COALESCE_GAP: u64 = 512 * 1024;

/// Storage work done reading parts.
#[derive(Debug, Default)]
pub struct Work {
    /// Ranged reads made.
    pub requests: AtomicUsize,
    /// Bytes they returned.
    pub bytes: AtomicUsize,
}

/// A part file in a store, read by ranges.
#[derive(Clone)]
pub struct PartFile {
    store: Arc<dyn ObjectStore>,
    pub(crate) key: ObjectKey,
    size: u64,
    work: Arc<Work>,
    /// The footer, once read: the steps of a query share it.
    metadata: Arc<std::sync::Mutex<Option<Arc<ParquetMetaData>>>>,
    /// The last bytes of the part, once read: where they start, and them.
    tail: Arc<std::sync::Mutex<Option<(u64, Bytes)>>>,
}

impl PartFile {
    /// The part at `key`, `size` bytes long (the manifest says), counting
    /// its reads in `work`.
    pub fn new(store: Arc<dyn ObjectStore>, key: ObjectKey, size: u64, work: Arc<Work>) -> Self {
        PartFile {
            store,
            key,
            size,
            work,
            metadata: Arc::default(),
            tail: Arc::default(),
        }
    }
}

impl PartFile {
    fn cached(&self) -> Option<Arc<ParquetMetaData>> {
        self.metadata.lock().ok()?.clone()
    }

    /// `range` from the kept tail, if it lies there.
    fn kept(&self, range: &Range<u64>) -> Option<Bytes> {
        let tail = self.tail.lock().ok()?;
        let (start, bytes) = tail.as_ref()?;
        let end = *start + bytes.len() as u64;
        (range.start >= *start && range.end <= end)
            .then(|| bytes.slice((range.start - start) as usize..(range.end - start) as usize))
    }

    async fn fetch(&self, range: Range<u64>) -> parquet::errors::Result<Bytes> {
        let bytes = self
            .store
            .get_range(&self.key, range)
            .await
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        self.work.requests.fetch_add(1, Ordering::Relaxed);
        self.work.bytes.fetch_add(bytes.len(), Ordering::Relaxed);
        Ok(bytes)
    }
}

impl AsyncFileReader for PartFile {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            match self.kept(&range) {
                Some(bytes) => Ok(bytes),
                None => self.fetch(range).await,
            }
        }
        .boxed()
    }

    /// The pages of several columns in as few requests as their gaps
    /// allow: ranges less than [`COALESCE_GAP`] apart are read as one, and
    /// those reads run at once.
    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            let mut sorted: Vec<Range<u64>> = ranges
                .iter()
                .filter(|r| self.kept(r).is_none())
                .cloned()
                .collect();
            sorted.sort_by_key(|r| r.start);
            let mut merged: Vec<Range<u64>> = Vec::new();
            for range in sorted {
                match merged.last_mut() {
                    Some(last) if range.start <= last.end.saturating_add(COALESCE_GAP) => {
                        last.end = last.end.max(range.end);
                    }
                    _ => merged.push(range),
                }
            }
            let fetched =
                futures::future::try_join_all(merged.iter().map(|r| self.fetch(r.clone()))).await?;
            ranges
                .iter()
                .map(|range| {
                    if let Some(bytes) = self.kept(range) {
                        return Ok(bytes);
                    }
                    let i = merged
                        .iter()
                        .position(|m| m.start <= range.start && range.end <= m.end)
                        .ok_or_else(|| ParquetError::General("a range was not read".into()))?;
                    let from = (range.start - merged[i].start) as usize;
                    let to = (range.end - merged[i].start) as usize;
                    fetched[i]
                        .get(from..to)
                        .map(|_| fetched[i].slice(from..to))
                        .ok_or_else(|| ParquetError::General("a read came back short".into()))
                })
                .collect()
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            if let Some(cached) = self.cached() {
                return Ok(cached);
            }
            let size = self.size;
            let start = size.saturating_sub(TAIL_BYTES);
            let tail = self.fetch(start..size).await?;
            if let Ok(mut kept) = self.tail.lock() {
                *kept = Some((start, tail));
            }
            // Served from the tail when it holds them: no more requests.
            let metadata = ParquetMetaDataReader::new()
                .with_page_index_policy(PageIndexPolicy::Optional)
                .load_and_finish(&mut *self, size)
                .await?;
            let metadata = Arc::new(metadata);
            if let Ok(mut cache) = self.metadata.lock() {
                *cache = Some(Arc::clone(&metadata));
            }
            Ok(metadata)
        }
        .boxed()
    }
}

/// A Parquet error, or the storage error behind it.
pub(crate) fn failed(key: &ObjectKey, e: ParquetError) -> CompactError {
    match e {
        ParquetError::External(inner) => match inner.downcast::<StorageError>() {
            Ok(source) => CompactError::Storage {
                action: format!("reading {key}"),
                source: *source,
            },
            Err(other) => CompactError::Parquet(ParquetError::External(other)),
        },
        other => CompactError::Parquet(other),
    }
}

/// What a row must be to be worth reading: conservative, so that a row the
/// archive's rule would match is never left out.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The time range, unix nanoseconds.
    pub start: u64,
    /// Exclusive end.
    pub end: u64,
    /// Times of 0 or from this on are not what an item counts as having
    /// (the archive counts it at its partition then): such rows always
    /// pass the time test.
    pub unreliable_from: u64,
    /// `service.name`.
    pub service: Option<String>,
    /// Trace id, 16 bytes.
    pub trace_id: Option<Vec<u8>>,
    /// Raw objects (indices in the manifest) wanted.
    pub objects: Range<u32>,
    /// Attribute filters as the `map<string,string>` columns write values:
    /// a key and the texts a matching value can have. A row passes when
    /// its item's or its resource's attributes hold the key with one of
    /// those texts; an empty list passes every row.
    pub attributes: Vec<(String, Vec<String>)>,
    /// Logs: texts the `Body` column must each contain (it holds the body
    /// as text, so the test is exact).
    pub body_contains: Vec<String>,
}

impl Filter {
    /// Whether row `i` may match the attribute filters, from the item's
    /// and the resource's attribute maps.
    fn attributes_may_match(&self, maps: &[&MapArray], i: usize) -> bool {
        self.attributes.iter().all(|(key, texts)| {
            texts.is_empty() || maps.iter().any(|map| map_has(map, i, key, texts))
        })
    }

    /// Whether items whose time column reads `micros` (the time, rounded
    /// down to the microsecond) may be in the time range.
    fn time_may_match(&self, micros: i64) -> bool {
        self.times_may_match(micros, micros)
    }

    /// Whether items whose time column lies in `[min, max]` may be in the
    /// time range (each may be anywhere in its microsecond).
    fn times_may_match(&self, min: i64, max: i64) -> bool {
        let (first, last) = nanos_of(min, max);
        first == 0 || last >= self.unreliable_from || (first < self.end && last >= self.start)
    }

    /// Whether every item whose time column lies in `[min, max]` is in the
    /// time range, so that the column need not be read.
    fn times_all_match(&self, min: i64, max: i64) -> bool {
        let (first, last) = nanos_of(min, max);
        first > 0 && last < self.unreliable_from && first >= self.start && last < self.end
    }

    /// A service name column value that may match: the name, or empty (a
    /// `service.name` that is not a string, which the rule may still match).
    fn service_may_match(&self, name: &str) -> bool {
        self.service.as_deref().is_none_or(|s| s == name) || name.is_empty()
    }
}

/// The unix nanoseconds items whose time column lies in `[min, max]`
/// (microseconds) can have: from the first nanosecond of `min` to the last
/// of `max`.
fn nanos_of(min: i64, max: i64) -> (u64, u64) {
    let first = u64::try_from(min).unwrap_or(0).saturating_mul(1000);
    let last = u64::try_from(max)
        .unwrap_or(0)
        .saturating_mul(1000)
        .saturating_add(999);
    (first, last)
}

/// Whether row `i` of a `map<string,string>` column has `key` with one of
/// `texts`.
fn map_has(map: &MapArray, i: usize, key: &str, texts: &[String]) -> bool {
    let (Some(keys), Some(values)) = (
        map.keys().as_string_opt::<i32>(),
        map.values().as_string_opt::<i32>(),
    ) else {
        // Not a map of strings: no conclusion, so the row stays.
        return true;
    };
    let offsets = map.value_offsets();
    let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
    (start..end).any(|e| keys.value(e) == key && texts.iter().any(|t| values.value(e) == t))
}

/// A row that may match: where it is in the part, and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Candidate {
    /// Its raw object's index in the manifest.
    pub object: u32,
    /// Its position in that object.
    pub index: u32,
    /// Its row in the part, from 0.
    pub row: u64,
}

/// The leaf column named `name`, if the part has it.
fn leaf(metadata: &ParquetMetaData, name: &str) -> Option<usize> {
    metadata
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.path().string() == name)
}

/// Min and max of an integer column's row group statistics.
fn int_range(stats: Option<&Statistics>) -> Option<(i64, i64)> {
    match stats? {
        Statistics::Int64(s) => Some((*s.min_opt()?, *s.max_opt()?)),
        Statistics::Int32(s) => Some((
            i64::from(*s.min_opt()? as u32),
            i64::from(*s.max_opt()? as u32),
        )),
        _ => None,
    }
}

/// Min and max of a string column's row group statistics, when exact.
fn bytes_range(stats: Option<&Statistics>) -> Option<(&[u8], &[u8])> {
    match stats? {
        Statistics::ByteArray(s) if s.min_is_exact() && s.max_is_exact() => {
            Some((s.min_opt()?.data(), s.max_opt()?.data()))
        }
        _ => None,
    }
}

/// A reader of `part`, with its page index when it has one (so that a
/// row selection skips the pages holding none of its rows).
async fn open(
    part: PartFile,
) -> parquet::errors::Result<ParquetRecordBatchStreamBuilder<PartFile>> {
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    ParquetRecordBatchStreamBuilder::new_with_options(part, options).await
}

/// The rows of `part` that may match `filter`, in file order. Row groups
/// are skipped by statistics (time, object) and bloom filters (trace id,
/// service) before any of their data is read.
pub async fn candidates(
    part: PartFile,
    signal: Signal,
    filter: &Filter,
) -> Result<Vec<Candidate>, CompactError> {
    let key = part.key.clone();
    let failed = |e| failed(&key, e);
    let mut builder = open(part.clone()).await.map_err(failed)?;
    let metadata = Arc::clone(builder.metadata());
    let columns = PartColumns::of(signal, &builder)?;
    let trace_hex = filter.trace_id.as_deref().map(crate::values::hex);
    if filter.trace_id.is_some() && columns.trace.is_none() {
        // A table without trace ids holds no item of a trace.
        return Ok(Vec::new());
    }
    if signal != Signal::Logs && filter.body_contains.iter().any(|text| !text.is_empty()) {
        // Only log records have a body.
        return Ok(Vec::new());
    }
    let groups = kept_row_groups(&mut builder, &columns, filter, trace_hex.as_deref())
        .await
        .map_err(failed)?;
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    // Only the columns a test needs: the time when some kept row group is
    // not wholly inside the range, the service and trace id when asked for.
    let times_needed = groups.iter().any(|(g, _)| {
        columns
            .time_range(&metadata, *g)
            .is_none_or(|(min, max)| !filter.times_all_match(min, max))
    });
    let mut needs = Needs {
        time: times_needed.then_some(columns.time_column),
        service: filter.service.is_some(),
        trace: trace_hex,
        attributes: filter
            .attributes
            .iter()
            .any(|(_, texts)| !texts.is_empty())
            .then_some(columns.attributes_column),
        body: false,
    };
    // Bodies are the widest column: when another test narrows the rows,
    // they are read afterwards, for the rows left only.
    let body = signal == Signal::Logs && !filter.body_contains.is_empty();
    let body_after = body && (needs.service || needs.trace.is_some() || needs.attributes.is_some());
    needs.body = body && !body_after;
    let roots = needs.roots(builder.schema())?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let stream = builder
        .with_projection(mask)
        .with_row_groups(groups.iter().map(|(g, _)| *g).collect())
        .build()
        .map_err(failed)?;
    let groups: Vec<(u64, u64)> = groups
        .iter()
        .map(|(g, first)| {
            let rows = u64::try_from(metadata.row_group(*g).num_rows()).unwrap_or(0);
            (*first, rows)
        })
        .collect();
    let found = matching_rows(stream, &groups, filter, &needs)
        .await
        .map_err(|e| match e {
            ScanError::Parquet(e) => failed(e),
            ScanError::Compact(e) => e,
        })?;
    if body_after && !found.is_empty() {
        let mut found = found;
        found.sort_unstable_by_key(|c| c.row);
        return with_bodies(part, found, &filter.body_contains).await;
    }
    Ok(found)
}

/// The `found` rows (in file order) whose `Body` holds every one of
/// `texts`: only the pages holding them are read.
async fn with_bodies(
    part: PartFile,
    found: Vec<Candidate>,
    texts: &[String],
) -> Result<Vec<Candidate>, CompactError> {
    let rows: Vec<u64> = found.iter().map(|c| c.row).collect();
    let mask = |builder: &ParquetRecordBatchStreamBuilder<PartFile>| {
        let body = roots(builder.schema(), &["Body"])?;
        Ok(ProjectionMask::roots(builder.parquet_schema(), body))
    };
    let mut found = found.into_iter();
    fold_rows(part, &rows, mask, |batch, out| {
        let bodies = crate::table::string(batch, "part", "Body")?;
        for (i, candidate) in (0..batch.num_rows()).zip(found.by_ref()) {
            if holds_all(bodies.value(i), texts) {
                out.push(candidate);
            }
        }
        Ok(())
    })
    .await
}

/// The columns of a part a scan tests, by leaf index, and how its times
/// are kept.
struct PartColumns {
    time_column: &'static str,
    attributes_column: &'static str,
    service: usize,
    time: usize,
    object: usize,
    trace: Option<usize>,
    /// Time units per microsecond: parts of manifest version 1 hold
    /// nanoseconds; times are compared in microseconds, rounded down.
    per_micro: i64,
}

impl PartColumns {
    fn of(
        signal: Signal,
        builder: &ParquetRecordBatchStreamBuilder<PartFile>,
    ) -> Result<Self, CompactError> {
        let (time_column, attributes_column) = match signal {
            Signal::Traces => ("Timestamp", "SpanAttributes"),
            Signal::Logs => ("Timestamp", "LogAttributes"),
            Signal::Metrics => ("TimeUnix", "Attributes"),
        };
        let metadata = builder.metadata();
        let column = |name: &str| {
            leaf(metadata, name).ok_or_else(|| CompactError::Schema {
                table: "part",
                problem: format!("no column {name}"),
            })
        };
        column(INDEX_COLUMN)?;
        let per_micro = match builder.schema().field_with_name(time_column) {
            Ok(field)
                if matches!(
                    field.data_type(),
                    DataType::Timestamp(TimeUnit::Nanosecond, _)
                ) =>
            {
                1000
            }
            _ => 1,
        };
        Ok(PartColumns {
            time_column,
            attributes_column,
            service: column("ServiceName")?,
            time: column(time_column)?,
            object: column(OBJECT_COLUMN)?,
            trace: leaf(metadata, "TraceId"),
            per_micro,
        })
    }

    /// A row group's exact time range, in microseconds.
    fn time_range(&self, metadata: &ParquetMetaData, group: usize) -> Option<(i64, i64)> {
        int_range(metadata.row_group(group).column(self.time).statistics()).map(|(min, max)| {
            (
                min.div_euclid(self.per_micro),
                max.div_euclid(self.per_micro),
            )
        })
    }
}

/// The row groups that may hold a match, each with the part's row number
/// of its first row: skipped by statistics (object, time, service) and
/// bloom filters (trace id, service).
async fn kept_row_groups(
    builder: &mut ParquetRecordBatchStreamBuilder<PartFile>,
    columns: &PartColumns,
    filter: &Filter,
    trace_hex: Option<&str>,
) -> Result<Vec<(usize, u64)>, ParquetError> {
    let metadata = Arc::clone(builder.metadata());
    let mut groups = Vec::new();
    let mut first_row = 0u64;
    for (i, rg) in metadata.row_groups().iter().enumerate() {
        let starts_at = first_row;
        first_row += u64::try_from(rg.num_rows()).unwrap_or(0);
        if let Some((min, max)) = int_range(rg.column(columns.object).statistics())
            && (max < i64::from(filter.objects.start) || min >= i64::from(filter.objects.end))
        {
            continue;
        }
        if let Some((min, max)) = columns.time_range(&metadata, i)
            && !filter.times_may_match(min, max)
        {
            continue;
        }
        if let (Some(hex), Some(trace)) = (trace_hex, columns.trace)
            && let Some(bloom) = builder.get_row_group_column_bloom_filter(i, trace).await?
            && !bloom.check(hex)
        {
            continue;
        }
        // Rows are sorted by service: a row group's range of names rules
        // most services out without reading its bloom filter.
        if let Some(name) = &filter.service
            && let Some((min, max)) = bytes_range(rg.column(columns.service).statistics())
            && !(min..=max).contains(&name.as_bytes())
            && !min.is_empty()
        {
            continue;
        }
        if let Some(name) = &filter.service
            && let Some(bloom) = builder
                .get_row_group_column_bloom_filter(i, columns.service)
                .await?
            && !bloom.check(name.as_str())
            && !bloom.check("")
        {
            continue;
        }
        groups.push((i, starts_at));
    }
    Ok(groups)
}

/// What the row tests of a scan read.
struct Needs {
    /// The time column, when some row's time must be tested.
    time: Option<&'static str>,
    service: bool,
    /// The trace id asked for, in hex.
    trace: Option<String>,
    /// The item's attribute column, when attributes are tested.
    attributes: Option<&'static str>,
    /// Whether `Body` is tested.
    body: bool,
}

impl Needs {
    /// The root columns to read, by index in `schema`.
    fn roots(&self, schema: &arrow_schema::SchemaRef) -> Result<Vec<usize>, CompactError> {
        let mut roots = vec![OBJECT_COLUMN, INDEX_COLUMN];
        roots.extend(self.time);
        if self.service {
            roots.push("ServiceName");
        }
        if self.trace.is_some() {
            roots.push("TraceId");
        }
        if let Some(attributes) = self.attributes {
            roots.extend([attributes, "ResourceAttributes"]);
        }
        if self.body {
            roots.push("Body");
        }
        self::roots(schema, &roots)
    }
}

/// Why a scan of rows failed.
enum ScanError {
    Parquet(ParquetError),
    Compact(CompactError),
}

/// Reads the projected rows of the kept row groups (`groups`: first row
/// and rows of each) and keeps those that pass every test.
async fn matching_rows(
    mut stream: ParquetRecordBatchStream<PartFile>,
    groups: &[(u64, u64)],
    filter: &Filter,
    needs: &Needs,
) -> Result<Vec<Candidate>, ScanError> {
    let (mut group, mut in_group) = (0usize, 0u64);
    let mut out = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch =
            batch.map_err(|e| ScanError::Parquet(ParquetError::ArrowError(e.to_string())))?;
        let columns = NarrowColumns::of(&batch, needs.time, needs.service, needs.trace.is_some())
            .map_err(ScanError::Compact)?;
        let maps: Vec<&MapArray> = match needs.attributes {
            Some(attributes) => [attributes, "ResourceAttributes"]
                .iter()
                .map(|name| {
                    batch
                        .column_by_name(name)
                        .and_then(|c| c.as_map_opt())
                        .ok_or_else(|| {
                            ScanError::Compact(CompactError::Schema {
                                table: "part",
                                problem: format!("{name} is not a map column"),
                            })
                        })
                })
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let body = match needs.body {
            true => Some(
                batch
                    .column_by_name("Body")
                    .and_then(|c| c.as_string_opt::<i32>())
                    .ok_or_else(|| {
                        ScanError::Compact(CompactError::Schema {
                            table: "part",
                            problem: "Body is not a string column".into(),
                        })
                    })?,
            ),
            false => None,
        };
        for i in 0..batch.num_rows() {
            while group < groups.len() && in_group >= groups[group].1 {
                group += 1;
                in_group = 0;
            }
            let row = groups.get(group).map_or(0, |(first, _)| *first) + in_group;
            in_group += 1;
            let object = columns.object.value(i);
            let keep = filter.objects.contains(&object)
                && columns
                    .time
                    .as_ref()
                    .is_none_or(|times| filter.time_may_match(times.micros(i)))
                && columns
                    .service
                    .is_none_or(|names| filter.service_may_match(names.value(i)))
                && match (&needs.trace, &columns.trace) {
                    (Some(hex), Some(trace)) => trace.value(i) == hex,
                    _ => true,
                }
                && (maps.is_empty() || filter.attributes_may_match(&maps, i))
                && body.is_none_or(|body| holds_all(body.value(i), &filter.body_contains));
            if keep {
                out.push(Candidate {
                    object,
                    index: columns.index.value(i),
                    row,
                });
            }
        }
    }
    Ok(out)
}

/// A time column: microseconds, or nanoseconds in parts of manifest
/// version 1.
enum Times<'a> {
    Micros(&'a arrow_array::PrimitiveArray<TimestampMicrosecondType>),
    Nanos(&'a arrow_array::PrimitiveArray<TimestampNanosecondType>),
}

impl Times<'_> {
    /// Row `i`'s time in microseconds, rounded down.
    fn micros(&self, i: usize) -> i64 {
        match self {
            Times::Micros(t) => t.value(i),
            Times::Nanos(t) => t.value(i).div_euclid(1000),
        }
    }
}

/// The narrow columns of a batch (those a filter needs).
struct NarrowColumns<'a> {
    service: Option<&'a arrow_array::StringArray>,
    time: Option<Times<'a>>,
    object: &'a arrow_array::PrimitiveArray<UInt32Type>,
    index: &'a arrow_array::PrimitiveArray<UInt32Type>,
    trace: Option<&'a arrow_array::StringArray>,
}

impl<'a> NarrowColumns<'a> {
    fn of(
        batch: &'a RecordBatch,
        time: Option<&str>,
        service: bool,
        trace: bool,
    ) -> Result<Self, CompactError> {
        let missing = |name: &str| CompactError::Schema {
            table: "part",
            problem: format!("{name} has an unexpected type"),
        };
        let get = |name: &str| batch.column_by_name(name).ok_or_else(|| missing(name));
        Ok(NarrowColumns {
            service: if service {
                Some(
                    get("ServiceName")?
                        .as_string_opt::<i32>()
                        .ok_or_else(|| missing("ServiceName"))?,
                )
            } else {
                None
            },
            time: match time {
                Some(time) => {
                    let column = get(time)?;
                    Some(
                        match column.as_primitive_opt::<TimestampMicrosecondType>() {
                            Some(micros) => Times::Micros(micros),
                            None => Times::Nanos(
                                column
                                    .as_primitive_opt::<TimestampNanosecondType>()
                                    .ok_or_else(|| missing(time))?,
                            ),
                        },
                    )
                }
                None => None,
            },
            object: get(OBJECT_COLUMN)?
                .as_primitive_opt::<UInt32Type>()
                .ok_or_else(|| missing(OBJECT_COLUMN))?,
            index: get(INDEX_COLUMN)?
                .as_primitive_opt::<UInt32Type>()
                .ok_or_else(|| missing(INDEX_COLUMN))?,
            trace: if trace {
                Some(
                    get("TraceId")?
                        .as_string_opt::<i32>()
                        .ok_or_else(|| missing("TraceId"))?,
                )
            } else {
                None
            },
        })
    }
}

/// A row's lossless columns: where it came from and what it holds.
#[derive(Debug)]
pub struct Row {
    /// Its raw object's index in the manifest.
    pub object: u32,
    /// Its position in that object.
    pub index: u32,
    context: Context,
    item: Item,
}

/// A row's item, rebuilt once from its columns.
#[derive(Debug)]
enum Item {
    Span(Span),
    Log(LogRecord),
    Metric(Metric),
}

/// An item type a row may hold.
trait Stored: Sized {
    fn into_item(self) -> Item;
    fn from_item(item: Item) -> Option<Self>;
}

impl Stored for Span {
    fn into_item(self) -> Item {
        Item::Span(self)
    }
    fn from_item(item: Item) -> Option<Self> {
        match item {
            Item::Span(span) => Some(span),
            _ => None,
        }
    }
}

impl Stored for LogRecord {
    fn into_item(self) -> Item {
        Item::Log(self)
    }
    fn from_item(item: Item) -> Option<Self> {
        match item {
            Item::Log(record) => Some(record),
            _ => None,
        }
    }
}

impl Stored for Metric {
    fn into_item(self) -> Item {
        Item::Metric(self)
    }
    fn from_item(item: Item) -> Option<Self> {
        match item {
            Item::Metric(metric) => Some(metric),
            _ => None,
        }
    }
}

/// The items of one object's rows, grouped by resource and scope.
fn grouped<T: Stored>(
    contexts: &[Context],
    items: Vec<Item>,
    table: &'static str,
    resources: &mut crate::table::Resources,
) -> Result<Vec<crate::table::ResourceGroup<T>>, CompactError> {
    let items = items
        .into_iter()
        .map(|item| {
            T::from_item(item).ok_or_else(|| CompactError::Schema {
                table,
                problem: format!("a row of a {table} part holds another signal's item"),
            })
        })
        .collect::<Result<Vec<T>, _>>()?;
    crate::table::group(contexts.iter().zip(items), table, resources)
}

/// The lossless columns of `rows` (sorted, rows of the part from 0) of
/// `part`, a part of `signal`, and those completing its items: only the
/// pages holding them are read.
pub async fn read_rows(
    part: PartFile,
    signal: Signal,
    rows: &[u64],
) -> Result<Vec<Row>, CompactError> {
    match signal {
        Signal::Traces => read_rows_of(part, &traces::LOSSLESS, rows).await,
        Signal::Logs => read_rows_of(part, &logs::LOSSLESS, rows).await,
        Signal::Metrics => read_rows_of(part, &metrics::LOSSLESS, rows).await,
    }
}

async fn read_rows_of<T: prost::Message + Default + Stored>(
    part: PartFile,
    lossless: &Lossless<T>,
    rows: &[u64],
) -> Result<Vec<Row>, CompactError> {
    let mask = |builder: &ParquetRecordBatchStreamBuilder<PartFile>| {
        crate::table::projection(
            builder.schema(),
            builder.parquet_schema(),
            lossless,
            &[OBJECT_COLUMN, INDEX_COLUMN],
        )
    };
    fold_rows(part, rows, mask, |batch, out| {
        push_rows(lossless, batch, out)
    })
    .await
}

/// As [`read_rows`] for a part of logs of manifest version 3 (or later),
/// but each record only as a line shows it ([`logs::line`]: its time,
/// severity and body) under its resource, without its scope: the columns
/// read are those and the resource's, not the ids, attributes and
/// remainder a whole record needs. Only the records whose body holds
/// every one of `body_contains` are kept: a scan that leaves this test to
/// the read ([`Filter::body_contains`] empty) reads each body once.
pub async fn read_log_lines(
    part: PartFile,
    rows: &[u64],
    body_contains: &[String],
) -> Result<Vec<Row>, CompactError> {
    let mask = |builder: &ParquetRecordBatchStreamBuilder<PartFile>| {
        let names = [
            "OtlpResource",
            "ResourceSchemaUrl",
            OBJECT_COLUMN,
            INDEX_COLUMN,
        ];
        let roots = roots(builder.schema(), names.iter().chain(&logs::LINE_COLUMNS))?;
        Ok(ProjectionMask::roots(builder.parquet_schema(), roots))
    };
    fold_rows(part, rows, mask, |batch, out| {
        let bodies = crate::table::string(batch, "part", "Body")?;
        let line = |i| match holds_all(bodies.value(i), body_contains) {
            true => logs::line(batch, i).map(|line| Some(Item::Log(line))),
            false => Ok(None),
        };
        push_items(batch, Context::of_resources(batch)?, line, out)
    })
    .await
}

/// Whether `body` holds every one of `texts`.
fn holds_all(body: &str, texts: &[String]) -> bool {
    texts.iter().all(|text| body.contains(text.as_str()))
}

/// The indices in `schema` of the root columns `names`.
fn roots<'a>(
    schema: &arrow_schema::SchemaRef,
    names: impl IntoIterator<Item = &'a &'a str>,
) -> Result<Vec<usize>, CompactError> {
    names
        .into_iter()
        .map(|name| {
            schema.index_of(name).map_err(|_| CompactError::Schema {
                table: "part",
                problem: format!("no column {name}"),
            })
        })
        .collect()
}

/// `rows` (sorted, rows of the part from 0) of `part`, the columns `mask`
/// picks: only the pages holding them are read.
async fn rows_of(
    part: PartFile,
    rows: &[u64],
    mask: impl FnOnce(
        &ParquetRecordBatchStreamBuilder<PartFile>,
    ) -> Result<ProjectionMask, CompactError>,
) -> Result<ParquetRecordBatchStream<PartFile>, CompactError> {
    let key = part.key.clone();
    let failed = |e| failed(&key, e);
    let builder = open(part).await.map_err(failed)?;
    let (groups, selection) = selection(builder.metadata(), rows);
    let mask = mask(&builder)?;
    builder
        .with_projection(mask)
        .with_row_groups(groups)
        .with_row_selection(selection)
        .build()
        .map_err(failed)
}

/// `rows` (sorted, rows of the part from 0) of `part`, the columns `mask`
/// picks, each batch read handed to `each` with what it has gathered.
async fn fold_rows<T>(
    part: PartFile,
    rows: &[u64],
    mask: impl FnOnce(
        &ParquetRecordBatchStreamBuilder<PartFile>,
    ) -> Result<ProjectionMask, CompactError>,
    mut each: impl FnMut(&RecordBatch, &mut Vec<T>) -> Result<(), CompactError>,
) -> Result<Vec<T>, CompactError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let key = part.key.clone();
    let mut stream = rows_of(part, rows, mask).await?;
    let mut out = Vec::with_capacity(rows.len());
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| failed(&key, ParquetError::ArrowError(e.to_string())))?;
        each(&batch, &mut out)?;
    }
    Ok(out)
}

/// The row groups holding `rows` (sorted, rows of the part from 0), and
/// the selection of those rows within them.
pub(crate) fn selection(metadata: &ParquetMetaData, rows: &[u64]) -> (Vec<usize>, RowSelection) {
    let mut groups = Vec::new();
    let mut selectors = Vec::new();
    let (mut first_row, mut next) = (0u64, 0usize);
    for (g, rg) in metadata.row_groups().iter().enumerate() {
        let n = u64::try_from(rg.num_rows()).unwrap_or(0);
        let end = first_row + n;
        let mut at = first_row;
        let mut any = false;
        while next < rows.len() && rows[next] < end {
            let row = rows[next];
            let mut run = 1;
            // A run of rows ends with its row group.
            while next + run < rows.len()
                && rows[next + run] == row + run as u64
                && row + (run as u64) < end
            {
                run += 1;
            }
            if row > at {
                selectors.push(RowSelector::skip((row - at) as usize));
            }
            selectors.push(RowSelector::select(run));
            at = row + run as u64;
            next += run;
            any = true;
        }
        if any {
            if end > at {
                selectors.push(RowSelector::skip((end - at) as usize));
            }
            groups.push(g);
        }
        first_row = end;
    }
    (groups, RowSelection::from(selectors))
}

/// Appends the rows of a batch holding the lossless columns and those of
/// where rows came from.
fn push_rows<T: prost::Message + Default + Stored>(
    lossless: &Lossless<T>,
    batch: &RecordBatch,
    out: &mut Vec<Row>,
) -> Result<(), CompactError> {
    let item = |i| item(lossless, batch, i).map(|item| Some(item.into_item()));
    push_items(batch, Context::of_batch(batch)?, item, out)
}

/// Appends the rows of a batch holding the columns of where rows came
/// from: each with its context (of `contexts`, in order) and its item,
/// but those whose item is `None` (left out).
fn push_items(
    batch: &RecordBatch,
    contexts: Vec<Context>,
    item: impl Fn(usize) -> Result<Option<Item>, CompactError>,
    out: &mut Vec<Row>,
) -> Result<(), CompactError> {
    let objects = crate::table::uint32(batch, OBJECT_COLUMN)?;
    let indices = crate::table::uint32(batch, INDEX_COLUMN)?;
    for (i, context) in contexts.into_iter().enumerate() {
        if let Some(item) = item(i)? {
            out.push(Row {
                object: objects.value(i),
                index: indices.value(i),
                context,
                item,
            });
        }
    }
    Ok(())
}

/// Every row of a whole part of `signal`, with where it came from: what
/// rewriting a part needs.
pub fn all_rows(signal: Signal, part: Bytes) -> Result<Vec<Row>, CompactError> {
    match signal {
        Signal::Traces => all_rows_of(&traces::LOSSLESS, part),
        Signal::Logs => all_rows_of(&logs::LOSSLESS, part),
        Signal::Metrics => all_rows_of(&metrics::LOSSLESS, part),
    }
}

fn all_rows_of<T: prost::Message + Default + Stored>(
    lossless: &Lossless<T>,
    part: Bytes,
) -> Result<Vec<Row>, CompactError> {
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(part)?;
    let mask = crate::table::projection(
        builder.schema(),
        builder.parquet_schema(),
        lossless,
        &[OBJECT_COLUMN, INDEX_COLUMN],
    )?;
    let mut out = Vec::new();
    for batch in builder.with_projection(mask).build()? {
        push_rows(lossless, &batch?, &mut out)?;
    }
    Ok(out)
}

/// Rebuilds raw objects from their rows: each object's items, in the
/// order of `rows` (sort them by object and index first), with rows of
/// one resource and scope that follow each other in one group, as in the
/// object itself.
pub fn assemble(signal: Signal, rows: Vec<Row>) -> Result<Vec<(u32, Batch)>, CompactError> {
    let mut out = Vec::new();
    let mut resources = crate::table::Resources::default();
    let mut rows = rows.into_iter().peekable();
    while let Some(first) = rows.next() {
        let object = first.object;
        let (mut contexts, mut items) = (vec![first.context], vec![first.item]);
        while let Some(row) = rows.next_if(|r| r.object == object) {
            contexts.push(row.context);
            items.push(row.item);
        }
        let batch = match signal {
            Signal::Traces => Batch::Traces(traces::request(grouped(
                &contexts,
                items,
                traces::TABLE,
                &mut resources,
            )?)),
            Signal::Logs => Batch::Logs(logs::request(grouped(
                &contexts,
                items,
                logs::TABLE,
                &mut resources,
            )?)),
            Signal::Metrics => Batch::Metrics(metrics::request(grouped(
                &contexts,
                items,
                metrics::TABLE,
                &mut resources,
            )?)),
        };
        out.push((object, batch));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
