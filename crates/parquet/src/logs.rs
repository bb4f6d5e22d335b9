//! The logs table: one row per log record.
//!
//! SQL columns (the ClickHouse exporter's `otel_logs`): `ServiceName`,
//! `Timestamp` (the record's time, else its observed time; microseconds,
//! UTC), `TraceId`, `SpanId` (lowercase hex), `TraceFlags`, `SeverityText`,
//! `SeverityNumber`, `Body` (as a string), `LogAttributes`
//! (`map<string,string>`), `EventName`, `ResourceAttributes`, `ScopeName`,
//! `ScopeVersion`, `ResourceSchemaUrl`, `ScopeSchemaUrl`. Lossless columns:
//! `OtlpResource`, `OtlpScope`, `OtlpRest` and `OtlpTimestampNanos`.

use std::sync::Arc;

use arrow_array::builder::{Int32Builder, StringBuilder, UInt32Builder};
use arrow_array::cast::AsArray as _;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{ArrayRef, RecordBatch};
use bytes::Bytes;
use otelvault_codec::proto::collector_logs::ExportLogsServiceRequest;
use otelvault_codec::proto::common::{AnyValue, any_value};
use otelvault_codec::proto::logs::{LogRecord, ResourceLogs, ScopeLogs};
use prost::Message as _;

use crate::CompactError;
use crate::rest::{Typed, attributes, typed, typed_attributes, value};
use crate::table::{
    ENTROPY_ZSTD_LEVEL, Earlier, Encodings, INDEX_COLUMN, Lossless, OBJECT_COLUMN, Observe, Placed,
    ResourceGroup, append_map, encode_into, groups, id_column, int32, map_for, place, read_part,
    record_batch, string, uint32, write_part,
};
use crate::values::{append_hex, as_string};

pub(crate) const TABLE: &str = "logs";
/// The remainder of a log record (manifest version 3).
pub(crate) const ITEM_COLUMN: &str = "OtlpRest";
/// The record less its ids, flags, severity and event name (manifest
/// versions 1 and 2).
const EARLIER_COLUMN: &str = "OtlpLogRecord";
/// The nanoseconds of a record's `Timestamp` past the microseconds it holds.
const NANOS_COLUMN: &str = "OtlpTimestampNanos";

/// `OtlpRest` holds what a record's columns cannot say ([`LogRest`]):
/// `TraceId`, `SpanId`, `TraceFlags`, `SeverityText`, `SeverityNumber`,
/// `EventName`, `Body` (a string body), `LogAttributes` (keys, and values
/// as strings) and `Timestamp` with `OtlpTimestampNanos` say the rest
/// exactly.
pub(crate) const LOSSLESS: Lossless<LogRecord> = Lossless {
    table: TABLE,
    column: ITEM_COLUMN,
    stored,
    restored_from: &[
        "TraceId",
        "SpanId",
        "TraceFlags",
        "SeverityText",
        "SeverityNumber",
        "EventName",
        "Body",
        "LogAttributes",
        "Timestamp",
        NANOS_COLUMN,
    ],
    restore,
    earlier: Some(Earlier {
        column: EARLIER_COLUMN,
        restore: earlier_restore,
    }),
};

/// What a log record's columns cannot say.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct LogRest {
    /// The attributes `LogAttributes` cannot say alone.
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<Typed>,
    /// The body, when `Body` cannot say it alone (not a string).
    #[prost(message, optional, tag = "2")]
    pub body: Option<Typed>,
    /// The observed time less the time `Timestamp` says (wrapping), when
    /// there is an observed time.
    #[prost(sint64, optional, tag = "3")]
    pub observed: Option<i64>,
    /// The time, when `Timestamp` holds the observed time instead (the
    /// record has none: 0).
    #[prost(fixed64, optional, tag = "4")]
    pub time: Option<u64>,
    #[prost(uint32, tag = "5")]
    pub dropped_attributes_count: u32,
}

fn stored(record: &LogRecord, out: &mut Vec<u8>) {
    let timestamp = time(record);
    let observed = record.observed_time_unix_nano;
    let rest = LogRest {
        attributes: typed_attributes(&record.attributes),
        body: typed(0, record.body.as_ref()),
        observed: (observed != 0).then_some(observed.wrapping_sub(timestamp) as i64),
        time: (record.time_unix_nano != timestamp).then_some(record.time_unix_nano),
        dropped_attributes_count: record.dropped_attributes_count,
    };
    encode_into(&rest, out);
}

/// Row `i`'s `Timestamp` in nanoseconds: the microseconds the column
/// holds and those past them in `OtlpTimestampNanos`.
fn timestamp(batch: &RecordBatch, i: usize) -> Result<u64, CompactError> {
    let micros = batch
        .column_by_name("Timestamp")
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        .ok_or_else(|| CompactError::Schema {
            table: TABLE,
            problem: "Timestamp is not a microsecond timestamp column".into(),
        })?;
    Ok((micros.value(i) as u64) * 1000 + int32(batch, TABLE, NANOS_COLUMN)?.value(i) as u64)
}

fn restore(batch: &RecordBatch, i: usize, rest: &[u8]) -> Result<LogRecord, CompactError> {
    let rest = LogRest::decode(rest).map_err(|source| CompactError::Protobuf {
        column: ITEM_COLUMN,
        row: i,
        source,
    })?;
    let text = |name: &str| string(batch, TABLE, name).map(|c| c.value(i));
    let id = |name| id_column(batch, TABLE, name, i);
    let timestamp = timestamp(batch, i)?;
    Ok(LogRecord {
        time_unix_nano: rest.time.unwrap_or(timestamp),
        observed_time_unix_nano: rest
            .observed
            .map_or(0, |d| timestamp.wrapping_add(d as u64)),
        severity_number: int32(batch, TABLE, "SeverityNumber")?.value(i),
        severity_text: text("SeverityText")?.to_owned(),
        body: value(text("Body")?, rest.body.as_ref()),
        attributes: attributes(batch, TABLE, "LogAttributes", i, &rest.attributes)?,
        dropped_attributes_count: rest.dropped_attributes_count,
        flags: uint32(batch, "TraceFlags")?.value(i),
        trace_id: id("TraceId")?,
        span_id: id("SpanId")?,
        event_name: text("EventName")?.to_owned(),
    })
}

/// The columns [`line`] reads.
pub(crate) const LINE_COLUMNS: [&str; 5] = [
    "Timestamp",
    NANOS_COLUMN,
    "SeverityText",
    "SeverityNumber",
    "Body",
];

/// Row `i` of a batch of [`LINE_COLUMNS`] (of a part of manifest version
/// 3) as a line shows it: a record of its time, severity and body only.
/// The time is `time_unix_nano`: the record's time, else the time it was
/// observed, as `Timestamp` holds it. The body is a string: the `Body`
/// column, which holds other values as text, and none when empty.
pub(crate) fn line(batch: &RecordBatch, i: usize) -> Result<LogRecord, CompactError> {
    let text = |name: &str| string(batch, TABLE, name).map(|c| c.value(i));
    let body = text("Body")?;
    Ok(LogRecord {
        time_unix_nano: timestamp(batch, i)?,
        severity_number: int32(batch, TABLE, "SeverityNumber")?.value(i),
        severity_text: text("SeverityText")?.to_owned(),
        body: (!body.is_empty()).then(|| AnyValue {
            value: Some(any_value::Value::StringValue(body.to_owned())),
        }),
        ..LogRecord::default()
    })
}

/// A part of manifest version 1 or 2: what the columns put back after
/// `OtlpLogRecord`.
fn earlier_restore(batch: &RecordBatch, i: usize) -> Result<Vec<u8>, CompactError> {
    let text = |name: &str| string(batch, TABLE, name).map(|c| c.value(i));
    let id = |name| id_column(batch, TABLE, name, i);
    Ok(LogRecord {
        trace_id: id("TraceId")?,
        span_id: id("SpanId")?,
        flags: uint32(batch, "TraceFlags")?.value(i),
        severity_text: text("SeverityText")?.to_owned(),
        severity_number: int32(batch, TABLE, "SeverityNumber")?.value(i),
        event_name: text("EventName")?.to_owned(),
        ..LogRecord::default()
    }
    .encode_to_vec())
}

/// A record's `Timestamp`: its time, else the time it was observed.
fn time(record: &LogRecord) -> u64 {
    if record.time_unix_nano != 0 {
        record.time_unix_nano
    } else {
        record.observed_time_unix_nano
    }
}

/// Writes the log records of raw objects (each with its index in the
/// hour's manifest) as one Parquet part, sorted by service then time. No
/// records give a part with no rows.
pub(crate) fn write(
    objects: &[(u32, &ExportLogsServiceRequest)],
    observe: Observe<'_, LogRecord>,
) -> Result<Vec<u8>, CompactError> {
    let groups = groups(
        objects,
        |r| &r.resource_logs,
        |rl| (rl.resource.as_ref(), &rl.schema_url, &rl.scope_logs),
        |sl| (sl.scope.as_ref(), &sl.schema_url, &sl.log_records),
    );
    let rows = place(&groups, time);
    write_part(
        &rows,
        "Timestamp",
        columns,
        &LOSSLESS,
        &Encodings {
            bloom_filters: &["TraceId", "ServiceName"],
            no_dictionary: &["TraceId", "SpanId", "Body"],
            delta: &["Timestamp", OBJECT_COLUMN, INDEX_COLUMN],
            levels: &[
                ("TraceId", ENTROPY_ZSTD_LEVEL),
                ("SpanId", ENTROPY_ZSTD_LEVEL),
                ("Timestamp", ENTROPY_ZSTD_LEVEL),
                (OBJECT_COLUMN, ENTROPY_ZSTD_LEVEL),
                (INDEX_COLUMN, ENTROPY_ZSTD_LEVEL),
            ],
        },
        observe,
    )
}

/// The table's columns, as parts have them.
pub(crate) fn schema() -> Result<arrow_schema::SchemaRef, CompactError> {
    Ok(record_batch(&[], "Timestamp", columns(&[])?, &LOSSLESS)?.schema())
}

fn columns(rows: &[Placed<'_, LogRecord>]) -> Result<Vec<(&'static str, ArrayRef)>, CompactError> {
    let n = rows.len();
    let strings = || StringBuilder::with_capacity(n, n * 16);
    let (mut trace_id, mut span_id, mut severity_text) = (strings(), strings(), strings());
    let (mut body, mut event_name) = (strings(), strings());
    let mut flags = UInt32Builder::with_capacity(n);
    let mut severity_number = Int32Builder::with_capacity(n);
    let mut nanos = Int32Builder::with_capacity(n);
    let mut attributes = map_for(rows.iter().map(|row| &row.item.attributes[..]));
    for row in rows {
        let record = row.item;
        append_hex(&mut trace_id, &record.trace_id);
        append_hex(&mut span_id, &record.span_id);
        flags.append_value(record.flags);
        severity_text.append_value(&record.severity_text);
        severity_number.append_value(record.severity_number);
        body.append_value(as_string(record.body.as_ref()));
        append_map(&mut attributes, &record.attributes)?;
        event_name.append_value(&record.event_name);
        nanos.append_value((time(record) % 1000) as i32);
    }
    Ok(vec![
        ("TraceId", Arc::new(trace_id.finish())),
        ("SpanId", Arc::new(span_id.finish())),
        ("TraceFlags", Arc::new(flags.finish())),
        ("SeverityText", Arc::new(severity_text.finish())),
        ("SeverityNumber", Arc::new(severity_number.finish())),
        ("Body", Arc::new(body.finish())),
        ("LogAttributes", Arc::new(attributes.finish())),
        ("EventName", Arc::new(event_name.finish())),
        (NANOS_COLUMN, Arc::new(nanos.finish())),
    ])
}

/// Reads a part back into OTLP, from its lossless columns only: each log
/// record with exactly the resource, scope and schema URLs it came with.
pub fn read(part: Bytes) -> Result<ExportLogsServiceRequest, CompactError> {
    Ok(request(read_part(part, &LOSSLESS)?))
}

/// A request of read groups.
pub(crate) fn request(groups: Vec<ResourceGroup<LogRecord>>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: groups
            .into_iter()
            .map(|g| ResourceLogs {
                resource: g.resource,
                schema_url: g.schema_url,
                scope_logs: g
                    .scopes
                    .into_iter()
                    .map(|s| ScopeLogs {
                        scope: s.scope,
                        schema_url: s.schema_url,
                        log_records: s.items,
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray as _;
    use arrow_array::types::{Int32Type, TimestampMicrosecondType};
    use otelvault_codec::{Batch, Signal};
    use otelvault_testkit::arb::arb_logs;
    use otelvault_testkit::data::sample;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use proptest::prelude::*;
    use prost::Message as _;

    use super::*;
    use crate::values::hex;

    /// Every record with its resource, scope and schema URLs, encoded, in
    /// a canonical order.
    fn items(request: &ExportLogsServiceRequest) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = request
            .resource_logs
            .iter()
            .flat_map(|rl| {
                rl.scope_logs.iter().flat_map(move |sl| {
                    sl.log_records.iter().map(move |record| {
                        ResourceLogs {
                            resource: rl.resource.clone(),
                            schema_url: rl.schema_url.clone(),
                            scope_logs: vec![ScopeLogs {
                                scope: sl.scope.clone(),
                                schema_url: sl.schema_url.clone(),
                                log_records: vec![record.clone()],
                            }],
                        }
                        .encode_to_vec()
                    })
                })
            })
            .collect();
        out.sort();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn every_log_record_comes_back_exactly(request in arb_logs()) {
            let part = write(&[(0, &request)], &mut |_, _| Ok(())).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back = read(Bytes::from(part)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(items(&back), items(&request));
        }

        /// Each fact the remainder holds is one no column says: without any
        /// one of its fields, the record does not come back.
        #[test]
        fn the_remainder_holds_nothing_a_column_says(record in otelvault_testkit::arb::arb_log()) {
            let request = ExportLogsServiceRequest {
                resource_logs: vec![ResourceLogs {
                    scope_logs: vec![ScopeLogs {
                        log_records: vec![record.clone()],
                        ..ScopeLogs::default()
                    }],
                    ..ResourceLogs::default()
                }],
            };
            let part = write(&[(0, &request)], &mut |_, _| Ok(())).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let batch = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(part))
                .and_then(|b| b.build())
                .map_err(|e| TestCaseError::fail(e.to_string()))?
                .next()
                .ok_or_else(|| TestCaseError::fail("no rows"))?
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let rest = crate::table::binary(&batch, TABLE, ITEM_COLUMN)
                .map_err(|e| TestCaseError::fail(e.to_string()))?
                .value(0)
                .to_vec();
            let whole = restore(&batch, 0, &rest).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&whole, &record);
            for mutated in crate::rest::without_each_field(&rest, 0) {
                let back = restore(&batch, 0, &mutated).ok();
                prop_assert_ne!(back, Some(record.clone()));
            }
        }
    }

    #[test]
    fn sql_columns_follow_the_clickhouse_exporter() {
        let Batch::Logs(request) = sample(Signal::Logs) else {
            panic!("a logs sample");
        };
        let records: Vec<&LogRecord> = request
            .resource_logs
            .iter()
            .flat_map(|rl| rl.scope_logs.iter().flat_map(|sl| sl.log_records.iter()))
            .collect();
        let part = write(&[(0, &request)], &mut |_, _| Ok(())).expect("write");
        let mut batches: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(part))
            .expect("part")
            .build()
            .expect("reader")
            .map(|b| b.expect("batch"))
            .collect();
        assert_eq!(batches.len(), 1);
        let rows = batches.remove(0);
        assert_eq!(rows.num_rows(), records.len());
        let first = records[0];
        let column = |name: &str| {
            rows.column_by_name(name)
                .unwrap_or_else(|| panic!("no column {name}"))
                .clone()
        };
        let times = column("Timestamp");
        let i = (0..rows.num_rows())
            .find(|i| {
                times.as_primitive::<TimestampMicrosecondType>().value(*i)
                    == i64::try_from(time(first) / 1000).expect("time")
                    && column("SeverityText").as_string::<i32>().value(*i) == first.severity_text
            })
            .expect("the first record is a row");
        assert_eq!(
            column("Body").as_string::<i32>().value(i),
            as_string(first.body.as_ref())
        );
        assert_eq!(
            column("SeverityNumber")
                .as_primitive::<Int32Type>()
                .value(i),
            first.severity_number
        );
        assert_eq!(
            column("TraceId").as_string::<i32>().value(i),
            hex(&first.trace_id)
        );
    }
}
