//! The compacted tier of the otelvault archive: OTLP items as Parquet.
//!
//! Seven tables ([`TABLES`]): one row per span, log record, or data point
//! of each metric type, with the column names of the OpenTelemetry
//! Collector's ClickHouse exporter (`Timestamp`, `TraceId`, `ServiceName`,
//! `SpanAttributes`, …) and types every engine reads, so that SQL written
//! for that schema runs unchanged on DuckDB, Athena or Spark ([`sql`]
//! declares them). Those columns are for reading with SQL, and with the
//! `Otlp*` columns they make the tier lossless: the item's context as
//! protobuf, and `OtlpRest`, only what the SQL columns cannot say about
//! the item (the types of attribute values, bytes, arrays, flags, dropped
//! counts, …; a metric's `OtlpMetric` is still whole), from which
//! [`read_part`] and [`scan`] rebuild exactly what was ingested, to the
//! nanosecond. Each fact is stored once.
//!
//! Files are zstd-compressed, their rows sorted by `ServiceName` then
//! time (and say so in their metadata), with min/max statistics and
//! bloom filters on `TraceId` and `ServiceName`, so that a reader can skip
//! the row groups that cannot hold a trace or a service. Beside each
//! hour's parts, its [`index`]es: trace summaries and tag indexes.

pub mod index;
pub mod logs;
pub mod metrics;
mod rest;
pub mod scan;
pub mod spans;
pub mod sql;
pub mod summaries;
mod table;
pub mod tags;
pub mod traces;
mod values;

use bytes::Bytes;
use otelvault_codec::{Batch, Signal};

use crate::index::HourIndexes;

/// Why a part file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompactError {
    /// The Parquet or Arrow library refused.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Building or reading the Arrow arrays failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A part file lacks a column this crate writes, or holds a column of
    /// another type: it was not written by otelvault.
    #[error("not an otelvault {table} part: {problem}")]
    Schema {
        /// The table being read.
        table: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// A manifest that cannot be used; the message says what to do.
    #[error("{0}")]
    Manifest(String),
    /// Another compaction of the archive holds its lease.
    #[error(
        "another compaction of this archive is running ({holder}); its lease ends within {seconds_left} s unless it is renewed: run again after it"
    )]
    Busy {
        /// Who holds the lease.
        holder: String,
        /// Seconds until the lease ends.
        seconds_left: u64,
    },
    /// The store failed.
    #[error("{action}: {source}")]
    Storage {
        /// What was being done.
        action: String,
        /// The storage error.
        #[source]
        source: otelvault_storage::StorageError,
    },
    /// A lossless column holds bytes that are not the protobuf they should be.
    #[error("invalid {column} in row {row}: {source}")]
    Protobuf {
        /// The column.
        column: &'static str,
        /// The row, counted from 0 in the file.
        row: usize,
        /// What prost reported.
        #[source]
        source: prost::DecodeError,
    },
}

/// Reads a part of `signal` back into a batch (for replay and tests).
pub fn read_part(signal: Signal, part: Bytes) -> Result<Batch, CompactError> {
    Ok(match signal {
        Signal::Traces => Batch::Traces(traces::read(part)?),
        Signal::Logs => Batch::Logs(logs::read(part)?),
        Signal::Metrics => Batch::Metrics(metrics::read(part)?),
    })
}

/// A SQL table of the compacted tier: the rows of one signal (of one
/// metric type), in a directory of their own, so that an engine pointed at
/// the directory reads that table's parts and no other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    /// Its SQL name: the ClickHouse exporter's (`otel_traces`, …).
    pub name: &'static str,
    /// The signal whose items are its rows.
    pub signal: Signal,
    /// Its directory under `parquet/`; parts are in
    /// `parquet/{dir}/year=YYYY/month=MM/day=DD/hour=HH/`.
    pub dir: &'static str,
    /// Its time column (what `Timestamp` is for spans and logs).
    pub time_column: &'static str,
}

/// Every table: spans, log records, then data points of each metric type.
pub const TABLES: [Table; 7] = [
    table("otel_traces", Signal::Traces, "traces", "Timestamp"),
    table("otel_logs", Signal::Logs, "logs", "Timestamp"),
    table(
        "otel_metrics_gauge",
        Signal::Metrics,
        "metrics/gauge",
        "TimeUnix",
    ),
    table(
        "otel_metrics_sum",
        Signal::Metrics,
        "metrics/sum",
        "TimeUnix",
    ),
    table(
        "otel_metrics_histogram",
        Signal::Metrics,
        "metrics/histogram",
        "TimeUnix",
    ),
    table(
        "otel_metrics_exponential_histogram",
        Signal::Metrics,
        "metrics/exponential_histogram",
        "TimeUnix",
    ),
    table(
        "otel_metrics_summary",
        Signal::Metrics,
        "metrics/summary",
        "TimeUnix",
    ),
];

/// Every table SQL engines read: the parts' ([`TABLES`]), then the
/// indexes' ([`index::INDEXES`]).
pub fn all_tables() -> impl Iterator<Item = &'static Table> {
    TABLES.iter().chain(&index::INDEXES)
}

const fn table(
    name: &'static str,
    signal: Signal,
    dir: &'static str,
    time_column: &'static str,
) -> Table {
    Table {
        name,
        signal,
        dir,
        time_column,
    }
}

impl Table {
    /// The columns its parts have, in order: what the writer writes, and
    /// what [`sql`] declares.
    pub fn schema(&self) -> Result<arrow_schema::SchemaRef, CompactError> {
        if index::INDEXES.iter().any(|t| t.name == self.name) {
            return index::schema_of(self);
        }
        match (self.signal, metrics::MetricType::of_table(self)) {
            (Signal::Traces, _) => traces::schema(),
            (Signal::Logs, _) => logs::schema(),
            (Signal::Metrics, Some(kind)) => metrics::schema(kind),
            (Signal::Metrics, None) => Err(CompactError::Schema {
                table: self.name,
                problem: "not a metric type's table".into(),
            }),
        }
    }

    /// The tables of a signal.
    pub fn of(signal: Signal) -> impl Iterator<Item = &'static Table> {
        TABLES.iter().filter(move |t| t.signal == signal)
    }
}

/// A part file to store: its table, rows, bytes.
pub type Part = (&'static Table, usize, Vec<u8>);

/// Writes raw objects of one signal (each with its index in the hour's
/// manifest) as parts: one for traces or logs, one per metric type the
/// objects hold, and counts their rows in `indexes` as they are written.
/// Objects of another signal than the first are left out.
pub fn write_parts(
    objects: &[(u32, Batch)],
    indexes: &mut HourIndexes,
) -> Result<Vec<Part>, CompactError> {
    let rows = objects.iter().map(|(_, b)| b.item_count()).sum();
    macro_rules! requests {
        ($variant:ident) => {
            objects
                .iter()
                .filter_map(|(i, b)| match b {
                    Batch::$variant(r) => Some((*i, r)),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
    }
    Ok(match objects.first().map(|(_, b)| b.signal()) {
        None => Vec::new(),
        Some(Signal::Traces) => vec![(
            &TABLES[0],
            rows,
            traces::write(&requests!(Traces), &mut |batch, slice| {
                indexes.add_written(batch, slice)
            })?,
        )],
        Some(Signal::Logs) => vec![(
            &TABLES[1],
            rows,
            logs::write(&requests!(Logs), &mut |batch, slice| {
                indexes.add_written(batch, slice)
            })?,
        )],
        Some(Signal::Metrics) => metrics::write(&requests!(Metrics), &mut |batch, slice| {
            indexes.add_written(batch, slice)
        })?
        .into_iter()
        .map(|(kind, rows, bytes)| (kind.table(), rows, bytes))
        .collect(),
    })
}
