//! What every table shares: rows of items placed in their resource and
//! scope, the sort, the context columns, the Parquet settings, and reading
//! the lossless columns back into groups.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, MapBuilder, StringBuilder, TimestampMicrosecondBuilder, UInt32Builder,
};
use arrow_array::cast::AsArray as _;
use arrow_array::{Array, ArrayRef, BinaryArray, RecordBatch, StringArray};
use arrow_schema::DataType;
use bytes::Bytes;
use otelvault_codec::proto::common::{InstrumentationScope, KeyValue};
use otelvault_codec::proto::resource::Resource;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::CompactError;
use crate::values::{append_text, string_attribute, text_len};

/// Rows a row group holds at most. Rows are sorted by service, so a row
/// group holds a few services and its statistics and bloom filters let a
/// query for one service (or trace) skip the others; a part of 50,000 rows
/// has a few.
const ROW_GROUP_ROWS: usize = 16_384;

/// Rows a data page holds at most: a query reads (and decompresses) only
/// the pages holding the rows it returns. (Pages of 8,192 rows made an
/// hour of production-like spans 1.5% smaller.)
const PAGE_ROWS: usize = 2048;

/// Rows made into columns at a time while a part is written: a multiple
/// of [`PAGE_ROWS`], a fraction of [`ROW_GROUP_ROWS`]. Every row repeats
/// its resource (attributes and encoded), so a slice's columns are mostly
/// copies: on the performance page's busy hour, slices of 2,048 rows
/// rather than 8,192 held 22 MiB less at the peak and faulted in a third
/// fewer pages, for 0.8% more instructions.
const WRITE_ROWS: usize = PAGE_ROWS;

/// The zstd level: on an hour of production-like traffic, 9 stores spans
/// in 3% and log records in 6% fewer bytes than 3, for about 10% more
/// compaction CPU (the `tier` bench).
const ZSTD_LEVEL: i32 = 9;

/// The zstd level of columns of random ids and of numbers (in
/// [`Encodings::levels`]). On the tier bench's hour, level 1 stores hex
/// span ids in 12% fewer bytes than level 9 (the short matches a deeper
/// search finds in random hex cost more than the literals they replace)
/// and times and positions in as many, for less CPU.
pub(crate) const ENTROPY_ZSTD_LEVEL: i32 = 1;

/// The column of a row's raw object (its index in the manifest).
pub const OBJECT_COLUMN: &str = "OtlpObject";
/// The column of a row's position in its raw object.
pub const INDEX_COLUMN: &str = "OtlpIndex";

/// How a table keeps its items losslessly: a remainder column that
/// holds what the SQL columns cannot say (`OtlpRest`, or for metrics the
/// whole `OtlpMetric`), and how an item comes back from it and them.
pub(crate) struct Lossless<T> {
    pub table: &'static str,
    /// The remainder column this release writes.
    pub column: &'static str,
    /// Encodes the item's remainder into an empty buffer (one per part,
    /// not an allocation per row).
    pub stored: fn(&T, &mut Vec<u8>),
    /// The SQL columns items come back from, in this release's parts and
    /// in earlier ones (a part has those its format uses).
    pub restored_from: &'static [&'static str],
    /// Row `i`'s item, from its remainder and the row's columns.
    pub restore: Restore<T>,
    /// How parts of manifest versions 1 and 2 keep items, when it differs.
    pub earlier: Option<Earlier>,
}

/// Row `i`'s item, from its remainder and the row's columns.
pub(crate) type Restore<T> = fn(&RecordBatch, usize, &[u8]) -> Result<T, CompactError>;

/// The lossless column of parts written before manifest version 3: the
/// item less some SQL columns, which `restore` encodes to append (a
/// message followed by another decodes as the two merged).
pub(crate) struct Earlier {
    pub column: &'static str,
    pub restore: fn(&RecordBatch, usize) -> Result<Vec<u8>, CompactError>,
}

/// Row `i`'s item, from a part of any version.
pub(crate) fn item<T: prost::Message + Default>(
    lossless: &Lossless<T>,
    batch: &RecordBatch,
    i: usize,
) -> Result<T, CompactError> {
    if batch.column_by_name(lossless.column).is_some() {
        let rest = binary(batch, lossless.table, lossless.column)?.value(i);
        return (lossless.restore)(batch, i, rest);
    }
    let earlier = lossless
        .earlier
        .as_ref()
        .ok_or_else(|| CompactError::Schema {
            table: lossless.table,
            problem: format!("no column {}", lossless.column),
        })?;
    let mut bytes = binary(batch, lossless.table, earlier.column)?
        .value(i)
        .to_vec();
    bytes.extend((earlier.restore)(batch, i)?);
    T::decode(bytes.as_slice()).map_err(|source| CompactError::Protobuf {
        column: earlier.column,
        row: i,
        source,
    })
}

/// One item (span, log record, data point) and where it came from, ready
/// to become a row.
pub(crate) struct Placed<'a, T> {
    pub service: &'a str,
    pub resource: Option<&'a Resource>,
    pub resource_schema: &'a str,
    pub scope: Option<&'a InstrumentationScope>,
    pub scope_schema: &'a str,
    pub item: &'a T,
    /// The item's time, unix nanoseconds (the `Timestamp` column holds it
    /// to the microsecond).
    pub time: u64,
    /// The raw object the item was read from (its index in the hour's
    /// manifest) and the item's position in it.
    pub object: u32,
    pub index: u32,
}

// By hand: a derive would ask `T` to be `Copy`.
impl<T> Clone for Placed<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Placed<'_, T> {}

/// Items of one resource and scope of one raw object, each with its
/// position in the object: resource, its schema URL, scope, its schema
/// URL, object, items.
pub(crate) type Group<'a, T> = (
    Option<&'a Resource>,
    &'a str,
    Option<&'a InstrumentationScope>,
    &'a str,
    u32,
    Vec<(u32, &'a T)>,
);

/// The groups of raw objects whose requests nest resources, scopes and
/// items: `scopes` and `items` open one level each, `context` names a
/// resource's and a scope's parts. Items are numbered in document order,
/// from 0 in each object, as readers of the raw object count them.
pub(crate) fn groups<'a, Req, R: 'a, S: 'a, T: 'a>(
    objects: &[(u32, &'a Req)],
    resources: impl Fn(&'a Req) -> &'a [R],
    scopes: impl Fn(&'a R) -> (Option<&'a Resource>, &'a str, &'a [S]),
    items: impl Fn(&'a S) -> (Option<&'a InstrumentationScope>, &'a str, &'a [T]),
) -> Vec<Group<'a, T>> {
    let mut out = Vec::new();
    for (object, request) in objects {
        let mut next = 0u32;
        for r in resources(request) {
            let (resource, resource_schema, scope_list) = scopes(r);
            for s in scope_list {
                let (scope, scope_schema, list) = items(s);
                let numbered = list
                    .iter()
                    .map(|item| {
                        next += 1;
                        (next - 1, item)
                    })
                    .collect();
                out.push((
                    resource,
                    resource_schema,
                    scope,
                    scope_schema,
                    *object,
                    numbered,
                ));
            }
        }
    }
    out
}

/// Places every item of the groups, sorted by service then time; items
/// of one service at one time keep their raw order.
///
/// What is sorted is a key per row (its service's rank among the groups'
/// services, its time, its position), not the rows: a row is eleven
/// words to move and its service a string to compare, and sorting rows
/// took 1.5% of compaction's instructions.
pub(crate) fn place<'a, T>(
    groups: &'a [Group<'a, T>],
    time: impl Fn(&T) -> u64,
) -> Vec<Placed<'a, T>> {
    let service_of = |resource: Option<&'a Resource>| {
        let attributes = resource.map_or(&[][..], |r| &r.attributes);
        string_attribute(attributes, "service.name").unwrap_or("")
    };
    let group_services: Vec<&str> = groups.iter().map(|g| service_of(g.0)).collect();
    let mut services = group_services.clone();
    services.sort_unstable();
    services.dedup();
    let mut keys = Vec::with_capacity(groups.iter().map(|g| g.5.len()).sum());
    let mut rows = Vec::with_capacity(keys.capacity());
    for (group, &service) in groups.iter().zip(&group_services) {
        let (resource, resource_schema, scope, scope_schema, object, items) = group;
        let rank = services.binary_search(&service).unwrap_or_default();
        for (index, item) in items {
            let time = time(item);
            keys.push((rank, time, rows.len()));
            rows.push(Placed {
                service,
                resource: *resource,
                resource_schema,
                scope: *scope,
                scope_schema,
                item: *item,
                time,
                object: *object,
                index: *index,
            });
        }
    }
    // The keys are distinct (positions are), so an unstable sort keeps
    // rows of one service and time in their raw order.
    keys.sort_unstable();
    keys.into_iter().map(|(_, _, at)| rows[at]).collect()
}

/// Writes one part: `ServiceName` and the time (`time_column`) first (the
/// sort order the file declares), then the table's own columns
/// (`columns` of a slice of rows), then the context columns and the
/// lossless ones: the item's protobuf in `lossless.column`, and where it
/// came from in `OtlpObject` (its raw object's index in the manifest) and
/// `OtlpIndex` (its position there).
///
/// Rows become columns [`WRITE_ROWS`] at a time and go to the writer as
/// they are made: the columns of a whole part took twice the memory of its
/// decoded items; a slice's take a few MiB. `observe` sees each slice's
/// columns as they are written (the hour's indexes count them there,
/// instead of reading the part back).
pub(crate) fn write_part<T: prost::Message>(
    rows: &[Placed<'_, T>],
    time_column: &'static str,
    columns: impl Fn(&[Placed<'_, T>]) -> Result<Vec<(&'static str, ArrayRef)>, CompactError>,
    lossless: &Lossless<T>,
    encodings: &Encodings,
    observe: Observe<'_, T>,
) -> Result<Vec<u8>, CompactError> {
    let schema = record_batch(&[], time_column, columns(&[])?, lossless)?.schema();
    let properties = properties(&schema, encodings)?;
    let mut writer = ArrowWriter::try_new(Vec::new(), schema, Some(properties))?;
    for slice in rows.chunks(WRITE_ROWS) {
        let batch = record_batch(slice, time_column, columns(slice)?, lossless)?;
        observe(&batch, slice)?;
        writer.write(&batch)?;
    }
    Ok(writer.into_inner()?)
}

/// What sees each slice of a part as it is written: its columns, and
/// the rows they were made from.
pub(crate) type Observe<'a, T> =
    &'a mut dyn FnMut(&RecordBatch, &[Placed<'_, T>]) -> Result<(), CompactError>;

/// The rows of a part, with every column in the order the part has them:
/// with no rows, the table's schema.
pub(crate) fn record_batch<T: prost::Message>(
    rows: &[Placed<'_, T>],
    time_column: &'static str,
    columns: Vec<(&'static str, ArrayRef)>,
    lossless: &Lossless<T>,
) -> Result<RecordBatch, CompactError> {
    let n = rows.len();
    let strings = || StringBuilder::with_capacity(n, n * 16);
    let binaries = || BinaryBuilder::with_capacity(n, n * 64);
    let (mut service, mut scope_name, mut scope_version) = (strings(), strings(), strings());
    let (mut resource_schema, mut scope_schema) = (strings(), strings());
    let mut timestamp = timestamps(n);
    let resource_attributes = repeated_maps(rows.iter().map(|row| row.resource))?;
    let (mut object, mut index) = (
        UInt32Builder::with_capacity(n),
        UInt32Builder::with_capacity(n),
    );
    // Rows of a group share their resource and scope: each is encoded
    // once, and each row's copy has its room from the start.
    let (mut resources, mut scopes) = (Encoded::default(), Encoded::default());
    let (resource_bytes, scope_bytes) = rows.iter().fold((0, 0), |(r, s), row| {
        (
            r + row.resource.map_or(0, |m| resources.of(m).len()),
            s + row.scope.map_or(0, |m| scopes.of(m).len()),
        )
    });
    let mut otlp_resource = BinaryBuilder::with_capacity(n, resource_bytes);
    let mut otlp_scope = BinaryBuilder::with_capacity(n, scope_bytes);
    let mut otlp_item = binaries();
    let mut stored = Vec::new();
    for row in rows {
        service.append_value(row.service);
        timestamp.append_value(micros(row.time));
        scope_name.append_value(row.scope.map_or("", |s| &s.name));
        scope_version.append_value(row.scope.map_or("", |s| &s.version));
        resource_schema.append_value(row.resource_schema);
        scope_schema.append_value(row.scope_schema);
        otlp_resource.append_option(row.resource.map(|r| resources.of(r)));
        otlp_scope.append_option(row.scope.map(|s| scopes.of(s)));
        stored.clear();
        (lossless.stored)(row.item, &mut stored);
        otlp_item.append_value(&stored);
        object.append_value(row.object);
        index.append_value(row.index);
    }
    let mut all: Vec<(&str, ArrayRef)> = vec![
        ("ServiceName", Arc::new(service.finish())),
        (time_column, Arc::new(timestamp.finish())),
    ];
    all.extend(columns);
    all.extend([
        (
            "ResourceAttributes",
            Arc::new(resource_attributes) as ArrayRef,
        ),
        ("ScopeName", Arc::new(scope_name.finish())),
        ("ScopeVersion", Arc::new(scope_version.finish())),
        ("ResourceSchemaUrl", Arc::new(resource_schema.finish())),
        ("ScopeSchemaUrl", Arc::new(scope_schema.finish())),
        ("OtlpResource", Arc::new(otlp_resource.finish())),
        ("OtlpScope", Arc::new(otlp_scope.finish())),
        (lossless.column, Arc::new(otlp_item.finish())),
        (OBJECT_COLUMN, Arc::new(object.finish())),
        (INDEX_COLUMN, Arc::new(index.finish())),
    ]);
    // Every column may hold nulls: a part's schema is made before its
    // rows, whichever slice holds the first null.
    let fields: Vec<arrow_schema::Field> = all
        .iter()
        .map(|(name, array)| arrow_schema::Field::new(*name, array.data_type().clone(), true))
        .collect();
    let arrays = all.into_iter().map(|(_, array)| array).collect();
    Ok(RecordBatch::try_new(
        Arc::new(arrow_schema::Schema::new(fields)),
        arrays,
    )?)
}

/// Appends `message`'s encoding to `out`.
pub(crate) fn encode_into(message: &impl prost::Message, out: &mut Vec<u8>) {
    // Encoding fails only for want of room, which a `Vec` makes.
    let _ = message.encode(out);
}

/// Messages encoded once each, by address (rows of a group borrow the
/// same resource and scope).
struct Encoded<M>(foldhash::HashMap<*const M, Vec<u8>>);

impl<M> Default for Encoded<M> {
    fn default() -> Self {
        Encoded(foldhash::HashMap::default())
    }
}

impl<M: prost::Message> Encoded<M> {
    fn of(&mut self, message: &M) -> &[u8] {
        self.0
            .entry(std::ptr::from_ref(message))
            .or_insert_with(|| message.encode_to_vec())
    }
}

/// How a table's columns are encoded, by root column (every leaf of a
/// map or list column alike). Columns not named are dictionary-encoded,
/// falling back to plain when the dictionary grows past its page.
pub(crate) struct Encodings {
    /// Columns with bloom filters: what queries look up one value of.
    pub bloom_filters: &'static [&'static str],
    /// High-cardinality columns (ids, times, durations, unique values),
    /// whose dictionary would only be overhead: plain, or delta for
    /// [`Encodings::delta`].
    pub no_dictionary: &'static [&'static str],
    /// Integer columns of sorted or near-sorted values: delta and bit
    /// packing.
    pub delta: &'static [&'static str],
    /// Columns compressed at a zstd level other than [`ZSTD_LEVEL`]:
    /// those of random ids and of numbers at [`ENTROPY_ZSTD_LEVEL`]
    /// (nothing in them repeats for a deeper match search to find), and
    /// those where a lower level was measured to store as small.
    pub levels: &'static [(&'static str, i32)],
}

/// zstd, row groups of [`ROW_GROUP_ROWS`], the encodings, and the sort
/// order declared: by the first two leaf columns (`ServiceName` then the
/// time for parts; an index's own two).
pub(crate) fn properties(
    schema: &arrow_schema::SchemaRef,
    encodings: &Encodings,
) -> Result<WriterProperties, CompactError> {
    let ascending = |column_idx| SortingColumn {
        column_idx,
        descending: false,
        nulls_first: false,
    };
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_sorting_columns(Some(vec![ascending(0), ascending(1)]));
    let descriptor = parquet::arrow::ArrowSchemaConverter::new().convert(schema)?;
    for leaf in descriptor.columns() {
        let path = leaf.path();
        let root = path.parts()[0].as_str();
        // The least and greatest of a map's keys and values, or of
        // protobuf remainders, prune nothing (no engine compares them):
        // computing them cost 6% of compaction CPU.
        if schema
            .field_with_name(root)
            .is_ok_and(|f| matches!(f.data_type(), DataType::Map(..) | DataType::Binary))
        {
            builder = builder.set_column_statistics_enabled(path.clone(), EnabledStatistics::None);
        }
        if let Some((_, level)) = encodings.levels.iter().find(|(name, _)| *name == root) {
            builder = builder.set_column_compression(
                path.clone(),
                Compression::ZSTD(ZstdLevel::try_new(*level)?),
            );
        }
        if encodings.bloom_filters.contains(&root) {
            builder = builder.set_column_bloom_filter_enabled(path.clone(), true);
        }
        if encodings.no_dictionary.contains(&root) {
            builder = builder.set_column_dictionary_enabled(path.clone(), false);
        }
        if encodings.delta.contains(&root)
            && matches!(
                leaf.physical_type(),
                parquet::basic::Type::INT32 | parquet::basic::Type::INT64
            )
        {
            builder = builder
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_encoding(path.clone(), parquet::basic::Encoding::DELTA_BINARY_PACKED);
        }
    }
    Ok(builder.build())
}

/// A timestamp (microseconds, UTC) column builder. Microseconds, not
/// nanoseconds: every SQL engine reads them (Spark refuses nanosecond
/// Parquet timestamps), and what must be exact is in the lossless columns.
pub(crate) fn timestamps(capacity: usize) -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC")
}

/// Unix nanoseconds as a timestamp column stores them: microseconds,
/// rounded down (every `u64` fits).
pub(crate) fn micros(time: u64) -> i64 {
    (time / 1000) as i64
}

/// A count as the SQL columns hold it: `bigint`, which every engine reads
/// (unsigned 64-bit Parquet columns are not); past `i64::MAX` it saturates,
/// and the lossless columns keep it exact.
pub(crate) fn signed(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A `map<string,string>` column builder for the attributes of `rows`
/// (one map each), its buffers sized for them at once: grown entry by
/// entry, they were copied over and over (0.5% of compaction's
/// instructions, on the performance page's hour).
pub(crate) fn map_for<'a>(
    rows: impl Iterator<Item = &'a [KeyValue]>,
) -> MapBuilder<StringBuilder, StringBuilder> {
    let (mut maps, mut entries, mut key_bytes, mut value_bytes) = (0, 0, 0, 0);
    for attributes in rows {
        maps += 1;
        entries += attributes.len();
        for kv in attributes {
            key_bytes += kv.key.len();
            value_bytes += text_len(kv.value.as_ref());
        }
    }
    MapBuilder::with_capacity(
        None,
        StringBuilder::with_capacity(entries, key_bytes),
        StringBuilder::with_capacity(entries, value_bytes),
        maps,
    )
}

/// The `map<string,string>` column of resources' attributes, a map per
/// row. Rows of a group share their resource: each resource's entries are
/// laid out once and copied whole into each of its rows, where appending
/// them entry by entry, row after row, was 3% of compaction's
/// instructions (on the performance page's hour, whose resources have 15
/// attributes).
fn repeated_maps<'a>(
    resources: impl Iterator<Item = Option<&'a Resource>>,
) -> Result<arrow_array::MapArray, CompactError> {
    // Each resource's layout once, and each row's layout by its place.
    let mut places: foldhash::HashMap<*const Resource, usize> = Default::default();
    let mut layouts: Vec<MapLayout> = Vec::new();
    let (mut entries, mut key_bytes, mut value_bytes) = (0, 0, 0);
    let rows: Vec<Option<usize>> = resources
        .map(|resource| {
            let resource = resource?;
            let place = *places
                .entry(std::ptr::from_ref(resource))
                .or_insert_with(|| {
                    layouts.push(MapLayout::of(&resource.attributes));
                    layouts.len() - 1
                });
            let layout = &layouts[place];
            entries += layout.key_ends.len();
            key_bytes += layout.keys.len();
            value_bytes += layout.values.len();
            Some(place)
        })
        .collect();
    let mut map_offsets = Vec::with_capacity(rows.len() + 1);
    let mut keys = Text::with_capacity(entries, key_bytes);
    let mut values = Text::with_capacity(entries, value_bytes);
    map_offsets.push(0);
    for place in rows {
        if let Some(layout) = place.map(|p| &layouts[p]) {
            keys.extend(&layout.keys, &layout.key_ends)?;
            values.extend(&layout.values, &layout.value_ends)?;
        }
        map_offsets.push(offset(keys.ends.len() - 1)?);
    }
    let (keys, values) = (Arc::new(keys.finish()), Arc::new(values.finish()));
    let entries = arrow_array::StructArray::try_new(
        vec![
            arrow_schema::Field::new("keys", DataType::Utf8, false),
            arrow_schema::Field::new("values", DataType::Utf8, true),
        ]
        .into(),
        vec![keys as ArrayRef, values as ArrayRef],
        None,
    )?;
    let field = arrow_schema::Field::new("entries", entries.data_type().clone(), false);
    Ok(arrow_array::MapArray::try_new(
        Arc::new(field),
        arrow_buffer::OffsetBuffer::new(map_offsets.into()),
        entries,
        None,
        false,
    )?)
}

/// One map's entries, as a string column holds them: the keys' bytes end
/// to end and where each ends, and the values' (as
/// [`append_text`] writes them).
struct MapLayout {
    keys: Vec<u8>,
    key_ends: Vec<usize>,
    values: Vec<u8>,
    value_ends: Vec<usize>,
}

impl MapLayout {
    fn of(attributes: &[KeyValue]) -> MapLayout {
        let mut layout = MapLayout {
            keys: Vec::new(),
            key_ends: Vec::with_capacity(attributes.len()),
            values: Vec::new(),
            value_ends: Vec::with_capacity(attributes.len()),
        };
        for kv in attributes {
            layout.keys.extend_from_slice(kv.key.as_bytes());
            layout.key_ends.push(layout.keys.len());
            layout
                .values
                .extend_from_slice(crate::values::as_text(kv.value.as_ref()).as_bytes());
            layout.value_ends.push(layout.values.len());
        }
        layout
    }
}

/// A string column's bytes and offsets, built a run of values at a time.
struct Text {
    bytes: Vec<u8>,
    ends: Vec<i32>,
}

impl Text {
    fn with_capacity(items: usize, bytes: usize) -> Text {
        let mut ends = Vec::with_capacity(items + 1);
        ends.push(0);
        Text {
            bytes: Vec::with_capacity(bytes),
            ends,
        }
    }

    /// Appends values laid out as `bytes`, each ending at its `ends`.
    fn extend(&mut self, bytes: &[u8], ends: &[usize]) -> Result<(), CompactError> {
        let base = self.bytes.len();
        // The last end is the greatest: checked once, every end fits.
        offset(base + bytes.len())?;
        self.bytes.extend_from_slice(bytes);
        self.ends.extend(ends.iter().map(|end| (base + end) as i32));
        Ok(())
    }

    fn finish(self) -> StringArray {
        let offsets = arrow_buffer::OffsetBuffer::new(self.ends.into());
        // The bytes are whole UTF-8 strings end to end, so every offset
        // falls between characters.
        StringArray::new(offsets, self.bytes.into(), None)
    }
}

/// A position in a column of 32-bit offsets.
fn offset(position: usize) -> Result<i32, CompactError> {
    i32::try_from(position)
        .map_err(|_| CompactError::Arrow(arrow_schema::ArrowError::OffsetOverflowError(position)))
}

/// Appends attributes as one map entry, values as strings.
pub(crate) fn append_map(
    builder: &mut MapBuilder<StringBuilder, StringBuilder>,
    attributes: &[KeyValue],
) -> Result<(), CompactError> {
    for kv in attributes {
        builder.keys().append_value(&kv.key);
        append_text(builder.values(), kv.value.as_ref());
    }
    Ok(builder.append(true)?)
}

/// Items read back with their resource and scope, exactly as stored.
#[derive(Debug)]
pub(crate) struct ResourceGroup<T> {
    pub resource: Option<Resource>,
    pub schema_url: String,
    pub scopes: Vec<ScopeGroup<T>>,
}

/// Items of one scope, read back.
#[derive(Debug)]
pub(crate) struct ScopeGroup<T> {
    pub scope: Option<InstrumentationScope>,
    pub schema_url: String,
    pub items: Vec<T>,
}

/// Where a row's item belongs: its resource and scope, as stored. Rows
/// of one batch with the same resource (or scope) share its bytes.
#[derive(Debug)]
pub(crate) struct Context {
    resource: Option<Arc<[u8]>>,
    resource_schema: Arc<str>,
    scope: Option<Arc<[u8]>>,
    scope_schema: Arc<str>,
}

/// `value` shared with `last` when they are equal, else newly allocated.
fn shared<T: ?Sized + PartialEq>(last: Option<&Arc<T>>, value: &T) -> Arc<T>
where
    Arc<T>: for<'a> From<&'a T>,
{
    match last {
        Some(last) if **last == *value => Arc::clone(last),
        _ => Arc::from(value),
    }
}

impl Context {
    fn same_resource(&self, other: &Context) -> bool {
        self.resource == other.resource && self.resource_schema == other.resource_schema
    }

    fn same_scope(&self, other: &Context) -> bool {
        self.scope == other.scope && self.scope_schema == other.scope_schema
    }

    /// The context of every row of a batch holding the context columns.
    pub(crate) fn of_batch(batch: &RecordBatch) -> Result<Vec<Context>, CompactError> {
        Self::of_columns(batch, true)
    }

    /// The resource of every row of a batch holding the resource's
    /// columns (`OtlpResource`, `ResourceSchemaUrl`), with no scope.
    pub(crate) fn of_resources(batch: &RecordBatch) -> Result<Vec<Context>, CompactError> {
        Self::of_columns(batch, false)
    }

    fn of_columns(batch: &RecordBatch, with_scopes: bool) -> Result<Vec<Context>, CompactError> {
        let table = "part";
        let resources = binary(batch, table, "OtlpResource")?;
        let resource_schemas = string(batch, table, "ResourceSchemaUrl")?;
        let scopes = match with_scopes {
            true => Some((
                binary(batch, table, "OtlpScope")?,
                string(batch, table, "ScopeSchemaUrl")?,
            )),
            false => None,
        };
        let mut out: Vec<Context> = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let last = out.last();
            let (scope, scope_schema) = match scopes {
                Some((scopes, scope_schemas)) => (
                    (!scopes.is_null(i))
                        .then(|| shared(last.and_then(|l| l.scope.as_ref()), scopes.value(i))),
                    shared(last.map(|l| &l.scope_schema), scope_schemas.value(i)),
                ),
                None => (None, shared(last.map(|l| &l.scope_schema), "")),
            };
            let context = Context {
                resource: (!resources.is_null(i))
                    .then(|| shared(last.and_then(|l| l.resource.as_ref()), resources.value(i))),
                resource_schema: shared(
                    last.map(|l| &l.resource_schema),
                    resource_schemas.value(i),
                ),
                scope,
                scope_schema,
            };
            out.push(context);
        }
        Ok(out)
    }
}

/// Reads a part's lossless columns (and those that complete its items)
/// only. Rows of one resource and scope that follow each other share a
/// group.
pub(crate) fn read_part<T: prost::Message + Default>(
    part: Bytes,
    lossless: &Lossless<T>,
) -> Result<Vec<ResourceGroup<T>>, CompactError> {
    let table = lossless.table;
    let builder = ParquetRecordBatchReaderBuilder::try_new(part)?;
    let mask = projection(builder.schema(), builder.parquet_schema(), lossless, &[])?;
    let reader = builder.with_projection(mask).build()?;
    let (mut contexts, mut items) = (Vec::new(), Vec::new());
    for batch in reader {
        let batch = batch?;
        for (i, context) in Context::of_batch(&batch)?.into_iter().enumerate() {
            contexts.push(context);
            items.push(item(lossless, &batch, i)?);
        }
    }
    group(contexts.iter().zip(items), table, &mut Resources::default())
}

/// The columns that rebuild items: context, lossless and restoring ones,
/// and `more`.
pub(crate) fn projection<T>(
    schema: &arrow_schema::SchemaRef,
    parquet: &parquet::schema::types::SchemaDescriptor,
    lossless: &Lossless<T>,
    more: &[&str],
) -> Result<ProjectionMask, CompactError> {
    // This release's remainder column, or an earlier release's.
    let item = match (&lossless.earlier, schema.index_of(lossless.column)) {
        (Some(earlier), Err(_)) => earlier.column,
        _ => lossless.column,
    };
    let names = [
        "OtlpResource",
        "ResourceSchemaUrl",
        "OtlpScope",
        "ScopeSchemaUrl",
        item,
    ];
    let mut roots = names
        .iter()
        .chain(more)
        .map(|name| {
            schema.index_of(name).map_err(|_| CompactError::Schema {
                table: lossless.table,
                problem: format!("no column {name}"),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Parts of an earlier format lack some (`restore` says which it needs).
    roots.extend(
        lossless
            .restored_from
            .iter()
            .filter_map(|name| schema.index_of(name).ok()),
    );
    Ok(ProjectionMask::roots(parquet, roots))
}

/// Groups rows (context, item): rows of one resource and scope that
/// follow each other share a group.
pub(crate) fn group<'a, T>(
    rows: impl Iterator<Item = (&'a Context, T)>,
    table: &'static str,
    resources: &mut Resources,
) -> Result<Vec<ResourceGroup<T>>, CompactError> {
    let mut out: Vec<ResourceGroup<T>> = Vec::new();
    let mut last: Option<&Context> = None;
    for (row, (context, item)) in rows.enumerate() {
        let same_resource = last.is_some_and(|l| l.same_resource(context));
        let same_scope = same_resource && last.is_some_and(|l| l.same_scope(context));
        if !same_resource {
            out.push(ResourceGroup {
                resource: resources.decode(context.resource.as_ref(), row)?,
                schema_url: context.resource_schema.to_string(),
                scopes: Vec::new(),
            });
        }
        let group = out.last_mut().ok_or_else(|| CompactError::Schema {
            table,
            problem: format!("row {row} has no resource"),
        })?;
        if !same_scope {
            group.scopes.push(ScopeGroup {
                scope: decode(context.scope.as_deref(), "OtlpScope", row)?,
                schema_url: context.scope_schema.to_string(),
                items: Vec::new(),
            });
        }
        if let Some(scope) = group.scopes.last_mut() {
            scope.items.push(item);
        }
        last = Some(context);
    }
    Ok(out)
}

/// Resources decoded from `OtlpResource`, each distinct one once: the
/// rows of one read share a few resources, however they interleave.
#[derive(Default)]
pub(crate) struct Resources(std::collections::HashMap<Arc<[u8]>, Resource>);

impl Resources {
    fn decode(
        &mut self,
        bytes: Option<&Arc<[u8]>>,
        row: usize,
    ) -> Result<Option<Resource>, CompactError> {
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        if let Some(resource) = self.0.get(bytes) {
            return Ok(Some(resource.clone()));
        }
        let resource: Resource = decode(Some(bytes), "OtlpResource", row)?.unwrap_or_default();
        self.0.insert(Arc::clone(bytes), resource.clone());
        Ok(Some(resource))
    }
}

fn decode<M: prost::Message + Default>(
    bytes: Option<&[u8]>,
    column: &'static str,
    row: usize,
) -> Result<Option<M>, CompactError> {
    bytes
        .map(|b| {
            M::decode(b).map_err(|source| CompactError::Protobuf {
                column,
                row,
                source,
            })
        })
        .transpose()
}

/// Column `name` of `batch` as the array type `cast` gives, or why not.
fn column<'a, A>(
    batch: &'a RecordBatch,
    table: &'static str,
    name: &str,
    kind: &str,
    cast: impl FnOnce(&'a ArrayRef) -> Option<&'a A>,
) -> Result<&'a A, CompactError> {
    batch
        .column_by_name(name)
        .and_then(cast)
        .ok_or_else(|| CompactError::Schema {
            table,
            problem: format!("{name} is not a {kind} column"),
        })
}

pub(crate) fn binary<'a>(
    batch: &'a RecordBatch,
    table: &'static str,
    name: &str,
) -> Result<&'a BinaryArray, CompactError> {
    column(batch, table, name, "binary", |c| c.as_binary_opt::<i32>())
}

pub(crate) fn string<'a>(
    batch: &'a RecordBatch,
    table: &'static str,
    name: &str,
) -> Result<&'a StringArray, CompactError> {
    column(batch, table, name, "string", |c| c.as_string_opt::<i32>())
}

/// Column `name` of `batch` as `u32` values.
pub(crate) fn uint32<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a arrow_array::UInt32Array, CompactError> {
    column(batch, "part", name, "uint32", |c| {
        c.as_primitive_opt::<arrow_array::types::UInt32Type>()
    })
}

/// Column `name` of `batch` as `i32` values.
pub(crate) fn int32<'a>(
    batch: &'a RecordBatch,
    table: &'static str,
    name: &str,
) -> Result<&'a arrow_array::Int32Array, CompactError> {
    column(batch, table, name, "int32", |c| {
        c.as_primitive_opt::<arrow_array::types::Int32Type>()
    })
}

/// Column `name` of `batch` as `i64` values.
pub(crate) fn int64<'a>(
    batch: &'a RecordBatch,
    table: &'static str,
    name: &str,
) -> Result<&'a arrow_array::Int64Array, CompactError> {
    column(batch, table, name, "int64", |c| {
        c.as_primitive_opt::<arrow_array::types::Int64Type>()
    })
}

/// Row `i` of a hex id column (`TraceId`, `SpanId`, …) as the id's bytes.
pub(crate) fn id_column(
    batch: &RecordBatch,
    table: &'static str,
    name: &'static str,
    i: usize,
) -> Result<Vec<u8>, CompactError> {
    let value = string(batch, table, name)?.value(i);
    crate::values::unhex(value).ok_or_else(|| CompactError::Schema {
        table,
        problem: format!("{name} {value:?} in row {i} is not hex"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use otelvault_codec::proto::common::any_value::Value;
    use otelvault_codec::values::attribute;

    fn resource(service: &str) -> Resource {
        Resource {
            attributes: vec![attribute(
                "service.name",
                Value::StringValue(service.into()),
            )],
            ..Resource::default()
        }
    }

    #[test]
    fn resource_maps_laid_out_once_equal_maps_built_entry_by_entry() {
        let mut shared = resource("checkout");
        shared.attributes.extend([
            attribute("host.cpus", Value::IntValue(-8)),
            attribute("k8s.pod.ready", Value::BoolValue(true)),
            attribute("load", Value::DoubleValue(0.25)),
            attribute("blob", Value::BytesValue(vec![0, 1, 2])),
            attribute("ünïcode", Value::StringValue("värde ✓".into())),
        ]);
        let (other, empty) = (resource("cart"), Resource::default());
        let rows = [
            Some(&shared),
            None,
            Some(&other),
            Some(&shared),
            Some(&empty),
            Some(&shared),
            None,
        ];
        let laid_out = repeated_maps(rows.iter().copied()).expect("laid out");
        let mut built = map_for(
            rows.iter()
                .map(|r| r.map_or(&[][..], |r| &r.attributes[..])),
        );
        for row in rows {
            append_map(&mut built, row.map_or(&[][..], |r| &r.attributes)).expect("appended");
        }
        assert_eq!(laid_out, built.finish());
        assert_eq!(laid_out.value_length(3), 6);
        assert_eq!(
            repeated_maps(std::iter::empty()).expect("no rows"),
            map_for(std::iter::empty()).finish()
        );
    }

    #[test]
    fn rows_are_placed_by_service_then_time_and_ties_keep_their_raw_order() {
        let (b, a) = (resource("b"), resource("a"));
        let times = [5u64, 1, 5, 3, 1, 5];
        let group = |resource, object, from: usize, to: usize| -> Group<'_, u64> {
            let items = (from..to).map(|i| (i as u32, &times[i])).collect();
            (Some(resource), "", None, "", object, items)
        };
        let groups = vec![group(&b, 0, 0, 3), group(&a, 0, 3, 6), group(&b, 1, 0, 2)];
        let placed: Vec<(&str, u64, u32, u32)> = place(&groups, |t| *t)
            .iter()
            .map(|p| (p.service, p.time, p.object, p.index))
            .collect();
        assert_eq!(
            placed,
            [
                ("a", 1, 0, 4),
                ("a", 3, 0, 3),
                ("a", 5, 0, 5),
                ("b", 1, 0, 1),
                ("b", 1, 1, 1),
                ("b", 5, 0, 0),
                ("b", 5, 0, 2),
                ("b", 5, 1, 0),
            ]
        );
    }
}
