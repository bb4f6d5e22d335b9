//! Merging batches: equal resources (same resource message and schema URL)
//! become one, and within them equal scopes become one, keeping first-seen order.

use std::collections::HashMap;

use prost::Message;

use crate::Batch;
use crate::proto::metrics::{
    ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint, SummaryDataPoint,
    metric,
};
use crate::tree::Container;

fn merge_level<R, S>(target: &mut Vec<R>, index: &mut HashMap<Vec<u8>, usize>, incoming: Vec<R>)
where
    R: Container<Child = S>,
    S: Container,
{
    for mut r in incoming {
        let id = r.identity();
        match index.get(&id) {
            Some(&i) => {
                let scopes = r.take_children();
                let existing = &mut target[i];
                for mut s in scopes {
                    let sid = s.identity();
                    if let Some(found) = existing
                        .children_mut()
                        .iter_mut()
                        .find(|e| e.identity() == sid)
                    {
                        found.children_mut().append(s.children_mut());
                    } else {
                        existing.children_mut().push(s);
                    }
                }
            }
            None => {
                // Equal scopes inside one resource are merged too.
                let scopes = r.take_children();
                let mut merged: Vec<S> = Vec::with_capacity(scopes.len());
                for mut s in scopes {
                    let sid = s.identity();
                    if let Some(found) = merged.iter_mut().find(|e| e.identity() == sid) {
                        found.children_mut().append(s.children_mut());
                    } else {
                        merged.push(s);
                    }
                }
                *r.children_mut() = merged;
                index.insert(id, target.len());
                target.push(r);
            }
        }
    }
}

/// Merges batches of one signal into one batch. Batches of another signal
/// than the first are ignored (callers only merge one signal at a time).
/// Returns `None` for an empty input.
pub fn merge(batches: impl IntoIterator<Item = Batch>) -> Option<Batch> {
    let mut iter = batches.into_iter();
    let first = iter.next()?;
    // Start from an empty target so the first batch is normalised as well.
    let mut out = Batch::empty(first.signal());
    let mut index = HashMap::new();
    for batch in std::iter::once(first).chain(iter) {
        match (&mut out, batch) {
            (Batch::Traces(t), Batch::Traces(b)) => {
                merge_level(&mut t.resource_spans, &mut index, b.resource_spans)
            }
            (Batch::Metrics(t), Batch::Metrics(b)) => {
                merge_level(&mut t.resource_metrics, &mut index, b.resource_metrics)
            }
            (Batch::Logs(t), Batch::Logs(b)) => {
                merge_level(&mut t.resource_logs, &mut index, b.resource_logs)
            }
            _ => {}
        }
    }
    if let Batch::Metrics(r) = &mut out {
        for scope in r
            .resource_metrics
            .iter_mut()
            .flat_map(|rm| rm.scope_metrics.iter_mut())
        {
            scope.metrics = merge_metrics(std::mem::take(&mut scope.metrics));
        }
    }
    Some(out)
}

/// Combines metrics of one scope that are the same stream definition (name,
/// description, unit, metadata, type, temporality, monotonicity) into one
/// metric holding all their data points, in first-seen order.
fn merge_metrics(metrics: Vec<Metric>) -> Vec<Metric> {
    let mut out: Vec<Metric> = Vec::with_capacity(metrics.len());
    let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
    for mut m in metrics {
        let points = take_points(&mut m);
        let id = m.encode_to_vec();
        match index.get(&id) {
            Some(&i) => append_points(&mut out[i], points),
            None => {
                append_points(&mut m, points);
                index.insert(id, out.len());
                out.push(m);
            }
        }
    }
    out
}

/// The data points of a metric, of whichever type, leaving it empty.
enum Points {
    None,
    Number(Vec<NumberDataPoint>),
    Histogram(Vec<HistogramDataPoint>),
    Exponential(Vec<ExponentialHistogramDataPoint>),
    Summary(Vec<SummaryDataPoint>),
}

fn take_points(m: &mut Metric) -> Points {
    match &mut m.data {
        None => Points::None,
        Some(metric::Data::Gauge(g)) => Points::Number(std::mem::take(&mut g.data_points)),
        Some(metric::Data::Sum(s)) => Points::Number(std::mem::take(&mut s.data_points)),
        Some(metric::Data::Histogram(h)) => Points::Histogram(std::mem::take(&mut h.data_points)),
        Some(metric::Data::ExponentialHistogram(h)) => {
            Points::Exponential(std::mem::take(&mut h.data_points))
        }
        Some(metric::Data::Summary(s)) => Points::Summary(std::mem::take(&mut s.data_points)),
    }
}

fn append_points(m: &mut Metric, points: Points) {
    match (&mut m.data, points) {
        (Some(metric::Data::Gauge(g)), Points::Number(mut p)) => g.data_points.append(&mut p),
        (Some(metric::Data::Sum(s)), Points::Number(mut p)) => s.data_points.append(&mut p),
        (Some(metric::Data::Histogram(h)), Points::Histogram(mut p)) => {
            h.data_points.append(&mut p)
        }
        (Some(metric::Data::ExponentialHistogram(h)), Points::Exponential(mut p)) => {
            h.data_points.append(&mut p)
        }
        (Some(metric::Data::Summary(s)), Points::Summary(mut p)) => s.data_points.append(&mut p),
        // Equal shells have equal types, so nothing else can happen.
        _ => {}
    }
}
