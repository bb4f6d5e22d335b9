//! Id validation. Items whose ids cannot be valid OTLP ids are removed from
//! the batch and reported, so the rest can be stored (OTLP partial success).
//!
//! Rules: a span needs a 16-byte, non-zero trace id and an 8-byte, non-zero
//! span id; a parent span id, a log record's ids and an exemplar's ids are
//! optional but, when present, must have those lengths; a link needs both.

use crate::Batch;
use crate::hierarchy::retain;
use crate::proto::metrics::{Exemplar, metric};

/// What validation removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rejected {
    /// Items removed.
    pub count: i64,
    /// The first problem found, for the partial-success message.
    pub first_reason: Option<String>,
}

impl Rejected {
    fn note(&mut self, reason: Option<String>) -> bool {
        match reason {
            None => true,
            Some(reason) => {
                self.count += 1;
                self.first_reason.get_or_insert(reason);
                false
            }
        }
    }

    /// A partial-success message: how many items and why, empty when none.
    pub fn message(&self, noun: &str) -> String {
        match &self.first_reason {
            None => String::new(),
            Some(reason) if self.count == 1 => format!("rejected 1 of the {noun}: {reason}"),
            Some(reason) => format!(
                "rejected {} {noun} with invalid ids; first: {reason}",
                self.count
            ),
        }
    }
}

fn check(what: &str, id: &[u8], len: usize, required: bool) -> Option<String> {
    if id.is_empty() && !required {
        return None;
    }
    if id.len() != len {
        return Some(format!(
            "{what} must be {len} bytes ({} hex digits), got {} bytes",
            len * 2,
            id.len()
        ));
    }
    if id.iter().all(|b| *b == 0) {
        return Some(format!("{what} must not be all zeros"));
    }
    None
}

fn first<'a>(checks: impl IntoIterator<Item = Option<String>> + 'a) -> Option<String> {
    checks.into_iter().flatten().next()
}

fn exemplar_problem(exemplars: &[Exemplar]) -> Option<String> {
    exemplars.iter().find_map(|e| {
        first([
            check("exemplar trace id", &e.trace_id, 16, false),
            check("exemplar span id", &e.span_id, 8, false),
        ])
    })
}

/// Removes items with invalid ids from `batch` (dropping scopes and resources
/// left empty) and reports how many were removed and why.
pub fn validate_ids(batch: &mut Batch) -> Rejected {
    let mut rejected = Rejected::default();
    match batch {
        Batch::Traces(r) => retain(&mut r.resource_spans, |_, _, s| {
            let problem = first([
                check("trace id", &s.trace_id, 16, true),
                check("span id", &s.span_id, 8, true),
                check("parent span id", &s.parent_span_id, 8, false),
            ])
            .or_else(|| {
                s.links.iter().find_map(|l| {
                    first([
                        check("link trace id", &l.trace_id, 16, true),
                        check("link span id", &l.span_id, 8, true),
                    ])
                })
            })
            .map(|p| format!("span {:?}: {p}", s.name));
            rejected.note(problem)
        }),
        Batch::Logs(r) => retain(&mut r.resource_logs, |_, _, l| {
            let problem = first([
                check("trace id", &l.trace_id, 16, false),
                check("span id", &l.span_id, 8, false),
            ])
            .map(|p| format!("log record: {p}"));
            rejected.note(problem)
        }),
        Batch::Metrics(r) => {
            // Items here are data points inside metrics: filter them in place
            // and drop metrics left without points.
            retain(&mut r.resource_metrics, |_, _, m| {
                let before = crate::points::point_count(m);
                let name = &m.name; // Disjoint from `m.data`, borrowed below.
                let mut keep = |ex: &[Exemplar]| {
                    rejected.note(exemplar_problem(ex).map(|p| format!("metric {name:?}: {p}")))
                };
                match &mut m.data {
                    None => {}
                    Some(metric::Data::Gauge(g)) => g.data_points.retain(|p| keep(&p.exemplars)),
                    Some(metric::Data::Sum(s)) => s.data_points.retain(|p| keep(&p.exemplars)),
                    Some(metric::Data::Histogram(h)) => {
                        h.data_points.retain(|p| keep(&p.exemplars))
                    }
                    Some(metric::Data::ExponentialHistogram(h)) => {
                        h.data_points.retain(|p| keep(&p.exemplars))
                    }
                    Some(metric::Data::Summary(_)) => {}
                }
                // A metric that had points and lost them all is dropped; one
                // that never had any (metadata only) is kept.
                before == 0 || crate::points::point_count(m) > 0
            })
        }
    }
    rejected
}
