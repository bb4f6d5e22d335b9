//! Spans of a part read as a search reads them: from the columns a
//! question needs, without rebuilding OTLP. The remainder (`OtlpRest`) of
//! a row is decoded only when a column cannot answer: the type of an
//! attribute value asked for, or an end that `Duration` cannot say.
//! Parts of manifest version 3 only; earlier parts are read whole.

use std::cell::OnceCell;

use arrow_array::cast::AsArray as _;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{
    Array, BinaryArray, Int32Array, Int64Array, MapArray, PrimitiveArray, RecordBatch, StringArray,
    UInt32Array,
};
use futures::StreamExt as _;
use otelvault_codec::proto::common::{AnyValue, KeyValue};
use otelvault_codec::proto::resource::Resource;
use otelvault_codec::proto::trace::{span, status};
use otelvault_codec::view::SpanView;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use parquet::errors::ParquetError;
use parquet::file::metadata::PageIndexPolicy;
use prost::Message as _;

use crate::CompactError;
use crate::rest::value;
use crate::scan::{PartFile, failed, selection};
use crate::table::{OBJECT_COLUMN, binary, int32, int64, string, uint32};
use crate::traces::{ITEM_COLUMN, SpanRest, TABLE};

/// Every column a span view may read.
const COLUMNS: [&str; 13] = [
    "TraceId",
    "SpanId",
    "ParentSpanId",
    "SpanName",
    "SpanKind",
    "StatusCode",
    "StatusMessage",
    "Duration",
    "Timestamp",
    "OtlpTimestampNanos",
    ITEM_COLUMN,
    "OtlpResource",
    OBJECT_COLUMN,
];

/// What a visit of spans reads besides ids, names, times, kinds, statuses
/// and resources.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanNeeds {
    /// The span's attributes (`SpanAttributes`): without them, a view
    /// has none.
    pub attributes: bool,
}

/// Hands the spans in rows `rows` (sorted, rows of the part from 0) of
/// `part`, a traces part of manifest version 3, to `each` with the index
/// of their raw object, in the part's order, until `each` returns false.
/// True when every row was handed over.
pub async fn visit_spans(
    part: PartFile,
    rows: &[u64],
    needs: SpanNeeds,
    mut each: impl FnMut(u32, &dyn SpanView) -> bool,
) -> Result<bool, CompactError> {
    if rows.is_empty() {
        return Ok(true);
    }
    let key = part.key.clone();
    let failed = |e| failed(&key, e);
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    let builder = ParquetRecordBatchStreamBuilder::new_with_options(part, options)
        .await
        .map_err(failed)?;
    let (groups, selection) = selection(builder.metadata(), rows);
    let schema = builder.schema();
    let mut roots = Vec::new();
    let wanted = COLUMNS
        .iter()
        .chain(needs.attributes.then_some(&"SpanAttributes"));
    for name in wanted {
        roots.push(schema.index_of(name).map_err(|_| CompactError::Schema {
            table: TABLE,
            problem: format!("no column {name} (a part of manifest version 3 has it)"),
        })?);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let mut stream = builder
        .with_projection(mask)
        .with_row_groups(groups)
        .with_row_selection(selection)
        .build()
        .map_err(failed)?;
    let mut resources = Resources::default();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| failed(ParquetError::ArrowError(e.to_string())))?;
        let columns = Columns::of(&batch, needs)?;
        for i in 0..batch.num_rows() {
            let resource = resources.of(columns.resource, i)?;
            let row = ColumnSpan::new(&columns, i, resource)?;
            let go_on = each(columns.object.value(i), &row);
            if let Some(e) = row.failure.take() {
                return Err(e);
            }
            if !go_on {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The decoded resources of a part's rows: rows are sorted by service, so
/// a row's resource is nearly always the one before it.
#[derive(Default)]
struct Resources {
    last: Option<(Vec<u8>, Vec<KeyValue>)>,
}

impl Resources {
    fn of(&mut self, column: &BinaryArray, i: usize) -> Result<&[KeyValue], CompactError> {
        let bytes = if column.is_null(i) {
            &[][..]
        } else {
            column.value(i)
        };
        let fresh = self.last.as_ref().is_none_or(|(b, _)| b != bytes);
        if fresh {
            let resource = Resource::decode(bytes).map_err(|source| CompactError::Protobuf {
                column: "OtlpResource",
                row: i,
                source,
            })?;
            self.last = Some((bytes.to_vec(), resource.attributes));
        }
        Ok(self.last.as_ref().map_or(&[][..], |(_, a)| a.as_slice()))
    }
}

/// The columns of a batch a view reads.
struct Columns<'a> {
    trace_id: &'a StringArray,
    span_id: &'a StringArray,
    parent: &'a StringArray,
    name: &'a StringArray,
    kind: &'a StringArray,
    status_code: &'a StringArray,
    status_message: &'a StringArray,
    duration: &'a Int64Array,
    micros: &'a PrimitiveArray<TimestampMicrosecondType>,
    nanos: &'a Int32Array,
    rest: &'a BinaryArray,
    resource: &'a BinaryArray,
    object: &'a UInt32Array,
    attributes: Option<(&'a MapArray, &'a StringArray, &'a StringArray)>,
}

impl<'a> Columns<'a> {
    fn of(batch: &'a RecordBatch, needs: SpanNeeds) -> Result<Self, CompactError> {
        let text = |name| string(batch, TABLE, name);
        let schema = |problem: String| CompactError::Schema {
            table: TABLE,
            problem,
        };
        let attributes = if needs.attributes {
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
        Ok(Columns {
            trace_id: text("TraceId")?,
            span_id: text("SpanId")?,
            parent: text("ParentSpanId")?,
            name: text("SpanName")?,
            kind: text("SpanKind")?,
            status_code: text("StatusCode")?,
            status_message: text("StatusMessage")?,
            duration: int64(batch, TABLE, "Duration")?,
            micros: batch
                .column_by_name("Timestamp")
                .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
                .ok_or_else(|| schema("Timestamp is not in microseconds".into()))?,
            nanos: int32(batch, TABLE, "OtlpTimestampNanos")?,
            rest: binary(batch, TABLE, ITEM_COLUMN)?,
            resource: binary(batch, TABLE, "OtlpResource")?,
            object: uint32(batch, OBJECT_COLUMN)?,
            attributes,
        })
    }
}

/// An id of up to 32 bytes, decoded from hex without allocating.
struct Id {
    bytes: [u8; 32],
    len: usize,
}

impl Id {
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
            let digit = |d: u8| (d as char).to_digit(16).map(|v| v as u8);
            *byte = digit(pair[0])
                .zip(digit(pair[1]))
                .map(|(h, l)| h << 4 | l)
                .ok_or_else(bad)?;
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
    span_id: Id,
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
        let micros = u64::try_from(columns.micros.value(i)).unwrap_or(0);
        let nanos = u64::try_from(columns.nanos.value(i)).unwrap_or(0);
        Ok(ColumnSpan {
            columns,
            i,
            trace_id: Id::of(columns.trace_id.value(i), "TraceId", i)?,
            span_id: Id::of(columns.span_id.value(i), "SpanId", i)?,
            start: micros * 1000 + nanos,
            resource,
            rest: OnceCell::new(),
            failure: std::cell::Cell::new(None),
        })
    }

    /// The row's remainder, decoded on first use.
    fn rest(&self) -> Option<&SpanRest> {
        self.rest
            .get_or_init(|| match SpanRest::decode(self.columns.rest.value(self.i)) {
                Ok(rest) => Some(rest),
                Err(source) => {
                    self.failure.set(Some(CompactError::Protobuf {
                        column: ITEM_COLUMN,
                        row: self.i,
                        source,
                    }));
                    None
                }
            })
            .as_ref()
    }
}

impl SpanView for ColumnSpan<'_> {
    fn trace_id(&self) -> &[u8] {
        self.trace_id.as_slice()
    }
    fn span_id(&self) -> &[u8] {
        self.span_id.as_slice()
    }
    fn is_root(&self) -> bool {
        self.columns.parent.value(self.i).is_empty()
    }
    fn name(&self) -> &str {
        self.columns.name.value(self.i)
    }
    fn start(&self) -> u64 {
        self.start
    }
    fn end(&self) -> u64 {
        let duration = self.columns.duration.value(self.i);
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
        use span::SpanKind as K;
        (match self.columns.kind.value(self.i) {
            "Internal" => K::Internal,
            "Server" => K::Server,
            "Client" => K::Client,
            "Producer" => K::Producer,
            "Consumer" => K::Consumer,
            _ => K::Unspecified,
        }) as i32
    }
    fn status_code(&self) -> i32 {
        use status::StatusCode as C;
        (match self.columns.status_code.value(self.i) {
            "Ok" => C::Ok,
            "Error" => C::Error,
            _ => C::Unset,
        }) as i32
    }
    fn status_message(&self) -> &str {
        self.columns.status_message.value(self.i)
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
