//! The metrics tables: one row per data point, one table per metric type
//! (`gauge`, `sum`, `histogram`, `exponential_histogram`, `summary`), as
//! the ClickHouse exporter's `otel_metrics_*` tables.
//!
//! SQL columns of every type: `ServiceName`, `TimeUnix` (the point's time),
//! `MetricName`, `MetricDescription`, `MetricUnit`, `Attributes`
//! (`map<string,string>`), `StartTimeUnix`, `Flags`, `ResourceAttributes`,
//! `ScopeName`, `ScopeVersion`, `ResourceSchemaUrl`, `ScopeSchemaUrl`; then
//! `Value` (gauge, sum), `AggregationTemporality` and `IsMonotonic` (sum),
//! `Count`, `Sum`, `BucketCounts`, `ExplicitBounds`, `Min`, `Max`
//! (histogram), `Count`, `Sum`, `Scale`, `ZeroCount`, `PositiveOffset`,
//! `PositiveBucketCounts`, `NegativeOffset`, `NegativeBucketCounts`, `Min`,
//! `Max` (exponential histogram), `Count`, `Sum`,
//! `ValueAtQuantiles.Quantile`, `ValueAtQuantiles.Value` (summary).
//! Lossless columns: `OtlpResource`, `OtlpScope`, and `OtlpMetric`, the
//! metric with that one point.

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder, MapBuilder,
    StringBuilder, TimestampMicrosecondBuilder, UInt32Builder,
};
use bytes::Bytes;
use otelvault_codec::proto::collector_metrics::ExportMetricsServiceRequest;
use otelvault_codec::proto::common::{InstrumentationScope, KeyValue};
use otelvault_codec::proto::metrics::{
    ExponentialHistogram, Gauge, Histogram, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Sum, Summary, metric::Data, number_data_point,
};
use otelvault_codec::proto::resource::Resource;
use prost::Message as _;

use crate::CompactError;
use crate::table::{
    Encodings, Group, INDEX_COLUMN, Lossless, OBJECT_COLUMN, Observe, Placed, ResourceGroup,
    append_map, encode_into, map_for, micros, place, read_part, record_batch, signed, timestamps,
    write_part,
};

pub(crate) const TABLE: &str = "metrics";
pub(crate) const ITEM_COLUMN: &str = "OtlpMetric";

/// `OtlpMetric` holds the single-point metric whole.
pub(crate) const LOSSLESS: Lossless<Metric> = Lossless {
    table: TABLE,
    column: ITEM_COLUMN,
    stored: |metric, out| encode_into(metric, out),
    restored_from: &[],
    restore: |_, i, item| {
        Metric::decode(item).map_err(|source| CompactError::Protobuf {
            column: ITEM_COLUMN,
            row: i,
            source,
        })
    },
    earlier: None,
};

/// The metric types, each a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MetricType {
    /// `otel_metrics_gauge`.
    Gauge,
    /// `otel_metrics_sum`.
    Sum,
    /// `otel_metrics_histogram`.
    Histogram,
    /// `otel_metrics_exponential_histogram`.
    ExponentialHistogram,
    /// `otel_metrics_summary`.
    Summary,
}

impl MetricType {
    /// Every type, in table order.
    pub const ALL: [MetricType; 5] = [
        MetricType::Gauge,
        MetricType::Sum,
        MetricType::Histogram,
        MetricType::ExponentialHistogram,
        MetricType::Summary,
    ];

    /// Its table.
    pub fn table(self) -> &'static crate::Table {
        &crate::TABLES[2 + self as usize]
    }

    /// The type whose table is `table`.
    pub fn of_table(table: &crate::Table) -> Option<MetricType> {
        MetricType::ALL.into_iter().find(|t| t.table() == table)
    }

    fn of(data: &Data) -> MetricType {
        match data {
            Data::Gauge(_) => MetricType::Gauge,
            Data::Sum(_) => MetricType::Sum,
            Data::Histogram(_) => MetricType::Histogram,
            Data::ExponentialHistogram(_) => MetricType::ExponentialHistogram,
            Data::Summary(_) => MetricType::Summary,
        }
    }
}

/// A metric once per data point, each copy holding that point only.
pub fn single_points(m: &Metric) -> Vec<Metric> {
    let with = |data: Data| Metric {
        name: m.name.clone(),
        description: m.description.clone(),
        unit: m.unit.clone(),
        metadata: m.metadata.clone(),
        data: Some(data),
    };
    match &m.data {
        None => Vec::new(),
        Some(Data::Gauge(g)) => g
            .data_points
            .iter()
            .map(|p| {
                with(Data::Gauge(Gauge {
                    data_points: vec![p.clone()],
                }))
            })
            .collect(),
        Some(Data::Sum(s)) => s
            .data_points
            .iter()
            .map(|p| {
                with(Data::Sum(Sum {
                    data_points: vec![p.clone()],
                    aggregation_temporality: s.aggregation_temporality,
                    is_monotonic: s.is_monotonic,
                }))
            })
            .collect(),
        Some(Data::Histogram(h)) => h
            .data_points
            .iter()
            .map(|p| {
                with(Data::Histogram(Histogram {
                    data_points: vec![p.clone()],
                    aggregation_temporality: h.aggregation_temporality,
                }))
            })
            .collect(),
        Some(Data::ExponentialHistogram(h)) => h
            .data_points
            .iter()
            .map(|p| {
                with(Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![p.clone()],
                    aggregation_temporality: h.aggregation_temporality,
                }))
            })
            .collect(),
        Some(Data::Summary(s)) => s
            .data_points
            .iter()
            .map(|p| {
                with(Data::Summary(Summary {
                    data_points: vec![p.clone()],
                }))
            })
            .collect(),
    }
}

/// The one point of a single-point metric: its time, start time, flags
/// and attributes.
fn point_fields(m: &Metric) -> (u64, u64, u32, &[KeyValue]) {
    macro_rules! first {
        ($d:expr) => {
            $d.data_points.first().map_or((0, 0, 0, &[][..]), |p| {
                (
                    p.time_unix_nano,
                    p.start_time_unix_nano,
                    p.flags,
                    &p.attributes[..],
                )
            })
        };
    }
    match &m.data {
        None => (0, 0, 0, &[]),
        Some(Data::Gauge(d)) => first!(d),
        Some(Data::Sum(d)) => first!(d),
        Some(Data::Histogram(d)) => first!(d),
        Some(Data::ExponentialHistogram(d)) => first!(d),
        Some(Data::Summary(d)) => first!(d),
    }
}

/// The data points of one metric of a raw object, each as a single-point
/// metric numbered in its object: type, resource, its schema URL, scope,
/// its schema URL, object, points.
type Points<'a> = (
    MetricType,
    Option<&'a Resource>,
    &'a str,
    Option<&'a InstrumentationScope>,
    &'a str,
    u32,
    Vec<(u32, Metric)>,
);

/// Writes the data points of raw objects (each with its index in the
/// hour's manifest) as one Parquet part per metric type that they hold,
/// each sorted by service then time. Points are numbered in document
/// order in their object, across types, as readers of the object count.
pub(crate) fn write(
    objects: &[(u32, &ExportMetricsServiceRequest)],
    observe: Observe<'_, Metric>,
) -> Result<Vec<(MetricType, usize, Vec<u8>)>, CompactError> {
    let mut points: Vec<Points<'_>> = Vec::new();
    for (object, request) in objects {
        let mut next = 0u32;
        for rm in &request.resource_metrics {
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    let Some(kind) = m.data.as_ref().map(MetricType::of) else {
                        continue;
                    };
                    let numbered = single_points(m)
                        .into_iter()
                        .map(|single| {
                            next += 1;
                            (next - 1, single)
                        })
                        .collect();
                    points.push((
                        kind,
                        rm.resource.as_ref(),
                        &rm.schema_url,
                        sm.scope.as_ref(),
                        &sm.schema_url,
                        *object,
                        numbered,
                    ));
                }
            }
        }
    }
    let mut parts = Vec::new();
    for kind in MetricType::ALL {
        let groups: Vec<Group<'_, Metric>> = points
            .iter()
            .filter(|p| p.0 == kind)
            .map(|(_, r, rs, s, ss, object, singles)| {
                let items = singles.iter().map(|(i, m)| (*i, m)).collect();
                (*r, *rs, *s, *ss, *object, items)
            })
            .collect();
        let rows = place(&groups, |m: &Metric| point_fields(m).0);
        if rows.is_empty() {
            continue;
        }
        let bytes = write_part(
            &rows,
            "TimeUnix",
            |slice| columns(kind, slice),
            &LOSSLESS,
            &Encodings {
                bloom_filters: &["ServiceName"],
                no_dictionary: &[],
                // A minute's points share their time: the dictionary
                // holds each once.
                delta: &[OBJECT_COLUMN, INDEX_COLUMN],
                levels: &[],
            },
            &mut *observe,
        )?;
        parts.push((kind, rows.len(), bytes));
    }
    Ok(parts)
}

/// The columns of `kind`'s table, as parts have them.
pub(crate) fn schema(kind: MetricType) -> Result<arrow_schema::SchemaRef, CompactError> {
    Ok(record_batch(&[], "TimeUnix", columns(kind, &[])?, &LOSSLESS)?.schema())
}

fn columns(
    kind: MetricType,
    rows: &[Placed<'_, Metric>],
) -> Result<Vec<(&'static str, ArrayRef)>, CompactError> {
    let mut columns = MetricColumns::new(rows);
    for row in rows {
        columns.push(row.item)?;
    }
    Ok(columns.finish(kind))
}

type Counts = ListBuilder<Int64Builder>;
type Floats = ListBuilder<Float64Builder>;

/// The columns of every metric table, filled row by row; a table keeps
/// those of its type.
struct MetricColumns {
    name: StringBuilder,
    description: StringBuilder,
    unit: StringBuilder,
    attributes: MapBuilder<StringBuilder, StringBuilder>,
    start: TimestampMicrosecondBuilder,
    flags: UInt32Builder,
    value: Float64Builder,
    temporality: Int32Builder,
    monotonic: BooleanBuilder,
    count: Int64Builder,
    zero_count: Int64Builder,
    sum: Float64Builder,
    min: Float64Builder,
    max: Float64Builder,
    scale: Int32Builder,
    positive_offset: Int32Builder,
    negative_offset: Int32Builder,
    bucket_counts: Counts,
    positive_counts: Counts,
    negative_counts: Counts,
    bounds: Floats,
    quantiles: Floats,
    quantile_values: Floats,
}

fn append_counts(list: &mut Counts, counts: &[u64]) {
    for c in counts {
        list.values().append_value(signed(*c));
    }
    list.append(true);
}

impl MetricColumns {
    fn new(rows: &[Placed<'_, Metric>]) -> Self {
        let n = rows.len();
        let strings = || StringBuilder::with_capacity(n, n * 16);
        let counts = || ListBuilder::new(Int64Builder::new());
        let floats = || ListBuilder::new(Float64Builder::new());
        MetricColumns {
            name: strings(),
            description: strings(),
            unit: strings(),
            attributes: map_for(rows.iter().map(|row| point_fields(row.item).3)),
            start: timestamps(n),
            flags: UInt32Builder::with_capacity(n),
            value: Float64Builder::with_capacity(n),
            temporality: Int32Builder::with_capacity(n),
            monotonic: BooleanBuilder::with_capacity(n),
            count: Int64Builder::with_capacity(n),
            zero_count: Int64Builder::with_capacity(n),
            sum: Float64Builder::with_capacity(n),
            min: Float64Builder::with_capacity(n),
            max: Float64Builder::with_capacity(n),
            scale: Int32Builder::with_capacity(n),
            positive_offset: Int32Builder::with_capacity(n),
            negative_offset: Int32Builder::with_capacity(n),
            bucket_counts: counts(),
            positive_counts: counts(),
            negative_counts: counts(),
            bounds: floats(),
            quantiles: floats(),
            quantile_values: floats(),
        }
    }

    /// One metric of one data point.
    fn push(&mut self, m: &Metric) -> Result<(), CompactError> {
        let (_, start_time, point_flags, point_attributes) = point_fields(m);
        self.name.append_value(&m.name);
        self.description.append_value(&m.description);
        self.unit.append_value(&m.unit);
        append_map(&mut self.attributes, point_attributes)?;
        self.start.append_value(micros(start_time));
        self.flags.append_value(point_flags);
        match &m.data {
            Some(Data::Gauge(g)) => self.value.append_option(g.data_points.first().map(number)),
            Some(Data::Sum(s)) => {
                self.value.append_option(s.data_points.first().map(number));
                self.temporality.append_value(s.aggregation_temporality);
                self.monotonic.append_value(s.is_monotonic);
            }
            Some(Data::Histogram(h)) => self.histogram(h),
            Some(Data::ExponentialHistogram(h)) => self.exponential_histogram(h),
            Some(Data::Summary(s)) => self.summary(s),
            None => {}
        }
        Ok(())
    }

    fn histogram(&mut self, h: &Histogram) {
        self.temporality.append_value(h.aggregation_temporality);
        let p = h.data_points.first().cloned().unwrap_or_default();
        self.count.append_value(signed(p.count));
        self.sum.append_option(p.sum);
        self.min.append_option(p.min);
        self.max.append_option(p.max);
        append_counts(&mut self.bucket_counts, &p.bucket_counts);
        self.bounds.values().append_slice(&p.explicit_bounds);
        self.bounds.append(true);
    }

    fn exponential_histogram(&mut self, h: &ExponentialHistogram) {
        self.temporality.append_value(h.aggregation_temporality);
        let p = h.data_points.first().cloned().unwrap_or_default();
        self.count.append_value(signed(p.count));
        self.sum.append_option(p.sum);
        self.min.append_option(p.min);
        self.max.append_option(p.max);
        self.scale.append_value(p.scale);
        self.zero_count.append_value(signed(p.zero_count));
        let positive = p.positive.unwrap_or_default();
        let negative = p.negative.unwrap_or_default();
        self.positive_offset.append_value(positive.offset);
        append_counts(&mut self.positive_counts, &positive.bucket_counts);
        self.negative_offset.append_value(negative.offset);
        append_counts(&mut self.negative_counts, &negative.bucket_counts);
    }

    fn summary(&mut self, s: &Summary) {
        let p = s.data_points.first().cloned().unwrap_or_default();
        self.count.append_value(signed(p.count));
        self.sum.append_value(p.sum);
        for q in &p.quantile_values {
            self.quantiles.values().append_value(q.quantile);
            self.quantile_values.values().append_value(q.value);
        }
        self.quantiles.append(true);
        self.quantile_values.append(true);
    }

    /// The columns of `kind`'s table, in its order.
    fn finish(mut self, kind: MetricType) -> Vec<(&'static str, ArrayRef)> {
        let mut out: Vec<(&'static str, ArrayRef)> = vec![
            ("MetricName", Arc::new(self.name.finish())),
            ("MetricDescription", Arc::new(self.description.finish())),
            ("MetricUnit", Arc::new(self.unit.finish())),
            ("Attributes", Arc::new(self.attributes.finish())),
            ("StartTimeUnix", Arc::new(self.start.finish())),
            ("Flags", Arc::new(self.flags.finish())),
        ];
        let mut add = |column: &'static str, array: ArrayRef| out.push((column, array));
        match kind {
            MetricType::Gauge => add("Value", Arc::new(self.value.finish())),
            MetricType::Sum => {
                add("Value", Arc::new(self.value.finish()));
                add(
                    "AggregationTemporality",
                    Arc::new(self.temporality.finish()),
                );
                add("IsMonotonic", Arc::new(self.monotonic.finish()));
            }
            MetricType::Histogram => {
                add(
                    "AggregationTemporality",
                    Arc::new(self.temporality.finish()),
                );
                add("Count", Arc::new(self.count.finish()));
                add("Sum", Arc::new(self.sum.finish()));
                add("BucketCounts", Arc::new(self.bucket_counts.finish()));
                add("ExplicitBounds", Arc::new(self.bounds.finish()));
                add("Min", Arc::new(self.min.finish()));
                add("Max", Arc::new(self.max.finish()));
            }
            MetricType::ExponentialHistogram => {
                add(
                    "AggregationTemporality",
                    Arc::new(self.temporality.finish()),
                );
                add("Count", Arc::new(self.count.finish()));
                add("Sum", Arc::new(self.sum.finish()));
                add("Scale", Arc::new(self.scale.finish()));
                add("ZeroCount", Arc::new(self.zero_count.finish()));
                add("PositiveOffset", Arc::new(self.positive_offset.finish()));
                add(
                    "PositiveBucketCounts",
                    Arc::new(self.positive_counts.finish()),
                );
                add("NegativeOffset", Arc::new(self.negative_offset.finish()));
                add(
                    "NegativeBucketCounts",
                    Arc::new(self.negative_counts.finish()),
                );
                add("Min", Arc::new(self.min.finish()));
                add("Max", Arc::new(self.max.finish()));
            }
            MetricType::Summary => {
                add("Count", Arc::new(self.count.finish()));
                add("Sum", Arc::new(self.sum.finish()));
                add(
                    "ValueAtQuantiles.Quantile",
                    Arc::new(self.quantiles.finish()),
                );
                add(
                    "ValueAtQuantiles.Value",
                    Arc::new(self.quantile_values.finish()),
                );
            }
        }
        out
    }
}

/// A number point's value as a double (integers included), if it has one.
fn number(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(number_data_point::Value::AsDouble(d)) => d,
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        None => f64::NAN,
    }
}

/// Reads a part back into OTLP from its lossless columns: each data point
/// as a metric of its own, with exactly the metric's name, description,
/// unit, metadata and type fields, and its resource and scope.
pub fn read(part: Bytes) -> Result<ExportMetricsServiceRequest, CompactError> {
    Ok(request(read_part(part, &LOSSLESS)?))
}

/// A request of read groups.
pub(crate) fn request(groups: Vec<ResourceGroup<Metric>>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: groups
            .into_iter()
            .map(|g| ResourceMetrics {
                resource: g.resource,
                schema_url: g.schema_url,
                scope_metrics: g
                    .scopes
                    .into_iter()
                    .map(|s| ScopeMetrics {
                        scope: s.scope,
                        schema_url: s.schema_url,
                        metrics: s.items,
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
