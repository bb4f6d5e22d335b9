use super::*;
use crate::proto::collector_logs::ExportLogsServiceRequest;
use crate::proto::collector_metrics::ExportMetricsServiceRequest;
use crate::proto::collector_trace::ExportTraceServiceRequest;
use crate::proto::common::{AnyValue, InstrumentationScope, KeyValue, any_value};
use crate::proto::logs::{ResourceLogs, ScopeLogs};
use crate::proto::metrics::metric;
use crate::proto::metrics::{Gauge, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum};
use crate::proto::resource::Resource;
use crate::proto::trace::{ResourceSpans, ScopeSpans};
use crate::{merge, validate_ids};

const MIN: u64 = 60 * NANOS_PER_SECOND;
/// 2024-10-27T03:33:20Z
const T0: u64 = 1_730_000_000 * NANOS_PER_SECOND;

fn resource(name: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(name.into())),
            }),
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn scope(name: &str) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: name.into(),
        ..Default::default()
    })
}

fn span(name: &str, start: u64) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: name.into(),
        start_time_unix_nano: start,
        ..Default::default()
    }
}

/// (service, [(scope, spans)]) per resource.
type Layout<'a> = Vec<(&'a str, Vec<(&'a str, Vec<Span>)>)>;

fn traces(resources: Layout<'_>) -> Batch {
    Batch::Traces(ExportTraceServiceRequest {
        resource_spans: resources
            .into_iter()
            .map(|(r, scopes)| ResourceSpans {
                resource: resource(r),
                scope_spans: scopes
                    .into_iter()
                    .map(|(s, spans)| ScopeSpans {
                        scope: scope(s),
                        spans,
                        schema_url: String::new(),
                    })
                    .collect(),
                schema_url: String::new(),
            })
            .collect(),
    })
}

/// (service, scope, span name) of every span, in order.
fn flatten(batch: &Batch) -> Vec<(String, String, String)> {
    let Batch::Traces(r) = batch else {
        panic!("traces")
    };
    let mut out = vec![];
    for rs in &r.resource_spans {
        let svc = match rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes[0].value.clone())
        {
            Some(AnyValue {
                value: Some(any_value::Value::StringValue(s)),
            }) => s,
            _ => String::new(),
        };
        for ss in &rs.scope_spans {
            let sc = ss
                .scope
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default();
            for s in &ss.spans {
                out.push((svc.clone(), sc.clone(), s.name.clone()));
            }
        }
    }
    out
}

fn names(v: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    v.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[test]
fn civil_time_matches_known_dates_and_round_trips() {
    let m = UtcMinute::from_unix_nanos(T0);
    assert_eq!(
        m,
        UtcMinute {
            year: 2024,
            month: 10,
            day: 27,
            hour: 3,
            minute: 33
        }
    );
    assert_eq!(m.to_unix_nanos(), Some(T0 - 20 * NANOS_PER_SECOND));
    // Leap day and year ends.
    let leap = UtcMinute {
        year: 2024,
        month: 2,
        day: 29,
        hour: 23,
        minute: 59,
    };
    let t = leap.to_unix_nanos().expect("valid");
    assert_eq!(UtcMinute::from_unix_nanos(t), leap);
    assert_eq!(UtcMinute::from_unix_nanos(t + MIN).day, 1);
    assert_eq!(UtcMinute::from_unix_nanos(0).year, 1970);
    assert_eq!(
        UtcMinute {
            year: 2023,
            month: 2,
            day: 29,
            hour: 0,
            minute: 0
        }
        .to_unix_nanos(),
        None
    );
    assert_eq!(
        UtcMinute {
            year: 1969,
            month: 12,
            day: 31,
            hour: 0,
            minute: 0
        }
        .to_unix_nanos(),
        None
    );
    // Every minute boundary across four years round-trips.
    let mut t = UtcMinute {
        year: 2023,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
    }
    .to_unix_nanos()
    .expect("valid");
    for _ in 0..(4 * 366 * 24) {
        assert_eq!(UtcMinute::from_unix_nanos(t).to_unix_nanos(), Some(t));
        t += 60 * MIN;
    }
}

#[test]
fn zero_and_far_future_times_fall_back_to_receive_time() {
    let now = T0;
    assert_eq!(item_time_or(0, now), now);
    assert_eq!(
        item_time_or(now + FUTURE_TOLERANCE_NANOS, now),
        now + FUTURE_TOLERANCE_NANOS
    );
    assert_eq!(item_time_or(now + FUTURE_TOLERANCE_NANOS + 1, now), now);
    assert_eq!(item_time_or(u64::MAX, now), now);
    assert_eq!(
        item_time_or(now - 86_400 * NANOS_PER_SECOND, now),
        now - 86_400 * NANOS_PER_SECOND
    );
}

#[test]
fn a_batch_in_one_partition_stays_whole() {
    let batch = traces(vec![(
        "a",
        vec![("s", vec![span("x", T0), span("y", T0 + 1)])],
    )]);
    let parts = split_by_partition(batch.clone(), Granularity::Minute, T0);
    assert_eq!(parts, vec![(Granularity::Minute.truncate(T0), batch)]);
}

#[test]
fn splitting_keeps_resource_and_scope_of_every_item() {
    let batch = traces(vec![
        (
            "a",
            vec![
                ("s1", vec![span("a1", T0), span("a2", T0 + MIN)]),
                ("s2", vec![span("a3", T0)]),
            ],
        ),
        (
            "b",
            vec![(
                "s1",
                vec![
                    span("b1", T0 + MIN),
                    span("b2", 0),
                    span("b3", T0 + 5 * MIN),
                ],
            )],
        ),
    ]);
    let now = T0 + 2 * MIN;
    let parts = split_by_partition(batch.clone(), Granularity::Minute, now);
    let keys: Vec<u64> = parts.iter().map(|(k, _)| *k).collect();
    let p0 = Granularity::Minute.truncate(T0);
    assert_eq!(keys, vec![p0, p0 + MIN, p0 + 2 * MIN, p0 + 5 * MIN]);
    assert_eq!(
        flatten(&parts[0].1),
        names(&[("a", "s1", "a1"), ("a", "s2", "a3")])
    );
    assert_eq!(
        flatten(&parts[1].1),
        names(&[("a", "s1", "a2"), ("b", "s1", "b1")])
    );
    // The zero start time went to the receive-time partition.
    assert_eq!(flatten(&parts[2].1), names(&[("b", "s1", "b2")]));
    assert_eq!(flatten(&parts[3].1), names(&[("b", "s1", "b3")]));
    // Nothing lost, nothing duplicated; merging the parts gives the items back.
    let total: usize = parts.iter().map(|(_, b)| b.item_count()).sum();
    assert_eq!(total, batch.item_count());
    let merged = merge(parts.into_iter().map(|(_, b)| b)).expect("non-empty");
    let mut got = flatten(&merged);
    let mut want = flatten(&batch);
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn hour_granularity_groups_a_whole_hour() {
    let h0 = Granularity::Hour.truncate(T0);
    let batch = traces(vec![(
        "a",
        vec![(
            "s",
            vec![
                span("x", h0),
                span("y", h0 + 59 * MIN),
                span("z", h0 + 60 * MIN),
            ],
        )],
    )]);
    let parts = split_by_partition(batch, Granularity::Hour, T0 + 3600 * NANOS_PER_SECOND);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].1.item_count(), 2);
    assert_eq!(parts[1].0, h0 + 60 * MIN);
}

#[test]
fn empty_batches_have_no_partition() {
    assert!(
        split_by_partition(Batch::empty(crate::Signal::Logs), Granularity::Minute, T0).is_empty()
    );
    // A resource without items is not an item either.
    let hollow = traces(vec![("a", vec![("s", vec![])])]);
    assert!(split_by_partition(hollow, Granularity::Minute, T0).is_empty());
}

fn point(t: u64, v: i64) -> NumberDataPoint {
    NumberDataPoint {
        time_unix_nano: t,
        value: Some(crate::proto::metrics::number_data_point::Value::AsInt(v)),
        ..Default::default()
    }
}

#[test]
fn metrics_split_by_data_point_and_keep_their_type() {
    let sum = Metric {
        name: "requests".into(),
        unit: "1".into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![point(T0, 1), point(T0 + MIN, 2), point(T0 + 1, 3)],
            aggregation_temporality: 2,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    let gauge = Metric {
        name: "depth".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![point(T0 + MIN, 9)],
        })),
        ..Default::default()
    };
    let batch = Batch::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("a"),
            scope_metrics: vec![ScopeMetrics {
                scope: scope("m"),
                metrics: vec![sum, gauge],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let parts = split_by_partition(batch, Granularity::Minute, T0 + 2 * MIN);
    assert_eq!(parts.len(), 2);
    let metrics = |b: &Batch| match b {
        Batch::Metrics(r) => r.resource_metrics[0].scope_metrics[0].metrics.clone(),
        _ => panic!("metrics"),
    };
    let first = metrics(&parts[0].1);
    assert_eq!(first.len(), 1);
    let Some(metric::Data::Sum(s)) = &first[0].data else {
        panic!("sum")
    };
    assert_eq!((s.aggregation_temporality, s.is_monotonic), (2, true));
    assert_eq!(
        s.data_points.iter().map(|p| p.value).collect::<Vec<_>>(),
        vec![point(0, 1).value, point(0, 3).value]
    );
    let second = metrics(&parts[1].1);
    assert_eq!(
        second.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        vec!["requests", "depth"]
    );
    assert_eq!(parts[1].1.item_count(), 2);
}

#[test]
fn logs_use_observed_time_when_time_is_unset() {
    let batch = Batch::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("a"),
            scope_logs: vec![ScopeLogs {
                scope: scope("l"),
                log_records: vec![
                    LogRecord {
                        observed_time_unix_nano: T0 + 3 * MIN,
                        ..Default::default()
                    },
                    LogRecord {
                        time_unix_nano: T0,
                        observed_time_unix_nano: T0 + 3 * MIN,
                        ..Default::default()
                    },
                    LogRecord::default(),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let now = T0 + 10 * MIN;
    let keys: Vec<u64> = split_by_partition(batch, Granularity::Minute, now)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let m = |t| Granularity::Minute.truncate(t);
    assert_eq!(keys, vec![m(T0), m(T0 + 3 * MIN), m(now)]);
}

#[test]
fn merge_combines_equal_resources_and_scopes_in_first_seen_order() {
    let a = traces(vec![
        ("a", vec![("s1", vec![span("1", T0)])]),
        ("b", vec![("s1", vec![span("2", T0)])]),
    ]);
    let b = traces(vec![
        (
            "b",
            vec![("s1", vec![span("3", T0)]), ("s2", vec![span("4", T0)])],
        ),
        (
            "a",
            vec![("s1", vec![span("5", T0)]), ("s1", vec![span("6", T0)])],
        ),
    ]);
    let merged = merge([a, b]).expect("non-empty");
    let Batch::Traces(r) = &merged else {
        panic!("traces")
    };
    assert_eq!(r.resource_spans.len(), 2);
    assert_eq!(
        r.resource_spans[0].scope_spans.len(),
        1,
        "a/s1 merged three times"
    );
    assert_eq!(r.resource_spans[1].scope_spans.len(), 2);
    assert_eq!(
        flatten(&merged),
        names(&[
            ("a", "s1", "1"),
            ("a", "s1", "5"),
            ("a", "s1", "6"),
            ("b", "s1", "2"),
            ("b", "s1", "3"),
            ("b", "s2", "4")
        ])
    );
    assert!(merge(Vec::new()).is_none());
}

#[test]
fn resources_differing_only_in_schema_url_are_not_merged() {
    let mut a = traces(vec![("a", vec![("s", vec![span("1", T0)])])]);
    let b = traces(vec![("a", vec![("s", vec![span("2", T0)])])]);
    if let Batch::Traces(r) = &mut a {
        r.resource_spans[0].schema_url = "https://example.com/1".into();
    }
    let Some(Batch::Traces(r)) = merge([a, b]) else {
        panic!("traces")
    };
    assert_eq!(r.resource_spans.len(), 2);
}

#[test]
fn invalid_ids_are_removed_and_counted() {
    let mut bad_trace = span("short-trace", T0);
    bad_trace.trace_id = vec![1, 2, 3];
    let mut zero_span = span("zero-span", T0);
    zero_span.span_id = vec![0; 8];
    let mut bad_parent = span("bad-parent", T0);
    bad_parent.parent_span_id = vec![1; 4];
    let mut batch = traces(vec![
        ("a", vec![("s", vec![span("ok", T0), bad_trace, zero_span])]),
        ("b", vec![("s", vec![bad_parent])]),
    ]);
    let rejected = validate_ids(&mut batch);
    assert_eq!(rejected.count, 3);
    assert_eq!(flatten(&batch), names(&[("a", "s", "ok")]));
    let message = rejected.message("spans");
    assert!(message.contains("rejected 3 spans"), "{message}");
    assert!(
        message.contains("\"short-trace\": trace id must be 16 bytes (32 hex digits), got 3 bytes"),
        "{message}"
    );
    let Batch::Traces(r) = &batch else {
        panic!("traces")
    };
    assert_eq!(r.resource_spans.len(), 1, "resource left empty is dropped");

    let mut logs = Batch::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord::default(),
                    LogRecord {
                        trace_id: vec![9; 15],
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let rejected = validate_ids(&mut logs);
    assert_eq!(
        (rejected.count, logs.item_count()),
        (1, 1),
        "ids are optional on logs"
    );
    assert_eq!(validate_ids(&mut logs), crate::Rejected::default());
}
