//! What an hour's indexes say about it, beside its parts, so that a
//! question about traces or tags reads one small object per hour instead
//! of every span:
//!
//! - **trace summaries** (`otel_trace_summaries`): one row per trace with
//!   spans in the hour: its first start, last end, duration, root service
//!   and span name (the earliest span's, with `HasRoot` false, when the
//!   root is in another hour or was never sent), span and error counts, and
//!   the services it went through; sorted by root service then start, with
//!   bloom filters on `TraceId`, `RootServiceName` and `ServiceNames`;
//! - **tag indexes** (`otel_trace_tags`, `otel_log_tags`,
//!   `otel_metric_tags`): per scope (`resource`, `span`, `event`, `log`,
//!   `point`), each attribute name with its most frequent values
//!   ([`TAG_VALUES`] at most) and their counts; `Truncated` says a name had
//!   more.
//!
//! Both are derived from the hour's parts (their SQL columns, and the
//! remainder only for spans with events), part by part, and rewritten
//! whenever the parts change; the hour's manifest names them.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Int64Builder, ListBuilder, StringBuilder, UInt64Builder,
};
use arrow_array::cast::AsArray as _;
use arrow_array::types::{Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, MapArray, RecordBatch, StringArray};
use bytes::Bytes;
use otelvault_codec::Signal;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use prost::Message as _;

use crate::table::{Encodings, properties, timestamps};
use crate::values::as_string;
use crate::{CompactError, Table};

/// The index tables: trace summaries, then the tags of each signal.
pub const INDEXES: [Table; 4] = [
    Table {
        name: "otel_trace_summaries",
        signal: Signal::Traces,
        dir: "trace_summaries",
        time_column: "Start",
    },
    Table {
        name: "otel_trace_tags",
        signal: Signal::Traces,
        dir: "tags/traces",
        time_column: "Scope",
    },
    Table {
        name: "otel_log_tags",
        signal: Signal::Logs,
        dir: "tags/logs",
        time_column: "Scope",
    },
    Table {
        name: "otel_metric_tags",
        signal: Signal::Metrics,
        dir: "tags/metrics",
        time_column: "Scope",
    },
];

/// The values a tag index keeps per attribute name: the most frequent.
pub const TAG_VALUES: usize = 1000;

/// Distinct values counted per attribute name before new ones are no
/// longer counted (memory stays bounded whatever the hour holds).
const TAG_TRACKED: usize = 10 * TAG_VALUES;

impl Table {
    /// The index tables of a signal.
    pub fn indexes_of(signal: Signal) -> impl Iterator<Item = &'static Table> {
        INDEXES.iter().filter(move |t| t.signal == signal)
    }
}

/// A trace as far as the hour's spans tell.
#[derive(Debug, Default)]
struct Trace {
    start: u64,
    end: u64,
    /// The root's (or, lacking one, the earliest span's) start, service
    /// and name, and whether it is the root.
    first: Option<(bool, u64, String, String)>,
    spans: u64,
    errors: u64,
    services: BTreeSet<String>,
}

/// Counts of one attribute name's values.
#[derive(Debug, Default)]
struct Values {
    counts: HashMap<String, u64>,
    truncated: bool,
}

/// The indexes of one hour of a signal, built part by part.
#[derive(Debug)]
pub struct HourIndexes {
    signal: Signal,
    traces: HashMap<String, Trace>,
    /// By scope, then attribute name.
    tags: HashMap<&'static str, HashMap<String, Values>>,
}

impl HourIndexes {
    /// Nothing yet, for an hour of `signal`.
    pub fn new(signal: Signal) -> Self {
        HourIndexes {
            signal,
            traces: HashMap::new(),
            tags: HashMap::new(),
        }
    }

    /// Adds the rows of a part of the hour.
    pub fn add_part(&mut self, part: Bytes) -> Result<(), CompactError> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(part)?;
        let wanted: &[&str] = match self.signal {
            Signal::Traces => &[
                "TraceId",
                "ParentSpanId",
                "ServiceName",
                "SpanName",
                "Timestamp",
                "OtlpTimestampNanos",
                "Duration",
                "StatusCode",
                "ResourceAttributes",
                "SpanAttributes",
                "Events.Name",
                "OtlpRest",
            ],
            Signal::Logs => &["ResourceAttributes", "LogAttributes"],
            Signal::Metrics => &["ResourceAttributes", "Attributes"],
        };
        let roots: Vec<usize> = wanted
            .iter()
            .filter_map(|name| builder.schema().index_of(name).ok())
            .collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        for batch in builder.with_projection(mask).build()? {
            let batch = batch?;
            self.count_map(&batch, "resource", "ResourceAttributes")?;
            match self.signal {
                Signal::Traces => {
                    self.count_map(&batch, "span", "SpanAttributes")?;
                    self.count_events(&batch)?;
                    self.add_spans(&batch)?;
                }
                Signal::Logs => self.count_map(&batch, "log", "LogAttributes")?,
                Signal::Metrics => self.count_map(&batch, "point", "Attributes")?,
            }
        }
        Ok(())
    }

    fn count(&mut self, scope: &'static str, key: &str, value: &str) {
        let names = self.tags.entry(scope).or_default();
        let values = match names.get_mut(key) {
            Some(values) => values,
            None => names.entry(key.to_owned()).or_default(),
        };
        let room = values.counts.len() < TAG_TRACKED;
        match values.counts.get_mut(value) {
            Some(n) => *n += 1,
            None if room => {
                values.counts.insert(value.to_owned(), 1);
            }
            None => values.truncated = true,
        }
    }

    fn count_map(
        &mut self,
        batch: &RecordBatch,
        scope: &'static str,
        column: &str,
    ) -> Result<(), CompactError> {
        let Some(map) = batch.column_by_name(column).and_then(|c| c.as_map_opt()) else {
            return Err(schema(format!("{column} is not a map column")));
        };
        let (keys, values) = strings_of(map, column)?;
        // Resources repeat row after row: count each entry once per row
        // all the same (a tag's count is the items that carry it).
        for j in 0..keys.len() {
            if !keys.is_null(j) {
                self.count(scope, keys.value(j), values.value(j));
            }
        }
        Ok(())
    }

    /// Event attributes: in the remainder of the spans that have events.
    fn count_events(&mut self, batch: &RecordBatch) -> Result<(), CompactError> {
        let (Some(names), Some(rest)) = (
            batch
                .column_by_name("Events.Name")
                .and_then(|c| c.as_list_opt::<i32>()),
            batch
                .column_by_name("OtlpRest")
                .and_then(|c| c.as_binary_opt::<i32>()),
        ) else {
            // A part of an earlier version (no `OtlpRest`): its parts are
            // rewritten before their indexes are built.
            return Ok(());
        };
        for i in 0..batch.num_rows() {
            if names.value_length(i) == 0 {
                continue;
            }
            let rest = crate::traces::SpanRest::decode(rest.value(i)).map_err(|source| {
                CompactError::Protobuf {
                    column: "OtlpRest",
                    row: i,
                    source,
                }
            })?;
            for event in rest.span.iter().flat_map(|s| &s.events) {
                for kv in &event.attributes {
                    self.count("event", &kv.key, &as_string(kv.value.as_ref()));
                }
            }
        }
        Ok(())
    }

    fn add_spans(&mut self, batch: &RecordBatch) -> Result<(), CompactError> {
        let text = |name: &str| -> Result<&StringArray, CompactError> {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| schema(format!("{name} is not a string column")))
        };
        let (trace_ids, parents) = (text("TraceId")?, text("ParentSpanId")?);
        let (services, names, statuses) =
            (text("ServiceName")?, text("SpanName")?, text("StatusCode")?);
        let micros = batch
            .column_by_name("Timestamp")
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
            .ok_or_else(|| schema("Timestamp is not a microsecond timestamp".into()))?;
        let nanos = batch
            .column_by_name("OtlpTimestampNanos")
            .and_then(|c| c.as_primitive_opt::<Int32Type>())
            .ok_or_else(|| schema("OtlpTimestampNanos is not an int32 column".into()))?;
        let durations = batch
            .column_by_name("Duration")
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .ok_or_else(|| schema("Duration is not a bigint column".into()))?;
        for i in 0..batch.num_rows() {
            let start = (micros.value(i) as u64) * 1000 + nanos.value(i) as u64;
            let end = start.saturating_add(durations.value(i) as u64);
            let trace = match self.traces.get_mut(trace_ids.value(i)) {
                Some(trace) => trace,
                None => self
                    .traces
                    .entry(trace_ids.value(i).to_owned())
                    .or_insert_with(|| Trace {
                        start: u64::MAX,
                        ..Trace::default()
                    }),
            };
            trace.start = trace.start.min(start);
            trace.end = trace.end.max(end);
            trace.spans += 1;
            trace.errors += u64::from(statuses.value(i) == "Error");
            if !trace.services.contains(services.value(i)) {
                trace.services.insert(services.value(i).to_owned());
            }
            let root = parents.value(i).is_empty();
            let better = match &trace.first {
                None => true,
                Some((was_root, was_start, _, _)) => {
                    (root, std::cmp::Reverse(start)) > (*was_root, std::cmp::Reverse(*was_start))
                }
            };
            if better {
                trace.first = Some((
                    root,
                    start,
                    services.value(i).to_owned(),
                    names.value(i).to_owned(),
                ));
            }
        }
        Ok(())
    }

    /// The index objects: (table, rows, Parquet bytes).
    pub fn finish(self) -> Result<Vec<crate::Part>, CompactError> {
        let mut out = Vec::new();
        if self.signal == Signal::Traces {
            let batch = summaries(self.traces)?;
            out.push((
                &INDEXES[0],
                batch.num_rows(),
                write(&batch, &SUMMARY_ENCODINGS)?,
            ));
        }
        let batch = tags(self.tags)?;
        out.push((
            tags_table(self.signal),
            batch.num_rows(),
            write(&batch, &TAG_ENCODINGS)?,
        ));
        Ok(out)
    }
}

fn schema(problem: String) -> CompactError {
    CompactError::Schema {
        table: "part",
        problem,
    }
}

fn strings_of<'a>(
    map: &'a MapArray,
    column: &str,
) -> Result<(&'a StringArray, &'a StringArray), CompactError> {
    match (
        map.keys().as_string_opt::<i32>(),
        map.values().as_string_opt::<i32>(),
    ) {
        (Some(keys), Some(values)) => Ok((keys, values)),
        _ => Err(schema(format!("{column} is not a map of strings"))),
    }
}

fn write(batch: &RecordBatch, encodings: &Encodings) -> Result<Vec<u8>, CompactError> {
    let properties = properties(&batch.schema(), encodings)?;
    let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(properties))?;
    writer.write(batch)?;
    Ok(writer.into_inner()?)
}

/// The tag index table of a signal.
fn tags_table(signal: Signal) -> &'static Table {
    match signal {
        Signal::Traces => &INDEXES[1],
        Signal::Logs => &INDEXES[2],
        Signal::Metrics => &INDEXES[3],
    }
}

const SUMMARY_ENCODINGS: Encodings = Encodings {
    bloom_filters: &["TraceId", "RootServiceName", "ServiceNames"],
    no_dictionary: &["TraceId", "Duration"],
    delta: &["Start", "End"],
};

const TAG_ENCODINGS: Encodings = Encodings {
    bloom_filters: &["Key"],
    no_dictionary: &[],
    delta: &[],
};

/// The summaries, sorted by root service, then start.
fn summaries(traces: HashMap<String, Trace>) -> Result<RecordBatch, CompactError> {
    let mut rows: Vec<(String, Trace)> = traces.into_iter().collect();
    let root_service = |t: &Trace| t.first.as_ref().map_or("", |f| f.2.as_str()).to_owned();
    rows.sort_by_cached_key(|(id, t)| (root_service(t), t.start, id.clone()));
    let n = rows.len();
    let strings = || StringBuilder::with_capacity(n, n * 16);
    let (mut service, mut trace_id, mut name) = (strings(), strings(), strings());
    let (mut start, mut end) = (timestamps(n), timestamps(n));
    let mut duration = Int64Builder::with_capacity(n);
    let mut has_root = BooleanBuilder::with_capacity(n);
    let (mut spans, mut errors) = (
        UInt64Builder::with_capacity(n),
        UInt64Builder::with_capacity(n),
    );
    let mut services = ListBuilder::new(StringBuilder::new());
    for (id, t) in &rows {
        let (root, _, root_service, root_name) = t.first.clone().unwrap_or_default();
        service.append_value(&root_service);
        start.append_value(crate::table::micros(t.start));
        trace_id.append_value(id);
        end.append_value(crate::table::micros(t.end));
        duration.append_value(crate::table::signed(t.end.saturating_sub(t.start)));
        name.append_value(&root_name);
        has_root.append_value(root);
        spans.append_value(t.spans);
        errors.append_value(t.errors);
        for s in &t.services {
            services.values().append_value(s);
        }
        services.append(true);
    }
    Ok(RecordBatch::try_from_iter([
        ("RootServiceName", Arc::new(service.finish()) as ArrayRef),
        ("Start", Arc::new(start.finish())),
        ("TraceId", Arc::new(trace_id.finish())),
        ("End", Arc::new(end.finish())),
        ("Duration", Arc::new(duration.finish())),
        ("RootSpanName", Arc::new(name.finish())),
        ("HasRoot", Arc::new(has_root.finish())),
        ("SpanCount", Arc::new(cast_bigint(spans.finish()))),
        ("ErrorCount", Arc::new(cast_bigint(errors.finish()))),
        ("ServiceNames", Arc::new(services.finish())),
    ])?)
}

/// Counts as the SQL columns hold them: `bigint`.
fn cast_bigint(counts: arrow_array::UInt64Array) -> arrow_array::Int64Array {
    counts.iter().map(|c| c.map(crate::table::signed)).collect()
}

/// The tag index: per scope and name, the most frequent values first.
fn tags(tags: HashMap<&'static str, HashMap<String, Values>>) -> Result<RecordBatch, CompactError> {
    let mut names: Vec<((&'static str, String), Values)> = tags
        .into_iter()
        .flat_map(|(scope, names)| names.into_iter().map(move |(k, v)| ((scope, k), v)))
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    let strings = || StringBuilder::new();
    let (mut scope, mut key, mut value) = (strings(), strings(), strings());
    let mut count = Int64Builder::new();
    let mut truncated = BooleanBuilder::new();
    for ((s, k), values) in names {
        let cut = values.truncated || values.counts.len() > TAG_VALUES;
        let mut counted: Vec<(String, u64)> = values.counts.into_iter().collect();
        counted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        for (v, n) in counted.into_iter().take(TAG_VALUES) {
            scope.append_value(s);
            key.append_value(&k);
            value.append_value(v);
            count.append_value(crate::table::signed(n));
            truncated.append_value(cut);
        }
    }
    Ok(RecordBatch::try_from_iter([
        ("Scope", Arc::new(scope.finish()) as ArrayRef),
        ("Key", Arc::new(key.finish())),
        ("Value", Arc::new(value.finish())),
        ("Count", Arc::new(count.finish())),
        ("Truncated", Arc::new(truncated.finish())),
    ])?)
}

/// The columns of an index table, as its objects have them.
pub(crate) fn schema_of(table: &Table) -> Result<arrow_schema::SchemaRef, CompactError> {
    let batch = if table.name == INDEXES[0].name {
        summaries(HashMap::new())?
    } else {
        tags(HashMap::new())?
    };
    Ok(batch.schema())
}

#[cfg(test)]
mod tests;
