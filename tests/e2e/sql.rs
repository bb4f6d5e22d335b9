//! The compacted tier on real SQL engines: Spark SQL (local mode, Hive
//! metastore) and DuckDB run the DDL `otelvault schema` prints and then the
//! named queries terraform saves in Athena, as they are, over an archive
//! the real binary ingested and compacted. Each query's rows equal what
//! the fetch API answers on the same data. The Athena DDL is the one Spark
//! runs, and the Glue columns terraform declares are the writer's.

use std::collections::BTreeMap;
use std::process::Command;

use otelvault_codec::proto::collector_logs::ExportLogsServiceRequest;
use otelvault_codec::proto::collector_metrics::ExportMetricsServiceRequest;
use otelvault_codec::proto::collector_trace::ExportTraceServiceRequest;
use otelvault_codec::proto::common::{AnyValue, InstrumentationScope, any_value};
use otelvault_codec::proto::logs::{LogRecord, ResourceLogs, ScopeLogs};
use otelvault_codec::proto::metrics::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint, metric,
    number_data_point,
};
use otelvault_codec::proto::resource::Resource;
use otelvault_codec::proto::trace::{ResourceSpans, ScopeSpans, Span, Status, span, status};
use prost::Message as _;
use serde_json::{Value, json};

use crate::support::*;
use otelvault_codec::values::text_attribute as text;

/// 2024-10-27T03:00:00Z, unix nanoseconds: the day the queries ask about.
const DAY_HOUR: u64 = 1_729_998_000_000_000_000;
const SECOND: u64 = 1_000_000_000;
const SERVICES: [&str; 3] = ["checkout", "cart", "payments"];
const DAY: [&str; 4] = [
    "--start",
    "2024-10-27T00:00:00Z",
    "--end",
    "2024-10-28T00:00:00Z",
];

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![text("service.name", service)],
        ..Default::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "shop".into(),
        version: "1.0".into(),
        ..Default::default()
    })
}

/// Trace `t`: a server span in checkout, a client span in cart under it, an
/// internal span in payments under that; every 7th payment fails. Starts
/// a minute apart (with sub-microsecond offsets) from 03:00 into 04:07;
/// the last two (68 and 69) are on the next day.
fn trace(t: u64) -> Vec<(usize, Span)> {
    let start = if t >= 68 {
        DAY_HOUR + 21 * 3600 * SECOND + t * SECOND // 2024-10-28
    } else {
        DAY_HOUR + t * 60 * SECOND + t * 137
    };
    let trace_id = [[0xab; 8], (t + 1).to_be_bytes()].concat();
    let id = |level: u64| (t * 10 + level + 1).to_be_bytes().to_vec();
    (0..3u64)
        .map(|level| {
            let duration = (t * 7919 + level * 104_729) % 900 + 1 + (3 - level) * 100;
            let failed = level == 2 && t % 7 == 3;
            let span = Span {
                trace_id: trace_id.clone(),
                span_id: id(level),
                parent_span_id: if level == 0 {
                    Vec::new()
                } else {
                    id(level - 1)
                },
                name: ["GET /cart", "reserve items", "charge card"][level as usize].into(),
                kind: [
                    span::SpanKind::Server,
                    span::SpanKind::Client,
                    span::SpanKind::Internal,
                ][level as usize] as i32,
                start_time_unix_nano: start + level * 1000 * 1000 + level,
                end_time_unix_nano: start + level * 1000 * 1000 + level + duration * 1_000_000,
                attributes: vec![text("order", &t.to_string())],
                status: Some(Status {
                    code: if failed {
                        status::StatusCode::Error
                    } else {
                        status::StatusCode::Ok
                    } as i32,
                    message: if failed {
                        "card declined".into()
                    } else {
                        String::new()
                    },
                }),
                ..Default::default()
            };
            (level as usize, span)
        })
        .collect()
}

/// Requests of ten traces each, and the log records and points beside them.
pub(crate) fn requests() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    for batch in 0..7u64 {
        let traces: Vec<u64> = (batch * 10..batch * 10 + 10).collect();
        let mut by_service: BTreeMap<usize, Vec<Span>> = BTreeMap::new();
        let mut logs: BTreeMap<usize, Vec<LogRecord>> = BTreeMap::new();
        for t in &traces {
            for (level, span) in trace(*t) {
                let failed = span.status.as_ref().is_some_and(|s| s.code == 2);
                let (severity, text, body) = if failed {
                    (
                        17,
                        "ERROR",
                        format!("payment declined for order {t}: card expired"),
                    )
                } else if level == 1 && t % 5 == 0 {
                    (13, "WARN", format!("slow reservation for order {t}"))
                } else {
                    (9, "INFO", format!("{} done for order {t}", span.name))
                };
                logs.entry(level).or_default().push(LogRecord {
                    time_unix_nano: span.end_time_unix_nano,
                    severity_number: severity,
                    severity_text: text.into(),
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(body)),
                    }),
                    trace_id: span.trace_id.clone(),
                    span_id: span.span_id.clone(),
                    ..Default::default()
                });
                by_service.entry(level).or_default().push(span);
            }
        }
        let spans = ExportTraceServiceRequest {
            resource_spans: by_service
                .into_iter()
                .map(|(level, spans)| ResourceSpans {
                    resource: resource(SERVICES[level]),
                    scope_spans: vec![ScopeSpans {
                        scope: scope(),
                        spans,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        };
        let logs = ExportLogsServiceRequest {
            resource_logs: logs
                .into_iter()
                .map(|(level, log_records)| ResourceLogs {
                    resource: resource(SERVICES[level]),
                    scope_logs: vec![ScopeLogs {
                        scope: scope(),
                        log_records,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect(),
        };
        out.push(("traces", spans.encode_to_vec()));
        out.push(("logs", logs.encode_to_vec()));
        out.push(("metrics", metrics(batch).encode_to_vec()));
    }
    out
}

/// Points of batch `b` (ten minutes each): per service, a gauge, a
/// cumulative sum, and one point of every other type.
fn metrics(b: u64) -> ExportMetricsServiceRequest {
    let resource_metrics = SERVICES
        .iter()
        .enumerate()
        .map(|(s, service)| {
            let time = DAY_HOUR + b * 600 * SECOND + s as u64 * SECOND + 1;
            let number = |value| NumberDataPoint {
                time_unix_nano: time,
                start_time_unix_nano: DAY_HOUR,
                value: Some(value),
                attributes: vec![text("queue", "orders")],
                ..Default::default()
            };
            let metric = |name: &str, data| Metric {
                name: name.into(),
                unit: "1".into(),
                data: Some(data),
                ..Default::default()
            };
            let gauge = metric(
                "queue.depth",
                metric::Data::Gauge(Gauge {
                    data_points: vec![number(number_data_point::Value::AsDouble(
                        (b * 3 + s as u64) as f64 + 0.5,
                    ))],
                }),
            );
            let sum = metric(
                "requests",
                metric::Data::Sum(Sum {
                    data_points: vec![number(number_data_point::Value::AsInt(
                        ((b + 1) * 100 + s as u64) as i64,
                    ))],
                    aggregation_temporality: 2,
                    is_monotonic: true,
                }),
            );
            let histogram = metric(
                "latency",
                metric::Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        time_unix_nano: time,
                        count: 3,
                        sum: Some(1.5),
                        bucket_counts: vec![1, 2],
                        explicit_bounds: vec![0.5],
                        ..Default::default()
                    }],
                    aggregation_temporality: 2,
                }),
            );
            let exponential = metric(
                "latency.exp",
                metric::Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![ExponentialHistogramDataPoint {
                        time_unix_nano: time,
                        count: 2,
                        scale: 3,
                        ..Default::default()
                    }],
                    aggregation_temporality: 2,
                }),
            );
            let summary = metric(
                "latency.summary",
                metric::Data::Summary(Summary {
                    data_points: vec![SummaryDataPoint {
                        time_unix_nano: time,
                        count: 4,
                        sum: 2.0,
                        ..Default::default()
                    }],
                }),
            );
            ResourceMetrics {
                resource: resource(service),
                scope_metrics: vec![ScopeMetrics {
                    scope: scope(),
                    metrics: vec![gauge, sum, histogram, exponential, summary],
                    ..Default::default()
                }],
                ..Default::default()
            }
        })
        .collect();
    ExportMetricsServiceRequest { resource_metrics }
}

/// A fetch over the day, as one OTLP/JSON document.
fn fetch(url: &str, signal: &str, filter: &[&str]) -> Value {
    let mut args = vec!["fetch", "--endpoint", url, "--signal", signal];
    args.extend(DAY);
    args.extend(filter);
    let (code, stdout, stderr) = run_cli(&args, &[]);
    assert_eq!(code, 0, "fetch {filter:?}: {stderr}");
    serde_json::from_str(&stdout).expect("OTLP/JSON")
}

const POINTS: [&str; 3] = ["resourceMetrics", "scopeMetrics", "metrics"];

fn nanos(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .expect("unix nanoseconds")
}

/// Unix microseconds, as the engines print a timestamp column.
fn micros(v: &Value) -> Value {
    json!(nanos(v) / 1000)
}

fn duration(span: &Value) -> u64 {
    nanos(&span["endTimeUnixNano"]) - nanos(&span["startTimeUnixNano"])
}

fn status(span: &Value) -> &'static str {
    match span["status"]["code"].as_u64() {
        Some(1) => "Ok",
        Some(2) => "Error",
        _ => "Unset",
    }
}

fn kind(span: &Value) -> &'static str {
    match span["kind"].as_u64() {
        Some(1) => "Internal",
        Some(2) => "Server",
        Some(3) => "Client",
        Some(4) => "Producer",
        Some(5) => "Consumer",
        _ => "Unspecified",
    }
}

fn sorted(mut rows: Vec<Value>, key: impl Fn(&Value) -> Value) -> Vec<Value> {
    rows.sort_by_key(|row| key(row).to_string());
    rows
}

/// A number as the engines print it: integral doubles as integers.
fn number(v: f64) -> Value {
    if v.fract() == 0.0 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

/// Runs the DDL of `dialect` and the named queries on `engine`.
fn engine(engine: &str, archive: &str, parameters: &Value) -> BTreeMap<String, Vec<Value>> {
    let python = python(".venv-sql");
    let scratch = tempfile::tempdir().expect("tempdir");
    let (code, ddl, stderr) = run_cli(&["schema", "--dialect", engine, "--storage", archive], &[]);
    assert_eq!(code, 0, "{stderr}");
    let ddl_file = scratch.path().join("ddl.sql");
    std::fs::write(&ddl_file, ddl).expect("ddl");
    let parameters_file = scratch.path().join("parameters.json");
    std::fs::write(&parameters_file, parameters.to_string()).expect("parameters");
    let mut command = Command::new(python);
    command
        .arg(script("tests/python/sql_engines.py"))
        .arg(engine)
        .arg(&ddl_file)
        .arg(script("terraform/modules/otelvault/queries"))
        .arg(&parameters_file)
        .env("TZ", "UTC");
    serde_json::from_value(run(command, engine)).expect("rows per query")
}

#[test]
fn spark_and_duckdb_answer_the_named_queries_as_the_fetch_api_does() {
    let (server, _store) = Server::start(&Storage::Fs, &[]);
    let dir = server.archive_path();
    for (signal, body) in requests() {
        let response = http()
            .post(format!("{}/v1/{signal}", server.url))
            .header("Content-Type", "application/x-protobuf")
            .send(&body[..])
            .expect("post");
        assert_eq!(response.status(), 200, "{signal}");
    }
    let stdout = compact_range(&dir, "2024-10-27T00:00:00Z", "2024-10-29T00:00:00Z");
    assert!(stdout.contains("compacted 8 signal-hours"), "{stdout}");

    // What the fetch API answers, in the shape of each query's rows.
    let url = &server.url;
    let trace_id = format!("{}{:016x}", "ab".repeat(8), 4);
    let trace_by_id = sorted(
        items(&fetch(url, "traces", &["--trace-id", &trace_id]), SPANS)
            .into_iter()
            .map(|(service, s)| {
                json!([
                    micros(&s["startTimeUnixNano"]),
                    service,
                    s["name"],
                    kind(s),
                    s["spanId"],
                    s["parentSpanId"].as_str().unwrap_or_default(),
                    duration(s),
                    status(s),
                    s["status"]["message"].as_str().unwrap_or_default()
                ])
            })
            .collect(),
        |row| json!([row[0], row[4]]),
    );
    assert_eq!(trace_by_id.len(), 3, "{trace_by_id:?}");
    let mut errors: Vec<Value> = items(&fetch(url, "traces", &["--service", "payments"]), SPANS)
        .into_iter()
        .filter(|(_, s)| status(s) == "Error")
        .map(|(_, s)| {
            json!([
                micros(&s["startTimeUnixNano"]),
                s["traceId"],
                s["spanId"],
                s["name"],
                s["status"]["message"],
                duration(s)
            ])
        })
        .collect();
    errors.sort_by_key(|row| std::cmp::Reverse(row[0].as_u64()));
    assert_eq!(errors.len(), 10, "every 7th of 68 traces that day failed");
    // The trace summaries and the tag index, as the day's spans say them.
    let day = fetch(url, "traces", &[]);
    let day_spans = items(&day, SPANS);
    let mut traces: BTreeMap<&str, Vec<(&str, &Value)>> = BTreeMap::new();
    for (service, s) in &day_spans {
        let id = s["traceId"].as_str().expect("trace id");
        traces.entry(id).or_default().push((service.as_str(), s));
    }
    let mut slowest: Vec<Value> = traces
        .iter()
        .filter_map(|(id, spans)| {
            let (root_service, root) = spans
                .iter()
                .find(|(_, s)| s["parentSpanId"].as_str().unwrap_or_default().is_empty())?;
            let start = spans
                .iter()
                .map(|(_, s)| nanos(&s["startTimeUnixNano"]))
                .min()?;
            let end = spans
                .iter()
                .map(|(_, s)| nanos(&s["endTimeUnixNano"]))
                .max()?;
            let services: std::collections::BTreeSet<&str> =
                spans.iter().map(|(service, _)| *service).collect();
            let errors = spans.iter().filter(|(_, s)| status(s) == "Error").count();
            (*root_service == "checkout").then(|| {
                json!([
                    start / 1000,
                    id,
                    root["name"],
                    end - start,
                    spans.len(),
                    errors,
                    services
                ])
            })
        })
        .collect();
    slowest.sort_by(|a, b| {
        (std::cmp::Reverse(a[3].as_u64()), a[1].as_str())
            .cmp(&(std::cmp::Reverse(b[3].as_u64()), b[1].as_str()))
    });
    slowest.truncate(20);
    assert_eq!(slowest.len(), 20, "{slowest:?}");
    let mut per_service: BTreeMap<&str, u64> = BTreeMap::new();
    for (service, _) in &day_spans {
        *per_service.entry(service.as_str()).or_default() += 1;
    }
    let mut service_tags: Vec<Value> = per_service
        .iter()
        .map(|(service, n)| json!([service, n]))
        .collect();
    service_tags.sort_by_key(|row| std::cmp::Reverse(row[1].as_u64()));
    let mut durations: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
    for (service, s) in items(&fetch(url, "traces", &[]), SPANS) {
        let name = s["name"].as_str().expect("name").to_owned();
        durations
            .entry((service, name))
            .or_default()
            .push(duration(s));
    }
    let logs: Vec<Value> = sorted(
        items(&fetch(url, "logs", &["--min-severity", "17"]), LOGS)
            .into_iter()
            .filter(|(_, l)| {
                l["body"]["stringValue"]
                    .as_str()
                    .is_some_and(|b| b.contains("card expired"))
            })
            .map(|(service, l)| {
                json!([
                    micros(&l["timeUnixNano"]),
                    service,
                    l["severityText"],
                    l["severityNumber"],
                    l["body"]["stringValue"],
                    l["traceId"],
                    l["spanId"]
                ])
            })
            .collect(),
        |row| json!([row[0], row[1]]),
    );
    assert_eq!(logs.len(), 10, "{logs:?}");
    let mut points = Vec::new();
    for (name, kind) in [("queue.depth", "gauge"), ("requests", "sum")] {
        for (service, m) in items(&fetch(url, "metrics", &["--metric", name]), POINTS) {
            for p in m[kind]["dataPoints"].as_array().expect("points") {
                let value = p["asDouble"]
                    .as_f64()
                    .or_else(|| p["asInt"].as_str().and_then(|v| v.parse().ok()))
                    .expect("value");
                points.push(json!([
                    kind,
                    service,
                    micros(&p["timeUnixNano"]),
                    number(value),
                    {"queue": "orders"}
                ]));
            }
        }
    }
    let points = sorted(points, |row| json!([row[2], row[1], row[0]]));
    assert_eq!(points.len(), 7 * 3 * 2, "{points:?}");

    let day = ["2024", "10", "27"];
    let parameters = json!({
        "trace_by_id": [trace_id, day[0], day[1], day[2]],
        "error_spans_by_service": ["payments", day[0], day[1], day[2]],
        "p99_duration_by_span_name": day,
        "log_search": [17, "card expired", day[0], day[1], day[2]],
        "metric_points": ["queue.depth", day[0], day[1], day[2], "requests", day[0], day[1], day[2]],
        "slowest_traces": ["checkout", day[0], day[1], day[2]],
        "span_tag_values": ["resource", "service.name", day[0], day[1], day[2]],
    });
    for name in ["spark", "duckdb"] {
        let results = engine(name, &dir, &parameters);
        // What each query returned, for `cargo test -- --nocapture`.
        for (query, rows) in &results {
            let first = rows.first().map(Value::to_string).unwrap_or_default();
            #[allow(clippy::print_stdout)]
            {
                println!("{name} {query}: {} rows; first {first}", rows.len());
            }
        }
        assert_eq!(results["trace_by_id"], trace_by_id, "{name}: trace_by_id");
        assert_eq!(
            results["error_spans_by_service"], errors,
            "{name}: error spans"
        );
        assert_eq!(results["log_search"], logs, "{name}: log search");
        assert_eq!(results["metric_points"], points, "{name}: metric points");
        assert_eq!(results["slowest_traces"], slowest, "{name}: slowest traces");
        assert_eq!(
            results["span_tag_values"], service_tags,
            "{name}: span tag values"
        );
        // Counts exactly; the approximate p99 between the exact 98th
        // percentile and the slowest span.
        let p99 = &results["p99_duration_by_span_name"];
        assert_eq!(p99.len(), durations.len(), "{name}: {p99:?}");
        for row in p99 {
            let key = (
                row[0].as_str().expect("service").to_owned(),
                row[1].as_str().expect("span name").to_owned(),
            );
            let mut exact = durations[&key].clone();
            exact.sort_unstable();
            assert_eq!(row[2], json!(exact.len()), "{name}: {key:?}");
            let low = exact[(exact.len() - 1) * 98 / 100];
            let value = row[3].as_f64().expect("p99") as u64;
            assert!(
                (low..=exact[exact.len() - 1]).contains(&value),
                "{name}: p99 of {key:?} is {value}, not in [{low}, {}]",
                exact[exact.len() - 1]
            );
        }
    }
}

#[test]
fn spark_runs_the_athena_ddl_and_terraform_declares_the_writers_columns() {
    let storage = "s3://bucket/otel/archive";
    let (code, athena, stderr) = run_cli(
        &["schema", "--dialect", "athena", "--storage", storage],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, spark, stderr) =
        run_cli(&["schema", "--dialect", "spark", "--storage", storage], &[]);
    assert_eq!(code, 0, "{stderr}");
    let without_repair: String = spark
        .lines()
        .filter(|line| !line.starts_with("MSCK REPAIR TABLE "))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(
        without_repair, athena,
        "Spark runs Athena's DDL, then MSCK REPAIR TABLE only"
    );

    let (code, glue, stderr) = run_cli(&["schema", "--dialect", "glue"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let generated: Value = serde_json::from_str(&glue).expect("glue JSON");
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(script("terraform/modules/otelvault/tables.json"))
            .expect("tables.json"),
    )
    .expect("tables.json");
    assert_eq!(
        committed, generated,
        "terraform/modules/otelvault/tables.json differs from the writer's schema: \
         run `otelvault schema --dialect glue > terraform/modules/otelvault/tables.json`"
    );
    for table in generated.as_object().expect("tables").values() {
        let columns = table["columns"].as_array().expect("columns");
        for column in columns {
            let declared = format!(
                "`{}` {}",
                column["name"].as_str().expect("name"),
                column["type"].as_str().expect("type")
            );
            assert!(
                athena.contains(&declared),
                "{declared} is not in the Athena DDL"
            );
        }
    }

    // Athena reads S3 only: a directory is refused with the fix.
    let (code, _, stderr) = run_cli(
        &["schema", "--dialect", "athena", "--storage", "/tmp/archive"],
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--storage s3://bucket/prefix"), "{stderr}");
}

#[test]
fn the_duckdb_script_runs_whole_on_an_archive_whose_tables_are_not_all_there() {
    // Only traces compacted: the metric and log tables have no parts yet.
    let (server, _store) = Server::start(&Storage::Fs, &[("OTELVAULT_COMPACT", "off")]);
    let status = http()
        .post(format!("{}/v1/traces", server.url))
        .header("Content-Type", "application/json")
        .send(include_str!("../../samples/otlp/traces.json"))
        .expect("ingest")
        .status();
    assert_eq!(status, 200);
    let dir = server.archive_path();
    compact_range(&dir, "2024-10-27T00:00:00Z", "2024-10-28T00:00:00Z");
    let (code, ddl, stderr) = run_cli(&["schema", "--dialect", "duckdb", "--storage", &dir], &[]);
    assert_eq!(code, 0, "{stderr}");
    let scratch = tempfile::tempdir().expect("tempdir");
    let ddl_file = scratch.path().join("ddl.sql");
    std::fs::write(&ddl_file, &ddl).expect("ddl");
    let mut command = Command::new(python(".venv-sql"));
    command.arg("-c").arg(
        "import duckdb, json, sys\n\
         con = duckdb.connect()\n\
         [con.execute(s) for s in open(sys.argv[1]).read().split(';\\n') if s.strip()]\n\
         tables = ['otel_traces', 'otel_logs', 'otel_metrics_gauge', 'otel_metrics_sum', 'otel_metrics_histogram', 'otel_metrics_exponential_histogram', 'otel_metrics_summary', 'otel_trace_summaries', 'otel_trace_tags', 'otel_log_tags', 'otel_metric_tags']\n\
         counts = {t: con.execute(f'SELECT count(*) FROM {t}').fetchone()[0] for t in tables}\n\
         columns = [r[0] for r in con.execute('DESCRIBE otel_metrics_summary').fetchall()]\n\
         print(json.dumps({'counts': counts, 'summary_columns': columns}))",
    );
    command.arg(&ddl_file);
    let answer = run(command, "duckdb");
    for table in ["otel_traces", "otel_trace_summaries", "otel_trace_tags"] {
        assert!(
            answer["counts"][table].as_u64() > Some(0),
            "{table}: {answer}"
        );
    }
    for table in [
        "otel_logs",
        "otel_metrics_summary",
        "otel_metrics_histogram",
        "otel_log_tags",
    ] {
        assert_eq!(
            answer["counts"][table], 0,
            "{table} reads as empty: {answer}"
        );
    }
    // An empty table still has its columns, so queries over it bind.
    let columns = answer["summary_columns"].as_array().expect("columns");
    assert!(
        columns.iter().any(|c| c == "ValueAtQuantiles.Quantile")
            && columns.iter().any(|c| c == "year"),
        "{answer}"
    );
}
