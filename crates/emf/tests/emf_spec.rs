//! EMF events checked against the Embedded Metric Format specification
//! (its JSON schema, written here from the published specification, and
//! the rules the schema cannot say), and the conversion of every OTLP
//! metric type against fixtures of expected events.
//!
//! `OTELVAULT_BLESS=1 cargo test -p otelvault-emf --test emf_spec` rewrites
//! the expected events of the fixtures (review the diff).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![recursion_limit = "256"]

use std::path::Path;
use std::time::Instant;

use otelvault_codec::proto::collector_metrics::ExportMetricsServiceRequest;
use otelvault_codec::proto::common::KeyValue;
use otelvault_codec::proto::metrics::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use otelvault_codec::values::text_attribute as string;
use otelvault_codec::{Batch, Format, Signal};
use otelvault_emf::{Config, Converter, Event, MAX_EVENT_BYTES};
use serde_json::{Value, json};

/// The specification's "Embedded metric format document structure", as a
/// JSON schema: the root holds `_aws`; `_aws` an integer `Timestamp` and
/// `CloudWatchMetrics`, an array of metric directives; a directive a
/// `Namespace`, `Dimensions` (dimension sets of at most 30 keys) and
/// `Metrics` (at most 100 definitions, each a `Name`, an optional `Unit`
/// from CloudWatch's units and an optional `StorageResolution` of 1 or 60).
fn schema() -> Value {
    let units = otelvault_emf::UNITS.join("|").replace('/', "\\/");
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Root Node",
        "type": "object",
        "required": ["_aws"],
        "properties": {
            "_aws": {
                "title": "Metadata",
                "type": "object",
                "required": ["Timestamp", "CloudWatchMetrics"],
                "properties": {
                    "Timestamp": {"type": "integer", "minimum": 0},
                    "LogGroupName": {"type": "string"},
                    "CloudWatchMetrics": {
                        "title": "MetricDirectives",
                        "type": "array",
                        "items": {
                            "title": "MetricDirective",
                            "type": "object",
                            "required": ["Namespace", "Dimensions", "Metrics"],
                            "properties": {
                                "Namespace": {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": "^(.*)$"},
                                "Dimensions": {
                                    "title": "The Dimension Sets",
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "title": "DimensionSet",
                                        "type": "array",
                                        "minItems": 0,
                                        "maxItems": 30,
                                        "items": {"title": "DimensionReference", "type": "string", "minLength": 1, "maxLength": 250}
                                    }
                                },
                                "Metrics": {
                                    "title": "MetricDefinitions",
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": 100,
                                    "items": {
                                        "title": "MetricDefinition",
                                        "type": "object",
                                        "required": ["Name"],
                                        "properties": {
                                            "Name": {"type": "string", "minLength": 1, "maxLength": 1024},
                                            "Unit": {"type": "string", "pattern": format!("^({units})$")},
                                            "StorageResolution": {"type": "integer", "enum": [1, 60]}
                                        },
                                        "additionalProperties": false
                                    }
                                }
                            },
                            "additionalProperties": false
                        }
                    }
                }
            }
        }
    })
}

/// Checks an event line against the schema and the rules about target
/// members: every dimension a directive names is a string member of the
/// root; every metric a number, an array of at most 100 numbers, or a
/// statistic set (with `Values`/`Counts` of equal length, at most 100);
/// and the line fits in a CloudWatch Logs event.
fn check(line: &str) -> Result<(), String> {
    if line.len() > MAX_EVENT_BYTES {
        return Err(format!("{} bytes", line.len()));
    }
    let event: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let validator = jsonschema::validator_for(&schema()).expect("the schema compiles");
    if let Some(error) = validator.iter_errors(&event).next() {
        return Err(format!("{error} at {}", error.instance_path()));
    }
    for directive in event["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
        for set in directive["Dimensions"].as_array().unwrap() {
            for key in set.as_array().unwrap() {
                let key = key.as_str().unwrap();
                match &event[key] {
                    Value::String(s) if !s.is_empty() && s.len() <= 1024 => {}
                    other => return Err(format!("dimension {key} is {:.80}", other.to_string())),
                }
            }
        }
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            match &event[name] {
                Value::Number(_) => {}
                Value::Array(values)
                    if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                Value::Object(stats) => {
                    for field in ["Count", "Sum", "Min", "Max"] {
                        if !stats.get(field).is_some_and(Value::is_number) {
                            return Err(format!("{name} lacks {field}"));
                        }
                    }
                    if stats["Min"].as_f64() > stats["Max"].as_f64() {
                        return Err(format!("{name}: Min > Max"));
                    }
                    match (stats.get("Values"), stats.get("Counts")) {
                        (None, None) => {}
                        (Some(Value::Array(v)), Some(Value::Array(c)))
                            if v.len() == c.len() && v.len() <= 100 => {}
                        _ => return Err(format!("{name}: Values and Counts differ")),
                    }
                }
                other => return Err(format!("metric {name} is {:.80}", other.to_string())),
            }
        }
    }
    Ok(())
}

fn requests(path: &Path) -> Vec<ExportMetricsServiceRequest> {
    let text = std::fs::read_to_string(path).unwrap();
    let list: Vec<Value> = serde_json::from_str(&text).unwrap();
    list.iter()
        .map(|r| {
            match Batch::decode(Signal::Metrics, Format::Json, r.to_string().as_bytes()).unwrap() {
                Batch::Metrics(m) => m,
                _ => unreachable!(),
            }
        })
        .collect()
}

/// The events of the requests in order, through one converter.
fn convert(converter: &Converter, requests: &[ExportMetricsServiceRequest]) -> Vec<Event> {
    let now = Instant::now();
    requests
        .iter()
        .flat_map(|r| converter.convert_at(r, now, 1_700_000_999_000).events)
        .collect()
}

#[test]
fn every_metric_type_converts_to_the_expected_events() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 6,
        "a fixture per metric type and for declarations"
    );
    for case in cases {
        let config = match std::fs::read_to_string(case.join("config.json")) {
            Ok(text) => Config::parse(&text).unwrap(),
            Err(_) => Config::default(),
        };
        let events = convert(&Converter::new(config), &requests(&case.join("input.json")));
        for event in &events {
            check(&event.to_line()).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        }
        let got = Value::Array(events.iter().map(Event::to_value).collect());
        let expected_path = case.join("expected.json");
        if std::env::var_os("OTELVAULT_BLESS").is_some() {
            std::fs::write(
                &expected_path,
                serde_json::to_string_pretty(&got).unwrap() + "\n",
            )
            .unwrap();
        }
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();
        assert_eq!(got, expected, "{}", case.display());
    }
}

#[test]
fn the_checks_refuse_what_the_specification_refuses() {
    let good = json!({"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "n", "Dimensions": [["a"]], "Metrics": [{"Name": "m", "Unit": "Count"}]}]}, "a": "x", "m": 1});
    assert_eq!(check(&good.to_string()), Ok(()));
    let mut bad = good.clone();
    bad["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("requests");
    assert!(check(&bad.to_string()).is_err(), "unit");
    let mut bad = good.clone();
    bad["_aws"]["CloudWatchMetrics"][0]["Dimensions"] =
        json!([(0..31).map(|i| format!("k{i}")).collect::<Vec<_>>()]);
    assert!(check(&bad.to_string()).is_err(), "31 dimensions");
    let mut bad = good.clone();
    bad["_aws"]["CloudWatchMetrics"][0]["Metrics"] = json!(
        (0..101)
            .map(|i| json!({"Name": format!("m{i}")}))
            .collect::<Vec<_>>()
    );
    assert!(check(&bad.to_string()).is_err(), "101 metrics");
    let mut bad = good.clone();
    bad["a"] = json!(3);
    assert!(
        check(&bad.to_string()).is_err(),
        "a dimension that is not a string"
    );
    let mut bad = good;
    bad["_aws"]["Timestamp"] = json!("1");
    assert!(
        check(&bad.to_string()).is_err(),
        "a timestamp that is a string"
    );
}

/// One gauge per name in `names`, a point each, with `attributes`.
fn gauges(names: &[String], attributes: &[KeyValue]) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: names
                    .iter()
                    .map(|name| Metric {
                        name: name.clone(),
                        data: Some(metric::Data::Gauge(Gauge {
                            data_points: vec![NumberDataPoint {
                                attributes: attributes.to_vec(),
                                time_unix_nano: 1_700_000_000_000_000_000,
                                value: Some(number_data_point::Value::AsDouble(1.5)),
                                ..Default::default()
                            }],
                        })),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn more_than_100_metrics_of_one_label_set_go_to_several_events() {
    let names: Vec<String> = (0..250).map(|i| format!("m{i:03}")).collect();
    let out = Converter::new(Config::default()).convert(&gauges(&names, &[string("a", "x")]));
    assert_eq!(out.events.len(), 3);
    let mut seen: Vec<String> = Vec::new();
    for event in &out.events {
        check(&event.to_line()).unwrap();
        assert!(event.directives[0].metrics.len() <= 100);
        seen.extend(event.values.keys().cloned());
    }
    seen.sort();
    assert_eq!(seen, names, "every metric once");
    assert_eq!(out.points, 250);
}

#[test]
fn a_label_set_wider_than_30_keeps_only_its_rolled_up_dimension_sets() {
    let attributes: Vec<KeyValue> = (0..40).map(|i| string(&format!("k{i:02}"), "v")).collect();
    let out = Converter::new(Config::default()).convert(&gauges(&["m".into()], &attributes));
    assert_eq!(out.wide_dimension_sets, 1);
    let event = &out.events[0];
    check(&event.to_line()).unwrap();
    // The zero set and one set per label, none of the 40-key one.
    assert_eq!(event.directives[0].dimensions.len(), 41);
    assert!(event.directives[0].dimensions.iter().all(|s| s.len() <= 1));

    let config = Config::parse(r#"{"dimension_rollup_option": "NoDimensionRollup"}"#).unwrap();
    let out = Converter::new(config).convert(&gauges(&["m".into()], &attributes));
    assert!(
        out.events.is_empty(),
        "no dimension set is left: nothing CloudWatch could take"
    );
    assert_eq!(out.wide_dimension_sets, 1);
}

#[test]
fn an_event_larger_than_1_mb_is_split_by_metric() {
    // 800 KB of attributes that are not dimensions, and 100 metrics of
    // long names: 1.1 MB in one label set.
    let config = Config::parse(
        r#"{"dimension_rollup_option": "NoDimensionRollup", "metric_declarations": [{"dimensions": [["a"]], "metric_name_selectors": ["^m"]}]}"#,
    )
    .unwrap();
    let mut attributes = vec![string("a", "x")];
    attributes.extend((0..80).map(|i| string(&format!("big{i:02}"), &"y".repeat(10_000))));
    let names: Vec<String> = (0..100)
        .map(|i| format!("m{i:03}{}", "x".repeat(1_000)))
        .collect();
    let converter = Converter::new(config);
    let out = converter.convert(&gauges(&names, &attributes));
    assert!(out.events.len() >= 2, "{} events", out.events.len());
    let total: usize = out.events.iter().map(|e| e.values.len()).sum();
    assert_eq!(total, 100, "every metric in one of the parts");
    for event in &out.events {
        check(&event.to_line()).unwrap();
    }
    assert_eq!(out.too_large, 0);

    // Attributes alone over 1 MB: no part can fit; the metric is counted.
    attributes.extend((80..120).map(|i| string(&format!("big{i:03}"), &"y".repeat(10_000))));
    let out = converter.convert(&gauges(&names[..1], &attributes));
    assert!(out.events.is_empty());
    assert_eq!(out.too_large, 1);
}

#[test]
fn a_histogram_of_more_than_100_buckets_is_split_and_keeps_its_count_and_sum() {
    use otelvault_codec::proto::metrics::{
        ExponentialHistogram, ExponentialHistogramDataPoint,
        exponential_histogram_data_point::Buckets,
    };
    let counts: Vec<u64> = (0..250).map(|i| 1 + i % 3).collect();
    let total: u64 = counts.iter().sum();
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "latency".into(),
                    unit: "ms".into(),
                    data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                        data_points: vec![ExponentialHistogramDataPoint {
                            time_unix_nano: 1_700_000_000_000_000_000,
                            count: total,
                            sum: Some(12345.0),
                            scale: 4,
                            min: Some(1.0),
                            max: Some(60000.0),
                            positive: Some(Buckets {
                                offset: 0,
                                bucket_counts: counts,
                            }),
                            ..Default::default()
                        }],
                        aggregation_temporality: 1,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let out = Converter::new(Config::default()).convert(&request);
    assert_eq!(out.events.len(), 3, "250 buckets in 100s");
    let mut count = 0;
    let mut sum = 0.0;
    for event in &out.events {
        check(&event.to_line()).unwrap();
        count += event.values["latency"]["Count"].as_u64().unwrap();
        sum += event.values["latency"]["Sum"].as_f64().unwrap();
    }
    assert_eq!(count, total);
    assert_eq!(sum, 12345.0);
    assert_eq!(out.events[0].values["latency"]["Max"], 60000.0);
    assert_eq!(out.events[2].values["latency"]["Min"], 1.0);
}
