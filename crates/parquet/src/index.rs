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
//!   ([`TAG_VALUES`] at most), their types (`string`, `int`, `float`,
//!   `bool`, …: TraceQL tells `404` from `"404"`) and counts; `Truncated`
//!   says a name had more.
//!
//! Both are derived from the hour's parts (their SQL columns, with the
//! remainders and resources for the types of values and the attributes of
//! events), part by part, and rewritten whenever the parts change; the
//! hour's manifest names them.

use std::collections::BTreeSet;

// Counting tags hashes every attribute of every row: foldhash (seeded at
// random, like std's SipHash, and several times faster); the maps are
// bounded ([`TAG_TRACKED`]).
use foldhash::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Int64Builder, ListBuilder, StringBuilder, UInt64Builder,
};
use arrow_array::cast::AsArray as _;
use arrow_array::{Array, ArrayRef, MapArray, RecordBatch, StringArray};
use bytes::Bytes;
use otelvault_codec::Signal;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};

use otelvault_codec::proto::common::{AnyValue, KeyValue, any_value};
use otelvault_codec::proto::logs::LogRecord;
use otelvault_codec::proto::metrics::{Metric, metric::Data};
use otelvault_codec::proto::resource::Resource;
use otelvault_codec::proto::trace::{Span, span::Event};

use crate::logs::LogRest;
use crate::rest::{self, Typed};
use crate::table::{
    ENTROPY_ZSTD_LEVEL, Encodings, Placed, binary, int64, properties, string, timestamps,
};
use crate::traces::SpanRest;
use crate::values::as_text;
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

impl Trace {
    /// Keeps a span as the trace's first if it is the root, else the
    /// earliest span; ties go the same way whatever order the parts are
    /// added in.
    fn offer_first(&mut self, root: bool, start: u64, service: &str, name: &str) {
        let better = self.first.as_ref().is_none_or(|(r, s, sv, n)| {
            (!root, start, service, name) < (!*r, *s, sv.as_str(), n.as_str())
        });
        if better {
            self.first = Some((root, start, service.to_owned(), name.to_owned()));
        }
    }
}

/// The scopes tags are counted in.
const SCOPES: &[&str] = &["resource", "span", "event", "log", "point"];

/// The value types tags are counted by ([`value_type`]).
const KINDS: &[&str] = &[
    "string", "int", "float", "bool", "bytes", "array", "kvlist", "strindex", "none",
];

/// The `&'static` one of `known` that `name` is.
fn interned(known: &[&'static str], name: Option<&str>) -> Option<&'static str> {
    known.iter().copied().find(|k| Some(*k) == name)
}

/// A value of an attribute name, its type, and the items a batch has it on.
type Summed<'a> = (&'a str, &'static str, u64);

/// Counts of one attribute name's values, by type.
#[derive(Debug, Default)]
struct Values {
    counts: HashMap<&'static str, HashMap<String, u64>>,
    distinct: usize,
    truncated: bool,
}

impl Values {
    /// Counts `n` more items with this name set to `value` of type `kind`:
    /// a value not yet tracked is, while there is room.
    fn count(&mut self, value: &str, kind: &'static str, n: u64) {
        let room = self.distinct < TAG_TRACKED;
        let of_type = self.counts.entry(kind).or_default();
        match of_type.get_mut(value) {
            Some(count) => *count += n,
            None if room => {
                of_type.insert(value.to_owned(), n);
                self.distinct += 1;
            }
            None => self.truncated = true,
        }
    }

    /// The values with their types and counts, most frequent first, ties
    /// by value then type.
    fn by_count(self) -> Vec<(String, &'static str, u64)> {
        let mut counted: Vec<(String, &'static str, u64)> = self
            .counts
            .into_iter()
            .flat_map(|(t, of_type)| of_type.into_iter().map(move |(v, n)| (v, t, n)))
            .collect();
        counted.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, a.1).cmp(&(&b.0, b.1))));
        counted
    }
}

/// Per row, the positions of the attributes whose values are not strings,
/// with their types; a position not listed is a string.
type Types = Vec<Vec<(usize, &'static str)>>;

/// A value's type, as TraceQL names it (`string`, `int`, `float`,
/// `bool`), or its OTLP kind for the others.
fn value_type(value: Option<&AnyValue>) -> &'static str {
    use any_value::Value as V;
    match value.and_then(|v| v.value.as_ref()) {
        Some(V::StringValue(_)) => "string",
        Some(V::IntValue(_)) => "int",
        Some(V::DoubleValue(_)) => "float",
        Some(V::BoolValue(_)) => "bool",
        Some(V::BytesValue(_)) => "bytes",
        Some(V::ArrayValue(_)) => "array",
        Some(V::KvlistValue(_)) => "kvlist",
        Some(V::StringValueStrindex(_)) => "strindex",
        None => "none",
    }
}

fn attribute_types(attributes: &[KeyValue]) -> Vec<(usize, &'static str)> {
    attributes
        .iter()
        .enumerate()
        .map(|(i, kv)| (i, value_type(kv.value.as_ref())))
        .filter(|(_, t)| *t != "string")
        .collect()
}

/// The types a remainder's typed attributes say.
fn typed_types(typed: &[Typed]) -> Vec<(usize, &'static str)> {
    typed
        .iter()
        .map(|t| {
            let kind = match t.kind {
                rest::INT => "int",
                rest::BOOL => "bool",
                rest::DOUBLE => "float",
                rest::STRING => "string",
                _ => value_type(t.value.as_ref()),
            };
            (t.position as usize, kind)
        })
        .filter(|(_, t)| *t != "string")
        .collect()
}

fn protobuf<M: prost::Message + Default>(
    bytes: &[u8],
    column: &'static str,
    row: usize,
) -> Result<M, CompactError> {
    M::decode(bytes).map_err(|source| CompactError::Protobuf {
        column,
        row,
        source,
    })
}

/// Rows whose attributes count the same: the first row, how many rows
/// it stands for, and the positions of its non-string attributes.
type Run = (usize, u64, Vec<(usize, &'static str)>);

/// Rows grouped by `key`, each group once: its first row, how many rows
/// have it, and its attributes' `types` (asked once per group).
fn runs_by<K: std::hash::Hash + Eq>(
    rows: usize,
    key: impl Fn(usize) -> K,
    mut types: impl FnMut(usize) -> Result<Vec<(usize, &'static str)>, CompactError>,
) -> Result<Vec<Run>, CompactError> {
    let mut out: Vec<Run> = Vec::new();
    let mut seen: HashMap<K, usize> = HashMap::default();
    for i in 0..rows {
        match seen.entry(key(i)) {
            Entry::Occupied(at) => out[*at.get()].1 += 1,
            Entry::Vacant(slot) => {
                slot.insert(out.len());
                out.push((i, 1, types(i)?));
            }
        }
    }
    Ok(out)
}

/// The batch's resources, each once: its first row, how many rows have
/// it, and its attributes' types. Rows are sorted by service, so the
/// instances of a service interleave: each resource is decoded and counted
/// once per batch, not once per run of its rows.
fn resource_runs(batch: &RecordBatch) -> Result<Vec<Run>, CompactError> {
    let resources = binary(batch, "part", "OtlpResource")?;
    let bytes = |i| (!resources.is_null(i)).then(|| resources.value(i));
    runs_by(batch.num_rows(), bytes, |i| {
        Ok(match bytes(i) {
            Some(bytes) => {
                attribute_types(&protobuf::<Resource>(bytes, "OtlpResource", i)?.attributes)
            }
            None => Vec::new(),
        })
    })
}

/// A run per row, of the rows' `types`.
fn row_runs(types: Types) -> Vec<Run> {
    types
        .into_iter()
        .enumerate()
        .map(|(i, types)| (i, 1, types))
        .collect()
}

/// An item as the indexes count it: its attributes (a scope of tags, a
/// map column), and its events' attributes.
pub(crate) trait Written {
    /// The scope its attributes are counted in.
    const SCOPE: &'static str;
    /// The map column of its attributes.
    const COLUMN: &'static str;
    fn attributes(&self) -> &[KeyValue];
    fn events(&self) -> &[Event] {
        &[]
    }
}

impl Written for Span {
    const SCOPE: &'static str = "span";
    const COLUMN: &'static str = "SpanAttributes";
    fn attributes(&self) -> &[KeyValue] {
        &self.attributes
    }
    fn events(&self) -> &[Event] {
        &self.events
    }
}

impl Written for LogRecord {
    const SCOPE: &'static str = "log";
    const COLUMN: &'static str = "LogAttributes";
    fn attributes(&self) -> &[KeyValue] {
        &self.attributes
    }
}

impl Written for Metric {
    const SCOPE: &'static str = "point";
    const COLUMN: &'static str = "Attributes";
    fn attributes(&self) -> &[KeyValue] {
        point_attributes(self)
    }
}

/// The attributes of a single-point metric's point.
fn point_attributes(metric: &Metric) -> &[KeyValue] {
    match &metric.data {
        Some(Data::Gauge(g)) => g.data_points.first().map_or(&[][..], |p| &p.attributes),
        Some(Data::Sum(s)) => s.data_points.first().map_or(&[][..], |p| &p.attributes),
        Some(Data::Histogram(h)) => h.data_points.first().map_or(&[][..], |p| &p.attributes),
        Some(Data::ExponentialHistogram(h)) => {
            h.data_points.first().map_or(&[][..], |p| &p.attributes)
        }
        Some(Data::Summary(s)) => s.data_points.first().map_or(&[][..], |p| &p.attributes),
        None => &[],
    }
}

/// The indexes of one hour of a signal, built part by part.
#[derive(Debug)]
pub struct HourIndexes {
    signal: Signal,
    traces: HashMap<String, Trace>,
    /// By scope, then attribute name.
    tags: HashMap<&'static str, HashMap<String, Values>>,
    seen: Seen,
}

/// [`HourIndexes::count_map`]'s table of a batch's distinct entries, kept
/// from one batch to the next: cleared, it keeps its memory, where a
/// table made for each slice of rows was allocated and faulted in anew
/// each time (the busy hour of the performance page faulted in 205,000
/// pages a run with one per slice, 198,000 with this).
#[derive(Debug, Default)]
struct Seen {
    hasher: foldhash::fast::RandomState,
    table: hashbrown::HashTable<SeenEntry>,
}

/// A distinct entry (attribute name, value, type) of a batch: where it
/// first is among the map's entries, its type, and where it is summed
/// (its name's place in the batch's names, its own in that name's list).
type SeenEntry = (usize, &'static str, usize, usize);

impl HourIndexes {
    /// Nothing yet, for an hour of `signal`.
    pub fn new(signal: Signal) -> Self {
        HourIndexes {
            signal,
            traces: HashMap::default(),
            tags: HashMap::default(),
            seen: Seen::default(),
        }
    }

    /// The signal whose hour this indexes.
    pub fn signal(&self) -> Signal {
        self.signal
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
                "OtlpRest",
            ],
            Signal::Logs => &["ResourceAttributes", "LogAttributes", "OtlpRest"],
            Signal::Metrics => &["ResourceAttributes", "Attributes", "OtlpMetric"],
        };
        let wanted = [wanted, &["OtlpResource"]].concat();
        let roots: Vec<usize> = wanted
            .iter()
            .filter_map(|name| builder.schema().index_of(name).ok())
            .collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        for batch in builder.with_projection(mask).build()? {
            self.add_batch(&batch?)?;
        }
        Ok(())
    }

    /// Adds a slice of a part as it is written: its columns, and the rows
    /// they were made from, which give the attributes' types (and spans'
    /// events) without decoding each row's remainder again. Counts what
    /// [`HourIndexes::add_batch`] counts of the same columns read back.
    pub(crate) fn add_written<T: Written>(
        &mut self,
        batch: &RecordBatch,
        rows: &[Placed<'_, T>],
    ) -> Result<(), CompactError> {
        let resources = runs_by(
            rows.len(),
            |i| {
                rows[i]
                    .resource
                    .map_or(std::ptr::null(), std::ptr::from_ref)
            },
            |i| {
                let resource = rows[i].resource;
                Ok(attribute_types(resource.map_or(&[][..], |r| &r.attributes)))
            },
        )?;
        self.count_map(batch, "resource", "ResourceAttributes", &resources)?;
        let mut types = Vec::with_capacity(rows.len());
        for row in rows {
            self.count_events(row.item.events());
            types.push(attribute_types(row.item.attributes()));
        }
        self.count_map(batch, T::SCOPE, T::COLUMN, &row_runs(types))?;
        if self.signal == Signal::Traces {
            self.add_spans(batch)?;
        }
        Ok(())
    }

    /// Adds the rows of a record batch of a part of the hour (as written,
    /// or read back with at least the columns [`HourIndexes::add_part`]
    /// projects).
    pub fn add_batch(&mut self, batch: &RecordBatch) -> Result<(), CompactError> {
        self.count_map(
            batch,
            "resource",
            "ResourceAttributes",
            &resource_runs(batch)?,
        )?;
        let n = batch.num_rows();
        match self.signal {
            Signal::Traces => {
                let rests = binary(batch, "part", "OtlpRest")?;
                let mut types = Vec::with_capacity(n);
                for i in 0..n {
                    let rest: SpanRest = protobuf(rests.value(i), "OtlpRest", i)?;
                    types.push(typed_types(&rest.attributes));
                    self.count_events(rest.span.as_ref().map_or(&[][..], |s| &s.events));
                }
                self.count_map(batch, "span", "SpanAttributes", &row_runs(types))?;
                self.add_spans(batch)?;
            }
            Signal::Logs => {
                let rests = binary(batch, "part", "OtlpRest")?;
                let types = (0..n)
                    .map(|i| {
                        protobuf::<LogRest>(rests.value(i), "OtlpRest", i)
                            .map(|r| typed_types(&r.attributes))
                    })
                    .collect::<Result<Types, _>>()?;
                self.count_map(batch, "log", "LogAttributes", &row_runs(types))?;
            }
            Signal::Metrics => {
                let metrics = binary(batch, "part", "OtlpMetric")?;
                let types = (0..n)
                    .map(|i| {
                        protobuf::<Metric>(metrics.value(i), "OtlpMetric", i)
                            .map(|m| attribute_types(point_attributes(&m)))
                    })
                    .collect::<Result<Types, _>>()?;
                self.count_map(batch, "point", "Attributes", &row_runs(types))?;
            }
        }
        Ok(())
    }

    /// Adds what `other`, the indexes of later parts of the same hour,
    /// counted: the same indexes as if its parts had been added here
    /// (tag values past the distinct values tracked aside, which are
    /// counted as they come).
    pub fn merge(&mut self, other: HourIndexes) {
        for (id, theirs) in other.traces {
            let Some(ours) = self.traces.get_mut(&id) else {
                self.traces.insert(id, theirs);
                continue;
            };
            ours.start = ours.start.min(theirs.start);
            ours.end = ours.end.max(theirs.end);
            ours.spans += theirs.spans;
            ours.errors += theirs.errors;
            ours.services.extend(theirs.services);
            if let Some((root, start, service, name)) = theirs.first {
                ours.offer_first(root, start, &service, &name);
            }
        }
        for (scope, names) in other.tags {
            for (key, values) in names {
                // Most frequent first: the values that still find room
                // here (past `TAG_TRACKED`) are the other's most frequent,
                // not those its map happened to yield first, and an hour's
                // tag index is the same from one run to the next.
                let truncated = values.truncated;
                for (value, kind, n) in values.by_count() {
                    self.count_n(scope, &key, &value, kind, n);
                }
                if truncated {
                    let names = self.tags.entry(scope).or_default();
                    names.entry(key).or_default().truncated = true;
                }
            }
        }
    }

    /// Counts the attributes of a span's events.
    fn count_events(&mut self, events: &[Event]) {
        for kv in events.iter().flat_map(|e| &e.attributes) {
            let value = as_text(kv.value.as_ref());
            self.count("event", &kv.key, &value, value_type(kv.value.as_ref()));
        }
    }

    fn count(&mut self, scope: &'static str, key: &str, value: &str, kind: &'static str) {
        self.count_n(scope, key, value, kind, 1);
    }

    fn count_n(&mut self, scope: &'static str, key: &str, value: &str, kind: &'static str, n: u64) {
        count_in(self.tags.entry(scope).or_default(), key, value, kind, n);
    }

    /// Counts the entries of map column `column`: each run's first row's,
    /// as many times as the rows it stands for (a tag's count is the items
    /// that carry it), with the types the run gives them. The batch's
    /// entries are summed first, borrowed from its columns, by attribute
    /// name; then each name is looked up once and each of its distinct
    /// values counted once, in the order first seen (the order values are
    /// tracked in, past [`TAG_TRACKED`], which is per name).
    fn count_map(
        &mut self,
        batch: &RecordBatch,
        scope: &'static str,
        column: &str,
        runs: &[Run],
    ) -> Result<(), CompactError> {
        let Some(map) = batch.column_by_name(column).and_then(|c| c.as_map_opt()) else {
            return Err(schema(format!("{column} is not a map column")));
        };
        let (keys, values) = strings_of(map, column)?;
        let offsets = map.value_offsets();
        let entries: usize = runs
            .iter()
            .filter(|run| run.0 < map.len())
            .map(|run| (offsets[run.0 + 1] - offsets[run.0]) as usize)
            .sum();
        let Seen { hasher, table } = &mut self.seen;
        let hash = |key: &str, value: &str, kind: &str| {
            std::hash::BuildHasher::hash_one(&*hasher, (key, value, kind))
        };
        let rehash = |&(at, kind, _, _): &SeenEntry| hash(keys.value(at), values.value(at), kind);
        table.clear();
        table.reserve(entries, rehash);
        let mut places: HashMap<&str, usize> = HashMap::default();
        let mut names: Vec<(&str, Vec<Summed<'_>>)> = Vec::new();
        for (row, n, types) in runs.iter().filter(|run| run.0 < map.len()) {
            let (start, end) = (offsets[*row] as usize, offsets[row + 1] as usize);
            for j in start..end {
                let position = j - start;
                let kind = types
                    .iter()
                    .find(|(p, _)| *p == position)
                    .map_or("string", |(_, t)| *t);
                let (key, value) = (keys.value(j), values.value(j));
                let same = |&(at, k, _, _): &SeenEntry| {
                    k == kind && keys.value(at) == key && values.value(at) == value
                };
                match table.entry(hash(key, value, kind), same, rehash) {
                    hashbrown::hash_table::Entry::Occupied(at) => {
                        let (_, _, name, i) = *at.get();
                        names[name].1[i].2 += n;
                    }
                    hashbrown::hash_table::Entry::Vacant(slot) => {
                        let name = *places.entry(key).or_insert_with(|| {
                            names.push((key, Vec::new()));
                            names.len() - 1
                        });
                        slot.insert((j, kind, name, names[name].1.len()));
                        names[name].1.push((value, kind, *n));
                    }
                }
            }
        }
        let counted = self.tags.entry(scope).or_default();
        for (key, summed) in names {
            let values = match counted.get_mut(key) {
                Some(values) => values,
                None => counted.entry(key.to_owned()).or_default(),
            };
            for (value, kind, n) in summed {
                values.count(value, kind, n);
            }
        }
        Ok(())
    }

    fn add_spans(&mut self, batch: &RecordBatch) -> Result<(), CompactError> {
        let text = |name| string(batch, crate::traces::TABLE, name);
        let (trace_ids, parents) = (text("TraceId")?, text("ParentSpanId")?);
        let (services, names, statuses) =
            (text("ServiceName")?, text("SpanName")?, text("StatusCode")?);
        let durations = int64(batch, crate::traces::TABLE, "Duration")?;
        let starts = crate::traces::starts(batch)?;
        for i in 0..batch.num_rows() {
            let start = starts.at(i);
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
            trace.offer_first(
                parents.value(i).is_empty(),
                start,
                services.value(i),
                names.value(i),
            );
        }
        Ok(())
    }

    /// What has been counted so far, as JSON: what a compaction worker
    /// hands on with its shard's parts, so that the hour's indexes are
    /// merged without reading the parts again.
    pub fn to_json(&self) -> Vec<u8> {
        let traces: Vec<Value> = self
            .traces
            .iter()
            .map(|(id, t)| {
                let first = t
                    .first
                    .as_ref()
                    .map_or(Value::Null, |(root, start, service, name)| {
                        json!([root, start, service, name])
                    });
                json!([id, t.start, t.end, t.spans, t.errors, t.services, first])
            })
            .collect();
        let tags: Vec<Value> = self
            .tags
            .iter()
            .flat_map(|(scope, names)| {
                names.iter().map(move |(name, values)| {
                    let counted: Vec<Value> = values
                        .counts
                        .iter()
                        .flat_map(|(kind, counts)| {
                            counts.iter().map(move |(value, n)| json!([kind, value, n]))
                        })
                        .collect();
                    json!([scope, name, values.truncated, counted])
                })
            })
            .collect();
        json!({"signal": self.signal.as_str(), "traces": traces, "tags": tags})
            .to_string()
            .into_bytes()
    }

    /// Indexes [`HourIndexes::to_json`] wrote, for an hour of `signal`.
    pub fn from_json(signal: Signal, bytes: &[u8]) -> Result<Self, CompactError> {
        let bad = |what: &str| CompactError::Manifest(format!("a shard's index state {what}"));
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| bad(&format!("is not JSON: {e}")))?;
        if value["signal"].as_str() != Some(signal.as_str()) {
            return Err(bad(&format!("is not of {signal}")));
        }
        let mut out = HourIndexes::new(signal);
        for trace in value["traces"]
            .as_array()
            .ok_or_else(|| bad("has no traces"))?
        {
            let number = |i: usize| {
                trace[i]
                    .as_u64()
                    .ok_or_else(|| bad("has a trace without its counts"))
            };
            let id = trace[0]
                .as_str()
                .ok_or_else(|| bad("has a trace without an id"))?;
            let services = trace[5]
                .as_array()
                .ok_or_else(|| bad("has a trace without services"))?
                .iter()
                .map(|s| {
                    s.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| bad("has a service that is not text"))
                })
                .collect::<Result<_, _>>()?;
            let first = match &trace[6] {
                Value::Null => None,
                f => Some((
                    f[0].as_bool()
                        .ok_or_else(|| bad("has a first span without its root flag"))?,
                    f[1].as_u64()
                        .ok_or_else(|| bad("has a first span without its start"))?,
                    f[2].as_str().unwrap_or_default().to_owned(),
                    f[3].as_str().unwrap_or_default().to_owned(),
                )),
            };
            let parsed = Trace {
                start: number(1)?,
                end: number(2)?,
                first,
                spans: number(3)?,
                errors: number(4)?,
                services,
            };
            out.traces.insert(id.to_owned(), parsed);
        }
        for tag in value["tags"].as_array().ok_or_else(|| bad("has no tags"))? {
            let scope =
                interned(SCOPES, tag[0].as_str()).ok_or_else(|| bad("has an unknown scope"))?;
            let name = tag[1]
                .as_str()
                .ok_or_else(|| bad("has a tag without a name"))?;
            let values = out
                .tags
                .entry(scope)
                .or_default()
                .entry(name.to_owned())
                .or_default();
            values.truncated = tag[2].as_bool().unwrap_or(false);
            for counted in tag[3]
                .as_array()
                .ok_or_else(|| bad("has a tag without values"))?
            {
                let kind = interned(KINDS, counted[0].as_str())
                    .ok_or_else(|| bad("has an unknown value type"))?;
                let value = counted[1]
                    .as_str()
                    .ok_or_else(|| bad("has a value that is not text"))?;
                let n = counted[2]
                    .as_u64()
                    .ok_or_else(|| bad("has a value without a count"))?;
                values
                    .counts
                    .entry(kind)
                    .or_default()
                    .insert(value.to_owned(), n);
                values.distinct += 1;
            }
        }
        Ok(out)
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

/// Counts `n` more items with attribute `key` set to `value` of type
/// `kind`, among a scope's `names`.
fn count_in(
    names: &mut HashMap<String, Values>,
    key: &str,
    value: &str,
    kind: &'static str,
    n: u64,
) {
    let values = match names.get_mut(key) {
        Some(values) => values,
        None => names.entry(key.to_owned()).or_default(),
    };
    values.count(value, kind, n);
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
    levels: &[("TraceId", ENTROPY_ZSTD_LEVEL)],
};

const TAG_ENCODINGS: Encodings = Encodings {
    bloom_filters: &["Key"],
    no_dictionary: &[],
    delta: &[],
    levels: &[],
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
    let (mut scope, mut key, mut value, mut kind) = (strings(), strings(), strings(), strings());
    let mut count = Int64Builder::new();
    let mut truncated = BooleanBuilder::new();
    for ((s, k), values) in names {
        let cut = values.truncated || values.distinct > TAG_VALUES;
        for (v, t, n) in values.by_count().into_iter().take(TAG_VALUES) {
            scope.append_value(s);
            key.append_value(&k);
            value.append_value(v);
            kind.append_value(t);
            count.append_value(crate::table::signed(n));
            truncated.append_value(cut);
        }
    }
    Ok(RecordBatch::try_from_iter([
        ("Scope", Arc::new(scope.finish()) as ArrayRef),
        ("Key", Arc::new(key.finish())),
        ("Value", Arc::new(value.finish())),
        ("Type", Arc::new(kind.finish())),
        ("Count", Arc::new(count.finish())),
        ("Truncated", Arc::new(truncated.finish())),
    ])?)
}

/// The columns of an index table, as its objects have them.
pub(crate) fn schema_of(table: &Table) -> Result<arrow_schema::SchemaRef, CompactError> {
    let batch = if table.name == INDEXES[0].name {
        summaries(HashMap::default())?
    } else {
        tags(HashMap::default())?
    };
    Ok(batch.schema())
}

#[cfg(test)]
mod tests;
