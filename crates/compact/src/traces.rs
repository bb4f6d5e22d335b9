//! The traces table: one row per span.
//!
//! SQL columns (the ClickHouse exporter's `otel_traces`): `ServiceName`,
//! `Timestamp` (span start, nanoseconds, UTC), `TraceId`, `SpanId`,
//! `ParentSpanId` (lowercase hex), `TraceState`, `SpanName`, `SpanKind`
//! (`Server`, `Client`, …), `ResourceAttributes`, `ScopeName`,
//! `ScopeVersion`, `SpanAttributes` (`map<string,string>`), `Duration`
//! (nanoseconds), `StatusCode` (`Unset`, `Ok`, `Error`), `StatusMessage`,
//! `Events.Timestamp`, `Events.Name`, `Links.TraceId`, `Links.SpanId`,
//! `ResourceSchemaUrl`, `ScopeSchemaUrl`. Lossless columns: `OtlpResource`,
//! `OtlpScope` (protobuf, null when the request had none) and `OtlpSpan`.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, ListBuilder, MapBuilder, StringBuilder, TimestampNanosecondBuilder,
    UInt64Builder,
};
use arrow_array::cast::AsArray as _;
use arrow_array::{Array, ArrayRef, BinaryArray, RecordBatch, StringArray};
use bytes::Bytes;
use otelvault_codec::proto::collector_trace::ExportTraceServiceRequest;
use otelvault_codec::proto::common::{InstrumentationScope, KeyValue};
use otelvault_codec::proto::resource::Resource;
use otelvault_codec::proto::trace::{ResourceSpans, ScopeSpans, Span, span, status};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use prost::Message as _;

use crate::CompactError;
use crate::values::{as_string, hex, string_attribute};

const TABLE: &str = "traces";

/// Rows a row group holds at most: small enough that a trace lookup skips
/// most of a part by its bloom filters, large enough to compress well.
const ROW_GROUP_ROWS: usize = 65_536;

/// One span and where it came from, ready to become a row.
struct Row<'a> {
    service: &'a str,
    resource: Option<&'a Resource>,
    resource_schema: &'a str,
    scope: Option<&'a InstrumentationScope>,
    scope_schema: &'a str,
    span: &'a Span,
}

/// The Parquet writer settings of every part: zstd, statistics, bloom
/// filters on `TraceId` and `ServiceName`, and the sort order declared.
fn properties() -> Result<WriterProperties, CompactError> {
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_column_bloom_filter_enabled(ColumnPath::from("TraceId"), true)
        .set_column_bloom_filter_enabled(ColumnPath::from("ServiceName"), true)
        // `ServiceName` and `Timestamp` are the first two leaf columns.
        .set_sorting_columns(Some(vec![
            SortingColumn {
                column_idx: 0,
                descending: false,
                nulls_first: false,
            },
            SortingColumn {
                column_idx: 1,
                descending: false,
                nulls_first: false,
            },
        ]))
        .build())
}

/// Writes the spans of `request` as one Parquet part, sorted by service
/// then start time. An empty request gives a part with no rows.
pub fn write(request: &ExportTraceServiceRequest) -> Result<Vec<u8>, CompactError> {
    let mut rows: Vec<Row<'_>> = Vec::new();
    for rs in &request.resource_spans {
        let attributes = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes);
        let service = string_attribute(attributes, "service.name").unwrap_or("");
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                rows.push(Row {
                    service,
                    resource: rs.resource.as_ref(),
                    resource_schema: &rs.schema_url,
                    scope: ss.scope.as_ref(),
                    scope_schema: &ss.schema_url,
                    span,
                });
            }
        }
    }
    // Stable: spans of one service at one time keep their request order.
    rows.sort_by(|a, b| {
        (a.service, a.span.start_time_unix_nano).cmp(&(b.service, b.span.start_time_unix_nano))
    });
    let batch = record_batch(&rows)?;
    let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(properties()?))?;
    writer.write(&batch)?;
    Ok(writer.into_inner()?)
}

fn record_batch(rows: &[Row<'_>]) -> Result<RecordBatch, CompactError> {
    let n = rows.len();
    let strings = || StringBuilder::with_capacity(n, n * 16);
    let timestamps = || TimestampNanosecondBuilder::with_capacity(n).with_timezone("UTC");
    let map = || MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    let (mut service, mut timestamp, mut trace_id, mut span_id, mut parent) =
        (strings(), timestamps(), strings(), strings(), strings());
    let (mut trace_state, mut name, mut kind, mut scope_name, mut scope_version) =
        (strings(), strings(), strings(), strings(), strings());
    let (mut resource_attributes, mut span_attributes) = (map(), map());
    let mut duration = UInt64Builder::with_capacity(n);
    let (mut status_code, mut status_message) = (strings(), strings());
    let mut event_times = ListBuilder::new(TimestampNanosecondBuilder::new().with_timezone("UTC"));
    let mut event_names = ListBuilder::new(StringBuilder::new());
    let mut link_trace_ids = ListBuilder::new(StringBuilder::new());
    let mut link_span_ids = ListBuilder::new(StringBuilder::new());
    let (mut resource_schema, mut scope_schema) = (strings(), strings());
    let binaries = || BinaryBuilder::with_capacity(n, n * 64);
    let (mut otlp_resource, mut otlp_scope, mut otlp_span) = (binaries(), binaries(), binaries());

    for row in rows {
        let span = row.span;
        service.append_value(row.service);
        timestamp.append_value(i64::try_from(span.start_time_unix_nano).unwrap_or(i64::MAX));
        trace_id.append_value(hex(&span.trace_id));
        span_id.append_value(hex(&span.span_id));
        parent.append_value(hex(&span.parent_span_id));
        trace_state.append_value(&span.trace_state);
        name.append_value(&span.name);
        kind.append_value(kind_name(span.kind));
        let scope = row.scope.cloned().unwrap_or_default();
        scope_name.append_value(&scope.name);
        scope_version.append_value(&scope.version);
        append_map(
            &mut resource_attributes,
            row.resource.map_or(&[][..], |r| &r.attributes),
        )?;
        append_map(&mut span_attributes, &span.attributes)?;
        duration.append_value(
            span.end_time_unix_nano
                .saturating_sub(span.start_time_unix_nano),
        );
        let status = span.status.clone().unwrap_or_default();
        status_code.append_value(status_name(status.code));
        status_message.append_value(&status.message);
        for event in &span.events {
            event_times
                .values()
                .append_value(i64::try_from(event.time_unix_nano).unwrap_or(i64::MAX));
            event_names.values().append_value(&event.name);
        }
        event_times.append(true);
        event_names.append(true);
        for link in &span.links {
            link_trace_ids.values().append_value(hex(&link.trace_id));
            link_span_ids.values().append_value(hex(&link.span_id));
        }
        link_trace_ids.append(true);
        link_span_ids.append(true);
        resource_schema.append_value(row.resource_schema);
        scope_schema.append_value(row.scope_schema);
        otlp_resource.append_option(row.resource.map(|r| r.encode_to_vec()));
        otlp_scope.append_option(row.scope.map(|s| s.encode_to_vec()));
        otlp_span.append_value(span.encode_to_vec());
    }

    let columns: Vec<(&str, ArrayRef)> = vec![
        ("ServiceName", Arc::new(service.finish())),
        ("Timestamp", Arc::new(timestamp.finish())),
        ("TraceId", Arc::new(trace_id.finish())),
        ("SpanId", Arc::new(span_id.finish())),
        ("ParentSpanId", Arc::new(parent.finish())),
        ("TraceState", Arc::new(trace_state.finish())),
        ("SpanName", Arc::new(name.finish())),
        ("SpanKind", Arc::new(kind.finish())),
        ("ResourceAttributes", Arc::new(resource_attributes.finish())),
        ("ScopeName", Arc::new(scope_name.finish())),
        ("ScopeVersion", Arc::new(scope_version.finish())),
        ("SpanAttributes", Arc::new(span_attributes.finish())),
        ("Duration", Arc::new(duration.finish())),
        ("StatusCode", Arc::new(status_code.finish())),
        ("StatusMessage", Arc::new(status_message.finish())),
        ("Events.Timestamp", Arc::new(event_times.finish())),
        ("Events.Name", Arc::new(event_names.finish())),
        ("Links.TraceId", Arc::new(link_trace_ids.finish())),
        ("Links.SpanId", Arc::new(link_span_ids.finish())),
        ("ResourceSchemaUrl", Arc::new(resource_schema.finish())),
        ("ScopeSchemaUrl", Arc::new(scope_schema.finish())),
        ("OtlpResource", Arc::new(otlp_resource.finish())),
        ("OtlpScope", Arc::new(otlp_scope.finish())),
        ("OtlpSpan", Arc::new(otlp_span.finish())),
    ];
    Ok(RecordBatch::try_from_iter(columns)?)
}

fn append_map(
    builder: &mut MapBuilder<StringBuilder, StringBuilder>,
    attributes: &[KeyValue],
) -> Result<(), CompactError> {
    for kv in attributes {
        builder.keys().append_value(&kv.key);
        builder.values().append_value(as_string(kv.value.as_ref()));
    }
    Ok(builder.append(true)?)
}

/// `SpanKind` as the ClickHouse exporter names it.
fn kind_name(kind: i32) -> &'static str {
    match span::SpanKind::try_from(kind) {
        Ok(span::SpanKind::Internal) => "Internal",
        Ok(span::SpanKind::Server) => "Server",
        Ok(span::SpanKind::Client) => "Client",
        Ok(span::SpanKind::Producer) => "Producer",
        Ok(span::SpanKind::Consumer) => "Consumer",
        Ok(span::SpanKind::Unspecified) | Err(_) => "Unspecified",
    }
}

/// `StatusCode` as the ClickHouse exporter names it.
fn status_name(code: i32) -> &'static str {
    match status::StatusCode::try_from(code) {
        Ok(status::StatusCode::Ok) => "Ok",
        Ok(status::StatusCode::Error) => "Error",
        Ok(status::StatusCode::Unset) | Err(_) => "Unset",
    }
}

/// Reads a part back into OTLP, from its lossless columns only: each span
/// with exactly the resource, scope and schema URLs it was ingested with.
/// Rows of one resource and scope that follow each other share a
/// `ResourceSpans` and a `ScopeSpans`.
pub fn read(part: Bytes) -> Result<ExportTraceServiceRequest, CompactError> {
    const LOSSLESS: [&str; 5] = [
        "OtlpResource",
        "ResourceSchemaUrl",
        "OtlpScope",
        "ScopeSchemaUrl",
        "OtlpSpan",
    ];
    let builder = ParquetRecordBatchReaderBuilder::try_new(part)?;
    let schema = builder.schema().clone();
    let roots = LOSSLESS
        .iter()
        .map(|name| {
            schema.index_of(name).map_err(|_| CompactError::Schema {
                table: TABLE,
                problem: format!("no column {name}"),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder.with_projection(mask).build()?;

    let mut out = ExportTraceServiceRequest::default();
    // The resource and scope of the last row, to group runs of rows.
    let mut last: Option<Context> = None;
    let mut row = 0usize;
    for batch in reader {
        let batch = batch?;
        let resources = binary(&batch, "OtlpResource")?;
        let resource_schemas = string(&batch, "ResourceSchemaUrl")?;
        let scopes = binary(&batch, "OtlpScope")?;
        let scope_schemas = string(&batch, "ScopeSchemaUrl")?;
        let spans = binary(&batch, "OtlpSpan")?;
        for i in 0..batch.num_rows() {
            let context = Context {
                resource: (!resources.is_null(i)).then(|| resources.value(i).to_vec()),
                resource_schema: resource_schemas.value(i).to_owned(),
                scope: (!scopes.is_null(i)).then(|| scopes.value(i).to_vec()),
                scope_schema: scope_schemas.value(i).to_owned(),
            };
            let span = Span::decode(spans.value(i)).map_err(|source| CompactError::Protobuf {
                column: "OtlpSpan",
                row,
                source,
            })?;
            let same_resource = last.as_ref().is_some_and(|l| l.same_resource(&context));
            let same_scope = same_resource && last.as_ref().is_some_and(|l| l.same_scope(&context));
            if !same_resource {
                out.resource_spans.push(ResourceSpans {
                    resource: decode(context.resource.as_deref(), "OtlpResource", row)?,
                    schema_url: context.resource_schema.clone(),
                    scope_spans: Vec::new(),
                });
            }
            let resource_spans =
                out.resource_spans
                    .last_mut()
                    .ok_or_else(|| CompactError::Schema {
                        table: TABLE,
                        problem: format!("row {row} has no resource"),
                    })?;
            if !same_scope {
                resource_spans.scope_spans.push(ScopeSpans {
                    scope: decode(context.scope.as_deref(), "OtlpScope", row)?,
                    schema_url: context.scope_schema.clone(),
                    spans: Vec::new(),
                });
            }
            if let Some(scope_spans) = resource_spans.scope_spans.last_mut() {
                scope_spans.spans.push(span);
            }
            last = Some(context);
            row += 1;
        }
    }
    Ok(out)
}

/// Where a row's item belongs: its resource and scope, as stored.
struct Context {
    resource: Option<Vec<u8>>,
    resource_schema: String,
    scope: Option<Vec<u8>>,
    scope_schema: String,
}

impl Context {
    fn same_resource(&self, other: &Context) -> bool {
        self.resource == other.resource && self.resource_schema == other.resource_schema
    }

    fn same_scope(&self, other: &Context) -> bool {
        self.scope == other.scope && self.scope_schema == other.scope_schema
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

fn binary<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a BinaryArray, CompactError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_binary_opt::<i32>())
        .ok_or_else(|| CompactError::Schema {
            table: TABLE,
            problem: format!("{name} is not a binary column"),
        })
}

fn string<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray, CompactError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| CompactError::Schema {
            table: TABLE,
            problem: format!("{name} is not a string column"),
        })
}

#[cfg(test)]
mod tests;
