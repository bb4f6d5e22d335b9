//! The Loki routes in process, over an in-memory archive of generated
//! log records: every answer is checked against what the records hold,
//! over raw objects and over the compacted hour alike.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use otelvault_archive::{Archive, Layout};
use otelvault_codec::proto::collector_logs::ExportLogsServiceRequest;
use otelvault_codec::proto::common::{AnyValue, any_value};
use otelvault_codec::proto::logs::{LogRecord, ResourceLogs, ScopeLogs};
use otelvault_codec::proto::resource::Resource;
use otelvault_codec::values::{attribute, text_attribute};
use otelvault_codec::{Batch, Format};
use otelvault_service::auth::{Auth, KeySet};
use otelvault_service::{AppState, router_with};
use otelvault_storage::MemoryStore;
use serde_json::Value;
use tower::ServiceExt;

/// 2024-10-27T03:00:00Z, and a range covering its hour (nanoseconds).
const T0: u64 = 1_729_998_000_000_000_000;
const RANGE: &str = "start=1729998000000000000&end=1730001599999999999";

/// Record `i`: service `svc-{i % 3}`, a minute apart, every fifth an
/// error about a timeout, a status attribute.
struct Generated {
    service: String,
    time: u64,
    line: String,
    status: i64,
    error: bool,
}

fn generated() -> Vec<Generated> {
    (0..60u64)
        .map(|i| Generated {
            service: format!("svc-{}", i % 3),
            time: T0 + i * 60_000_000_000,
            line: if i % 5 == 0 {
                format!("request {i} failed: upstream timeout")
            } else {
                format!("request {i} served")
            },
            status: if i % 5 == 0 { 504 } else { 200 },
            error: i % 5 == 0,
        })
        .collect()
}

fn request(records: &[Generated]) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: records
            .iter()
            .map(|r| ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        text_attribute("service.name", &r.service),
                        text_attribute("k8s.namespace.name", "prod"),
                        text_attribute("host.name", "node-1"),
                    ],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![LogRecord {
                        time_unix_nano: r.time,
                        severity_number: if r.error { 17 } else { 9 },
                        body: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(r.line.clone())),
                        }),
                        attributes: vec![attribute(
                            "http.status_code",
                            any_value::Value::IntValue(r.status),
                        )],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

async fn app() -> (Router, Vec<Generated>, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let keys = |k: &str| k.parse::<KeySet>().expect("keys");
    let auth = Auth::new(true, keys("ingest-key-1"), keys("query-key-1"));
    let state = AppState::new(
        Archive::new(store.clone(), Layout::default()),
        auth,
        &[7; 32],
    );
    let app = router_with(Arc::new(state), [crate::routes()]);
    let records = generated();
    let body = Batch::Logs(request(&records)).encode(Format::Protobuf);
    let response = app
        .clone()
        .oneshot(
            Request::post("/v1/logs")
                .header(header::CONTENT_TYPE, "application/x-protobuf")
                .header("authorization", "Bearer ingest-key-1")
                .body(Body::from(body))
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    (app, records, store)
}

/// Compacts the records' hour.
async fn compact(store: &MemoryStore) -> otelvault_archive::HourReport {
    otelvault_archive::compact_hour(
        store,
        otelvault_codec::Signal::Logs,
        T0,
        otelvault_archive::CompactOptions::default(),
    )
    .await
    .expect("compact")
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value, String) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
        text,
    )
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Value, String) {
    send(
        app,
        Request::get(uri)
            .header("authorization", "Bearer query-key-1")
            .body(Body::empty())
            .expect("request"),
    )
    .await
}

fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The (time, line) of every entry of a `streams` answer, newest first.
fn entries(answer: &Value) -> Vec<(u64, String)> {
    assert_eq!(answer["status"], "success", "{answer}");
    assert_eq!(answer["data"]["resultType"], "streams");
    let mut out: Vec<(u64, String)> = answer["data"]["result"]
        .as_array()
        .expect("result")
        .iter()
        .flat_map(|s| s["values"].as_array().expect("values").clone())
        .map(|v| {
            (
                v[0].as_str().expect("time").parse().expect("nanoseconds"),
                v[1].as_str().expect("line").to_owned(),
            )
        })
        .collect();
    out.sort_by_key(|e| std::cmp::Reverse(e.0));
    out
}

fn expected(records: &[Generated], keep: impl Fn(&Generated) -> bool) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = records
        .iter()
        .filter(|r| keep(r))
        .map(|r| (r.time, r.line.clone()))
        .collect();
    out.sort_by_key(|e| std::cmp::Reverse(e.0));
    out
}

/// Each query's lines are the records it selects, over the raw hour and
/// over the compacted hour alike.
#[tokio::test]
async fn log_queries_return_the_records_they_select_raw_and_compacted() {
    let (app, records, store) = app().await;
    type Keep = Box<dyn Fn(&Generated) -> bool>;
    let cases: Vec<(&str, Keep)> = vec![
        (
            r#"{service_name="svc-1"}"#,
            Box::new(|r| r.service == "svc-1"),
        ),
        (
            r#"{service_name=~"svc-[01]"} |= "timeout""#,
            Box::new(|r| r.service != "svc-2" && r.error),
        ),
        (
            r#"{k8s_namespace_name="prod"} != "timeout""#,
            Box::new(|r| !r.error),
        ),
        (
            r#"{service_name="svc-0"} | http_status_code >= 500"#,
            Box::new(|r| r.service == "svc-0" && r.status >= 500),
        ),
        (
            r#"{service_name!="svc-0", service_name=~".+"} | detected_level="error" |~ "request \\d+ failed""#,
            Box::new(|r| r.service != "svc-0" && r.error),
        ),
        (r#"{service_name="svc-9"}"#, Box::new(|_| false)),
    ];
    let mut raw = Vec::new();
    for (query, keep) in &cases {
        let uri = format!(
            "/loki/api/v1/query_range?query={}&{RANGE}&limit=1000",
            encode(query)
        );
        let (status, answer, text) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{query}: {text}");
        assert_eq!(entries(&answer), expected(&records, keep), "{query}");
        raw.push(answer);
    }
    let report = compact(&store).await;
    assert!(report.parts > 0, "the hour is compacted");
    for ((query, _), raw) in cases.iter().zip(&raw) {
        let uri = format!(
            "/loki/api/v1/query_range?query={}&{RANGE}&limit=1000",
            encode(query)
        );
        let (_, answer, _) = get(&app, &uri).await;
        assert_eq!(entries(&answer), entries(raw), "{query}, compacted");
    }
}

/// `direction` and `limit` choose the newest or the oldest lines; streams
/// carry labels as Loki gives them, structured metadata apart when
/// Grafana asks for categorized labels.
#[tokio::test]
async fn direction_limit_and_labels_are_lokis() {
    let (app, records, _) = app().await;
    let query = encode(r#"{service_name=~"svc-.*"}"#);
    let all = expected(&records, |_| true);
    let (_, newest, _) = get(
        &app,
        &format!("/loki/api/v1/query_range?query={query}&{RANGE}&limit=7"),
    )
    .await;
    assert_eq!(entries(&newest), all[..7].to_vec());
    let (_, oldest, _) = get(
        &app,
        &format!("/loki/api/v1/query_range?query={query}&{RANGE}&limit=7&direction=forward"),
    )
    .await;
    assert_eq!(entries(&oldest), all[all.len() - 7..].to_vec());
    let stream = &newest["data"]["result"][0]["stream"];
    assert_eq!(stream["k8s_namespace_name"], "prod");
    assert_eq!(stream["host_name"], "node-1", "metadata joins the labels");
    assert!(stream["detected_level"].is_string());
    assert!(newest["data"]["stats"]["summary"]["totalLinesProcessed"].as_u64() >= Some(60));

    let (status, categorized, text) = send(
        &app,
        Request::get(format!(
            "/loki/api/v1/query_range?query={query}&{RANGE}&limit=3"
        ))
        .header("authorization", "Bearer query-key-1")
        .header("X-Loki-Response-Encoding-Flags", "categorize-labels")
        .body(Body::empty())
        .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let first = &categorized["data"]["result"][0];
    assert!(first["stream"].get("host_name").is_none(), "{first}");
    assert_eq!(
        first["values"][0][2]["structuredMetadata"]["host_name"],
        "node-1"
    );
    assert_eq!(categorized["data"]["encodingFlags"][0], "categorize-labels");

    // POST with a form body, as Grafana may send.
    let (status, posted, text) = send(
        &app,
        Request::post("/loki/api/v1/query_range")
            .header("authorization", "Bearer query-key-1")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("query={query}&{RANGE}&limit=7")))
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(entries(&posted), entries(&newest));

    // Times in seconds and RFC 3339 read the same range.
    let (_, rfc, _) = get(
        &app,
        &format!("/loki/api/v1/query_range?query={query}&start=2024-10-27T03:00:00Z&end=1730001599.999&limit=1000"),
    )
    .await;
    assert_eq!(entries(&rfc), all);
}

#[tokio::test]
async fn labels_and_values_are_the_stream_labels() {
    let (app, _, _) = app().await;
    let (_, names, _) = get(&app, &format!("/loki/api/v1/labels?{RANGE}")).await;
    assert_eq!(
        names["data"],
        serde_json::json!(["k8s_namespace_name", "service_name"])
    );
    let (_, values, _) = get(
        &app,
        &format!("/loki/api/v1/label/service_name/values?{RANGE}"),
    )
    .await;
    assert_eq!(
        values["data"],
        serde_json::json!(["svc-0", "svc-1", "svc-2"])
    );
    let narrowed = format!(
        "/loki/api/v1/label/service_name/values?{RANGE}&query={}",
        encode(r#"{service_name=~"svc-[12]"}"#)
    );
    let (_, values, _) = get(&app, &narrowed).await;
    assert_eq!(values["data"], serde_json::json!(["svc-1", "svc-2"]));
    let (status, info, _) = get(&app, "/loki/api/v1/status/buildinfo").await;
    assert_eq!(status, StatusCode::OK);
    assert!(info["version"].is_string());
}

#[tokio::test]
async fn bad_queries_answer_400_naming_the_problem() {
    let (app, _, _) = app().await;
    for (params, names) in [
        (
            format!(
                "query={}",
                encode(r#"quantile_over_time(0.5, {service_name="a"}[5m])"#)
            ),
            "is not served",
        ),
        (
            format!("query={}", encode(r#"{service_name="a"} | json"#)),
            "json stage is not supported",
        ),
        (String::new(), "query: missing"),
        (
            format!("query={}&limit=6000", encode(r#"{service_name="a"}"#)),
            "limit",
        ),
        (
            format!("query={}&direction=up", encode(r#"{service_name="a"}"#)),
            "direction",
        ),
        (
            format!("query={}&start=yesterday", encode(r#"{service_name="a"}"#)),
            "start",
        ),
    ] {
        let (status, _, text) = get(&app, &format!("/loki/api/v1/query_range?{params}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{params}: {text}");
        assert!(text.contains(names), "{params}: {text}");
    }
    let (status, _, _) = send(
        &app,
        Request::get(format!("/loki/api/v1/labels?{RANGE}"))
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// The samples of a `matrix` or `vector` answer: labels → (unix seconds,
/// value) points.
fn samples(answer: &Value) -> Vec<(Value, Vec<(f64, f64)>)> {
    assert_eq!(answer["status"], "success", "{answer}");
    answer["data"]["result"]
        .as_array()
        .expect("result")
        .iter()
        .map(|series| {
            let points = match series.get("values") {
                Some(values) => values.as_array().expect("values").clone(),
                None => vec![series["value"].clone()],
            };
            let points = points
                .iter()
                .map(|p| {
                    (
                        p[0].as_f64().expect("time"),
                        p[1].as_str().expect("value").parse().expect("number"),
                    )
                })
                .collect();
            (series["metric"].clone(), points)
        })
        .collect()
}

/// Metric queries count what the log query selects, window by window,
/// raw and compacted alike; Grafana's health check gets its constant.
#[tokio::test]
async fn metric_queries_count_the_lines_their_log_query_selects() {
    let (app, records, store) = app().await;
    let minute = 60_000_000_000u64;
    // Lines of `service` (all services: None) in (t - range, t].
    let count = |service: Option<&str>, t: u64, range: u64, keep: &dyn Fn(&Generated) -> bool| {
        records
            .iter()
            .filter(|r| service.is_none_or(|s| r.service == s) && keep(r))
            .filter(|r| r.time > t - range && r.time <= t)
            .count() as f64
    };
    let start = T0 + 10 * minute;
    let steps: Vec<u64> = (0..6).map(|i| start + i * 10 * minute).collect();
    let range_params = |query: &str| {
        format!(
            "/loki/api/v1/query_range?query={}&start={start}&end={}&step=600",
            encode(query),
            steps[5]
        )
    };
    let mut answers = Vec::new();
    for compacted in [false, true] {
        if compacted {
            compact(&store).await;
        }
        let by_service =
            r#"sum by (service_name) (count_over_time({service_name=~"svc-.*"}[10m]))"#;
        let (status, answer, text) = get(&app, &range_params(by_service)).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert_eq!(answer["data"]["resultType"], "matrix");
        let got = samples(&answer);
        assert_eq!(got.len(), 3, "{answer}");
        for (labels, points) in &got {
            let service = labels["service_name"].as_str().expect("service");
            assert_eq!(labels.as_object().map(|o| o.len()), Some(1), "{labels}");
            let want: Vec<(f64, f64)> = steps
                .iter()
                .map(|t| {
                    (
                        *t as f64 / 1e9,
                        count(Some(service), *t, 10 * minute, &|_| true),
                    )
                })
                .filter(|(_, n)| *n > 0.0)
                .collect();
            assert_eq!(points, &want, "{service}");
        }
        // rate over the hour, errors only, every service in one series.
        let rate = r#"sum(rate({service_name=~".+"} |= "timeout" [1h]))"#;
        let (_, answer, _) = get(&app, &range_params(rate)).await;
        let got = samples(&answer);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, serde_json::json!({}));
        let last = got[0].1.last().expect("points");
        let want = count(None, steps[5], 60 * minute, &|r| r.error) / 3600.0;
        assert!((last.1 - want).abs() < 1e-9, "{last:?} vs {want}");
        // max by service of per-series counts (series split by status and level).
        let max = r#"max by (service_name) (count_over_time({service_name="svc-0"}[1h]))"#;
        let (_, answer, _) = get(&app, &range_params(max)).await;
        let got = samples(&answer);
        let want = count(Some("svc-0"), steps[5], 60 * minute, &|r| !r.error);
        assert_eq!(got[0].1.last().map(|p| p.1), Some(want));
        // An instant query at the hour's last line: a vector.
        let instant = format!(
            "/loki/api/v1/query?query={}&time={}",
            encode(r#"sum(bytes_over_time({service_name="svc-1"}[1h]))"#),
            T0 + 59 * minute
        );
        let (status, answer, text) = get(&app, &instant).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert_eq!(answer["data"]["resultType"], "vector");
        let bytes: usize = records
            .iter()
            .filter(|r| r.service == "svc-1")
            .map(|r| r.line.len())
            .sum();
        assert_eq!(samples(&answer)[0].1[0].1, bytes as f64);
        answers.push(answer);
    }
    assert_eq!(answers[0]["data"]["result"], answers[1]["data"]["result"]);

    let (status, health, text) = get(
        &app,
        &format!("/loki/api/v1/query?query={}", encode("vector(1)+vector(1)")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(health["data"]["result"][0]["value"][1], "2");
    for (query, names) in [
        (r#"quantile_over_time(0.9, {a="b"}[5m])"#, "not served"),
        (r#"count_over_time({a="b"})"#, "[range]"),
        (r#"sum by (a (count_over_time({a="b"}[5m]))"#, "',' or ')'"),
        (r#"topk(3, count_over_time({a="b"}[5m]))"#, "not served"),
    ] {
        let (status, _, text) = get(&app, &range_params(query)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {text}");
        assert!(text.contains(names), "{query}: {text}");
    }
    let (status, _, text) = get(
        &app,
        &format!(
            "/loki/api/v1/query?query={}",
            encode(r#"{service_name="svc-0"}"#)
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
}

/// Series, index stats and volumes, as Grafana's label browser, query
/// hints and log volume ask for them.
#[tokio::test]
async fn series_stats_and_volumes_describe_what_a_selector_picks() {
    let (app, records, _) = app().await;
    let selector = encode(r#"{service_name=~"svc-[01]"}"#);
    let (status, series, text) = get(
        &app,
        &format!("/loki/api/v1/series?match[]={selector}&{RANGE}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        series["data"],
        serde_json::json!([
            {"k8s_namespace_name": "prod", "service_name": "svc-0"},
            {"k8s_namespace_name": "prod", "service_name": "svc-1"},
        ])
    );
    let picked: Vec<&Generated> = records.iter().filter(|r| r.service != "svc-2").collect();
    let bytes = |service: &str| -> usize {
        picked
            .iter()
            .filter(|r| r.service == service)
            .map(|r| r.line.len())
            .sum()
    };
    let (_, stats, _) = get(
        &app,
        &format!("/loki/api/v1/index/stats?query={selector}&{RANGE}"),
    )
    .await;
    assert_eq!(stats["streams"], 2);
    assert_eq!(stats["entries"], picked.len());
    assert_eq!(stats["bytes"], bytes("svc-0") + bytes("svc-1"));
    let (_, volume, _) = get(
        &app,
        &format!("/loki/api/v1/index/volume?query={selector}&{RANGE}"),
    )
    .await;
    assert_eq!(volume["data"]["resultType"], "vector");
    let got: Vec<(String, String)> = volume["data"]["result"]
        .as_array()
        .expect("result")
        .iter()
        .map(|v| {
            (
                v["metric"]["service_name"]
                    .as_str()
                    .expect("service")
                    .to_owned(),
                v["value"][1].as_str().expect("bytes").to_owned(),
            )
        })
        .collect();
    let mut want = vec![
        ("svc-0".to_owned(), bytes("svc-0").to_string()),
        ("svc-1".to_owned(), bytes("svc-1").to_string()),
    ];
    want.sort_by_key(|w| std::cmp::Reverse(w.1.parse::<usize>().ok()));
    assert_eq!(got, want, "largest first");
    let (_, ranged, _) = get(
        &app,
        &format!("/loki/api/v1/index/volume_range?query={selector}&{RANGE}&step=600&targetLabels=detected_level"),
    )
    .await;
    assert_eq!(ranged["data"]["resultType"], "matrix");
    let total: usize = ranged["data"]["result"]
        .as_array()
        .expect("result")
        .iter()
        .flat_map(|s| s["values"].as_array().expect("values").clone())
        .map(|p| {
            p[1].as_str()
                .expect("bytes")
                .parse::<usize>()
                .expect("number")
        })
        .sum();
    assert_eq!(total, bytes("svc-0") + bytes("svc-1"));
    assert_eq!(
        ranged["data"]["result"].as_array().map(Vec::len),
        Some(2),
        "error and info"
    );
}
