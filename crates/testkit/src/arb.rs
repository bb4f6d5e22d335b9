//! proptest strategies for OTLP messages: every field, every value kind
//! and metric type, edge-case numbers and bytes. Shared by the property
//! tests of every crate that must keep OTLP data exactly.

use otelvault_codec::proto::collector_logs::ExportLogsServiceRequest;
use otelvault_codec::proto::collector_metrics::ExportMetricsServiceRequest;
use otelvault_codec::proto::collector_trace::ExportTraceServiceRequest;
use otelvault_codec::proto::common::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use otelvault_codec::proto::logs::{LogRecord, ResourceLogs, ScopeLogs};
use otelvault_codec::proto::metrics::{
    Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint, exemplar, exponential_histogram_data_point::Buckets, metric,
    number_data_point, summary_data_point::ValueAtQuantile,
};
use otelvault_codec::proto::resource::Resource;
use otelvault_codec::proto::trace::{ResourceSpans, ScopeSpans, Span, Status, span};
use proptest::prelude::*;

/// Any `f64`, edge cases included.
pub fn arb_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(-0.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MIN_POSITIVE / 4.0),
        any::<f64>().prop_filter("NaN never equals itself", |f| !f.is_nan()),
    ]
}

/// Any `Vec<u8>`, edge cases included.
pub fn arb_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

/// Any `AnyValue`, edge cases included.
pub fn arb_any_value() -> impl Strategy<Value = AnyValue> {
    use any_value::Value as V;
    let leaf = prop_oneof![
        Just(None),
        any::<String>().prop_map(|s| Some(V::StringValue(s))),
        any::<bool>().prop_map(|b| Some(V::BoolValue(b))),
        any::<i64>().prop_map(|i| Some(V::IntValue(i))),
        arb_f64().prop_map(|d| Some(V::DoubleValue(d))),
        arb_bytes(12).prop_map(|b| Some(V::BytesValue(b))),
        any::<i32>().prop_map(|i| Some(V::StringValueStrindex(i))),
    ]
    .prop_map(|value| AnyValue { value });
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|values| AnyValue {
                value: Some(V::ArrayValue(ArrayValue { values }))
            }),
            prop::collection::vec((any::<String>(), prop::option::of(inner)), 0..4).prop_map(
                |kvs| {
                    AnyValue {
                        value: Some(V::KvlistValue(KeyValueList {
                            values: kvs
                                .into_iter()
                                .map(|(key, value)| KeyValue {
                                    key,
                                    value,
                                    key_strindex: 0,
                                })
                                .collect(),
                        })),
                    }
                }
            ),
        ]
    })
}

/// Any `Vec<KeyValue>`, edge cases included.
pub fn arb_attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    prop::collection::vec(
        (
            any::<String>(),
            prop::option::of(arb_any_value()),
            any::<i32>(),
        )
            .prop_map(|(key, value, key_strindex)| KeyValue {
                key,
                value,
                key_strindex,
            }),
        0..4,
    )
}

/// Any `Option<Resource>`, edge cases included.
pub fn arb_resource() -> impl Strategy<Value = Option<Resource>> {
    prop::option::of(
        (
            arb_attributes(),
            any::<u32>(),
            prop::collection::vec(
                (
                    any::<String>(),
                    any::<String>(),
                    prop::collection::vec(any::<String>(), 0..2),
                    prop::collection::vec(any::<String>(), 0..2),
                )
                    .prop_map(|(schema_url, r#type, id_keys, description_keys)| {
                        EntityRef {
                            schema_url,
                            r#type,
                            id_keys,
                            description_keys,
                        }
                    }),
                0..2,
            ),
        )
            .prop_map(
                |(attributes, dropped_attributes_count, entity_refs)| Resource {
                    attributes,
                    dropped_attributes_count,
                    entity_refs,
                },
            ),
    )
}

/// Any `Option<InstrumentationScope>`, edge cases included.
pub fn arb_scope() -> impl Strategy<Value = Option<InstrumentationScope>> {
    prop::option::of(
        (
            any::<String>(),
            any::<String>(),
            arb_attributes(),
            any::<u32>(),
        )
            .prop_map(|(name, version, attributes, dropped_attributes_count)| {
                InstrumentationScope {
                    name,
                    version,
                    attributes,
                    dropped_attributes_count,
                }
            }),
    )
}

/// Any `Span`, edge cases included.
pub fn arb_span() -> impl Strategy<Value = Span> {
    let ids = (
        arb_bytes(17),
        arb_bytes(9),
        any::<String>(),
        arb_bytes(9),
        any::<u32>(),
    );
    let head = (
        any::<String>(),
        any::<i32>(),
        any::<u64>(),
        any::<u64>(),
        arb_attributes(),
        any::<u32>(),
    );
    let events = prop::collection::vec(
        (
            any::<u64>(),
            any::<String>(),
            arb_attributes(),
            any::<u32>(),
        )
            .prop_map(
                |(time_unix_nano, name, attributes, dropped_attributes_count)| span::Event {
                    time_unix_nano,
                    name,
                    attributes,
                    dropped_attributes_count,
                },
            ),
        0..3,
    );
    let links = prop::collection::vec(
        (
            arb_bytes(17),
            arb_bytes(9),
            any::<String>(),
            arb_attributes(),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(
                |(trace_id, span_id, trace_state, attributes, dropped_attributes_count, flags)| {
                    span::Link {
                        trace_id,
                        span_id,
                        trace_state,
                        attributes,
                        dropped_attributes_count,
                        flags,
                    }
                },
            ),
        0..3,
    );
    let tail = (
        events,
        any::<u32>(),
        links,
        any::<u32>(),
        prop::option::of((any::<String>(), any::<i32>())),
    );
    (ids, head, tail).prop_map(
        |(
            (trace_id, span_id, trace_state, parent_span_id, flags),
            (
                name,
                kind,
                start_time_unix_nano,
                end_time_unix_nano,
                attributes,
                dropped_attributes_count,
            ),
            (events, dropped_events_count, links, dropped_links_count, status),
        )| Span {
            trace_id,
            span_id,
            trace_state,
            parent_span_id,
            flags,
            name,
            kind,
            start_time_unix_nano,
            end_time_unix_nano,
            attributes,
            dropped_attributes_count,
            events,
            dropped_events_count,
            links,
            dropped_links_count,
            status: status.map(|(message, code)| Status { message, code }),
        },
    )
}

/// Any `Vec<Exemplar>`, edge cases included.
pub fn arb_exemplars() -> impl Strategy<Value = Vec<Exemplar>> {
    prop::collection::vec(
        (
            arb_attributes(),
            any::<u64>(),
            arb_bytes(9),
            arb_bytes(17),
            prop_oneof![
                Just(None),
                arb_f64().prop_map(|d| Some(exemplar::Value::AsDouble(d))),
                any::<i64>().prop_map(|i| Some(exemplar::Value::AsInt(i))),
            ],
        )
            .prop_map(
                |(filtered_attributes, time_unix_nano, span_id, trace_id, value)| Exemplar {
                    filtered_attributes,
                    time_unix_nano,
                    span_id,
                    trace_id,
                    value,
                },
            ),
        0..2,
    )
}

/// Any `Vec<NumberDataPoint>`, edge cases included.
pub fn arb_number_points() -> impl Strategy<Value = Vec<NumberDataPoint>> {
    prop::collection::vec(
        (
            arb_attributes(),
            any::<u64>(),
            any::<u64>(),
            arb_exemplars(),
            any::<u32>(),
            prop_oneof![
                Just(None),
                arb_f64().prop_map(|d| Some(number_data_point::Value::AsDouble(d))),
                any::<i64>().prop_map(|i| Some(number_data_point::Value::AsInt(i))),
            ],
        )
            .prop_map(
                |(attributes, start_time_unix_nano, time_unix_nano, exemplars, flags, value)| {
                    NumberDataPoint {
                        attributes,
                        start_time_unix_nano,
                        time_unix_nano,
                        exemplars,
                        flags,
                        value,
                    }
                },
            ),
        0..3,
    )
}

/// Any `Option<metric::Data>`, edge cases included.
pub fn arb_metric_data() -> impl Strategy<Value = Option<metric::Data>> {
    let histogram = prop::collection::vec(
        (
            (
                arb_attributes(),
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                prop::option::of(arb_f64()),
            ),
            (
                prop::collection::vec(any::<u64>(), 0..4),
                prop::collection::vec(arb_f64(), 0..4),
                arb_exemplars(),
                any::<u32>(),
                prop::option::of(arb_f64()),
                prop::option::of(arb_f64()),
            ),
        )
            .prop_map(
                |(
                    (attributes, start_time_unix_nano, time_unix_nano, count, sum),
                    (bucket_counts, explicit_bounds, exemplars, flags, min, max),
                )| HistogramDataPoint {
                    attributes,
                    start_time_unix_nano,
                    time_unix_nano,
                    count,
                    sum,
                    bucket_counts,
                    explicit_bounds,
                    exemplars,
                    flags,
                    min,
                    max,
                },
            ),
        0..3,
    );
    let buckets = prop::option::of(
        (any::<i32>(), prop::collection::vec(any::<u64>(), 0..4)).prop_map(
            |(offset, bucket_counts)| Buckets {
                offset,
                bucket_counts,
            },
        ),
    );
    let exp = prop::collection::vec(
        (
            (
                arb_attributes(),
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                prop::option::of(arb_f64()),
                any::<i32>(),
                any::<u64>(),
            ),
            (
                buckets.clone(),
                buckets,
                any::<u32>(),
                arb_exemplars(),
                prop::option::of(arb_f64()),
                prop::option::of(arb_f64()),
                arb_f64(),
            ),
        )
            .prop_map(
                |(
                    (
                        attributes,
                        start_time_unix_nano,
                        time_unix_nano,
                        count,
                        sum,
                        scale,
                        zero_count,
                    ),
                    (positive, negative, flags, exemplars, min, max, zero_threshold),
                )| ExponentialHistogramDataPoint {
                    attributes,
                    start_time_unix_nano,
                    time_unix_nano,
                    count,
                    sum,
                    scale,
                    zero_count,
                    positive,
                    negative,
                    flags,
                    exemplars,
                    min,
                    max,
                    zero_threshold,
                },
            ),
        0..3,
    );
    let summary = prop::collection::vec(
        (
            arb_attributes(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            arb_f64(),
            prop::collection::vec(
                (arb_f64(), arb_f64())
                    .prop_map(|(quantile, value)| ValueAtQuantile { quantile, value }),
                0..3,
            ),
            any::<u32>(),
        )
            .prop_map(
                |(
                    attributes,
                    start_time_unix_nano,
                    time_unix_nano,
                    count,
                    sum,
                    quantile_values,
                    flags,
                )| {
                    SummaryDataPoint {
                        attributes,
                        start_time_unix_nano,
                        time_unix_nano,
                        count,
                        sum,
                        quantile_values,
                        flags,
                    }
                },
            ),
        0..3,
    );
    prop_oneof![
        Just(None),
        arb_number_points()
            .prop_map(|data_points| Some(metric::Data::Gauge(Gauge { data_points }))),
        (arb_number_points(), any::<i32>(), any::<bool>()).prop_map(
            |(data_points, aggregation_temporality, is_monotonic)| {
                Some(metric::Data::Sum(Sum {
                    data_points,
                    aggregation_temporality,
                    is_monotonic,
                }))
            }
        ),
        (histogram, any::<i32>()).prop_map(|(data_points, aggregation_temporality)| {
            Some(metric::Data::Histogram(Histogram {
                data_points,
                aggregation_temporality,
            }))
        }),
        (exp, any::<i32>()).prop_map(|(data_points, aggregation_temporality)| {
            Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points,
                aggregation_temporality,
            }))
        }),
        summary.prop_map(|data_points| Some(metric::Data::Summary(Summary { data_points }))),
    ]
}

/// Any `Metric`, edge cases included.
pub fn arb_metric() -> impl Strategy<Value = Metric> {
    (
        any::<String>(),
        any::<String>(),
        any::<String>(),
        arb_attributes(),
        arb_metric_data(),
    )
        .prop_map(|(name, description, unit, metadata, data)| Metric {
            name,
            description,
            unit,
            metadata,
            data,
        })
}

/// Any `LogRecord`, edge cases included.
pub fn arb_log() -> impl Strategy<Value = LogRecord> {
    (
        (
            any::<u64>(),
            any::<u64>(),
            any::<i32>(),
            any::<String>(),
            prop::option::of(arb_any_value()),
            arb_attributes(),
        ),
        (
            any::<u32>(),
            any::<u32>(),
            arb_bytes(17),
            arb_bytes(9),
            any::<String>(),
        ),
    )
        .prop_map(
            |(
                (
                    time_unix_nano,
                    observed_time_unix_nano,
                    severity_number,
                    severity_text,
                    body,
                    attributes,
                ),
                (dropped_attributes_count, flags, trace_id, span_id, event_name),
            )| LogRecord {
                time_unix_nano,
                observed_time_unix_nano,
                severity_number,
                severity_text,
                body,
                attributes,
                dropped_attributes_count,
                flags,
                trace_id,
                span_id,
                event_name,
            },
        )
}

/// Any `ExportTraceServiceRequest`, edge cases included.
pub fn arb_traces() -> impl Strategy<Value = ExportTraceServiceRequest> {
    prop::collection::vec(
        (
            arb_resource(),
            prop::collection::vec(
                (
                    arb_scope(),
                    prop::collection::vec(arb_span(), 0..3),
                    any::<String>(),
                ),
                0..3,
            ),
            any::<String>(),
        ),
        0..3,
    )
    .prop_map(|rs| ExportTraceServiceRequest {
        resource_spans: rs
            .into_iter()
            .map(|(resource, scopes, schema_url)| ResourceSpans {
                resource,
                schema_url,
                scope_spans: scopes
                    .into_iter()
                    .map(|(scope, spans, schema_url)| ScopeSpans {
                        scope,
                        spans,
                        schema_url,
                    })
                    .collect(),
            })
            .collect(),
    })
}

/// Any `ExportMetricsServiceRequest`, edge cases included.
pub fn arb_metrics() -> impl Strategy<Value = ExportMetricsServiceRequest> {
    prop::collection::vec(
        (
            arb_resource(),
            prop::collection::vec(
                (
                    arb_scope(),
                    prop::collection::vec(arb_metric(), 0..3),
                    any::<String>(),
                ),
                0..3,
            ),
            any::<String>(),
        ),
        0..3,
    )
    .prop_map(|rm| ExportMetricsServiceRequest {
        resource_metrics: rm
            .into_iter()
            .map(|(resource, scopes, schema_url)| ResourceMetrics {
                resource,
                schema_url,
                scope_metrics: scopes
                    .into_iter()
                    .map(|(scope, metrics, schema_url)| ScopeMetrics {
                        scope,
                        metrics,
                        schema_url,
                    })
                    .collect(),
            })
            .collect(),
    })
}

/// Any `ExportLogsServiceRequest`, edge cases included.
pub fn arb_logs() -> impl Strategy<Value = ExportLogsServiceRequest> {
    prop::collection::vec(
        (
            arb_resource(),
            prop::collection::vec(
                (
                    arb_scope(),
                    prop::collection::vec(arb_log(), 0..3),
                    any::<String>(),
                ),
                0..3,
            ),
            any::<String>(),
        ),
        0..3,
    )
    .prop_map(|rl| ExportLogsServiceRequest {
        resource_logs: rl
            .into_iter()
            .map(|(resource, scopes, schema_url)| ResourceLogs {
                resource,
                schema_url,
                scope_logs: scopes
                    .into_iter()
                    .map(|(scope, log_records, schema_url)| ScopeLogs {
                        scope,
                        log_records,
                        schema_url,
                    })
                    .collect(),
            })
            .collect(),
    })
}
