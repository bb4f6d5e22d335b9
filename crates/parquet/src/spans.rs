//! Spans of a part read as a search reads them: from the columns a
//! question needs, without rebuilding OTLP. The remainder (`OtlpRest`) of
//! a row is decoded only when a column cannot answer: the type of an
//! attribute value asked for, or an end that `Duration` cannot say.
//! Parts of manifest version 3 only; earlier parts are read whole.

use std::cell::OnceCell;
use std::collections::HashSet;
use std::ops::RangeInclusive;
use std::sync::Arc;

/// What [`span_batches`] yields.
pub use arrow_array::RecordBatch;
use arrow_array::cast::AsArray as _;
use arrow_array::types::{Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, DictionaryArray, Int32Array, Int64Array, MapArray,
    PrimitiveArray, StringArray, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema};
use otelvault_codec::proto::common::{AnyValue, KeyValue};
use otelvault_codec::proto::resource::Resource;
use otelvault_codec::view::SpanView;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowPredicate, ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, RowFilter,
};
use parquet::arrow::async_reader::{ParquetRecordBatchStream, ParquetRecordBatchStreamBuilder};
use parquet::errors::ParquetError;
use parquet::file::metadata::PageIndexPolicy;
use prost::Message as _;

use crate::CompactError;
use crate::rest::value;
use crate::scan::{PartFile, failed, selection};
use crate::table::{OBJECT_COLUMN, binary, int32, int64, signed, string, uint32};
use crate::traces::{ITEM_COLUMN, SpanRest, TABLE, kind_value, status_value};
use crate::values::NIBBLES;

/// Columns of few distinct values, read as dictionaries.
const DICTIONARIES: [&str; 5] = [
    "SpanName",
    "SpanKind",
    "StatusCode",
    "StatusMessage",
    "OtlpResource",
];

/// What a visit of spans reads besides ids, names, times, kinds, statuses
/// and resources.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanNeeds {
    /// The span's attributes (`SpanAttributes`): without them, a view
    /// has none.
    pub attributes: bool,
}

/// The fields of a span a [`SpanTest`] looks at. A view the test is given
/// has only these (the others are empty), and its end is its start plus
/// `Duration`, which differs from the span's only for an end before the
/// start (a duration of 0 then) or one past 292 years.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanFields {
    /// `name`.
    pub name: bool,
    /// `kind`.
    pub kind: bool,
    /// `status_code` and `status_message`.
    pub status: bool,
    /// `start` and `end`.
    pub duration: bool,
    /// `resource`.
    pub resource: bool,
    /// `attribute` and `attribute_keys`.
    pub attributes: bool,
}

/// Whether a span passes a [`SpanTest`].
pub type SpanPredicate = dyn Fn(&dyn SpanView) -> bool + Send + Sync;

/// A test of single spans that the reader applies before it decodes
/// anything else of a row: the bounds of the duration on the `Duration`
/// column alone, then `test` on the columns of `fields` for the rows
/// within them, then, for the rows that pass, the trace id and start
/// ([`SpanRows::Matching`]).
#[derive(Clone)]
pub struct SpanTest {
    /// The durations (end less start, nanoseconds, inclusive) a span may
    /// have; as the column holds it, a duration past 292 years is
    /// `i64::MAX`.
    pub durations: RangeInclusive<u64>,
    /// What `test` looks at.
    pub fields: SpanFields,
    /// Whether a span within `durations` passes; `None`: each one does.
    pub test: Option<Arc<SpanPredicate>>,
}

impl SpanTest {
    /// Bounds no duration lies within.
    #[allow(clippy::reversed_empty_ranges)]
    pub const NO_DURATIONS: RangeInclusive<u64> = 1..=0;

    /// A test that every span passes.
    pub fn everything() -> SpanTest {
        SpanTest {
            durations: 0..=u64::MAX,
            fields: SpanFields::default(),
            test: None,
        }
    }

    /// Whether `span`, seen whole, passes: what the reader decides from
    /// the columns.
    pub fn passes(&self, span: &dyn SpanView) -> bool {
        let duration = span.end().saturating_sub(span.start()).min(i64::MAX as u64);
        self.durations.contains(&duration) && self.test.as_ref().is_none_or(|test| test(span))
    }

    /// The predicate on `Duration` alone, when the bounds rule any span out.
    fn on_durations(&self, mask: ProjectionMask) -> Option<Box<dyn ArrowPredicate>> {
        if self.durations == (0..=u64::MAX) {
            return None;
        }
        let (low, high) = (
            signed(*self.durations.start()),
            signed(*self.durations.end()),
        );
        let low = if self.durations.is_empty() {
            i64::MAX
        } else {
            low
        };
        let high = if self.durations.is_empty() {
            i64::MIN
        } else {
            high
        };
        Some(Box::new(ArrowPredicateFn::new(
            mask,
            move |batch: RecordBatch| {
                let durations =
                    batch
                        .column(0)
                        .as_primitive_opt::<Int64Type>()
                        .ok_or_else(|| {
                            arrow_schema::ArrowError::SchemaError(
                                "Duration is not an int64 column".into(),
                            )
                        })?;
                Ok(BooleanArray::from_unary(durations, |d| {
                    low <= d && d <= high
                }))
            },
        )))
    }
}

impl std::fmt::Debug for SpanTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanTest")
            .field("durations", &self.durations)
            .field("fields", &self.fields)
            .field("test", &self.test.is_some())
            .finish()
    }
}

/// The columns a batch of spans holds, and so what its views say.
#[derive(Debug, Clone, Copy, Default)]
struct Reads {
    trace_id: bool,
    span_id: bool,
    name: bool,
    kind: bool,
    status: bool,
    duration: bool,
    start: bool,
    rest: bool,
    resource: bool,
    object: bool,
    attributes: bool,
}

impl Reads {
    /// What a visit with `needs` reads: everything a view says.
    fn of_needs(needs: SpanNeeds) -> Reads {
        Reads {
            trace_id: true,
            span_id: true,
            name: true,
            kind: true,
            status: true,
            duration: true,
            start: true,
            rest: true,
            resource: true,
            object: true,
            attributes: needs.attributes,
        }
    }

    /// What `fields` need: the remainder only for attributes' types.
    fn of_fields(fields: SpanFields) -> Reads {
        Reads {
            name: fields.name,
            kind: fields.kind,
            status: fields.status,
            duration: fields.duration,
            start: fields.duration,
            rest: fields.attributes,
            resource: fields.resource,
            attributes: fields.attributes,
            ..Reads::default()
        }
    }

    /// What the spans a test passed are handed over with: their trace,
    /// start and raw object.
    fn passed() -> Reads {
        Reads {
            trace_id: true,
            start: true,
            object: true,
            ..Reads::default()
        }
    }

    /// The columns read.
    fn columns(self) -> Vec<&'static str> {
        let mut columns = Vec::new();
        let mut add = |read: bool, names: &[&'static str]| {
            if read {
                columns.extend_from_slice(names);
            }
        };
        add(self.trace_id, &["TraceId"]);
        add(self.span_id, &["SpanId", "ParentSpanId"]);
        add(self.name, &["SpanName"]);
        add(self.kind, &["SpanKind"]);
        add(self.status, &["StatusCode", "StatusMessage"]);
        add(self.duration, &["Duration"]);
        add(self.start, &["Timestamp", "OtlpTimestampNanos"]);
        add(self.rest, &[ITEM_COLUMN]);
        add(self.resource, &["OtlpResource"]);
        add(self.object, &[OBJECT_COLUMN]);
        add(self.attributes, &["SpanAttributes"]);
        columns
    }
}

/// Trace ids, in hex as the `TraceId` column holds them.
pub type TraceIds = HashSet<String>;

/// The rows of a part a span visit reads.
#[derive(Debug, Clone, Copy, Default)]
pub enum SpanRows<'a> {
    /// Every row.
    #[default]
    All,
    /// These rows (sorted, rows of the part from 0).
    Rows(&'a [u64]),
    /// The spans of these traces: row groups whose bloom filter rules
    /// them all out are skipped, and of the others only `TraceId` is
    /// decoded for the rows that are not theirs.
    Traces(&'a Arc<TraceIds>),
    /// The spans that pass a test, as views of their trace id and start
    /// alone (whatever the needs); the rest of a row is never decoded.
    Matching(&'a SpanTest),
}

/// The batches of a traces part of manifest version 3 that a span visit
/// reads ([`visit_batch`]): the rows `rows` of the columns `needs` asks
/// for.
pub async fn span_batches(
    part: PartFile,
    rows: SpanRows<'_>,
    needs: SpanNeeds,
) -> Result<ParquetRecordBatchStream<PartFile>, CompactError> {
    let key = part.key.clone();
    let failed = |e| failed(&key, e);
    let mut part = part;
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    let plain = ArrowReaderMetadata::load_async(&mut part, options.clone())
        .await
        .map_err(failed)?;
    // Low-cardinality columns as dictionaries: each row is then a key, not
    // a copy of its value, and a resource is decoded once per batch.
    let hinted: Vec<Field> = plain
        .schema()
        .fields()
        .iter()
        .map(|field| {
            let field = field.as_ref().clone();
            if DICTIONARIES.contains(&field.name().as_str()) {
                let value = field.data_type().clone();
                field.with_data_type(DataType::Dictionary(
                    Box::new(DataType::Int32),
                    Box::new(value),
                ))
            } else {
                field
            }
        })
        .collect();
    let options = options.with_schema(Arc::new(Schema::new_with_metadata(
        hinted,
        plain.schema().metadata().clone(),
    )));
    let metadata =
        ArrowReaderMetadata::try_new(Arc::clone(plain.metadata()), options).map_err(failed)?;
    let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(part, metadata);
    let mut reads = Reads::of_needs(needs);
    match rows {
        SpanRows::All => {}
        SpanRows::Rows(rows) => {
            let (groups, selection) = selection(builder.metadata(), rows);
            builder = builder
                .with_row_groups(groups)
                .with_row_selection(selection);
        }
        SpanRows::Traces(traces) => builder = of_traces(builder, traces).await.map_err(failed)?,
        SpanRows::Matching(test) => {
            let mut predicates: Vec<Box<dyn ArrowPredicate>> = Vec::new();
            let durations = Reads {
                duration: true,
                ..Reads::default()
            };
            if let Some(bounds) = test.on_durations(mask(&builder, durations)?) {
                predicates.push(bounds);
            }
            if let Some(predicate) = &test.test {
                let mut tested = Reads::of_fields(test.fields);
                // A predicate reads some column, if only to count rows.
                tested.duration |= tested.columns().is_empty();
                let predicate = Arc::clone(predicate);
                predicates.push(Box::new(ArrowPredicateFn::new(
                    mask(&builder, tested)?,
                    move |batch: RecordBatch| {
                        passing(&batch, tested, &*predicate)
                            .map_err(|e| arrow_schema::ArrowError::ExternalError(Box::new(e)))
                    },
                )));
            }
            if !predicates.is_empty() {
                builder = builder.with_row_filter(RowFilter::new(predicates));
            }
            reads = Reads::passed();
        }
    }
    let mask = mask(&builder, reads)?;
    builder.with_projection(mask).build().map_err(failed)
}

/// The projection of the columns `reads` names.
fn mask(
    builder: &ParquetRecordBatchStreamBuilder<PartFile>,
    reads: Reads,
) -> Result<ProjectionMask, CompactError> {
    let schema = builder.schema();
    let mut roots = Vec::new();
    for name in reads.columns() {
        roots.push(schema.index_of(name).map_err(|_| CompactError::Schema {
            table: TABLE,
            problem: format!("no column {name} (a part of manifest version 3 has it)"),
        })?);
    }
    Ok(ProjectionMask::roots(builder.parquet_schema(), roots))
}

/// Which rows of `batch`, holding the columns `reads` names, pass `test`.
fn passing(
    batch: &RecordBatch,
    reads: Reads,
    test: &SpanPredicate,
) -> Result<BooleanArray, CompactError> {
    let mut passed = Vec::with_capacity(batch.num_rows());
    rows(batch, reads, |_, span| {
        passed.push(test(span));
        true
    })?;
    Ok(BooleanArray::from(passed))
}

/// Restricts `builder` to the rows of `traces`: the row groups whose
/// `TraceId` bloom filter may hold one of them, and of their rows those
/// whose `TraceId` (read first, alone) is one of them.
async fn of_traces(
    mut builder: ParquetRecordBatchStreamBuilder<PartFile>,
    traces: &Arc<TraceIds>,
) -> Result<ParquetRecordBatchStreamBuilder<PartFile>, ParquetError> {
    let metadata = Arc::clone(builder.metadata());
    let leaf = metadata
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.path().string() == "TraceId");
    let Some(leaf) = leaf else {
        return Err(ParquetError::General("no column TraceId".into()));
    };
    let mut groups = Vec::new();
    for group in 0..metadata.num_row_groups() {
        if let Some(bloom) = builder
            .get_row_group_column_bloom_filter(group, leaf)
            .await?
            && !traces.iter().any(|id| bloom.check(id.as_str()))
        {
            continue;
        }
        groups.push(group);
    }
    let mask = ProjectionMask::leaves(builder.parquet_schema(), [leaf]);
    let traces = Arc::clone(traces);
    let theirs = ArrowPredicateFn::new(mask, move |batch: RecordBatch| {
        let ids = batch.column(0).as_string_opt::<i32>().ok_or_else(|| {
            arrow_schema::ArrowError::SchemaError("TraceId is not a string column".into())
        })?;
        Ok(ids
            .iter()
            .map(|id| Some(id.is_some_and(|id| traces.contains(id))))
            .collect::<BooleanArray>())
    });
    Ok(builder
        .with_row_groups(groups)
        .with_row_filter(RowFilter::new(vec![Box::new(theirs)])))
}

/// Hands each span of `batch`, a batch of [`span_batches`] read with
/// `needs`, to `each` with the index of its raw object, until `each`
/// returns false. True when every row was handed over. `passed` says the
/// batch was read with [`SpanRows::Matching`]: its views have a trace id
/// and a start only.
pub fn visit_batch(
    batch: &RecordBatch,
    needs: SpanNeeds,
    passed: bool,
    each: impl FnMut(u32, &dyn SpanView) -> bool,
) -> Result<bool, CompactError> {
    let reads = if passed {
        Reads::passed()
    } else {
        Reads::of_needs(needs)
    };
    rows(batch, reads, each)
}

/// Hands each row of `batch`, holding the columns `reads` names, to
/// `each` as a span, with the index of its raw object (0 when not read).
fn rows(
    batch: &RecordBatch,
    reads: Reads,
    mut each: impl FnMut(u32, &dyn SpanView) -> bool,
) -> Result<bool, CompactError> {
    let columns = Columns::of(batch, reads)?;
    let resources: Vec<OnceCell<Vec<KeyValue>>> = (0..columns.resource.map_or(0, |r| r.1.len()))
        .map(|_| OnceCell::new())
        .collect();
    for i in 0..batch.num_rows() {
        let resource = resource(&columns, &resources, i)?;
        let row = ColumnSpan::new(&columns, i, resource)?;
        let object = columns.object.map_or(0, |o| o.value(i));
        let go_on = each(object, &row);
        if let Some(e) = row.failure.take() {
            return Err(e);
        }
        if !go_on {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Row `i`'s resource attributes, decoded once per batch (in
/// `resources`, by dictionary key).
fn resource<'a>(
    columns: &Columns<'_>,
    resources: &'a [OnceCell<Vec<KeyValue>>],
    i: usize,
) -> Result<&'a [KeyValue], CompactError> {
    let Some((keys, values)) = columns.resource else {
        return Ok(&[]);
    };
    if keys.is_null(i) {
        return Ok(&[]);
    }
    let key = usize::try_from(keys.keys().value(i)).unwrap_or(usize::MAX);
    let cell = resources.get(key).ok_or_else(|| CompactError::Schema {
        table: TABLE,
        problem: format!("OtlpResource in row {i} names no dictionary value"),
    })?;
    if let Some(decoded) = cell.get() {
        return Ok(decoded);
    }
    let resource =
        Resource::decode(values.value(key)).map_err(|source| CompactError::Protobuf {
            column: "OtlpResource",
            row: i,
            source,
        })?;
    Ok(cell.get_or_init(|| resource.attributes))
}

/// The columns of a batch a view reads; a view of a batch without a
/// column says nothing of it.
struct Columns<'a> {
    trace_id: Option<&'a StringArray>,
    span_id: Option<&'a StringArray>,
    parent: Option<&'a StringArray>,
    name: Option<Strings<'a>>,
    kind: Option<Strings<'a>>,
    status_code: Option<Strings<'a>>,
    status_message: Option<Strings<'a>>,
    duration: Option<&'a Int64Array>,
    micros: Option<&'a PrimitiveArray<TimestampMicrosecondType>>,
    nanos: Option<&'a Int32Array>,
    rest: Option<&'a BinaryArray>,
    resource: Option<(&'a DictionaryArray<Int32Type>, &'a BinaryArray)>,
    object: Option<&'a UInt32Array>,
    attributes: Option<(&'a MapArray, &'a StringArray, &'a StringArray)>,
}

impl<'a> Columns<'a> {
    /// The columns `reads` names, each of which `batch` must hold.
    fn of(batch: &'a RecordBatch, reads: Reads) -> Result<Self, CompactError> {
        let text = |read: bool, name| read.then(|| string(batch, TABLE, name)).transpose();
        let strings = |read: bool, name| read.then(|| Strings::of(batch, name)).transpose();
        let schema = |problem: String| CompactError::Schema {
            table: TABLE,
            problem,
        };
        let attributes = if reads.attributes {
            let map = batch
                .column_by_name("SpanAttributes")
                .and_then(|c| c.as_map_opt())
                .ok_or_else(|| schema("SpanAttributes is not a map column".into()))?;
            let (Some(keys), Some(values)) = (
                map.keys().as_string_opt::<i32>(),
                map.values().as_string_opt::<i32>(),
            ) else {
                return Err(schema("SpanAttributes is not a map of strings".into()));
            };
            Some((map, keys, values))
        } else {
            None
        };
        let micros = reads
            .start
            .then(|| {
                batch
                    .column_by_name("Timestamp")
                    .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
                    .ok_or_else(|| schema("Timestamp is not in microseconds".into()))
            })
            .transpose()?;
        Ok(Columns {
            trace_id: text(reads.trace_id, "TraceId")?,
            span_id: text(reads.span_id, "SpanId")?,
            parent: text(reads.span_id, "ParentSpanId")?,
            name: strings(reads.name, "SpanName")?,
            kind: strings(reads.kind, "SpanKind")?,
            status_code: strings(reads.status, "StatusCode")?,
            status_message: strings(reads.status, "StatusMessage")?,
            duration: reads
                .duration
                .then(|| int64(batch, TABLE, "Duration"))
                .transpose()?,
            micros,
            nanos: reads
                .start
                .then(|| int32(batch, TABLE, "OtlpTimestampNanos"))
                .transpose()?,
            rest: reads
                .rest
                .then(|| binary(batch, TABLE, ITEM_COLUMN))
                .transpose()?,
            resource: reads
                .resource
                .then(|| dictionary(batch, "OtlpResource", |v| v.as_binary_opt::<i32>()))
                .transpose()?,
            object: reads
                .object
                .then(|| uint32(batch, OBJECT_COLUMN))
                .transpose()?,
            attributes,
        })
    }
}

/// A dictionary-encoded string column.
#[derive(Clone, Copy)]
struct Strings<'a> {
    keys: &'a DictionaryArray<Int32Type>,
    values: &'a StringArray,
}

impl<'a> Strings<'a> {
    fn of(batch: &'a RecordBatch, name: &str) -> Result<Self, CompactError> {
        let (keys, values) = dictionary(batch, name, |v| v.as_string_opt::<i32>())?;
        Ok(Strings { keys, values })
    }

    /// Row `i` of `column`, or "" without the column.
    fn of_row(column: Option<Self>, i: usize) -> &'a str {
        column.map_or("", |c| c.value(i))
    }

    fn value(&self, i: usize) -> &'a str {
        let key = usize::try_from(self.keys.keys().value(i)).unwrap_or(usize::MAX);
        if self.keys.is_null(i) || key >= self.values.len() {
            ""
        } else {
            self.values.value(key)
        }
    }
}

/// Column `name` of `batch`, read as a dictionary, and its values.
fn dictionary<'a, V: 'a>(
    batch: &'a RecordBatch,
    name: &str,
    values: impl FnOnce(&'a ArrayRef) -> Option<&'a V>,
) -> Result<(&'a DictionaryArray<Int32Type>, &'a V), CompactError> {
    let keys = batch
        .column_by_name(name)
        .and_then(|c| c.as_dictionary_opt::<Int32Type>());
    keys.and_then(|k| Some((k, values(k.values())?)))
        .ok_or_else(|| CompactError::Schema {
            table: TABLE,
            problem: format!("{name} is not a dictionary column of the expected type"),
        })
}

/// An id of up to 32 bytes, decoded from hex without allocating.
struct Id {
    bytes: [u8; 32],
    len: usize,
}

impl Id {
    const EMPTY: Id = Id {
        bytes: [0; 32],
        len: 0,
    };

    fn of(text: &str, column: &'static str, row: usize) -> Result<Id, CompactError> {
        let bad = || CompactError::Schema {
            table: TABLE,
            problem: format!("{column} {text:?} in row {row} is not hex, or longer than 32 bytes"),
        };
        let digits = text.as_bytes();
        if !digits.len().is_multiple_of(2) || digits.len() > 64 {
            return Err(bad());
        }
        let mut id = Id {
            bytes: [0; 32],
            len: digits.len() / 2,
        };
        for (byte, pair) in id.bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let (high, low) = (NIBBLES[usize::from(pair[0])], NIBBLES[usize::from(pair[1])]);
            if high > 15 || low > 15 {
                return Err(bad());
            }
            *byte = high << 4 | low;
        }
        Ok(id)
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// One row as a span.
struct ColumnSpan<'a> {
    columns: &'a Columns<'a>,
    i: usize,
    trace_id: Id,
    /// Decoded when first asked for: most searches read few.
    span_id: OnceCell<Id>,
    start: u64,
    resource: &'a [KeyValue],
    rest: OnceCell<Option<SpanRest>>,
    /// A remainder that could not be decoded: the visit fails with it.
    failure: std::cell::Cell<Option<CompactError>>,
}

impl<'a> ColumnSpan<'a> {
    fn new(
        columns: &'a Columns<'a>,
        i: usize,
        resource: &'a [KeyValue],
    ) -> Result<Self, CompactError> {
        // As `traces::start` reads it, and never overflowing: parts are
        // ours, but a damaged one must not stop the process.
        let micros = columns.micros.map_or(0, |m| m.value(i) as u64);
        let nanos = columns.nanos.map_or(0, |n| n.value(i) as u64);
        let trace_id = match columns.trace_id {
            Some(ids) => Id::of(ids.value(i), "TraceId", i)?,
            None => Id::EMPTY,
        };
        Ok(ColumnSpan {
            columns,
            i,
            trace_id,
            span_id: OnceCell::new(),
            start: micros.wrapping_mul(1000).wrapping_add(nanos),
            resource,
            rest: OnceCell::new(),
            failure: std::cell::Cell::new(None),
        })
    }

    /// The row's remainder, decoded on first use.
    fn rest(&self) -> Option<&SpanRest> {
        self.rest
            .get_or_init(
                || match SpanRest::decode(self.columns.rest?.value(self.i)) {
                    Ok(rest) => Some(rest),
                    Err(source) => {
                        self.failure.set(Some(CompactError::Protobuf {
                            column: ITEM_COLUMN,
                            row: self.i,
                            source,
                        }));
                        None
                    }
                },
            )
            .as_ref()
    }
}

impl SpanView for ColumnSpan<'_> {
    fn trace_id(&self) -> &[u8] {
        self.trace_id.as_slice()
    }
    fn span_id(&self) -> &[u8] {
        self.span_id
            .get_or_init(|| {
                let Some(ids) = self.columns.span_id else {
                    return Id::EMPTY;
                };
                Id::of(ids.value(self.i), "SpanId", self.i).unwrap_or_else(|e| {
                    self.failure.set(Some(e));
                    Id::EMPTY
                })
            })
            .as_slice()
    }
    fn is_root(&self) -> bool {
        self.columns
            .parent
            .is_some_and(|p| p.value(self.i).is_empty())
    }
    fn name(&self) -> &str {
        Strings::of_row(self.columns.name, self.i)
    }
    fn start(&self) -> u64 {
        self.start
    }
    fn end(&self) -> u64 {
        let duration = self.columns.duration.map_or(0, |d| d.value(self.i));
        // Only a duration the column cannot hold (an end before the start,
        // one past `bigint`) leaves the end to the remainder.
        if (duration == 0 || duration == i64::MAX)
            && let Some(end) = self.rest().and_then(|r| r.end)
        {
            return end;
        }
        self.start.wrapping_add(duration as u64)
    }
    fn kind(&self) -> i32 {
        kind_value(Strings::of_row(self.columns.kind, self.i))
    }
    fn status_code(&self) -> i32 {
        status_value(Strings::of_row(self.columns.status_code, self.i))
    }
    fn status_message(&self) -> &str {
        Strings::of_row(self.columns.status_message, self.i)
    }
    fn attribute(&self, key: &str) -> Option<AnyValue> {
        let (map, keys, values) = self.columns.attributes?;
        let offsets = map.value_offsets();
        let (from, to) = (offsets[self.i] as usize, offsets[self.i + 1] as usize);
        let (position, j) = (from..to)
            .enumerate()
            .find(|(_, j)| keys.value(*j) == key)?;
        let typed = self
            .rest()?
            .attributes
            .iter()
            .find(|t| t.position as usize == position);
        value(values.value(j), typed)
    }
    fn attribute_keys(&self, each: &mut dyn FnMut(&str)) {
        if let Some((map, keys, _)) = self.columns.attributes {
            let offsets = map.value_offsets();
            for j in offsets[self.i] as usize..offsets[self.i + 1] as usize {
                each(keys.value(j));
            }
        }
    }
    fn resource(&self) -> &[KeyValue] {
        self.resource
    }
}
