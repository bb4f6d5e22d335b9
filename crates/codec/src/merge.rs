//! Merging batches: equal resources (same resource message and schema URL)
//! become one, and within them equal scopes become one, keeping first-seen
//! order. Each shell's identity is computed once and looked up in a hash
//! index, so merging is linear in the number of resources and scopes.

use std::collections::HashMap;

use prost::Message;

use crate::Batch;
use crate::hierarchy::Parent;
use crate::points::{append_points, match_data};
use crate::proto::metrics::Metric;

/// Resources merged so far, with an index of their identities and, per
/// resource, an index of its scopes' identities.
struct Merged<R> {
    resources: Vec<R>,
    index: HashMap<Vec<u8>, usize>,
    scope_index: Vec<HashMap<Vec<u8>, usize>>,
}

impl<R, S> Merged<R>
where
    R: Parent<Child = S>,
    S: Parent,
{
    fn new() -> Self {
        Merged {
            resources: Vec::new(),
            index: HashMap::new(),
            scope_index: Vec::new(),
        }
    }

    fn add(&mut self, incoming: Vec<R>) {
        for mut r in incoming {
            let scopes = r.take_children();
            let i = match self.index.get(&r.identity()) {
                Some(&i) => i,
                None => {
                    let i = self.resources.len();
                    self.index.insert(r.identity(), i);
                    self.resources.push(r);
                    self.scope_index.push(HashMap::new());
                    i
                }
            };
            let (target, index) = (&mut self.resources[i], &mut self.scope_index[i]);
            for mut s in scopes {
                let id = s.identity();
                match index.get(&id) {
                    Some(&j) => target.children_mut()[j]
                        .children_mut()
                        .append(s.children_mut()),
                    None => {
                        index.insert(id, target.children().len());
                        target.children_mut().push(s);
                    }
                }
            }
        }
    }
}

fn merge_resources<R, S>(parts: impl Iterator<Item = Vec<R>>) -> Vec<R>
where
    R: Parent<Child = S>,
    S: Parent,
{
    let mut merged = Merged::new();
    for part in parts {
        merged.add(part);
    }
    merged.resources
}

/// Merges batches of one signal into one batch. Batches of another signal
/// than the first are ignored (callers only merge one signal at a time).
/// Returns `None` for an empty input.
pub fn merge(batches: impl IntoIterator<Item = Batch>) -> Option<Batch> {
    let mut iter = batches.into_iter().peekable();
    let signal = iter.peek()?.signal();
    // Start from an empty target so the first batch is normalised as well.
    let mut out = Batch::empty(signal);
    match &mut out {
        Batch::Traces(t) => {
            t.resource_spans = merge_resources(iter.filter_map(|b| match b {
                Batch::Traces(b) => Some(b.resource_spans),
                _ => None,
            }))
        }
        Batch::Metrics(t) => {
            t.resource_metrics = merge_resources(iter.filter_map(|b| match b {
                Batch::Metrics(b) => Some(b.resource_metrics),
                _ => None,
            }));
            for scope in t
                .resource_metrics
                .iter_mut()
                .flat_map(|rm| rm.scope_metrics.iter_mut())
            {
                scope.metrics = merge_metrics(std::mem::take(&mut scope.metrics));
            }
        }
        Batch::Logs(t) => {
            t.resource_logs = merge_resources(iter.filter_map(|b| match b {
                Batch::Logs(b) => Some(b.resource_logs),
                _ => None,
            }))
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
        let id = stream_identity(&mut m);
        match index.get(&id) {
            Some(&i) => {
                if let (Some(into), Some(from)) = (out[i].data.as_mut(), m.data.as_mut()) {
                    append_points(into, from);
                }
            }
            None => {
                index.insert(id, out.len());
                out.push(m);
            }
        }
    }
    out
}

/// Bytes that are equal exactly when two metrics are the same stream
/// definition: everything but their data points.
fn stream_identity(m: &mut Metric) -> Vec<u8> {
    let Some(mut data) = m.data.take() else {
        return m.encode_to_vec();
    };
    let mut id = m.encode_to_vec();
    match_data!(&mut data, |d, wrap| {
        let points = std::mem::take(&mut d.data_points);
        // The oneof's encoding carries its field number: the metric type.
        wrap(d.clone()).encode(&mut id);
        d.data_points = points;
    });
    m.data = Some(data);
    id
}
