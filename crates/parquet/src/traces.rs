//! The traces table: one row per span.
//!
//! SQL columns (the ClickHouse exporter's `otel_traces`): `ServiceName`,
//! `Timestamp` (span start, microseconds, UTC), `TraceId`, `SpanId`,
//! `ParentSpanId` (lowercase hex), `TraceState`, `SpanName`, `SpanKind`
//! (`Server`, `Client`, …), `ResourceAttributes`, `ScopeName`,
//! `ScopeVersion`, `SpanAttributes` (`map<string,string>`), `Duration`
//! (nanoseconds, `bigint`), `StatusCode` (`Unset`, `Ok`, `Error`), `StatusMessage`,
//! `Events.Timestamp`, `Events.Name`, `Links.TraceId`, `Links.SpanId`,
//! `ResourceSchemaUrl`, `ScopeSchemaUrl`. Lossless columns: `OtlpResource`,
//! `OtlpScope` (protobuf, null when the request had none),
//! `OtlpTimestampNanos` and `OtlpRest` (`OtlpSpan` in parts of manifest
//! versions 1 and 2).

use std::sync::Arc;

use arrow_array::builder::{Int32Builder, Int64Builder, ListBuilder, StringBuilder};
use arrow_array::cast::AsArray as _;
use arrow_array::types::{TimestampMicrosecondType, TimestampNanosecondType};
use arrow_array::{ArrayRef, RecordBatch};
use bytes::Bytes;
use otelvault_codec::proto::collector_trace::ExportTraceServiceRequest;
use otelvault_codec::proto::trace::{ResourceSpans, ScopeSpans, Span, Status, span, status};
use prost::Message as _;

use crate::CompactError;
use crate::rest::{Typed, attributes, strings, typed_attributes};
use crate::table::{
    ENTROPY_ZSTD_LEVEL, Earlier, Encodings, INDEX_COLUMN, Lossless, OBJECT_COLUMN, Observe, Placed,
    ResourceGroup, append_map, encode_into, groups, id_column, int32, int64, map_for, micros,
    place, read_part, record_batch, signed, string, timestamps, write_part,
};
use crate::values::{append_hex, unhex};

pub(crate) const TABLE: &str = "traces";
/// The remainder of a span (manifest version 3).
pub(crate) const ITEM_COLUMN: &str = "OtlpRest";
/// The span less its ids, trace state, name and start (manifest versions
/// 1 and 2).
const EARLIER_COLUMN: &str = "OtlpSpan";
/// The nanoseconds of a span's start past the microsecond `Timestamp` holds.
const NANOS_COLUMN: &str = "OtlpTimestampNanos";

/// `OtlpRest` holds what a span's columns cannot say ([`SpanRest`]):
/// `TraceId`, `SpanId`, `ParentSpanId`, `TraceState`, `SpanName`,
/// `Timestamp` with `OtlpTimestampNanos`, `Duration` (the end),
/// `SpanKind`, `StatusCode` and `StatusMessage`, `SpanAttributes` (keys,
/// and values as strings), `Events.Name`, `Links.TraceId` and
/// `Links.SpanId` say the rest exactly. Ids and times are most of a span's
/// bytes that do not compress, and attributes most of those that do.
pub(crate) const LOSSLESS: Lossless<Span> = Lossless {
    table: TABLE,
    column: ITEM_COLUMN,
    stored,
    restored_from: &[
        "TraceId",
        "SpanId",
        "ParentSpanId",
        "TraceState",
        "SpanName",
        "SpanKind",
        "SpanAttributes",
        "Duration",
        "StatusCode",
        "StatusMessage",
        "Events.Name",
        "Links.TraceId",
        "Links.SpanId",
        "Timestamp",
        NANOS_COLUMN,
    ],
    restore,
    earlier: Some(Earlier {
        column: EARLIER_COLUMN,
        restore: earlier_restore,
    }),
};

/// What a span's columns cannot say.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SpanRest {
    /// The span's other fields: flags, dropped counts, events without their
    /// names, links without their ids; its kind and status when
    /// `SpanKind` and `StatusCode` cannot say them (a value this release
    /// does not know; a status set to unset with no message).
    #[prost(message, optional, tag = "1")]
    pub span: Option<Span>,
    /// The attributes `SpanAttributes` cannot say alone.
    #[prost(message, repeated, tag = "2")]
    pub attributes: Vec<Typed>,
    /// The end, when `Timestamp` plus `Duration` is not it (an end before
    /// the start, a duration past `bigint`).
    #[prost(fixed64, optional, tag = "3")]
    pub end: Option<u64>,
}

fn stored(span: &Span, out: &mut Vec<u8>) {
    let kept = Span {
        flags: span.flags,
        kind: if kind_value(kind_name(span.kind)) == span.kind {
            0
        } else {
            span.kind
        },
        status: if said_by_columns(span.status.as_ref()) {
            None
        } else {
            span.status.clone()
        },
        dropped_attributes_count: span.dropped_attributes_count,
        dropped_events_count: span.dropped_events_count,
        dropped_links_count: span.dropped_links_count,
        events: span
            .events
            .iter()
            .map(|e| span::Event {
                name: String::new(),
                ..e.clone()
            })
            .collect(),
        links: span
            .links
            .iter()
            .map(|l| span::Link {
                trace_id: Vec::new(),
                span_id: Vec::new(),
                ..l.clone()
            })
            .collect(),
        ..Span::default()
    };
    let duration = signed(
        span.end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano),
    );
    let said_end = span.start_time_unix_nano.checked_add(duration as u64);
    let rest = SpanRest {
        span: (kept != Span::default()).then_some(kept),
        attributes: typed_attributes(&span.attributes),
        end: (said_end != Some(span.end_time_unix_nano)).then_some(span.end_time_unix_nano),
    };
    encode_into(&rest, out);
}

fn restore(batch: &RecordBatch, i: usize, rest: &[u8]) -> Result<Span, CompactError> {
    let rest = SpanRest::decode(rest).map_err(|source| CompactError::Protobuf {
        column: ITEM_COLUMN,
        row: i,
        source,
    })?;
    let text = |name: &str| string(batch, TABLE, name).map(|c| c.value(i));
    let id = |name| id_column(batch, TABLE, name, i);
    let mut span = rest.span.unwrap_or_default();
    span.trace_id = id("TraceId")?;
    span.span_id = id("SpanId")?;
    span.parent_span_id = id("ParentSpanId")?;
    span.trace_state = text("TraceState")?.to_owned();
    span.name = text("SpanName")?.to_owned();
    span.start_time_unix_nano = start(batch, i)?;
    let duration = int64(batch, TABLE, "Duration")?.value(i);
    span.end_time_unix_nano = rest
        .end
        .unwrap_or(span.start_time_unix_nano.wrapping_add(duration as u64));
    if span.kind == 0 {
        span.kind = kind_value(text("SpanKind")?);
    }
    if span.status.is_none() {
        span.status = status_of(text("StatusCode")?, text("StatusMessage")?);
    }
    span.attributes = attributes(batch, TABLE, "SpanAttributes", i, &rest.attributes)?;
    let mismatch = |name: &str| CompactError::Schema {
        table: TABLE,
        problem: format!("{name} in row {i} does not match the span's remainder"),
    };
    let names = strings(batch, TABLE, "Events.Name", i)?;
    if names.len() != span.events.len() {
        return Err(mismatch("Events.Name"));
    }
    for (event, name) in span.events.iter_mut().zip(names) {
        name.clone_into(&mut event.name);
    }
    let trace_ids = strings(batch, TABLE, "Links.TraceId", i)?;
    let span_ids = strings(batch, TABLE, "Links.SpanId", i)?;
    if trace_ids.len() != span.links.len() || span_ids.len() != span.links.len() {
        return Err(mismatch("Links"));
    }
    for ((link, trace_id), span_id) in span.links.iter_mut().zip(trace_ids).zip(span_ids) {
        link.trace_id = unhex(trace_id).ok_or_else(|| mismatch("Links.TraceId"))?;
        link.span_id = unhex(span_id).ok_or_else(|| mismatch("Links.SpanId"))?;
    }
    Ok(span)
}

/// A part of manifest version 1 or 2: what the columns put back after
/// `OtlpSpan`.
fn earlier_restore(batch: &RecordBatch, i: usize) -> Result<Vec<u8>, CompactError> {
    let text = |name: &str| string(batch, TABLE, name).map(|c| c.value(i));
    let id = |name| id_column(batch, TABLE, name, i);
    Ok(Span {
        trace_id: id("TraceId")?,
        span_id: id("SpanId")?,
        parent_span_id: id("ParentSpanId")?,
        trace_state: text("TraceState")?.to_owned(),
        name: text("SpanName")?.to_owned(),
        start_time_unix_nano: start(batch, i)?,
        ..Span::default()
    }
    .encode_to_vec())
}

/// Row `i`'s start, unix nanoseconds.
pub(crate) fn start(batch: &RecordBatch, i: usize) -> Result<u64, CompactError> {
    Ok(starts(batch)?.at(i))
}

/// The starts of a batch's rows: its time columns, found once.
pub(crate) enum Starts<'a> {
    /// `Timestamp` in microseconds and the nanoseconds past them.
    Micros(
        &'a arrow_array::TimestampMicrosecondArray,
        &'a arrow_array::Int32Array,
    ),
    /// A version 1 part: nanoseconds; a saturated start stayed in
    /// `OtlpSpan`.
    Nanos(&'a arrow_array::TimestampNanosecondArray),
}

impl Starts<'_> {
    /// Row `i`'s start, unix nanoseconds.
    pub(crate) fn at(&self, i: usize) -> u64 {
        match self {
            Starts::Micros(micros, nanos) => (micros.value(i) as u64)
                .wrapping_mul(1000)
                .wrapping_add(nanos.value(i) as u64),
            Starts::Nanos(nanos) if nanos.value(i) < i64::MAX => nanos.value(i) as u64,
            Starts::Nanos(_) => 0,
        }
    }
}

/// The time columns of a batch of spans.
pub(crate) fn starts(batch: &RecordBatch) -> Result<Starts<'_>, CompactError> {
    let times = batch.column_by_name("Timestamp");
    if let Some(micros) = times.and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>()) {
        return Ok(Starts::Micros(micros, int32(batch, TABLE, NANOS_COLUMN)?));
    }
    match times.and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>()) {
        Some(nanos) => Ok(Starts::Nanos(nanos)),
        None => Err(CompactError::Schema {
            table: TABLE,
            problem: "Timestamp is not a timestamp column".into(),
        }),
    }
}

/// Writes the spans of raw objects (each with its index in the hour's
/// manifest) as one Parquet part, sorted by service then start time. No
/// spans give a part with no rows.
pub(crate) fn write(
    objects: &[(u32, &ExportTraceServiceRequest)],
    observe: Observe<'_, Span>,
) -> Result<Vec<u8>, CompactError> {
    let groups = groups(
        objects,
        |r| &r.resource_spans,
        |rs| (rs.resource.as_ref(), &rs.schema_url, &rs.scope_spans),
        |ss| (ss.scope.as_ref(), &ss.schema_url, &ss.spans),
    );
    let rows = place(&groups, |span: &Span| span.start_time_unix_nano);
    write_part(
        &rows,
        "Timestamp",
        columns,
        &LOSSLESS,
        &Encodings {
            bloom_filters: &["TraceId", "ServiceName"],
            no_dictionary: &["SpanId", "ParentSpanId", "Duration"],
            delta: &["Timestamp", OBJECT_COLUMN, INDEX_COLUMN],
            levels: &[
                ("TraceId", ENTROPY_ZSTD_LEVEL),
                ("SpanId", ENTROPY_ZSTD_LEVEL),
                ("ParentSpanId", ENTROPY_ZSTD_LEVEL),
                ("Timestamp", ENTROPY_ZSTD_LEVEL),
                (NANOS_COLUMN, ENTROPY_ZSTD_LEVEL),
                (OBJECT_COLUMN, ENTROPY_ZSTD_LEVEL),
                (INDEX_COLUMN, ENTROPY_ZSTD_LEVEL),
                // Measured on the performance page's busy hour against
                // level 9: the two store 0.07% more bytes of Parquet (20
                // KB of 27 MB) for 2.8% fewer instructions. Durations'
                // pages are small, where level 9 is a binary-tree search.
                ("SpanAttributes", 8),
                ("Duration", 7),
            ],
        },
        observe,
    )
}

/// The table's columns, as parts have them.
pub(crate) fn schema() -> Result<arrow_schema::SchemaRef, CompactError> {
    Ok(record_batch(&[], "Timestamp", columns(&[])?, &LOSSLESS)?.schema())
}

fn columns(rows: &[Placed<'_, Span>]) -> Result<Vec<(&'static str, ArrayRef)>, CompactError> {
    let n = rows.len();
    let strings = || StringBuilder::with_capacity(n, n * 16);
    let (mut trace_id, mut span_id, mut parent) = (strings(), strings(), strings());
    let (mut trace_state, mut name, mut kind) = (strings(), strings(), strings());
    let mut span_attributes = map_for(rows.iter().map(|row| &row.item.attributes[..]));
    let mut duration = Int64Builder::with_capacity(n);
    let mut start_nanos = Int32Builder::with_capacity(n);
    let (mut status_code, mut status_message) = (strings(), strings());
    let mut event_times = ListBuilder::new(timestamps(0));
    let mut event_names = ListBuilder::new(StringBuilder::new());
    let mut link_trace_ids = ListBuilder::new(StringBuilder::new());
    let mut link_span_ids = ListBuilder::new(StringBuilder::new());
    for row in rows {
        let span = row.item;
        append_hex(&mut trace_id, &span.trace_id);
        append_hex(&mut span_id, &span.span_id);
        append_hex(&mut parent, &span.parent_span_id);
        trace_state.append_value(&span.trace_state);
        name.append_value(&span.name);
        kind.append_value(kind_name(span.kind));
        append_map(&mut span_attributes, &span.attributes)?;
        start_nanos.append_value((span.start_time_unix_nano % 1000) as i32);
        duration.append_value(signed(
            span.end_time_unix_nano
                .saturating_sub(span.start_time_unix_nano),
        ));
        let (code, message) = span
            .status
            .as_ref()
            .map_or((0, ""), |s| (s.code, s.message.as_str()));
        status_code.append_value(status_name(code));
        status_message.append_value(message);
        for event in &span.events {
            event_times
                .values()
                .append_value(micros(event.time_unix_nano));
            event_names.values().append_value(&event.name);
        }
        event_times.append(true);
        event_names.append(true);
        for link in &span.links {
            append_hex(link_trace_ids.values(), &link.trace_id);
            append_hex(link_span_ids.values(), &link.span_id);
        }
        link_trace_ids.append(true);
        link_span_ids.append(true);
    }
    Ok(vec![
        ("TraceId", Arc::new(trace_id.finish())),
        ("SpanId", Arc::new(span_id.finish())),
        ("ParentSpanId", Arc::new(parent.finish())),
        ("TraceState", Arc::new(trace_state.finish())),
        ("SpanName", Arc::new(name.finish())),
        ("SpanKind", Arc::new(kind.finish())),
        ("SpanAttributes", Arc::new(span_attributes.finish())),
        ("Duration", Arc::new(duration.finish())),
        ("StatusCode", Arc::new(status_code.finish())),
        ("StatusMessage", Arc::new(status_message.finish())),
        ("Events.Timestamp", Arc::new(event_times.finish())),
        ("Events.Name", Arc::new(event_names.finish())),
        ("Links.TraceId", Arc::new(link_trace_ids.finish())),
        ("Links.SpanId", Arc::new(link_span_ids.finish())),
        (NANOS_COLUMN, Arc::new(start_nanos.finish())),
    ])
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

/// The kind `SpanKind` names.
pub(crate) fn kind_value(name: &str) -> i32 {
    use span::SpanKind as K;
    (match name {
        "Internal" => K::Internal,
        "Server" => K::Server,
        "Client" => K::Client,
        "Producer" => K::Producer,
        "Consumer" => K::Consumer,
        _ => K::Unspecified,
    }) as i32
}

/// The status `StatusCode` and `StatusMessage` say: none when unset with
/// no message.
fn status_of(code: &str, message: &str) -> Option<Status> {
    let code = status_value(code);
    (code != 0 || !message.is_empty()).then(|| Status {
        code,
        message: message.to_owned(),
    })
}

/// Whether `StatusCode` and `StatusMessage` say `status` exactly
/// ([`status_of`] gives it back).
fn said_by_columns(status: Option<&Status>) -> bool {
    status.is_none_or(|s| {
        let code = status_value(status_name(s.code));
        code == s.code && (code != 0 || !s.message.is_empty())
    })
}

/// The status code `StatusCode` names.
pub(crate) fn status_value(name: &str) -> i32 {
    use status::StatusCode as C;
    (match name {
        "Ok" => C::Ok,
        "Error" => C::Error,
        _ => C::Unset,
    }) as i32
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
    Ok(request(read_part(part, &LOSSLESS)?))
}

/// A request of read groups.
pub(crate) fn request(groups: Vec<ResourceGroup<Span>>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: groups
            .into_iter()
            .map(|g| ResourceSpans {
                resource: g.resource,
                schema_url: g.schema_url,
                scope_spans: g
                    .scopes
                    .into_iter()
                    .map(|s| ScopeSpans {
                        scope: s.scope,
                        schema_url: s.schema_url,
                        spans: s.items,
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
