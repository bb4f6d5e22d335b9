//! The Tempo routes in process, over an in-memory archive of generated
//! traces: every answer is checked against what the traces hold.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use otelvault_archive::{Archive, Layout};
use otelvault_codec::proto::collector_trace::ExportTraceServiceRequest;
use otelvault_codec::proto::common::any_value;
use otelvault_codec::proto::resource::Resource;
use otelvault_codec::proto::trace::{ResourceSpans, ScopeSpans, Span, Status, span, status};
use otelvault_codec::{Batch, Format};
use otelvault_storage::MemoryStore;
use prost::Message;
use serde_json::Value;
use tower::ServiceExt;

use otelvault_codec::values::{attribute as kv, hex, text_attribute as string};
use otelvault_service::auth::{Auth, KeySet};
use otelvault_service::{AppState, router_with};

/// 2024-10-27T03:00:00Z and the hour after it.
const T0: u64 = 1_729_998_000_000_000_000;
const RANGE: &str = "start=1729998000&end=1730001600";

/// One generated trace: a server root in `service`, a client child in
/// `payments` calling with an HTTP status.
struct Generated {
    id: [u8; 16],
    service: String,
    start: u64,
    duration: u64,
    child_status: i64,
    error: bool,
}

fn generated() -> Vec<Generated> {
    (0..30u64)
        .map(|i| Generated {
            id: {
                let mut id = [0u8; 16];
                id[15] = i as u8 + 1;
                id[0] = 0xa0;
                id
            },
            service: format!("svc-{}", i % 3),
            start: T0 + i * 60_000_000_000,
            duration: (i + 1) * 20_000_000,
            child_status: if i % 4 == 0 { 503 } else { 200 },
            error: i % 4 == 0,
        })
        .collect()
}

fn batch(traces: &[Generated]) -> ExportTraceServiceRequest {
    let mut resource_spans = Vec::new();
    for t in traces {
        let root_id = [1, 0, 0, 0, 0, 0, 0, t.id[15]];
        let root = Span {
            trace_id: t.id.to_vec(),
            span_id: root_id.to_vec(),
            name: format!("GET /item/{}", t.id[15] % 5),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: t.start,
            end_time_unix_nano: t.start + t.duration,
            attributes: vec![string("http.route", "/item"), string("region", "eu-west-1")],
            ..Default::default()
        };
        let child = Span {
            trace_id: t.id.to_vec(),
            span_id: vec![2, 0, 0, 0, 0, 0, 0, t.id[15]],
            parent_span_id: root_id.to_vec(),
            name: "charge".into(),
            kind: span::SpanKind::Client as i32,
            start_time_unix_nano: t.start + 1_000_000,
            end_time_unix_nano: t.start + t.duration / 2,
            attributes: vec![kv(
                "http.status_code",
                any_value::Value::IntValue(t.child_status),
            )],
            status: Some(Status {
                code: if t.error {
                    status::StatusCode::Error as i32
                } else {
                    status::StatusCode::Unset as i32
                },
                message: if t.error {
                    "declined".into()
                } else {
                    String::new()
                },
            }),
            ..Default::default()
        };
        for (service, span) in [(t.service.as_str(), root), ("payments", child)] {
            resource_spans.push(ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![string("service.name", service)],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![span],
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
    }
    ExportTraceServiceRequest { resource_spans }
}

/// An app with query key `query-key-1`, holding the generated traces.
async fn app() -> (Router, Vec<Generated>) {
    let (app, traces, _) = app_and_store().await;
    (app, traces)
}

/// [`app`], and the store it archives in.
async fn app_and_store() -> (Router, Vec<Generated>, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let keys = |k: &str| k.parse::<KeySet>().expect("keys");
    let auth = Auth::new(true, keys("ingest-key-1"), keys("query-key-1"));
    let state = AppState::new(
        Archive::new(store.clone(), Layout::default()),
        auth,
        &[7; 32],
    );
    let app = router_with(Arc::new(state), [crate::routes()]);
    let traces = generated();
    let body = Batch::Traces(batch(&traces)).encode(Format::Protobuf);
    let (status, _) = send(
        &app,
        Request::post("/v1/traces")
            .header(header::CONTENT_TYPE, "application/x-protobuf")
            .header("authorization", "Bearer ingest-key-1")
            .body(Body::from(body))
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    (app, traces, store)
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Bytes) {
    let (status, _, body) = send_for_headers(app, req).await;
    (status, body)
}

/// [`send`], with the response's headers.
async fn send_for_headers(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let response = app.clone().oneshot(req).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    (parts.status, parts.headers, body)
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Bytes) {
    send(
        app,
        Request::get(uri)
            .header("authorization", "Bearer query-key-1")
            .body(Body::empty())
            .expect("request"),
    )
    .await
}

async fn get_json(app: &Router, uri: &str) -> Value {
    let (status, body) = get(app, uri).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{uri}: {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).expect("JSON")
}

/// The trace ids a search answered, in order.
fn ids(answer: &Value) -> Vec<String> {
    answer["traces"]
        .as_array()
        .expect("traces")
        .iter()
        .map(|t| t["traceID"].as_str().expect("id").to_owned())
        .collect()
}

/// The generated traces that `keep` selects, newest first, as ids.
fn expected(traces: &[Generated], keep: impl Fn(&Generated) -> bool) -> Vec<String> {
    let mut hits: Vec<&Generated> = traces.iter().filter(|t| keep(t)).collect();
    hits.sort_by_key(|t| std::cmp::Reverse(t.start));
    hits.iter().map(|t| hex(&t.id)).collect()
}

fn search_uri(q: &str, extra: &str) -> String {
    let mut uri = format!("/api/search?{RANGE}&limit=100");
    if !q.is_empty() {
        uri.push_str("&q=");
        uri.push_str(&urlencode(q));
    }
    if !extra.is_empty() {
        uri.push('&');
        uri.push_str(extra);
    }
    uri
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn echo_answers_grafanas_test_with_the_query_key_only() {
    let (app, _) = app().await;
    let (status, body) = get(&app, "/api/echo").await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"echo"[..]));
    let (status, _) = send(
        &app,
        Request::get("/api/echo")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let ingest = Request::get("/api/echo")
        .header("authorization", "Bearer ingest-key-1")
        .body(Body::empty())
        .expect("request");
    assert_eq!(send(&app, ingest).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn v2_trace_by_id_is_tempos_trace_by_id_response() {
    let (app, traces) = app().await;
    let t = &traces[7];
    let uri = format!("/api/v2/traces/{}?{RANGE}", hex(&t.id));
    let (status, body) = send(
        &app,
        Request::get(&uri)
            .header("authorization", "Bearer query-key-1")
            .header(header::ACCEPT, "application/protobuf")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // TraceByIDResponse { Trace trace = 1; … }, Trace { repeated ResourceSpans = 1 }.
    #[derive(Clone, PartialEq, prost::Message)]
    struct TraceByIdResponse {
        #[prost(message, optional, tag = "1")]
        trace: Option<ExportTraceServiceRequest>,
        #[prost(int32, tag = "3")]
        status: i32,
    }
    let answer = TraceByIdResponse::decode(body).expect("protobuf");
    assert_eq!(answer.status, 0, "COMPLETE");
    let spans: Vec<&Span> = answer
        .trace
        .iter()
        .flat_map(|t| &t.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .collect();
    assert_eq!(spans.len(), 2);
    assert!(spans.iter().all(|s| s.trace_id == t.id));

    let json = get_json(&app, &uri).await;
    assert_eq!(json["status"], "COMPLETE");
    assert_eq!(
        json["trace"]["resourceSpans"].as_array().map(Vec::len),
        Some(2)
    );
    // Leading zeros may be left out, as Grafana shows 64-bit ids.
    let short = hex(&t.id).trim_start_matches('0').to_owned();
    assert_eq!(
        get(&app, &format!("/api/v2/traces/{short}?{RANGE}"))
            .await
            .0,
        StatusCode::OK
    );
    // A missing trace is a 404 whose body Grafana can show, though it
    // asked for protobuf: text on the v2 route, JSON on the v1 route.
    for (route, media) in [
        ("/api/v2/traces", "text/plain; charset=utf-8"),
        ("/api/traces", "application/json"),
    ] {
        let (status, headers, body) = send_for_headers(
            &app,
            Request::get(format!("{route}/{}?{RANGE}", "ab".repeat(16)))
                .header("authorization", "Bearer query-key-1")
                .header(header::ACCEPT, "application/protobuf")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{route}");
        assert_eq!(headers[header::CONTENT_TYPE], media, "{route}");
        let text = String::from_utf8(body.to_vec()).expect("text");
        assert!(
            text.contains(&format!("trace {} not found", "ab".repeat(16))),
            "{route}: {text}"
        );
    }
    assert_eq!(
        get(&app, "/api/v2/traces/xyz").await.0,
        StatusCode::BAD_REQUEST
    );
}

/// Which generated traces a search should answer.
type Keep = Box<dyn Fn(&Generated) -> bool>;

#[tokio::test]
async fn search_answers_the_traces_whose_spans_match_newest_first() {
    let (app, traces) = app().await;
    let all = get_json(&app, &search_uri("", "")).await;
    assert_eq!(ids(&all), expected(&traces, |_| true));
    let first = &all["traces"][0];
    let newest = &traces[29];
    assert_eq!(first["rootServiceName"], newest.service);
    assert_eq!(
        first["rootTraceName"],
        format!("GET /item/{}", newest.id[15] % 5)
    );
    assert_eq!(first["startTimeUnixNano"], newest.start.to_string());
    assert_eq!(first["durationMs"], newest.duration / 1_000_000);
    assert_eq!(first["spanSets"][0]["matched"], 2);

    let cases: [(&str, &str, Keep); 8] = [
        (
            r#"{ resource.service.name = "svc-1" }"#,
            "",
            Box::new(|t| t.service == "svc-1"),
        ),
        (
            r#"{ .service.name =~ "svc-[02]" }"#,
            "",
            Box::new(|t| t.service != "svc-1"),
        ),
        ("{ status = error }", "", Box::new(|t| t.error)),
        (
            "{ span.http.status_code >= 500 && kind = client }",
            "",
            Box::new(|t| t.child_status >= 500),
        ),
        (
            "{ duration > 200ms && kind = server }",
            "",
            Box::new(|t| t.duration > 200_000_000),
        ),
        (
            "{ traceDuration <= 100ms }",
            "",
            Box::new(|t| t.duration <= 100_000_000),
        ),
        (
            r#"{ rootServiceName = "svc-2" && name = "charge" }"#,
            "",
            Box::new(|t| t.service == "svc-2"),
        ),
        (
            "",
            "tags=service.name%3DSVC-0%20region%3Deu&minDuration=300ms",
            Box::new(|t| t.service == "svc-0" && t.duration >= 300_000_000),
        ),
    ];
    for (q, extra, keep) in cases {
        let answer = get_json(&app, &search_uri(q, extra)).await;
        let want = expected(&traces, keep);
        assert!(!want.is_empty(), "{q} {extra}");
        assert_eq!(ids(&answer), want, "{q} {extra}");
    }
    // The matched spans carry the attributes the query named.
    let errors = get_json(
        &app,
        &search_uri("{ span.http.status_code = 503 }", "spss=1"),
    )
    .await;
    let span = &errors["traces"][0]["spanSets"][0]["spans"][0];
    assert_eq!(span["name"], "charge");
    let attributes = span["attributes"].as_array().expect("attributes");
    assert!(
        attributes
            .iter()
            .any(|a| a["key"] == "http.status_code" && a["value"]["intValue"] == "503")
    );

    let limited = get_json(&app, &search_uri("", "limit=5")).await;
    assert_eq!(ids(&limited), expected(&traces, |_| true)[..5].to_vec());
    // The range is honoured: the first ten minutes only.
    let early = get_json(&app, "/api/search?start=1729998000&end=1729998600").await;
    assert_eq!(
        ids(&early),
        expected(&traces, |t| t.start < T0 + 600_000_000_000)
    );
    // A range from the epoch to 2100 is read whole, not narrowed to an hour.
    let wide = get_json(&app, "/api/search?start=0&end=4102444800&limit=100").await;
    assert_eq!(ids(&wide), expected(&traces, |_| true));
    let t = &traces[3];
    let (status, body) = send(
        &app,
        Request::get(format!(
            "/api/v2/traces/{}?start=0&end=4102444800",
            hex(&t.id)
        ))
        .header("authorization", "Bearer query-key-1")
        .body(Body::empty())
        .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        String::from_utf8_lossy(&body).contains(&hex(&t.id)),
        "the trace is found"
    );
}

#[tokio::test]
async fn bad_searches_are_400_and_say_why() {
    let (app, _) = app().await;
    for (uri, words) in [
        (
            search_uri(r#"{ name = "a" || name = "b" }"#, ""),
            "|| is not supported",
        ),
        (search_uri("{ status = broken }", ""), "quote strings"),
        (search_uri("", "minDuration=fast"), "minDuration"),
        (search_uri("", "limit=many"), "limit"),
        (
            "/api/search?start=1730001600&end=1729998000".into(),
            "end: must be after start",
        ),
        ("/api/v2/search/tags?scope=links".into(), "scope"),
    ] {
        let (status, body) = get(&app, &uri).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {text}");
        assert!(text.contains(words), "{words} in {text}");
    }
}

#[tokio::test]
async fn tag_names_and_values_come_from_the_spans_in_range() {
    let (app, _) = app().await;
    let tags = get_json(&app, &format!("/api/v2/search/tags?{RANGE}")).await;
    let scope = |name: &str| -> Vec<String> {
        tags["scopes"]
            .as_array()
            .expect("scopes")
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| serde_json::from_value(s["tags"].clone()).expect("tags"))
            .unwrap_or_default()
    };
    assert_eq!(scope("resource"), ["service.name"]);
    assert_eq!(scope("span"), ["http.route", "http.status_code", "region"]);
    assert!(scope("intrinsic").contains(&"status".to_owned()));
    let only = get_json(
        &app,
        &format!("/api/v2/search/tags?scope=intrinsic&{RANGE}"),
    )
    .await;
    assert_eq!(only["scopes"].as_array().map(Vec::len), Some(1));

    let values = get_json(
        &app,
        &format!("/api/v2/search/tag/resource.service.name/values?{RANGE}"),
    )
    .await;
    let services: Vec<(String, String)> = values["tagValues"]
        .as_array()
        .expect("values")
        .iter()
        .map(|v| {
            (
                v["type"].as_str().unwrap_or_default().to_owned(),
                v["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let names = ["payments", "svc-0", "svc-1", "svc-2"];
    assert_eq!(services, names.map(|n| ("string".to_owned(), n.to_owned())));
    let codes = get_json(
        &app,
        &format!("/api/v2/search/tag/span.http.status_code/values?{RANGE}"),
    )
    .await;
    assert_eq!(
        codes["tagValues"],
        serde_json::json!([{"type": "int", "value": "200"}, {"type": "int", "value": "503"}])
    );
    let statuses = get_json(&app, &format!("/api/v2/search/tag/status/values?{RANGE}")).await;
    assert_eq!(
        statuses["tagValues"],
        serde_json::json!([{"type": "keyword", "value": "error"}, {"type": "keyword", "value": "unset"}])
    );
    let v1 = get_json(
        &app,
        &format!("/api/search/tag/service.name/values?{RANGE}"),
    )
    .await;
    assert_eq!(v1["tagValues"], serde_json::json!(names));
    let v1_names = get_json(&app, &format!("/api/search/tags?{RANGE}")).await;
    assert_eq!(
        v1_names["tagNames"],
        serde_json::json!(["http.route", "http.status_code", "region", "service.name"])
    );
}

/// The values of a v2 tag, as listed.
async fn values_of(app: &Router, tag: &str, q: &str) -> Vec<String> {
    let q = if q.is_empty() {
        String::new()
    } else {
        format!("q={}&", urlencode(q))
    };
    let answer = get_json(app, &format!("/api/v2/search/tag/{tag}/values?{q}{RANGE}")).await;
    answer["tagValues"]
        .as_array()
        .expect("values")
        .iter()
        .map(|v| {
            assert_eq!(v["type"], "string", "{tag}: {v}");
            v["value"].as_str().expect("value").to_owned()
        })
        .collect()
}

#[tokio::test]
async fn tag_values_of_trace_intrinsics_and_narrowed_by_q() {
    let (app, traces) = app().await;
    // What Grafana's query builder asks when a trace-level intrinsic is
    // picked: the roots' services and names; durations have no list.
    assert_eq!(
        values_of(&app, "rootServiceName", "").await,
        ["svc-0", "svc-1", "svc-2"]
    );
    let mut roots: Vec<String> = traces
        .iter()
        .map(|t| format!("GET /item/{}", t.id[15] % 5))
        .collect();
    roots.sort();
    roots.dedup();
    assert_eq!(values_of(&app, "rootName", "").await, roots);
    for tag in ["duration", "traceDuration"] {
        assert!(values_of(&app, tag, "").await.is_empty(), "{tag}");
    }

    // `q` holds the conditions already chosen: only values of spans that
    // meet them are listed.
    let mut svc_1: Vec<String> = traces
        .iter()
        .filter(|t| t.service == "svc-1")
        .map(|t| format!("GET /item/{}", t.id[15] % 5))
        .collect();
    svc_1.sort();
    svc_1.dedup();
    let every = values_of(&app, "name", "").await;
    assert!(svc_1.len() < every.len(), "{svc_1:?} {every:?}");
    assert_eq!(
        values_of(&app, "name", r#"{ resource.service.name = "svc-1" }"#).await,
        svc_1
    );
    assert_eq!(
        values_of(&app, "resource.service.name", "{ status = error }").await,
        ["payments"]
    );
    assert_eq!(
        values_of(
            &app,
            "name",
            "{ span.http.status_code = 503 && kind = client }"
        )
        .await,
        ["charge"]
    );
    assert!(
        values_of(&app, ".region", r#"{ name = "charge" }"#)
            .await
            .is_empty()
    );
    // `{}`, and trace-level conditions, narrow nothing.
    assert_eq!(values_of(&app, "name", "{}").await, every);
    assert_eq!(
        values_of(&app, "name", r#"{ rootServiceName = "svc-1" }"#).await,
        every
    );
    let (status, body) = get(
        &app,
        &format!("/api/v2/search/tag/name/values?q=%7B%20name%20%3D%3D&{RANGE}"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let text = String::from_utf8_lossy(&body);
    assert!(text.starts_with("q: invalid TraceQL query"), "{text}");
}

/// What the documentation lists as not served answers 404, so Grafana says
/// so rather than drawing an empty panel.
#[tokio::test]
async fn traceql_metrics_are_not_served() {
    let (app, _) = app().await;
    for uri in [
        format!("/api/metrics/query_range?q=%7B%7D%20%7C%20rate()&{RANGE}"),
        format!("/api/metrics/query?q=%7B%7D%20%7C%20rate()&{RANGE}"),
    ] {
        assert_eq!(get(&app, &uri).await.0, StatusCode::NOT_FOUND, "{uri}");
    }
}

/// Every search shape, tag list and value list answers the same over the
/// compacted hour (read by column) as over its raw objects.
#[tokio::test]
async fn answers_over_a_compacted_hour_are_the_raw_hours_answers() {
    let (app, _, store) = app_and_store().await;
    let searches = [
        "{}",
        r#"{ resource.service.name = "svc-1" }"#,
        "{ span.http.status_code = 503 }",
        r#"{ span.http.status_code = "503" }"#,
        "{ span.http.status_code >= 500 && kind = client }",
        r#"{ .region =~ "eu-.*" }"#,
        "{ status = error }",
        r#"{ name = "charge" && duration > 100ms }"#,
        r#"{ rootServiceName = "svc-2" }"#,
        "{ traceDuration > 300ms }",
        r#"{ statusMessage != "" }"#,
    ];
    let mut uris: Vec<String> = searches
        .iter()
        .flat_map(|q| [search_uri(q, ""), search_uri(q, "spss=1")])
        .collect();
    uris.extend([
        search_uri("", "tags=region%3Deu%20name%3Dcharge"),
        search_uri("", "minDuration=200ms"),
        format!("/api/v2/search/tags?{RANGE}"),
        format!("/api/search/tags?{RANGE}"),
        format!("/api/search/tag/http.status_code/values?{RANGE}"),
    ]);
    for tag in [
        "resource.service.name",
        "span.http.status_code",
        ".region",
        "name",
        "status",
        "kind",
        "statusMessage",
    ] {
        uris.push(format!("/api/v2/search/tag/{tag}/values?{RANGE}"));
    }
    let answer = async |uri: &str| {
        let mut answer = get_json(&app, uri).await;
        // What was read differs between tiers; what was found does not.
        answer["metrics"].take();
        answer
    };
    let mut raw = Vec::new();
    for uri in &uris {
        raw.push(answer(uri).await);
    }
    assert!(
        raw.iter()
            .filter(|a| a["traces"].as_array().is_some_and(|t| t.len() > 1))
            .count()
            > 10,
        "the searches find traces"
    );
    let report = otelvault_archive::compact_hour(
        &*store,
        otelvault_codec::Signal::Traces,
        T0,
        otelvault_archive::CompactOptions::default(),
    )
    .await
    .expect("compact");
    assert!(report.parts > 0);
    for (uri, raw) in uris.iter().zip(&raw) {
        assert_eq!(&answer(uri).await, raw, "{uri}");
    }
}

/// Spans of traces over three hours from `T0`, some of them awkward for
/// summaries: traces that cross an hour, a trace with a root in each of two
/// hours, traces that start in the same microsecond (or nanosecond), and
/// traces that end after a range that holds their start.
fn three_hours() -> ExportTraceServiceRequest {
    const HOUR: u64 = 3_600_000_000_000;
    let mut resource_spans = Vec::new();
    let mut add = |service: &str, span: Span| {
        resource_spans.push(ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        });
    };
    for h in 0..3u64 {
        for i in 0..24u64 {
            let n = h * 24 + i;
            let mut id = [0xb0; 16];
            id[14] = h as u8;
            id[15] = i as u8;
            // Three traces per 150 s, 100 ns apart (one microsecond);
            // the last two start when the one before them does.
            let start = T0 + h * HOUR + (i.min(20) / 3) * 150_000_000_000 + (i.min(20) % 3) * 100;
            let start = if i == 23 {
                // The hour's last trace ends in the next hour.
                T0 + (h + 1) * HOUR - 500_000_000
            } else {
                start
            };
            let duration = 30_000_000 + (n % 7) * 45_000_000 + u64::from(i == 23) * 2_000_000_000;
            let root_id = [1, 0, 0, 0, 0, 0, h as u8, i as u8];
            add(
                &format!("svc-{}", n % 3),
                Span {
                    trace_id: id.to_vec(),
                    span_id: root_id.to_vec(),
                    name: format!("GET /item/{}", n % 4),
                    kind: span::SpanKind::Server as i32,
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + duration,
                    attributes: vec![
                        string("http.route", &format!("/item/{}", n % 5)),
                        kv(
                            "http.status_code",
                            any_value::Value::IntValue(if n % 4 == 0 { 503 } else { 200 }),
                        ),
                    ],
                    ..Default::default()
                },
            );
            // The child starts 1 s in: for the last trace, in the next hour.
            add(
                "payments",
                Span {
                    trace_id: id.to_vec(),
                    span_id: vec![2, 0, 0, 0, 0, 0, h as u8, i as u8],
                    parent_span_id: root_id.to_vec(),
                    name: "charge".into(),
                    kind: span::SpanKind::Client as i32,
                    start_time_unix_nano: start + u64::from(i == 23) * 1_000_000_000 + 1_000,
                    end_time_unix_nano: start + duration - 1_000,
                    status: Some(Status {
                        code: if n % 4 == 0 {
                            status::StatusCode::Error as i32
                        } else {
                            status::StatusCode::Unset as i32
                        },
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            );
            if i == 5 {
                // A second root, an hour later: which root comes first
                // is for the spans to say.
                add(
                    "late-root",
                    Span {
                        trace_id: id.to_vec(),
                        span_id: vec![3, 0, 0, 0, 0, 0, h as u8, i as u8],
                        name: "retry".into(),
                        start_time_unix_nano: start + HOUR,
                        end_time_unix_nano: start + HOUR + 1_000_000,
                        ..Default::default()
                    },
                );
            }
        }
    }
    ExportTraceServiceRequest { resource_spans }
}

/// Searches and tags over hours answered from their trace summaries and
/// tag indexes (wholly in the range) and from their spans (cut by it)
/// answer exactly what the raw hours answer: every query shape summaries
/// can decide and some they cannot, each range, each limit.
#[tokio::test]
async fn searches_over_summarized_hours_are_the_raw_hours_answers() {
    const HOUR: u64 = 3_600;
    let (app, _, store) = app_and_store().await;
    let body = Batch::Traces(three_hours()).encode(Format::Protobuf);
    let (status, _) = send(
        &app,
        Request::post("/v1/traces")
            .header(header::CONTENT_TYPE, "application/x-protobuf")
            .header("authorization", "Bearer ingest-key-1")
            .body(Body::from(body))
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let t0 = T0 / 1_000_000_000;
    let ranges = [
        (t0, t0 + 4 * HOUR),
        (t0, t0 + HOUR),
        (t0 + HOUR, t0 + 3 * HOUR),
        (t0 + HOUR / 2, t0 + 5 * HOUR / 2),
        (t0 + HOUR + 1, t0 + 4 * HOUR),
    ];
    let searches = [
        "{}",
        r#"{ resource.service.name = "svc-1" }"#,
        r#"{ resource.service.name = "late-root" }"#,
        "{ status = error }",
        r#"{ rootServiceName = "svc-2" }"#,
        r#"{ rootName = "retry" }"#,
        r#"{ traceDuration > 200ms && resource.service.name = "payments" }"#,
        r#"{ name = "charge" && status = error }"#,
    ];
    let mut uris = Vec::new();
    for (start, end) in ranges {
        let range = format!("start={start}&end={end}");
        uris.push(format!("/api/v2/search/tags?{range}"));
        uris.push(format!("/api/search/tags?{range}"));
        for tag in [
            "resource.service.name",
            "span.http.status_code",
            ".http.route",
            ".service.name",
            "name",
            "status",
            "rootServiceName",
            "rootName",
        ] {
            uris.push(format!("/api/v2/search/tag/{tag}/values?{range}"));
        }
        let narrowed = urlencode(r#"{ resource.service.name = "payments" }"#);
        uris.push(format!(
            "/api/v2/search/tag/name/values?q={narrowed}&{range}"
        ));
        for q in searches {
            for extra in [
                "limit=100",
                "limit=4&spss=1",
                "limit=1",
                "limit=2",
                "minDuration=100ms&maxDuration=250ms",
            ] {
                uris.push(format!(
                    "/api/search?start={start}&end={end}&q={}&{extra}",
                    urlencode(q)
                ));
            }
        }
    }
    let answer = async |uri: &str| {
        let mut answer = get_json(&app, uri).await;
        let inspected = answer["metrics"]["inspectedTraces"].take();
        answer["metrics"].take();
        (answer, inspected)
    };
    let mut raw = Vec::new();
    for uri in &uris {
        raw.push(answer(uri).await);
    }
    let found = |a: &Value| a["traces"].as_array().map_or(0, Vec::len);
    assert!(
        raw.iter().filter(|(a, _)| found(a) >= 4).count() > 40,
        "the searches find traces"
    );
    for h in 0..4 {
        otelvault_archive::compact_hour(
            &*store,
            otelvault_codec::Signal::Traces,
            T0 + h * HOUR * 1_000_000_000,
            otelvault_archive::CompactOptions::default(),
        )
        .await
        .expect("compact");
    }
    for (uri, (raw, inspected)) in uris.iter().zip(&raw) {
        let (compacted, counted) = answer(uri).await;
        assert_eq!(&compacted, raw, "{uri}");
        assert_eq!(&counted, inspected, "{uri}: traces inspected");
    }
}
