//! Item-level filtering shared by the three signals: a predicate sees each
//! span, log record or metric data point with its resource and scope, and
//! items it rejects are removed (with scopes, metrics and resources left
//! empty). Used for query filters, for skipping items already returned by
//! an earlier page, and for cutting a page at its limit.

use crate::Batch;
use crate::hierarchy::retain;
use crate::partition::log_time;
use crate::points::match_data;
use crate::proto::common::{AnyValue, InstrumentationScope, KeyValue};
use crate::proto::metrics::Metric;
use crate::proto::resource::Resource;

/// What a predicate knows about one item.
#[derive(Debug, Clone, Copy)]
pub struct ItemRef<'a> {
    /// The item's resource.
    pub resource: Option<&'a Resource>,
    /// The item's instrumentation scope.
    pub scope: Option<&'a InstrumentationScope>,
    /// Event time (span start, log time or observed time, point time); 0 when unset.
    pub time: u64,
    /// The item's own attributes.
    pub attributes: &'a [KeyValue],
    /// Trace id (spans and log records; empty otherwise).
    pub trace_id: &'a [u8],
    /// Severity number (log records; 0 otherwise).
    pub severity_number: i32,
    /// The metric's name (data points only).
    pub metric_name: Option<&'a str>,
    /// The body (log records only).
    pub body: Option<&'a AnyValue>,
}

/// Removes every item for which `keep` returns false, in document order.
pub fn retain_items(batch: &mut Batch, mut keep: impl FnMut(&ItemRef<'_>) -> bool) {
    match batch {
        Batch::Traces(r) => retain(&mut r.resource_spans, |rs, ss, span| {
            keep(&ItemRef {
                resource: rs.resource.as_ref(),
                scope: ss.scope.as_ref(),
                time: span.start_time_unix_nano,
                attributes: &span.attributes,
                trace_id: &span.trace_id,
                severity_number: 0,
                metric_name: None,
                body: None,
            })
        }),
        Batch::Logs(r) => retain(&mut r.resource_logs, |rl, sl, log| {
            keep(&ItemRef {
                resource: rl.resource.as_ref(),
                scope: sl.scope.as_ref(),
                time: log_time(log),
                attributes: &log.attributes,
                trace_id: &log.trace_id,
                severity_number: log.severity_number,
                metric_name: None,
                body: log.body.as_ref(),
            })
        }),
        Batch::Metrics(r) => retain(&mut r.resource_metrics, |rm, sm, m| {
            let resource = rm.resource.as_ref();
            let scope = sm.scope.as_ref();
            retain_points(m, |time, attributes, name| {
                keep(&ItemRef {
                    resource,
                    scope,
                    time,
                    attributes,
                    trace_id: &[],
                    severity_number: 0,
                    metric_name: Some(name),
                    body: None,
                })
            })
        }),
    }
}

/// Retains the data points of `m` for which `keep(time, attributes, name)`
/// holds; returns whether any point is left.
fn retain_points(m: &mut Metric, mut keep: impl FnMut(u64, &[KeyValue], &str) -> bool) -> bool {
    let name = m.name.as_str();
    m.data.as_mut().is_some_and(|data| {
        match_data!(data, |d, _wrap| {
            d.data_points
                .retain(|p| keep(p.time_unix_nano, &p.attributes, name));
            !d.data_points.is_empty()
        })
    })
}

/// Drops the first `n` items.
pub fn skip_items(batch: &mut Batch, n: usize) {
    if n == 0 {
        return;
    }
    let mut seen = 0;
    retain_items(batch, |_| {
        seen += 1;
        seen > n
    });
}

/// Keeps only the first `n` items.
pub fn truncate_items(batch: &mut Batch, n: usize) {
    let mut seen = 0;
    retain_items(batch, |_| {
        seen += 1;
        seen <= n
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Signal;
    use crate::samples::sample;

    #[test]
    fn predicates_see_every_item_with_its_context() {
        let mut seen = Vec::new();
        let mut b = sample(Signal::Metrics);
        retain_items(&mut b, |it| {
            seen.push((it.metric_name.unwrap_or_default().to_owned(), it.time));
            assert!(it.resource.is_some() && it.scope.is_some());
            true
        });
        assert_eq!(seen.len(), 7, "{seen:?}");
        assert_eq!(b.item_count(), 7);
        // The metric without points is not an item and does not survive filtering.
        let Batch::Metrics(r) = &b else { panic!() };
        assert_eq!(r.resource_metrics[0].scope_metrics[0].metrics.len(), 5);
    }

    #[test]
    fn skip_and_truncate_cut_in_document_order() {
        for signal in Signal::ALL {
            let all = sample(signal);
            let n = all.item_count();
            for k in 0..=n {
                let mut head = all.clone();
                truncate_items(&mut head, k);
                let mut tail = all.clone();
                skip_items(&mut tail, k);
                assert_eq!(head.item_count(), k, "{signal}");
                assert_eq!(tail.item_count(), n - k, "{signal}");
                let merged = crate::merge([head, tail]).expect("batches");
                assert_eq!(merged.item_count(), n);
            }
        }
    }

    #[test]
    fn filters_can_use_severity_and_trace_ids() {
        let mut logs = sample(Signal::Logs);
        retain_items(&mut logs, |it| it.severity_number >= 13);
        assert_eq!(logs.item_count(), 1, "only the ERROR (17) record");
        let mut spans = sample(Signal::Traces);
        retain_items(&mut spans, |it| {
            it.attributes.iter().any(|a| a.key == "http.route")
        });
        assert_eq!(spans.item_count(), 1);
        assert!(spans.item_count() == 1 && !spans.is_empty());
    }
}
