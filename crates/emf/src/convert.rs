//! OTLP metrics as EMF events, the way ADOT's `awsemfexporter` converts
//! them:
//! - labels are the data point's attributes (as strings), the scope's name
//!   as `OTelLib`, and the configured resource attributes;
//! - points of one namespace, time, metric type and label set share an
//!   event, one directive over their metrics;
//! - dimension sets are every label, rolled up as configured, or those of
//!   the metric declarations that select the metric;
//! - gauges as values; sums as values, cumulative ones as deltas per stream
//!   (the first point of a stream waits for the second, unless
//!   `retain_initial_value_of_delta_metric`); histograms and exponential
//!   histograms as `Values`/`Counts` with `Count`, `Sum`, `Min`, `Max`;
//!   summaries as statistic sets (deltas when the resource's `receiver` is
//!   `prometheus`); stale, NaN and infinite points are left out.
//!
//! Where it differs from the exporter, on purpose: an event carries its
//! points' time rather than the time of conversion (a replayed or late
//! batch lands on the right minute); a unit CloudWatch does not know is
//! left out rather than passed on (CloudWatch would refuse the directive);
//! explicit-bucket histograms carry their buckets (the exporter sends only
//! the statistic set); and points that would repeat a metric name in an
//! event, or pass [`MAX_METRICS_PER_DIRECTIVE`] metrics, go to another event
//! instead of being dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use otelvault_codec::proto::collector_metrics::ExportMetricsServiceRequest;
use otelvault_codec::proto::common::KeyValue;
use otelvault_codec::proto::metrics::{
    AggregationTemporality, ExponentialHistogramDataPoint, HistogramDataPoint, NumberDataPoint,
    SummaryDataPoint, metric::Data, number_data_point,
};
use otelvault_codec::values::{as_string, string_attribute};
use serde_json::{Value, json};

use crate::config::{Config, Rollup};
use crate::delta::Deltas;
use crate::{
    Directive, Event, MAX_DIMENSIONS, MAX_EVENT_BYTES, MAX_METRICS_PER_DIRECTIVE, MAX_VALUES,
    Metric, cloudwatch_unit, number,
};

/// The label holding the instrumentation scope's name.
pub const OTEL_LIB: &str = "OTelLib";
/// The namespace when neither the settings nor the resource name one.
pub const DEFAULT_NAMESPACE: &str = "default";
/// `flags` bit of a data point with no recorded value.
const NO_RECORDED_VALUE: u32 = 1;

/// Converts OTLP metrics batches; remembers cumulative streams between
/// batches to send their deltas.
#[derive(Debug)]
pub struct Converter {
    config: Config,
    deltas: Mutex<Deltas>,
}

/// The events of one batch, and what was left out of them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Conversion {
    /// The events, in the order of the batch's first point of each.
    pub events: Vec<Event>,
    /// Points sent (a histogram split over events counts once).
    pub points: usize,
    /// First points of cumulative streams, kept to take the next delta from.
    pub first_points: usize,
    /// Points with no recorded value, or NaN or infinite values.
    pub invalid_points: usize,
    /// Points no metric declaration selects.
    pub unselected_points: usize,
    /// Dimension sets of more than [`MAX_DIMENSIONS`] keys, left out.
    pub wide_dimension_sets: usize,
    /// Metrics alone larger than an event may be, left out.
    pub too_large: usize,
}

/// The metric types: points of different types never share an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Gauge,
    Sum,
    Histogram,
    ExponentialHistogram,
    Summary,
}

type Labels = BTreeMap<String, String>;

/// Where a point goes: namespace, time, type and labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    namespace: String,
    timestamp_ms: i64,
    kind: Kind,
    labels: Labels,
}

/// An event being filled: metrics by name (each once), in order.
type Chunk = Vec<(String, Option<&'static str>, Value)>;

impl Converter {
    /// A converter with these settings.
    pub fn new(config: Config) -> Converter {
        Converter {
            config,
            deltas: Mutex::new(Deltas::default()),
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The events of a batch.
    pub fn convert(&self, request: &ExportMetricsServiceRequest) -> Conversion {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        self.convert_at(request, Instant::now(), now_ms)
    }

    /// [`Converter::convert`] at a given time: `now` ages cumulative
    /// streams, `now_ms` stamps points that carry no time.
    pub fn convert_at(
        &self,
        request: &ExportMetricsServiceRequest,
        now: Instant,
        now_ms: i64,
    ) -> Conversion {
        let mut out = Conversion::default();
        // Groups in the order of their first point, and where each is.
        let mut groups: Vec<(GroupKey, Vec<Chunk>)> = Vec::new();
        let mut index: HashMap<GroupKey, usize> = HashMap::new();
        let mut deltas = self
            .deltas
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for rm in &request.resource_metrics {
            let resource: &[KeyValue] = rm.resource.as_ref().map_or(&[], |r| &r.attributes);
            let namespace = self.namespace(resource);
            let prometheus = string_attribute(resource, "receiver") == Some("prometheus");
            let mut base = Labels::new();
            for key in &self.config.resource_dimensions {
                if let Some(kv) = resource.iter().find(|kv| &kv.key == key) {
                    base.insert(key.clone(), as_string(kv.value.as_ref()));
                }
            }
            for sm in &rm.scope_metrics {
                let scope = sm.scope.as_ref().map_or("", |s| s.name.as_str());
                for metric in &sm.metrics {
                    let unit = self.unit(&metric.name, &metric.unit);
                    let stream = Stream {
                        namespace: &namespace,
                        name: &metric.name,
                        base: &base,
                        scope,
                    };
                    let Some(data) = &metric.data else { continue };
                    let (kind, points) =
                        self.points(&stream, data, prometheus, &mut deltas, now, &mut out);
                    points.into_iter().for_each(|point| {
                        let key = GroupKey {
                            namespace: namespace.clone(),
                            timestamp_ms: if point.timestamp_ms > 0 {
                                point.timestamp_ms
                            } else {
                                now_ms
                            },
                            kind,
                            labels: point.labels,
                        };
                        let at = match index.get(&key) {
                            Some(&at) => at,
                            None => {
                                index.insert(key.clone(), groups.len());
                                groups.push((key, Vec::new()));
                                groups.len() - 1
                            }
                        };
                        let chunks = &mut groups[at].1;
                        for value in point.values {
                            add(chunks, &metric.name, unit, value);
                        }
                    });
                }
            }
        }
        drop(deltas);
        drop(index);
        for (key, chunks) in groups {
            for chunk in chunks {
                let event = self.event(&key, chunk, &mut out);
                out.events.extend(fit(event, &mut out.too_large));
            }
        }
        out
    }

    /// A metric's points, converted, and its type.
    fn points(
        &self,
        stream: &Stream<'_>,
        data: &Data,
        prometheus: bool,
        deltas: &mut Deltas,
        now: Instant,
        out: &mut Conversion,
    ) -> (Kind, Vec<Point>) {
        let (kind, points): (Kind, Vec<Option<Point>>) = match data {
            Data::Gauge(g) => (
                Kind::Gauge,
                g.data_points
                    .iter()
                    .map(|p| self.number(stream, p, false, deltas, now, out))
                    .collect(),
            ),
            Data::Sum(s) => {
                let cumulative =
                    s.aggregation_temporality == AggregationTemporality::Cumulative as i32;
                (
                    Kind::Sum,
                    s.data_points
                        .iter()
                        .map(|p| self.number(stream, p, cumulative, deltas, now, out))
                        .collect(),
                )
            }
            Data::Histogram(h) => (
                Kind::Histogram,
                h.data_points
                    .iter()
                    .map(|p| histogram(stream, p, out))
                    .collect(),
            ),
            Data::ExponentialHistogram(h) => (
                Kind::ExponentialHistogram,
                h.data_points
                    .iter()
                    .map(|p| exponential_histogram(stream, p, out))
                    .collect(),
            ),
            Data::Summary(s) => (
                Kind::Summary,
                s.data_points
                    .iter()
                    .map(|p| self.summary(stream, p, prometheus, deltas, now, out))
                    .collect(),
            ),
        };
        (kind, points.into_iter().flatten().collect())
    }

    fn namespace(&self, resource: &[KeyValue]) -> String {
        if let Some(ns) = &self.config.namespace {
            return ns.clone();
        }
        match (
            string_attribute(resource, "service.namespace"),
            string_attribute(resource, "service.name"),
        ) {
            (Some(ns), Some(name)) => format!("{ns}/{name}"),
            (None, Some(one)) | (Some(one), None) => one.to_owned(),
            (None, None) => DEFAULT_NAMESPACE.to_owned(),
        }
    }

    fn unit(&self, name: &str, unit: &str) -> Option<&'static str> {
        if let Some(d) = self
            .config
            .descriptors
            .iter()
            .find(|d| d.metric_name == name)
            && (unit.is_empty() || d.overwrite)
        {
            return Some(d.unit);
        }
        cloudwatch_unit(unit)
    }

    fn number(
        &self,
        stream: &Stream<'_>,
        p: &NumberDataPoint,
        cumulative: bool,
        deltas: &mut Deltas,
        now: Instant,
        out: &mut Conversion,
    ) -> Option<Point> {
        let value = match p.value {
            Some(number_data_point::Value::AsDouble(d)) => d,
            #[allow(clippy::cast_precision_loss)] // As the exporter: float64.
            Some(number_data_point::Value::AsInt(i)) => i as f64,
            None => f64::NAN,
        };
        if !recorded(p.flags, &[Some(value)], out) {
            return None;
        }
        let labels = stream.labels(&p.attributes);
        let value = if cumulative {
            match *self.delta(stream, &labels, &[value], deltas, now, out)? {
                [delta] => delta,
                _ => value,
            }
        } else {
            value
        };
        Some(Point {
            timestamp_ms: millis(p.time_unix_nano),
            labels,
            values: vec![number(value)?],
        })
    }

    fn summary(
        &self,
        stream: &Stream<'_>,
        p: &SummaryDataPoint,
        prometheus: bool,
        deltas: &mut Deltas,
        now: Instant,
        out: &mut Conversion,
    ) -> Option<Point> {
        let figures: Vec<Option<f64>> = std::iter::once(p.sum)
            .chain(p.quantile_values.iter().map(|q| q.value))
            .map(Some)
            .collect();
        if !recorded(p.flags, &figures, out) {
            return None;
        }
        let labels = stream.labels(&p.attributes);
        #[allow(clippy::cast_precision_loss)]
        let (mut count, mut sum) = (p.count as f64, p.sum);
        if prometheus
            && let [c, s] = *self.delta(stream, &labels, &[count, sum], deltas, now, out)?
        {
            (count, sum) = (c, s);
        }
        let (min, max) = match (p.quantile_values.first(), p.quantile_values.last()) {
            (Some(first), Some(last)) => (first.value, last.value),
            _ => (0.0, 0.0),
        };
        Some(Point {
            timestamp_ms: millis(p.time_unix_nano),
            labels,
            values: vec![json!({"Count": count, "Sum": sum, "Min": min, "Max": max})],
        })
    }

    /// The deltas of a cumulative stream's figures; `None` (counted) for
    /// the first figures, unless they are to be sent as they are.
    fn delta<'v>(
        &self,
        stream: &Stream<'_>,
        labels: &Labels,
        current: &'v [f64],
        deltas: &mut Deltas,
        now: Instant,
        out: &mut Conversion,
    ) -> Option<std::borrow::Cow<'v, [f64]>> {
        let mut key = format!("{}\u{1f}{}", stream.namespace, stream.name);
        for (k, v) in labels {
            key.push('\u{1f}');
            key.push_str(k);
            key.push('\u{1e}');
            key.push_str(v);
        }
        match deltas.delta(key, current, now) {
            Some(delta) => Some(delta.into()),
            None if self.config.retain_initial_value_of_delta_metric => Some(current.into()),
            None => {
                out.first_points += 1;
                None
            }
        }
    }

    /// The event of a chunk of metrics sharing a group: its directives
    /// from the settings (none when nothing is selected).
    fn event(&self, key: &GroupKey, chunk: Chunk, out: &mut Conversion) -> Event {
        let labels = &key.labels;
        let rollup = rollup(self.config.rollup, labels);
        let mut directives = Vec::new();
        let mut keep =
            |dimensions: Vec<Vec<String>>, metrics: Vec<Metric>, out: &mut Conversion| {
                let mut sets: Vec<Vec<String>> = Vec::new();
                for set in dimensions {
                    if set.len() > MAX_DIMENSIONS {
                        out.wide_dimension_sets += 1;
                    } else if !sets.contains(&set) {
                        sets.push(set);
                    }
                }
                if !sets.is_empty() && !metrics.is_empty() {
                    directives.push(Directive {
                        namespace: key.namespace.clone(),
                        dimensions: sets,
                        metrics,
                    });
                }
            };
        let metrics = chunk.iter().map(|(name, unit, _)| Metric {
            name: name.clone(),
            unit: *unit,
        });
        if self.config.declarations.is_empty() {
            let all: Vec<String> = labels.keys().cloned().collect();
            let single_label = all.len() <= 1 || (all.len() == 2 && labels.contains_key(OTEL_LIB));
            let mut dimensions = if !rollup.is_empty() && single_label {
                Vec::new()
            } else {
                vec![all]
            };
            dimensions.extend(rollup);
            keep(dimensions, metrics.collect(), out);
        } else {
            let matched: Vec<_> = self
                .config
                .declarations
                .iter()
                .filter(|d| d.matches_labels(labels))
                .collect();
            // Metrics grouped by the declarations that select them.
            let mut by_declarations: Vec<(Vec<usize>, Vec<Metric>)> = Vec::new();
            for metric in metrics {
                let which: Vec<usize> = (0..matched.len())
                    .filter(|&i| matched[i].matches_name(&metric.name))
                    .collect();
                if which.is_empty() {
                    out.unselected_points += 1;
                } else if let Some((_, group)) =
                    by_declarations.iter_mut().find(|(w, _)| *w == which)
                {
                    group.push(metric);
                } else {
                    by_declarations.push((which, vec![metric]));
                }
            }
            for (which, metrics) in by_declarations {
                let mut dimensions: Vec<Vec<String>> = which
                    .iter()
                    .flat_map(|&i| matched[i].dimensions_for(labels).cloned())
                    .collect();
                dimensions.extend(rollup.iter().cloned());
                keep(dimensions, metrics, out);
            }
        }
        let named: std::collections::BTreeSet<&str> = directives
            .iter()
            .flat_map(|d| d.metrics.iter().map(|m| m.name.as_str()))
            .collect();
        let values = chunk
            .iter()
            .filter(|(name, _, _)| named.contains(name.as_str()))
            .map(|(name, _, value)| (name.clone(), value.clone()))
            .collect();
        if !directives.is_empty() {
            out.points += named.len();
        }
        Event {
            timestamp_ms: key.timestamp_ms,
            directives,
            labels: labels.clone(),
            values,
        }
    }
}

/// What the points of one metric share.
struct Stream<'a> {
    namespace: &'a str,
    name: &'a str,
    /// Labels from the resource.
    base: &'a Labels,
    /// The scope's name (`OTelLib` unless empty).
    scope: &'a str,
}

impl Stream<'_> {
    fn labels(&self, attributes: &[KeyValue]) -> Labels {
        let mut labels = self.base.clone();
        for kv in attributes {
            labels.insert(kv.key.clone(), as_string(kv.value.as_ref()));
        }
        if !self.scope.is_empty() {
            labels.insert(OTEL_LIB.to_owned(), self.scope.to_owned());
        }
        labels
    }
}

/// One data point's labels, time and values (several when a histogram is
/// split).
struct Point {
    timestamp_ms: i64,
    labels: Labels,
    values: Vec<Value>,
}

/// Adds a metric's value to the first chunk that has room and not the
/// name yet, or to a new chunk.
fn add(chunks: &mut Vec<Chunk>, name: &str, unit: Option<&'static str>, value: Value) {
    let entry = (name.to_owned(), unit, value);
    match chunks
        .iter_mut()
        .find(|c| c.len() < MAX_METRICS_PER_DIRECTIVE && !c.iter().any(|(n, _, _)| n == name))
    {
        Some(chunk) => chunk.push(entry),
        None => chunks.push(vec![entry]),
    }
}

/// The rolled-up dimension sets of a label set (the exporter's
/// `dimensionRollup`): each sorted, `OTelLib` in every one when present.
fn rollup(option: Rollup, labels: &Labels) -> Vec<Vec<String>> {
    let zero: Vec<String> = if labels.contains_key(OTEL_LIB) {
        vec![OTEL_LIB.to_owned()]
    } else {
        Vec::new()
    };
    let others: Vec<&String> = labels.keys().filter(|k| *k != OTEL_LIB).collect();
    let mut sets = Vec::new();
    if option == Rollup::ZeroAndSingle && !others.is_empty() {
        sets.push(zero.clone());
    }
    if matches!(option, Rollup::ZeroAndSingle | Rollup::Single) {
        for label in others {
            let mut set = zero.clone();
            set.push(label.clone());
            set.sort();
            sets.push(set);
        }
    }
    sets
}

fn millis(nanos: u64) -> i64 {
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// Whether a point has a recorded value and finite figures; counts it
/// when not.
fn recorded(flags: u32, figures: &[Option<f64>], out: &mut Conversion) -> bool {
    let ok = flags & NO_RECORDED_VALUE == 0 && figures.iter().flatten().all(|f| f.is_finite());
    if !ok {
        out.invalid_points += 1;
    }
    ok
}

/// A histogram bucket: its bounds, the value standing for it, its count.
struct Bucket {
    low: f64,
    high: f64,
    value: f64,
    count: u64,
}

/// An explicit-bucket histogram as `Values`/`Counts`: each non-empty
/// bucket stands as its midpoint; the open-ended first and last buckets as
/// the midpoint with the point's min or max, or their one bound.
fn histogram(stream: &Stream<'_>, p: &HistogramDataPoint, out: &mut Conversion) -> Option<Point> {
    let sum = p.sum.unwrap_or(0.0);
    if !recorded(p.flags, &[Some(sum), p.min, p.max], out) {
        return None;
    }
    let bounds = &p.explicit_bounds;
    let mut buckets = Vec::new();
    for (i, &count) in p.bucket_counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let low = if i == 0 {
            f64::NEG_INFINITY
        } else {
            bounds.get(i - 1).copied().unwrap_or(f64::INFINITY)
        };
        let high = bounds.get(i).copied().unwrap_or(f64::INFINITY);
        let value = match (low.is_finite(), high.is_finite()) {
            (true, true) => (low + high) / 2.0,
            (false, true) => p.min.map_or(high, |m| (m.min(high) + high) / 2.0),
            (true, false) => p.max.map_or(low, |m| (low + m.max(low)) / 2.0),
            #[allow(clippy::cast_precision_loss)]
            (false, false) => p
                .min
                .zip(p.max)
                .map_or(sum / count as f64, |(a, b)| (a + b) / 2.0),
        };
        buckets.push(Bucket {
            low,
            high,
            value,
            count,
        });
    }
    buckets.reverse();
    Some(Point {
        timestamp_ms: millis(p.time_unix_nano),
        labels: stream.labels(&p.attributes),
        values: splits(buckets, p.count, sum, p.min, p.max),
    })
}

/// An exponential histogram as `Values`/`Counts`, as the exporter does:
/// positive buckets from the highest, the zero bucket, negative buckets;
/// each at the midpoint of its bounds.
fn exponential_histogram(
    stream: &Stream<'_>,
    p: &ExponentialHistogramDataPoint,
    out: &mut Conversion,
) -> Option<Point> {
    let sum = p.sum.unwrap_or(0.0);
    if !recorded(p.flags, &[Some(sum), p.min, p.max], out) {
        return None;
    }
    let base = 2f64.powf(2f64.powi(-p.scale));
    let bound = |index: i64| base.powf(index as f64);
    let mut buckets = Vec::new();
    if let Some(positive) = &p.positive {
        for (j, &count) in positive.bucket_counts.iter().enumerate().rev() {
            let index = i64::from(positive.offset) + j as i64;
            let (low, high) = (bound(index), bound(index + 1));
            if count > 0 && low.is_finite() && high.is_finite() {
                buckets.push(Bucket {
                    low,
                    high,
                    value: (low + high) / 2.0,
                    count,
                });
            }
        }
    }
    if p.zero_count > 0 {
        buckets.push(Bucket {
            low: 0.0,
            high: 0.0,
            value: 0.0,
            count: p.zero_count,
        });
    }
    if let Some(negative) = &p.negative {
        for (j, &count) in negative.bucket_counts.iter().enumerate() {
            let index = i64::from(negative.offset) + j as i64;
            let (low, high) = (-bound(index + 1), -bound(index));
            if count > 0 && low.is_finite() && high.is_finite() {
                buckets.push(Bucket {
                    low,
                    high,
                    value: (low + high) / 2.0,
                    count,
                });
            }
        }
    }
    Some(Point {
        timestamp_ms: millis(p.time_unix_nano),
        labels: stream.labels(&p.attributes),
        values: splits(buckets, p.count, sum, p.min, p.max),
    })
}

/// Buckets (highest first) as histogram values of at most [`MAX_VALUES`]
/// buckets each: the first holds the sum and the point's max, the last the
/// point's min; each counts its own buckets (the exporter's split).
fn splits(
    buckets: Vec<Bucket>,
    count: u64,
    sum: f64,
    min: Option<f64>,
    max: Option<f64>,
) -> Vec<Value> {
    let value = |values: Vec<f64>, counts: Vec<f64>, count: u64, sum: f64, min: f64, max: f64| json!({"Values": values, "Counts": counts, "Count": count, "Sum": sum, "Min": min, "Max": max});
    if buckets.is_empty() {
        return vec![value(
            Vec::new(),
            Vec::new(),
            count,
            sum,
            min.unwrap_or(0.0),
            max.unwrap_or(0.0),
        )];
    }
    let parts: Vec<&[Bucket]> = buckets.chunks(MAX_VALUES).collect();
    let last = parts.len() - 1;
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let (top, bottom) = (&part[0], &part[part.len() - 1]);
            let finite_or = |bound: f64, or: f64| if bound.is_finite() { bound } else { or };
            let high = match (i, max) {
                (0, Some(max)) => max,
                _ => finite_or(top.high, top.value),
            };
            let low = match (i == last, min) {
                (true, Some(min)) => min,
                _ => finite_or(bottom.low, bottom.value),
            };
            #[allow(clippy::cast_precision_loss)]
            value(
                part.iter().map(|b| b.value).collect(),
                part.iter().map(|b| b.count as f64).collect(),
                part.iter().map(|b| b.count).sum(),
                if i == 0 { sum } else { 0.0 },
                low,
                high,
            )
        })
        .collect()
}

/// The event, split by its metrics until each part fits in
/// [`MAX_EVENT_BYTES`]; a single metric too large alone is dropped
/// (counted). An event with no directive is dropped.
fn fit(event: Event, too_large: &mut usize) -> Vec<Event> {
    if event.directives.is_empty() {
        return Vec::new();
    }
    if event.max_len() <= MAX_EVENT_BYTES || event.to_line().len() <= MAX_EVENT_BYTES {
        return vec![event];
    }
    let names: Vec<String> = event.values.keys().cloned().collect();
    if names.len() <= 1 {
        *too_large += 1;
        return Vec::new();
    }
    let (first, second) = names.split_at(names.len() / 2);
    [first, second]
        .into_iter()
        .flat_map(|half| {
            let part = Event {
                timestamp_ms: event.timestamp_ms,
                directives: event
                    .directives
                    .iter()
                    .map(|d| Directive {
                        metrics: d
                            .metrics
                            .iter()
                            .filter(|m| half.contains(&m.name))
                            .cloned()
                            .collect(),
                        ..d.clone()
                    })
                    .filter(|d| !d.metrics.is_empty())
                    .collect(),
                labels: event.labels.clone(),
                values: event
                    .values
                    .iter()
                    .filter(|(k, _)| half.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            };
            fit(part, too_large)
        })
        .collect()
}

#[cfg(test)]
mod tests;
