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
    BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder,
    UInt32Builder,
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
    Group, Lossless, Placed, ResourceGroup, append_map, map, micros, nothing, place, read_part,
    record_batch, signed, timestamps, write_part,
};

pub(crate) const TABLE: &str = "metrics";
pub(crate) const ITEM_COLUMN: &str = "OtlpMetric";

/// `OtlpMetric` holds the single-point metric whole.
pub(crate) const LOSSLESS: Lossless<Metric> = Lossless {
    table: TABLE,
    column: ITEM_COLUMN,
    stored: |metric| metric.encode_to_vec(),
    restored_from: &[],
    restore: nothing,
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
pub fn write(
    objects: &[(u32, &ExportMetricsServiceRequest)],
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
        let columns = columns(kind, &rows)?;
        let bytes = write_part(&rows, "TimeUnix", columns, &LOSSLESS, &["ServiceName"])?;
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
    let n = rows.len();
    let strings = || StringBuilder::with_capacity(n, n * 16);
    let (mut name, mut description, mut unit) = (strings(), strings(), strings());
    let mut attributes = map();
    let mut start = timestamps(n);
    let mut flags = UInt32Builder::with_capacity(n);
    let mut value = Float64Builder::with_capacity(n);
    let mut temporality = Int32Builder::with_capacity(n);
    let mut monotonic = BooleanBuilder::with_capacity(n);
    let (mut count, mut zero_count) = (
        Int64Builder::with_capacity(n),
        Int64Builder::with_capacity(n),
    );
    let (mut sum, mut min, mut max) = (
        Float64Builder::with_capacity(n),
        Float64Builder::with_capacity(n),
        Float64Builder::with_capacity(n),
    );
    let mut scale = Int32Builder::with_capacity(n);
    let (mut positive_offset, mut negative_offset) = (
        Int32Builder::with_capacity(n),
        Int32Builder::with_capacity(n),
    );
    let counts = || ListBuilder::new(Int64Builder::new());
    let all_signed = |counts: &[u64]| counts.iter().map(|c| signed(*c)).collect::<Vec<_>>();
    let floats = || ListBuilder::new(Float64Builder::new());
    let (mut bucket_counts, mut positive_counts, mut negative_counts) =
        (counts(), counts(), counts());
    let (mut bounds, mut quantiles, mut quantile_values) = (floats(), floats(), floats());

    for row in rows {
        let m = row.item;
        let (_, start_time, point_flags, point_attributes) = point_fields(m);
        name.append_value(&m.name);
        description.append_value(&m.description);
        unit.append_value(&m.unit);
        append_map(&mut attributes, point_attributes)?;
        start.append_value(micros(start_time));
        flags.append_value(point_flags);
        match &m.data {
            Some(Data::Gauge(g)) => value.append_option(g.data_points.first().map(number)),
            Some(Data::Sum(s)) => {
                value.append_option(s.data_points.first().map(number));
                temporality.append_value(s.aggregation_temporality);
                monotonic.append_value(s.is_monotonic);
            }
            Some(Data::Histogram(h)) => {
                temporality.append_value(h.aggregation_temporality);
                let p = h.data_points.first().cloned().unwrap_or_default();
                count.append_value(signed(p.count));
                sum.append_option(p.sum);
                min.append_option(p.min);
                max.append_option(p.max);
                bucket_counts
                    .values()
                    .append_slice(&all_signed(&p.bucket_counts));
                bucket_counts.append(true);
                bounds.values().append_slice(&p.explicit_bounds);
                bounds.append(true);
            }
            Some(Data::ExponentialHistogram(h)) => {
                temporality.append_value(h.aggregation_temporality);
                let p = h.data_points.first().cloned().unwrap_or_default();
                count.append_value(signed(p.count));
                sum.append_option(p.sum);
                min.append_option(p.min);
                max.append_option(p.max);
                scale.append_value(p.scale);
                zero_count.append_value(signed(p.zero_count));
                let positive = p.positive.unwrap_or_default();
                let negative = p.negative.unwrap_or_default();
                positive_offset.append_value(positive.offset);
                positive_counts
                    .values()
                    .append_slice(&all_signed(&positive.bucket_counts));
                positive_counts.append(true);
                negative_offset.append_value(negative.offset);
                negative_counts
                    .values()
                    .append_slice(&all_signed(&negative.bucket_counts));
                negative_counts.append(true);
            }
            Some(Data::Summary(s)) => {
                let p = s.data_points.first().cloned().unwrap_or_default();
                count.append_value(signed(p.count));
                sum.append_value(p.sum);
                for q in &p.quantile_values {
                    quantiles.values().append_value(q.quantile);
                    quantile_values.values().append_value(q.value);
                }
                quantiles.append(true);
                quantile_values.append(true);
            }
            None => {}
        }
    }
    let mut out: Vec<(&'static str, ArrayRef)> = vec![
        ("MetricName", Arc::new(name.finish())),
        ("MetricDescription", Arc::new(description.finish())),
        ("MetricUnit", Arc::new(unit.finish())),
        ("Attributes", Arc::new(attributes.finish())),
        ("StartTimeUnix", Arc::new(start.finish())),
        ("Flags", Arc::new(flags.finish())),
    ];
    let mut add = |column: &'static str, array: ArrayRef| out.push((column, array));
    match kind {
        MetricType::Gauge => add("Value", Arc::new(value.finish())),
        MetricType::Sum => {
            add("Value", Arc::new(value.finish()));
            add("AggregationTemporality", Arc::new(temporality.finish()));
            add("IsMonotonic", Arc::new(monotonic.finish()));
        }
        MetricType::Histogram => {
            add("AggregationTemporality", Arc::new(temporality.finish()));
            add("Count", Arc::new(count.finish()));
            add("Sum", Arc::new(sum.finish()));
            add("BucketCounts", Arc::new(bucket_counts.finish()));
            add("ExplicitBounds", Arc::new(bounds.finish()));
            add("Min", Arc::new(min.finish()));
            add("Max", Arc::new(max.finish()));
        }
        MetricType::ExponentialHistogram => {
            add("AggregationTemporality", Arc::new(temporality.finish()));
            add("Count", Arc::new(count.finish()));
            add("Sum", Arc::new(sum.finish()));
            add("Scale", Arc::new(scale.finish()));
            add("ZeroCount", Arc::new(zero_count.finish()));
            add("PositiveOffset", Arc::new(positive_offset.finish()));
            add("PositiveBucketCounts", Arc::new(positive_counts.finish()));
            add("NegativeOffset", Arc::new(negative_offset.finish()));
            add("NegativeBucketCounts", Arc::new(negative_counts.finish()));
            add("Min", Arc::new(min.finish()));
            add("Max", Arc::new(max.finish()));
        }
        MetricType::Summary => {
            add("Count", Arc::new(count.finish()));
            add("Sum", Arc::new(sum.finish()));
            add("ValueAtQuantiles.Quantile", Arc::new(quantiles.finish()));
            add("ValueAtQuantiles.Value", Arc::new(quantile_values.finish()));
        }
    }
    Ok(out)
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
