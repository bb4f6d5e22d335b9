//! OTLP/JSON tests: for each signal a CANONICAL document (the sample in
//! `samples/otlp/`) that must decode to a message built here field by field
//! and that the encoder must reproduce exactly, ALTERNATIVE forms of the same
//! documents that must decode to the same message, malformed documents that
//! must fail with a useful error (the property test is in `tests/json_round_trip.rs`).

use serde_json::Value;

use super::*;
use crate::proto::common::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use crate::proto::logs::{LogRecord, ResourceLogs, ScopeLogs};
use crate::proto::metrics::{
    Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint, exemplar, exponential_histogram_data_point::Buckets, metric,
    number_data_point, summary_data_point::ValueAtQuantile,
};
use crate::proto::resource::Resource;
use crate::proto::trace::{ResourceSpans, ScopeSpans, Span, Status, span};

const TRACES: &str = include_str!("../../../../samples/otlp/traces.json");
const METRICS: &str = include_str!("../../../../samples/otlp/metrics.json");
const LOGS: &str = include_str!("../../../../samples/otlp/logs.json");

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn av(v: any_value::Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(v) })
}

use crate::values::attribute as kv;

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

fn service() -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", s("checkout"))],
        ..Default::default()
    })
}

const SCHEMA: &str = "https://opentelemetry.io/schemas/1.26.0";
const TRACE_ID: &str = "5b8efff798038103d269b633813fc60c";
const SPAN_ID: &str = "eee19b7ec3c1b174";

fn expected_traces() -> ExportTraceServiceRequest {
    use any_value::Value as V;
    let full = Span {
        trace_id: hex(TRACE_ID),
        span_id: hex(SPAN_ID),
        trace_state: "vendor=1".into(),
        parent_span_id: hex("eee19b7ec3c1b173"),
        flags: 257,
        name: "POST /buy".into(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: 1_730_000_000_000_000_000,
        end_time_unix_nano: 1_730_000_000_250_000_000,
        attributes: vec![
            kv("http.route", s("/buy")),
            kv("http.request.empty", s("")),
            kv("retry", V::BoolValue(false)),
            kv("http.response.status_code", V::IntValue(-42)),
            kv("ratio", V::DoubleValue(3.5)),
            kv("payload", V::BytesValue(vec![1, 2, 3, 255])),
            kv(
                "tags",
                V::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(s("a")),
                        },
                        AnyValue {
                            value: Some(V::IntValue(1)),
                        },
                        AnyValue {
                            value: Some(V::ArrayValue(ArrayValue::default())),
                        },
                    ],
                }),
            ),
            kv(
                "nested",
                V::KvlistValue(KeyValueList {
                    values: vec![
                        kv("inner", V::DoubleValue(0.25)),
                        KeyValue {
                            key: "none".into(),
                            ..Default::default()
                        },
                    ],
                }),
            ),
            KeyValue {
                key: "empty".into(),
                value: Some(AnyValue::default()),
                ..Default::default()
            },
        ],
        dropped_attributes_count: 3,
        events: vec![span::Event {
            time_unix_nano: 1_730_000_000_100_000_000,
            name: "retry".into(),
            attributes: vec![kv("attempt", V::IntValue(2))],
            dropped_attributes_count: 1,
        }],
        dropped_events_count: 4,
        links: vec![span::Link {
            trace_id: hex("0af7651916cd43dd8448eb211c80319c"),
            span_id: hex("b7ad6b7169203331"),
            trace_state: "other=2".into(),
            attributes: vec![kv("link.kind", s("follows"))],
            dropped_attributes_count: 1,
            flags: 256,
        }],
        dropped_links_count: 5,
        status: Some(Status {
            message: "payment declined".into(),
            code: 2,
        }),
    };
    let minimal = Span {
        trace_id: hex(TRACE_ID),
        span_id: hex("00f067aa0ba902b7"),
        parent_span_id: hex(SPAN_ID),
        name: "charge card".into(),
        kind: span::SpanKind::Client as i32,
        start_time_unix_nano: 1_730_000_000_200_000_000,
        end_time_unix_nano: 1_730_000_000_240_000_000,
        status: Some(Status::default()),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", s("checkout")),
                    kv("service.version", s("1.4.2")),
                ],
                dropped_attributes_count: 1,
                entity_refs: vec![EntityRef {
                    schema_url: SCHEMA.into(),
                    r#type: "service".into(),
                    id_keys: vec!["service.name".into()],
                    description_keys: vec!["service.version".into()],
                }],
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "checkout-http".into(),
                    version: "1.2.3".into(),
                    attributes: vec![kv("scope.enabled", V::BoolValue(true))],
                    dropped_attributes_count: 2,
                }),
                spans: vec![full, minimal],
                schema_url: SCHEMA.into(),
            }],
            schema_url: SCHEMA.into(),
        }],
    }
}

fn expected_metrics() -> ExportMetricsServiceRequest {
    let t = 1_730_000_000_000_000_000u64;
    let start = 1_729_999_940_000_000_000u64;
    let metrics = vec![
        Metric {
            name: "queue.depth".into(),
            description: "Items waiting.".into(),
            unit: "{item}".into(),
            metadata: vec![kv("source", s("sdk"))],
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![NumberDataPoint {
                    attributes: vec![kv("queue", s("orders"))],
                    time_unix_nano: t,
                    value: Some(number_data_point::Value::AsDouble(12.5)),
                    exemplars: vec![Exemplar {
                        filtered_attributes: vec![kv("user", s("u1"))],
                        time_unix_nano: t + 1,
                        value: Some(exemplar::Value::AsDouble(1.5)),
                        span_id: hex(SPAN_ID),
                        trace_id: hex(TRACE_ID),
                    }],
                    flags: 1,
                    ..Default::default()
                }],
            })),
        },
        Metric {
            name: "http.server.requests".into(),
            description: "Total requests.".into(),
            unit: "{request}".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: vec![
                    NumberDataPoint {
                        start_time_unix_nano: start,
                        time_unix_nano: t,
                        value: Some(number_data_point::Value::AsInt(9_007_199_254_740_993)),
                        exemplars: vec![Exemplar {
                            time_unix_nano: t + 2,
                            value: Some(exemplar::Value::AsInt(-7)),
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                    NumberDataPoint {
                        start_time_unix_nano: start,
                        time_unix_nano: t + 60_000_000_000,
                        value: Some(number_data_point::Value::AsInt(0)),
                        ..Default::default()
                    },
                ],
                aggregation_temporality: 2,
                is_monotonic: true,
            })),
            ..Default::default()
        },
        Metric {
            name: "http.server.duration".into(),
            unit: "ms".into(),
            data: Some(metric::Data::Histogram(Histogram {
                data_points: vec![
                    HistogramDataPoint {
                        attributes: vec![kv("http.route", s("/buy"))],
                        start_time_unix_nano: start,
                        time_unix_nano: t,
                        count: 6,
                        sum: Some(123.5),
                        bucket_counts: vec![1, 2, 3],
                        explicit_bounds: vec![10.0, 100.0],
                        min: Some(0.5),
                        max: Some(90.0),
                        ..Default::default()
                    },
                    HistogramDataPoint {
                        time_unix_nano: t,
                        sum: Some(0.0),
                        bucket_counts: vec![0],
                        ..Default::default()
                    },
                ],
                aggregation_temporality: 1,
            })),
            ..Default::default()
        },
        Metric {
            name: "payload.size".into(),
            unit: "By".into(),
            data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    start_time_unix_nano: start,
                    time_unix_nano: t,
                    count: 5,
                    sum: Some(10.0),
                    scale: -2,
                    zero_count: 1,
                    positive: Some(Buckets {
                        offset: -1,
                        bucket_counts: vec![1, 2],
                    }),
                    negative: Some(Buckets {
                        offset: 2,
                        bucket_counts: vec![1],
                    }),
                    flags: 1,
                    exemplars: vec![Exemplar {
                        time_unix_nano: t + 3,
                        value: Some(exemplar::Value::AsDouble(4.0)),
                        ..Default::default()
                    }],
                    min: Some(-4.0),
                    max: Some(8.0),
                    zero_threshold: 0.001,
                    ..Default::default()
                }],
                aggregation_temporality: 2,
            })),
            ..Default::default()
        },
        Metric {
            name: "gc.pause".into(),
            unit: "ms".into(),
            data: Some(metric::Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    start_time_unix_nano: start,
                    time_unix_nano: t,
                    count: 10,
                    sum: 55.0,
                    quantile_values: vec![
                        ValueAtQuantile {
                            quantile: 0.5,
                            value: 4.0,
                        },
                        ValueAtQuantile {
                            quantile: 0.99,
                            value: 9.75,
                        },
                        ValueAtQuantile::default(),
                    ],
                    ..Default::default()
                }],
            })),
            ..Default::default()
        },
        Metric {
            name: "declared.only".into(),
            description: "A metric with no data yet.".into(),
            ..Default::default()
        },
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: service(),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "checkout-metrics".into(),
                    version: "0.9.0".into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn expected_logs() -> ExportLogsServiceRequest {
    use any_value::Value as V;
    let at = |i: u64, body: Option<AnyValue>| LogRecord {
        time_unix_nano: 1_730_000_000_000_000_000 + i * 1_000_000_000,
        body,
        ..Default::default()
    };
    let records = vec![
        LogRecord {
            time_unix_nano: 1_730_000_000_000_000_000,
            observed_time_unix_nano: 1_730_000_000_000_000_500,
            severity_number: 9,
            severity_text: "INFO".into(),
            body: av(s("user logged in")),
            attributes: vec![kv("user.id", V::IntValue(1234))],
            dropped_attributes_count: 1,
            flags: 1,
            trace_id: hex(TRACE_ID),
            span_id: hex(SPAN_ID),
            event_name: "user.login".into(),
        },
        LogRecord {
            observed_time_unix_nano: 1_730_000_001_000_000_000,
            severity_number: 17,
            body: av(V::KvlistValue(KeyValueList {
                values: vec![kv("error", s("timeout")), kv("attempts", V::IntValue(3))],
            })),
            ..Default::default()
        },
        at(
            2,
            av(V::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(V::BoolValue(true)),
                    },
                    AnyValue {
                        value: Some(V::DoubleValue(-1.25)),
                    },
                ],
            })),
        ),
        at(3, av(V::BytesValue(vec![0xde, 0xad, 0xbe, 0xef]))),
        at(4, av(V::IntValue(i64::MAX))),
        at(5, av(V::DoubleValue(1e300))),
        at(6, av(V::BoolValue(false))),
        at(7, Some(AnyValue::default())),
    ];
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: service(),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "checkout-logger".into(),
                    ..Default::default()
                }),
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn parse_value(text: &str) -> Value {
    serde_json::from_str(text).expect("valid JSON")
}

#[test]
fn canonical_traces_decode_field_by_field() {
    assert_eq!(
        decode_traces(TRACES.as_bytes()).expect("decode"),
        expected_traces()
    );
}

#[test]
fn canonical_metrics_decode_field_by_field() {
    assert_eq!(
        decode_metrics(METRICS.as_bytes()).expect("decode"),
        expected_metrics()
    );
}

#[test]
fn canonical_logs_decode_field_by_field() {
    assert_eq!(
        decode_logs(LOGS.as_bytes()).expect("decode"),
        expected_logs()
    );
}

#[test]
fn encoder_writes_the_canonical_form_exactly() {
    for (name, encoded, canonical) in [
        ("traces", encode_traces(&expected_traces()), TRACES),
        ("metrics", encode_metrics(&expected_metrics()), METRICS),
        ("logs", encode_logs(&expected_logs()), LOGS),
    ] {
        assert_eq!(parse_value(&encoded), parse_value(canonical), "{name}");
        assert!(!encoded.contains("null"), "{name} output contains null");
        assert!(!encoded.contains(' ') || canonical.contains(' '), "{name}");
    }
}

/// Rewrites a canonical document into the other forms receivers must accept:
/// snake_case field names, 64-bit integers as JSON numbers, upper-case hex
/// ids, plus an unknown field and a null field in every object.
fn alternative(v: &Value, parent_key: &str) -> Value {
    const IDS: [&str; 3] = ["traceId", "spanId", "parentSpanId"];
    match v {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let snake: String = k
                    .chars()
                    .flat_map(|c| {
                        if c.is_ascii_uppercase() {
                            vec!['_', c.to_ascii_lowercase()]
                        } else {
                            vec![c]
                        }
                    })
                    .collect();
                let value = match v {
                    Value::String(s) if IDS.contains(&k.as_str()) => {
                        Value::String(s.to_uppercase())
                    }
                    _ => alternative(v, k),
                };
                out.insert(snake, value);
            }
            out.insert("someFutureField".into(), Value::from(vec![1, 2, 3]));
            out.insert("alsoNull".into(), Value::Null);
            Value::Object(out)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| alternative(i, parent_key)).collect())
        }
        // 64-bit integers as numbers, as the Node.js exporter sends them.
        Value::String(s)
            if parent_key != "stringValue"
                && parent_key != "key"
                && s.parse::<i64>().is_ok()
                && !s.is_empty() =>
        {
            Value::from(s.parse::<i64>().expect("checked"))
        }
        other => other.clone(),
    }
}

#[test]
fn alternative_forms_decode_to_the_same_messages() {
    let alt = |text: &str| serde_json::to_vec(&alternative(&parse_value(text), "")).expect("json");
    let traces = alt(TRACES);
    assert!(String::from_utf8_lossy(&traces).contains("\"trace_id\":\"5B8EFFF7"));
    assert_eq!(decode_traces(&traces).expect("traces"), expected_traces());
    assert_eq!(
        decode_metrics(&alt(METRICS)).expect("metrics"),
        expected_metrics()
    );
    assert_eq!(decode_logs(&alt(LOGS)).expect("logs"), expected_logs());
}

#[test]
fn enum_names_numeric_strings_and_special_doubles_are_accepted() {
    let doc = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{
        "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
        "kind":"SPAN_KIND_SERVER","status":{"code":"STATUS_CODE_ERROR"},
        "startTimeUnixNano":1.73e18,
        "attributes":[{"key":"nan","value":{"doubleValue":"NaN"}},
                      {"key":"inf","value":{"doubleValue":"-Infinity"}},
                      {"key":"str","value":{"doubleValue":"2.5"}},
                      {"key":"b","value":{"bytesValue":"AQID_w"}}]}]}]}]}"#;
    let r = decode_traces(doc.as_bytes()).expect("decode");
    let span = &r.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.trace_id, hex(TRACE_ID));
    assert_eq!(span.kind, span::SpanKind::Server as i32);
    assert_eq!(span.status.as_ref().map(|s| s.code), Some(2));
    assert_eq!(span.start_time_unix_nano, 1_730_000_000_000_000_000);
    let values: Vec<_> = span.attributes.iter().map(|a| a.value.clone()).collect();
    assert!(
        matches!(values[0], Some(AnyValue { value: Some(any_value::Value::DoubleValue(d)) }) if d.is_nan())
    );
    assert_eq!(
        values[1],
        av(any_value::Value::DoubleValue(f64::NEG_INFINITY))
    );
    assert_eq!(values[2], av(any_value::Value::DoubleValue(2.5)));
    assert_eq!(
        values[3],
        av(any_value::Value::BytesValue(vec![1, 2, 3, 255]))
    );

    let metrics = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m",
        "sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA","dataPoints":[{"asDouble":"Infinity"}]}}]}]}]}"#;
    let m = decode_metrics(metrics.as_bytes()).expect("metrics");
    let Some(metric::Data::Sum(sum)) = &m.resource_metrics[0].scope_metrics[0].metrics[0].data
    else {
        panic!("expected a sum");
    };
    assert_eq!(sum.aggregation_temporality, 1);
    assert_eq!(
        sum.data_points[0].value,
        Some(number_data_point::Value::AsDouble(f64::INFINITY))
    );
    // And they are written back in the proto3 JSON string form.
    let out = encode_metrics(&m);
    assert!(out.contains(r#""asDouble":"Infinity""#), "{out}");

    let logs = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"SEVERITY_NUMBER_WARN"}]}]}]}"#;
    let l = decode_logs(logs.as_bytes()).expect("logs");
    assert_eq!(
        l.resource_logs[0].scope_logs[0].log_records[0].severity_number,
        13
    );
}

#[test]
fn strings_are_escaped_and_round_trip() {
    let tricky = "quote\" backslash\\ newline\n tab\t nul\u{0} bell\u{7} é 😀 \u{2028}";
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    body: av(s(tricky)),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let out = encode_logs(&req);
    assert!(out.contains(r#"nul\u0000 bell\u0007"#), "{out}");
    assert_eq!(decode_logs(out.as_bytes()).expect("decode"), req);
}

fn error_of(doc: &str) -> String {
    decode_traces(doc.as_bytes())
        .expect_err("must fail")
        .to_string()
}

#[test]
fn malformed_documents_fail_with_the_field_path() {
    let cases = [
        (
            r#"{"resourceSpans":{}}"#,
            "resourceSpans: invalid type: map, expected an array at line 1 column",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz1"}]}]}]}"#,
            "resourceSpans[0].scopeSpans[0].spans[0].traceId: id \"xyz1\" is not hex",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"abc"}]}]}]}"#,
            "spans[0].spanId: id \"abc\" has an odd number of hex digits",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#,
            "startTimeUnixNano: expected an unsigned 64-bit integer as a decimal string, got \"soon\"",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":-1}]}]}]}"#,
            "out of range",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"flags":1.5}]}]}]}"#,
            "flags: expected an unsigned 32-bit integer, got 1.5",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":7}]}]}]}"#,
            "spans[0].name: invalid type: integer `7`, expected a string",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_BOGUS"}]}]}]}"#,
            "kind: unknown enum value",
        ),
        (
            r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":{"stringValue":"x","intValue":"1"}}]}}]}"#,
            "more than one value kind",
        ),
        (
            r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":{"bytesValue":"!!"}}]}}]}"#,
            "invalid base64",
        ),
        (
            r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":{"intValue":"99999999999999999999"}}]}}]}"#,
            "out of range for a signed 64-bit integer",
        ),
        ("[1,2,3]", "invalid type: sequence, expected an object"),
        (r#"{"resourceSpans":[}"#, "expected value"),
        ("", "EOF"),
    ];
    for (doc, expected) in cases {
        let err = error_of(doc);
        assert!(
            err.contains(expected),
            "{doc}\n  gave: {err}\n  want: {expected}"
        );
    }
}

#[test]
fn deeply_nested_arrays_are_an_error_not_a_crash() {
    let depth = 100_000;
    let mut doc = String::from(r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":"#);
    for _ in 0..depth {
        doc.push_str(r#"{"arrayValue":{"values":["#);
    }
    for _ in 0..depth {
        doc.push_str("]}}");
    }
    doc.push_str("}]}]}]}");
    let err = decode_logs(doc.as_bytes()).expect_err("must fail");
    assert!(err.to_string().contains("recursion limit"), "{err}");
}

#[test]
fn deeply_nested_key_value_lists_are_an_error_not_a_crash() {
    let depth = 100_000;
    let mut doc = String::from(r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":"#);
    for _ in 0..depth {
        doc.push_str(r#"{"kvlistValue":{"values":[{"key":"k","value":"#);
    }
    for _ in 0..depth {
        doc.push_str("}]}}");
    }
    doc.push_str("}]}]}]}");
    let err = decode_logs(doc.as_bytes()).expect_err("must fail");
    assert!(err.to_string().contains("recursion limit"), "{err}");
}

#[test]
fn wrong_length_ids_decode_so_validation_can_reject_them() {
    let doc = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"abcdef","spanId":"0102030405060708"}]}]}]}"#;
    let r = decode_traces(doc.as_bytes()).expect("decodes");
    assert_eq!(
        r.resource_spans[0].scope_spans[0].spans[0].trace_id,
        vec![0xab, 0xcd, 0xef]
    );
}

#[test]
fn responses_and_status_encode_as_otlp_json() {
    use crate::proto::collector_trace::ExportTracePartialSuccess;
    let r = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 3,
            error_message: "bad".into(),
        }),
    };
    let text = encode_traces_response(&r);
    assert_eq!(
        text,
        r#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"bad"}}"#
    );
    assert_eq!(
        decode_partial_success(text.as_bytes()).expect("decode"),
        (3, "bad".into())
    );
    let st = RpcStatus {
        code: 3,
        message: "no \"start\"".into(),
    };
    assert_eq!(encode_status(&st), r#"{"code":3,"message":"no \"start\""}"#);
}

#[test]
fn a_string_that_is_not_utf8_fails_with_its_field_path() {
    let mut doc = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"caf"#.to_vec();
    doc.push(0xE9); // é in Latin-1
    doc.extend_from_slice(br#""}]}]}]}"#);
    let err = decode_traces(&doc).expect_err("must fail").to_string();
    assert!(
        err.starts_with("resourceSpans[0].scopeSpans[0].spans[0].name: "),
        "{err}"
    );
    assert!(err.contains("invalid unicode"), "{err}");
}
