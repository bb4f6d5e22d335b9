//! Merging batches: equal resources (same resource message and schema URL)
//! become one, and within them equal scopes become one, keeping first-seen order.

use std::collections::HashMap;

use crate::Batch;
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
    Some(out)
}
