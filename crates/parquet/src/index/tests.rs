use arrow_array::cast::AsArray as _;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use otelvault_codec::proto::collector_logs::ExportLogsServiceRequest;
use otelvault_codec::proto::collector_trace::ExportTraceServiceRequest;
use otelvault_codec::proto::common::any_value::Value as V;
use otelvault_codec::proto::logs::{LogRecord, ResourceLogs, ScopeLogs};
use otelvault_codec::proto::resource::Resource;
use otelvault_codec::proto::trace::{ResourceSpans, ScopeSpans, Span, Status};
use otelvault_codec::values::attribute;

use super::*;

const T0: u64 = 1_730_000_000_000_000_000;

fn span(trace: u8, id: u8, parent: u8, name: &str, start: u64, end: u64, error: bool) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        parent_span_id: if parent == 0 {
            Vec::new()
        } else {
            vec![parent; 8]
        },
        name: name.into(),
        start_time_unix_nano: T0 + start,
        end_time_unix_nano: T0 + end,
        status: error.then(|| Status {
            code: 2,
            message: String::new(),
        }),
        attributes: vec![attribute("http.route", V::StringValue(format!("/{name}")))],
        ..Span::default()
    }
}

fn service(name: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![
                attribute("service.name", V::StringValue(name.into())),
                attribute("process.pid", V::IntValue(42)),
            ],
            ..Resource::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..ScopeSpans::default()
        }],
        schema_url: String::new(),
    }
}

fn batch_of(bytes: Vec<u8>) -> RecordBatch {
    let mut reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes))
        .and_then(|b| b.build())
        .expect("an index object");
    reader.next().expect("rows").expect("a batch")
}

fn indexes(signal: Signal, parts: Vec<Vec<u8>>) -> HashMap<&'static str, RecordBatch> {
    let mut index = HourIndexes::new(signal);
    for part in parts {
        index.add_part(Bytes::from(part)).expect("add");
    }
    index
        .finish()
        .expect("finish")
        .into_iter()
        .map(|(table, _, bytes)| (table.name, batch_of(bytes)))
        .collect()
}

#[test]
fn a_summary_per_trace_says_its_root_span_counts_errors_and_services() {
    // Trace 1: root in frontend, a failing child in cart, across two parts.
    // Trace 2: its root is in another hour: the earliest span stands in.
    let first = ExportTraceServiceRequest {
        resource_spans: vec![
            service(
                "frontend",
                vec![span(1, 1, 0, "GET /", 1_000, 90_000, false)],
            ),
            service("cart", vec![span(2, 5, 9, "late", 7_000, 8_000, false)]),
        ],
    };
    let second = ExportTraceServiceRequest {
        resource_spans: vec![service(
            "cart",
            vec![
                span(1, 2, 1, "GET /cart", 2_000, 95_500, true),
                span(2, 6, 9, "early", 5_000, 6_000, true),
            ],
        )],
    };
    let parts = vec![
        crate::traces::write(&[(0, &first)], &mut |_, _| Ok(())).expect("part"),
        crate::traces::write(&[(1, &second)], &mut |_, _| Ok(())).expect("part"),
    ];
    let all = indexes(Signal::Traces, parts);
    let summaries = &all["otel_trace_summaries"];
    assert_eq!(summaries.num_rows(), 2);
    let text = |name: &str, i: usize| summaries[name].as_string::<i32>().value(i).to_owned();
    let int = |name: &str, i: usize| summaries[name].as_primitive::<Int64Type>().value(i);
    // Sorted by root service: cart (trace 2) before frontend (trace 1).
    assert_eq!(text("TraceId", 0), "02".repeat(16));
    assert_eq!(text("RootServiceName", 0), "cart");
    assert_eq!(text("RootSpanName", 0), "early");
    assert!(!summaries["HasRoot"].as_boolean().value(0));
    assert_eq!(text("TraceId", 1), "01".repeat(16));
    assert_eq!(text("RootServiceName", 1), "frontend");
    assert_eq!(text("RootSpanName", 1), "GET /");
    assert!(summaries["HasRoot"].as_boolean().value(1));
    assert_eq!(int("Duration", 1), 94_500);
    assert_eq!(int("SpanCount", 1), 2);
    assert_eq!(int("ErrorCount", 1), 1);
    assert_eq!(int("ErrorCount", 0), 1);
    let start = summaries["Start"].as_primitive::<TimestampMicrosecondType>();
    assert_eq!(start.value(1), ((T0 + 1_000) / 1000) as i64);
    let services = summaries["ServiceNames"].as_list::<i32>();
    let names = services.value(1);
    let names: Vec<&str> = names.as_string::<i32>().iter().flatten().collect();
    assert_eq!(names, ["cart", "frontend"]);
    // Read back as a search reads them.
    let mut read = Vec::new();
    crate::summaries::visit_summaries(summaries, |s| {
        read.push((
            s.trace_id.to_owned(),
            s.start,
            s.end,
            s.has_root,
            s.root_service.to_owned(),
            s.spans,
            s.errors,
            s.has_service("cart"),
            s.has_service("frontend"),
        ));
    })
    .expect("summaries");
    assert_eq!(
        read[1],
        (
            "01".repeat(16),
            T0 + 1_000,
            T0 + 95_000,
            true,
            "frontend".to_owned(),
            2,
            1,
            Some(true),
            Some(true)
        ),
        "times rounded down to the microsecond"
    );
    assert_eq!(read[0].7, Some(true));
    assert_eq!(read[0].8, Some(false));

    let tags = &all["otel_trace_tags"];
    let rows: Vec<(String, String, String, i64)> = (0..tags.num_rows())
        .map(|i| {
            (
                tags["Scope"].as_string::<i32>().value(i).to_owned(),
                tags["Key"].as_string::<i32>().value(i).to_owned(),
                tags["Value"].as_string::<i32>().value(i).to_owned(),
                tags["Count"].as_primitive::<Int64Type>().value(i),
            )
        })
        .collect();
    let row = |s: &str, k: &str, v: &str, n: i64| (s.to_owned(), k.to_owned(), v.to_owned(), n);
    assert!(
        rows.contains(&row("resource", "service.name", "cart", 3)),
        "{rows:?}"
    );
    assert!(rows.contains(&row("resource", "service.name", "frontend", 1)));
    assert!(rows.contains(&row("span", "http.route", "/GET /cart", 1)));
    let pid = (0..tags.num_rows())
        .find(|&i| tags["Key"].as_string::<i32>().value(i) == "process.pid")
        .expect("process.pid");
    assert_eq!(tags["Type"].as_string::<i32>().value(pid), "int");
    assert_eq!(tags["Count"].as_primitive::<Int64Type>().value(pid), 4);
}

#[test]
fn a_tag_keeps_its_most_frequent_values_and_says_when_it_had_more() {
    let records: Vec<LogRecord> = (0..2 * TAG_VALUES)
        .map(|i| LogRecord {
            time_unix_nano: T0 + i as u64,
            // Value 0 on a third of the records, then one value each.
            attributes: vec![
                attribute(
                    "user",
                    V::StringValue(if i % 3 == 0 {
                        "0".into()
                    } else {
                        i.to_string()
                    }),
                ),
                attribute("level", V::IntValue((i % 2) as i64)),
            ],
            ..LogRecord::default()
        })
        .collect();
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    };
    let part = crate::logs::write(&[(0, &request)], &mut |_, _| Ok(())).expect("part");
    let all = indexes(Signal::Logs, vec![part]);
    assert_eq!(all.len(), 1, "logs have tags, no summaries");
    let tags = &all["otel_log_tags"];
    let of = |key: &str| -> Vec<(String, String, i64, bool)> {
        (0..tags.num_rows())
            .filter(|&i| tags["Key"].as_string::<i32>().value(i) == key)
            .map(|i| {
                (
                    tags["Value"].as_string::<i32>().value(i).to_owned(),
                    tags["Type"].as_string::<i32>().value(i).to_owned(),
                    tags["Count"].as_primitive::<Int64Type>().value(i),
                    tags["Truncated"].as_boolean().value(i),
                )
            })
            .collect()
    };
    let users = of("user");
    assert_eq!(users.len(), TAG_VALUES);
    assert_eq!(users[0], ("0".into(), "string".into(), 667, true));
    // An int attribute's values are ints: TraceQL tells 1 from "1".
    let levels = of("level");
    assert_eq!(
        levels,
        [
            ("0".into(), "int".into(), 1000, false),
            ("1".into(), "int".into(), 1000, false)
        ]
    );
}

#[test]
fn resource_tags_count_every_span_of_instances_whose_rows_interleave() {
    // Two instances of one service whose spans alternate in time: sorted
    // by service then start, their rows alternate in the part.
    let instance = |pid: i64, offset: u64| {
        let mut spans: Vec<Span> = (0..50u64)
            .map(|i| {
                let start = 10 * i + offset;
                span(
                    1,
                    (2 * i + offset + 1) as u8,
                    0,
                    "get",
                    start,
                    start + 5,
                    false,
                )
            })
            .collect();
        spans.reverse();
        let mut resource_spans = service("cart", spans);
        resource_spans
            .resource
            .as_mut()
            .expect("a resource")
            .attributes[1] = attribute("process.pid", V::IntValue(pid));
        resource_spans
    };
    let request = ExportTraceServiceRequest {
        resource_spans: vec![instance(1, 0), instance(2, 1)],
    };
    let part = crate::traces::write(&[(0, &request)], &mut |_, _| Ok(())).expect("part");
    let all = indexes(Signal::Traces, vec![part]);
    let tags = &all["otel_trace_tags"];
    let mut resource: Vec<(String, String, String, i64)> = (0..tags.num_rows())
        .filter(|&i| tags["Scope"].as_string::<i32>().value(i) == "resource")
        .map(|i| {
            (
                tags["Key"].as_string::<i32>().value(i).to_owned(),
                tags["Value"].as_string::<i32>().value(i).to_owned(),
                tags["Type"].as_string::<i32>().value(i).to_owned(),
                tags["Count"].as_primitive::<Int64Type>().value(i),
            )
        })
        .collect();
    resource.sort();
    let row = |key: &str, value: &str, kind: &str, count| {
        (key.to_owned(), value.to_owned(), kind.to_owned(), count)
    };
    assert_eq!(
        resource,
        [
            row("process.pid", "1", "int", 50),
            row("process.pid", "2", "int", 50),
            row("service.name", "cart", "string", 100),
        ]
    );
}

#[test]
fn event_attributes_are_tags_of_their_own_scope() {
    let mut failing = span(3, 1, 0, "pay", 0, 10, true);
    failing.events.push(Event {
        time_unix_nano: T0 + 5,
        name: "exception".into(),
        attributes: vec![attribute(
            "exception.type",
            V::StringValue("Timeout".into()),
        )],
        dropped_attributes_count: 0,
    });
    let request = ExportTraceServiceRequest {
        resource_spans: vec![service(
            "payment",
            vec![failing, span(3, 2, 1, "db", 1, 2, false)],
        )],
    };
    let part = crate::traces::write(&[(0, &request)], &mut |_, _| Ok(())).expect("part");
    let tags = &indexes(Signal::Traces, vec![part])["otel_trace_tags"];
    let found = (0..tags.num_rows()).any(|i| {
        tags["Scope"].as_string::<i32>().value(i) == "event"
            && tags["Key"].as_string::<i32>().value(i) == "exception.type"
            && tags["Value"].as_string::<i32>().value(i) == "Timeout"
            && tags["Count"].as_primitive::<Int64Type>().value(i) == 1
    });
    assert!(found);
}

/// The objects the indexes finish as: (rows, bytes) of each.
fn finished(indexes: HourIndexes) -> Vec<(usize, Vec<u8>)> {
    indexes
        .finish()
        .expect("finish")
        .into_iter()
        .map(|(_, rows, bytes)| (rows, bytes))
        .collect()
}

#[test]
fn indexes_handed_on_as_json_merge_into_the_same_objects() {
    let first = ExportTraceServiceRequest {
        resource_spans: vec![service(
            "frontend",
            vec![span(1, 1, 0, "GET /", 1_000, 90_000, false)],
        )],
    };
    let second = ExportTraceServiceRequest {
        resource_spans: vec![service(
            "cart",
            vec![
                span(1, 2, 1, "GET /cart", 2_000, 95_500, true),
                span(3, 7, 0, "POST /pay", 3_000, 4_000, false),
            ],
        )],
    };
    let parts = [
        crate::traces::write(&[(0, &first)], &mut |_, _| Ok(())).expect("part"),
        crate::traces::write(&[(1, &second)], &mut |_, _| Ok(())).expect("part"),
    ];
    let mut direct = HourIndexes::new(Signal::Traces);
    let mut handed = HourIndexes::new(Signal::Traces);
    for part in &parts {
        direct.add_part(Bytes::from(part.clone())).expect("add");
        // Each shard's indexes go through JSON, as a worker hands them on.
        let mut shard = HourIndexes::new(Signal::Traces);
        shard.add_part(Bytes::from(part.clone())).expect("add");
        let json = shard.to_json();
        handed.merge(HourIndexes::from_json(Signal::Traces, &json).expect("parse"));
    }
    let direct = finished(direct);
    assert_eq!(direct[0].0, 2, "two traces summarised");
    assert_eq!(finished(handed), direct);
    // Another signal's state, or not JSON at all, is refused.
    let json = HourIndexes::new(Signal::Logs).to_json();
    assert!(HourIndexes::from_json(Signal::Traces, &json).is_err());
    assert!(HourIndexes::from_json(Signal::Traces, b"{").is_err());
}

#[test]
fn a_shard_merged_in_past_the_tracked_values_gives_its_most_frequent_the_room_left() {
    // The hour tracks all but ten of the values it may; a shard with 500
    // rare values and ten frequent ones is merged in. Its ten most frequent
    // take the room, whatever order its maps yield them in, so the hour's
    // tag index is the same object from one run to the next.
    let merged = || {
        let mut hour = HourIndexes::new(Signal::Traces);
        for i in 0..TAG_TRACKED - 10 {
            hour.count("span", "http.url", &format!("/seen/{i}"), "string");
        }
        let mut shard = HourIndexes::new(Signal::Traces);
        for i in 0..500 {
            shard.count("span", "http.url", &format!("/rare/{i}"), "string");
        }
        for i in 0..10 {
            shard.count_n("span", "http.url", &format!("/hot/{i}"), "string", 100 + i);
        }
        hour.merge(shard);
        finished(hour)
    };
    let first = merged();
    let tags = batch_of(first.last().expect("a tag index").1.clone());
    let urls: Vec<(String, i64, bool)> = (0..tags.num_rows())
        .map(|i| {
            (
                tags["Value"].as_string::<i32>().value(i).to_owned(),
                tags["Count"].as_primitive::<Int64Type>().value(i),
                tags["Truncated"].as_boolean().value(i),
            )
        })
        .collect();
    assert_eq!(urls.len(), TAG_VALUES);
    let hot: Vec<(String, i64, bool)> = (0..10)
        .rev()
        .map(|i| (format!("/hot/{i}"), 100 + i, true))
        .collect();
    assert_eq!(
        urls[..10],
        hot,
        "the shard's frequent values found the room left"
    );
    for _ in 0..4 {
        assert_eq!(merged(), first, "the same index every run");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 32, ..Default::default() })]

    /// The indexes counted from a part's columns as it is written are
    /// those counted from the part read back, for every signal.
    #[test]
    fn indexes_counted_while_writing_equal_those_read_back(
        traces in proptest::collection::vec(otelvault_testkit::arb::arb_traces(), 1..4),
        logs in proptest::collection::vec(otelvault_testkit::arb::arb_logs(), 1..4),
        metrics in proptest::collection::vec(otelvault_testkit::arb::arb_metrics(), 1..4),
    ) {
        use otelvault_codec::Batch;
        let objects: [Vec<Batch>; 3] = [
            traces.into_iter().map(Batch::Traces).collect(),
            logs.into_iter().map(Batch::Logs).collect(),
            metrics.into_iter().map(Batch::Metrics).collect(),
        ];
        for batches in objects {
            let signal = batches[0].signal();
            let numbered: Vec<(u32, Batch)> = (0..).zip(batches).collect();
            let mut written = HourIndexes::new(signal);
            let parts = crate::write_parts(&numbered, &mut written).expect("write");
            let mut read = HourIndexes::new(signal);
            for (_, _, bytes) in parts {
                read.add_part(Bytes::from(bytes)).expect("read back");
            }
            proptest::prop_assert_eq!(finished(written), finished(read), "{:?}", signal);
        }
    }
}
