//! An hour's trace summaries (`otel_trace_summaries`, written by
//! [`crate::index`]) read back: one row per trace with spans in the hour,
//! so that a search over a whole hour looks at a trace once instead of at
//! each of its spans.
//!
//! The table keeps times in microseconds, as the SQL engines read them: a
//! summary's start and end are rounded down, and its spans lie within
//! `[start, end + 999 ns]`.

use std::sync::Arc;

use arrow_array::cast::AsArray as _;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{BooleanArray, Int64Array, ListArray, PrimitiveArray, RecordBatch, StringArray};
use futures::StreamExt as _;
use parquet::arrow::ProjectionMask;
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;

use crate::CompactError;
use crate::scan::{PartFile, failed};

/// The summaries' table name, in errors.
const TABLE: &str = "otel_trace_summaries";

/// One trace's row of an hour's summaries.
#[derive(Debug, Clone, Copy)]
pub struct TraceSummary<'a> {
    /// Hex, as the `TraceId` column holds it.
    pub trace_id: &'a str,
    /// The first span's start, unix nanoseconds rounded down to the
    /// microsecond.
    pub start: u64,
    /// The last span's end, rounded down likewise.
    pub end: u64,
    /// Whether `root_service` and `root_name` are a root span's; if not,
    /// the hour's earliest span stands in.
    pub has_root: bool,
    /// The root span's service (`service.name`).
    pub root_service: &'a str,
    /// The root span's name.
    pub root_name: &'a str,
    /// Spans of the trace in the hour.
    pub spans: u64,
    /// Of them, those with status `Error`.
    pub errors: u64,
    services: Option<(&'a StringArray, usize, usize)>,
}

impl TraceSummary<'_> {
    /// Whether a span of the trace in the hour is of service `name`; `None`
    /// when the services were not read ([`read_summaries`]).
    pub fn has_service(&self, name: &str) -> Option<bool> {
        let (names, from, to) = self.services?;
        Some((from..to).any(|i| names.value(i) == name))
    }
}

/// The batches of an hour's summaries object, with the services of each
/// trace when `services` asks for them ([`visit_summaries`] reads them).
pub async fn read_summaries(
    part: PartFile,
    services: bool,
) -> Result<Vec<RecordBatch>, CompactError> {
    let key = part.key.clone();
    let failed = |e| failed(&key, e);
    let builder = ParquetRecordBatchStreamBuilder::new(part)
        .await
        .map_err(failed)?;
    let mut wanted = vec![
        "TraceId",
        "Start",
        "End",
        "HasRoot",
        "RootServiceName",
        "RootSpanName",
        "SpanCount",
        "ErrorCount",
    ];
    if services {
        wanted.push("ServiceNames");
    }
    let roots = wanted
        .iter()
        .map(|name| {
            builder
                .schema()
                .index_of(name)
                .map_err(|_| schema(format!("no column {name}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let mut stream = builder.with_projection(mask).build().map_err(failed)?;
    let mut batches = Vec::new();
    while let Some(batch) = stream.next().await {
        batches.push(batch.map_err(failed)?);
    }
    Ok(batches)
}

/// Whether the hour whose summaries `part` holds may have spans of the
/// trace `trace_hex` (lowercase hex): false only when the `TraceId` bloom
/// filter of every row group rules it out. One footer and one filter per
/// row group are read, however many parts the hour has.
pub async fn may_hold_trace(part: PartFile, trace_hex: &str) -> Result<bool, CompactError> {
    let key = part.key.clone();
    let failed = |e| failed(&key, e);
    let mut builder = ParquetRecordBatchStreamBuilder::new(part)
        .await
        .map_err(failed)?;
    let metadata = Arc::clone(builder.metadata());
    let leaf = metadata
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.path().string() == "TraceId")
        .ok_or_else(|| schema("no column TraceId".to_owned()))?;
    for group in 0..metadata.num_row_groups() {
        match builder
            .get_row_group_column_bloom_filter(group, leaf)
            .await
            .map_err(failed)?
        {
            Some(bloom) if !bloom.check(trace_hex) => {}
            _ => return Ok(true),
        }
    }
    Ok(false)
}

/// Hands each row of `batch`, a batch of [`read_summaries`], to `each`.
pub fn visit_summaries(
    batch: &RecordBatch,
    mut each: impl FnMut(&TraceSummary<'_>),
) -> Result<(), CompactError> {
    let text = |name: &str| -> Result<&StringArray, CompactError> {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| schema(format!("{name} is not a string column")))
    };
    let count = |name: &str| -> Result<&Int64Array, CompactError> {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_primitive_opt())
            .ok_or_else(|| schema(format!("{name} is not a bigint column")))
    };
    let time = |name: &str| -> Result<&PrimitiveArray<TimestampMicrosecondType>, CompactError> {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_primitive_opt())
            .ok_or_else(|| schema(format!("{name} is not a timestamp column")))
    };
    let (ids, root_services, names) = (
        text("TraceId")?,
        text("RootServiceName")?,
        text("RootSpanName")?,
    );
    let (starts, ends) = (time("Start")?, time("End")?);
    let (spans, errors) = (count("SpanCount")?, count("ErrorCount")?);
    let roots: &BooleanArray = batch
        .column_by_name("HasRoot")
        .and_then(|c| c.as_boolean_opt())
        .ok_or_else(|| schema("HasRoot is not a boolean column".to_owned()))?;
    let lists: Option<(&ListArray, &StringArray)> = match batch.column_by_name("ServiceNames") {
        None => None,
        Some(column) => {
            let list = column
                .as_list_opt::<i32>()
                .ok_or_else(|| schema("ServiceNames is not a list".to_owned()))?;
            let values = list
                .values()
                .as_string_opt::<i32>()
                .ok_or_else(|| schema("ServiceNames is not a list of strings".to_owned()))?;
            Some((list, values))
        }
    };
    let nanos = |micros: i64| u64::try_from(micros).unwrap_or(0).saturating_mul(1000);
    let unsigned = |n: i64| u64::try_from(n).unwrap_or(0);
    for i in 0..batch.num_rows() {
        let services = lists.map(|(list, values)| {
            let offsets = list.value_offsets();
            (values, offsets[i] as usize, offsets[i + 1] as usize)
        });
        each(&TraceSummary {
            trace_id: ids.value(i),
            start: nanos(starts.value(i)),
            end: nanos(ends.value(i)),
            has_root: roots.value(i),
            root_service: root_services.value(i),
            root_name: names.value(i),
            spans: unsigned(spans.value(i)),
            errors: unsigned(errors.value(i)),
            services,
        });
    }
    Ok(())
}

fn schema(problem: String) -> CompactError {
    CompactError::Schema {
        table: TABLE,
        problem,
    }
}
