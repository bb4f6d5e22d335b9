//! Query API tests against the in-memory store, through the router.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use otelvault_api::{FetchPage, FetchRequest};
use otelvault_archive::{Archive, Layout, PartitionTime, Partitioning, Position};
use otelvault_codec::proto::collector_trace::ExportTraceServiceRequest;
use otelvault_codec::proto::common::KeyValue;
use otelvault_codec::proto::resource::Resource;
use otelvault_codec::proto::trace::{ResourceSpans, ScopeSpans, Span};
use otelvault_codec::{Batch, Compression, Format, Granularity, Signal};
use otelvault_storage::{MemoryStore, ObjectKey, ObjectStore, PutOptions};
use proptest::prelude::*;
use prost::Message as _;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;
use crate::auth::{Auth, KeySet};
use crate::query::cursor::CursorSealer;
use crate::router;
use otelvault_codec::values::text_attribute as kv;

const MIN: u64 = 60_000_000_000;
/// 2024-10-27T03:33:00Z, a minute boundary.
const T0: u64 = 1_729_999_980_000_000_000;

fn app(store: Arc<dyn ObjectStore>) -> Router {
    app_with(store, Auth::default())
}

fn state(store: Arc<dyn ObjectStore>, auth: Auth) -> Arc<AppState> {
    let layout = Layout {
        partitioning: Partitioning {
            granularity: Granularity::Minute,
            time: PartitionTime::Event,
        },
        format: Format::Json,
        compression: Compression::Gzip,
    };
    Arc::new(AppState::new(Archive::new(store, layout), auth, &[3; 32]))
}

fn app_with(store: Arc<dyn ObjectStore>, auth: Auth) -> Router {
    router(state(store, auth))
}

/// A span with a unique id derived from `n`.
fn span(n: u64, start: u64, attrs: Vec<KeyValue>) -> Span {
    let mut trace_id = vec![0u8; 16];
    trace_id[8..].copy_from_slice(&(n / 3 + 1).to_be_bytes());
    Span {
        trace_id,
        span_id: (n + 1).to_be_bytes().to_vec(),
        name: format!("span-{n}"),
        start_time_unix_nano: start,
        attributes: attrs,
        ..Default::default()
    }
}

fn batch(service: &str, spans: Vec<Span>) -> Vec<u8> {
    Batch::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
    .encode(Format::Protobuf)
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let response = app.clone().oneshot(req).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes(),
    )
}

async fn ingest(app: &Router, body: Vec<u8>) {
    let req = Request::post("/v1/traces")
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .body(Body::from(body))
        .expect("request");
    let (status, _, body) = call(app, req).await;
    assert_eq!(status, StatusCode::OK, "{body:?}");
}

/// Fetches the first minute of traces with a protobuf request and response.
async fn fetch_protobuf(app: &Router, limit: i64) -> (StatusCode, HeaderMap, Bytes) {
    let request = otelvault_api::FetchRequestProto {
        start_time_unix_nano: T0,
        end_time_unix_nano: T0 + MIN,
        limit,
        ..Default::default()
    };
    let req = Request::post("/api/traces/fetch")
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .header(header::ACCEPT, "application/x-protobuf")
        .body(Body::from(request.encode_to_vec()))
        .expect("request");
    call(app, req).await
}

async fn fetch(app: &Router, signal: &str, body: Value) -> (StatusCode, Value) {
    let req = Request::post(format!("/api/{signal}/fetch"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let (status, _, body) = call(app, req).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn span_names(page: &Value) -> Vec<String> {
    page["resourceSpans"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|rs| rs["scopeSpans"].as_array().into_iter().flatten())
        .flat_map(|ss| ss["spans"].as_array().into_iter().flatten())
        .map(|s| s["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Follows cursors to the end; returns every span name and the page count.
async fn fetch_all(app: &Router, signal: &str, mut query: Value) -> (Vec<String>, usize) {
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        let (status, page) = fetch(app, signal, query.clone()).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        if let Some(limit) = query["limit"].as_u64() {
            assert!(
                span_names(&page).len() as u64 <= limit,
                "page over its limit"
            );
        }
        names.extend(span_names(&page));
        match page["nextCursor"].as_str() {
            Some(c) => {
                assert_eq!(page["hasMore"], true);
                query["cursor"] = json!(c);
            }
            None => {
                assert_eq!(page["hasMore"], false);
                return (names, pages);
            }
        }
        assert!(pages < 10_000, "pagination does not end");
    }
}

#[derive(Debug, Clone)]
struct Generated {
    service: u8,
    minute: u64,
    offset: u64,
    color: u8,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random archives (spans over several minute partitions, in many
    /// objects), random filters and page sizes: the pages together hold
    /// exactly the matching spans, each once.
    #[test]
    fn pagination_returns_every_matching_item_exactly_once(
        spans in prop::collection::vec((0u8..3, prop_oneof![0u64..6, 0u64..200], 0u64..MIN, 0u8..3).prop_map(|(service, minute, offset, color)| Generated { service, minute, offset, color }), 1..120),
        batch_sizes in prop::collection::vec(1usize..25, 1..20),
        limit in 1u64..40,
        window in prop_oneof![(0u64..3, 3u64..7), (0u64..40, 40u64..200)],
        service_filter in prop::option::of(0u8..3),
        color_filter in prop::option::of(0u8..3),
    ) {
        rt().block_on(async {
            let store = Arc::new(MemoryStore::new());
            let app = app(store.clone());
            // Write in batches of random sizes (each split per minute by ingest).
            let mut i = 0usize;
            let mut sizes = batch_sizes.iter().cycle();
            while i < spans.len() {
                let n = (*sizes.next().expect("cycle")).min(spans.len() - i);
                for service in 0..3u8 {
                    let chunk: Vec<Span> = spans[i..i + n]
                        .iter()
                        .enumerate()
                        .filter(|(_, g)| g.service == service)
                        .map(|(j, g)| span((i + j) as u64, T0 + g.minute * MIN + g.offset, vec![kv("color", &g.color.to_string())]))
                        .collect();
                    if !chunk.is_empty() {
                        ingest(&app, batch(&format!("svc-{service}"), chunk)).await;
                    }
                }
                i += n;
            }
            let (from, to) = (T0 + window.0 * MIN + MIN / 2, T0 + window.1 * MIN);
            let expected: BTreeSet<String> = spans
                .iter()
                .enumerate()
                .filter(|(_, g)| {
                    let t = T0 + g.minute * MIN + g.offset;
                    t >= from && t < to
                        && service_filter.is_none_or(|s| s == g.service)
                        && color_filter.is_none_or(|c| c == g.color)
                })
                .map(|(n, _)| format!("span-{n}"))
                .collect();
            let mut query = json!({"startTimeUnixNano": from.to_string(), "endTimeUnixNano": to, "limit": limit});
            if let Some(s) = service_filter {
                query["serviceName"] = json!(format!("svc-{s}"));
            }
            if let Some(c) = color_filter {
                query["attributes"] = json!({"color": c.to_string()});
            }
            let (names, pages) = fetch_all(&app, "traces", query).await;
            let unique: HashSet<&String> = names.iter().collect();
            prop_assert_eq!(unique.len(), names.len(), "duplicates in {:?}", names);
            prop_assert_eq!(names.iter().cloned().collect::<BTreeSet<_>>(), expected.clone());
            prop_assert!(pages as u64 <= expected.len() as u64 / limit + 2);
            Ok(())
        })?;
    }
}

/// Compacts the hours of the property test's archive (03:00 to 06:00) that
/// `which` selects, deleting their raw objects with `delete_raw`.
async fn compact(store: &MemoryStore, which: &[bool], delete_raw: bool) {
    let first_hour = T0 - 33 * MIN;
    for (k, yes) in which.iter().enumerate() {
        if *yes {
            otelvault_archive::compact_hour(
                store,
                Signal::Traces,
                first_hour + k as u64 * 60 * MIN,
                otelvault_archive::CompactOptions {
                    delete_raw,
                    ..Default::default()
                },
            )
            .await
            .expect("compact");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The same with a compacted tier: random hours compacted (their raw
    /// objects deleted or not), late raw objects after a compaction, a
    /// compaction between two pages. A
    /// compacted hour reads exactly as its raw objects did (the same
    /// items, in as many pages), and paging stays exactly-once across
    /// tiers and across a compaction that happens while a client pages.
    #[test]
    fn pagination_is_exactly_once_across_tiers_and_compactions(
        spans in prop::collection::vec((0u8..3, 0u64..200, 0u64..MIN, 0u8..3).prop_map(|(service, minute, offset, color)| Generated { service, minute, offset, color }), 1..150),
        late in prop::collection::vec(any::<bool>(), 150),
        batch_size in 1usize..25,
        limit in 1u64..40,
        window in prop_oneof![(0u64..3, 3u64..7), (0u64..100, 100u64..200)],
        service_filter in prop::option::of(0u8..3),
        color_filter in prop::option::of(0u8..3),
        trace_filter in prop::option::of(1u64..20),
        hours in prop::collection::vec(any::<bool>(), 4),
        hours_mid_paging in prop::collection::vec(any::<bool>(), 4),
        delete_raw in any::<bool>(),
    ) {
        rt().block_on(async {
            let store = Arc::new(MemoryStore::new());
            let app = app(store.clone());
            let write = async |late_ones: bool| {
                for (start, chunk) in spans.chunks(batch_size).enumerate() {
                    for service in 0..3u8 {
                        let chunk: Vec<Span> = chunk
                            .iter()
                            .enumerate()
                            .map(|(j, g)| (start * batch_size + j, g))
                            .filter(|(n, g)| g.service == service && late[*n] == late_ones)
                            .map(|(n, g)| span(n as u64, T0 + g.minute * MIN + g.offset, vec![kv("color", &g.color.to_string())]))
                            .collect();
                        if !chunk.is_empty() {
                            ingest(&app, batch(&format!("svc-{service}"), chunk)).await;
                        }
                    }
                }
            };
            let (from, to) = (T0 + window.0 * MIN + MIN / 2, T0 + window.1 * MIN);
            let expected: BTreeSet<String> = spans
                .iter()
                .enumerate()
                .filter(|(n, g)| {
                    let t = T0 + g.minute * MIN + g.offset;
                    t >= from && t < to
                        && service_filter.is_none_or(|s| s == g.service)
                        && color_filter.is_none_or(|c| c == g.color)
                        && trace_filter.is_none_or(|t| t == *n as u64 / 3 + 1)
                })
                .map(|(n, _)| format!("span-{n}"))
                .collect();
            let mut query = json!({"startTimeUnixNano": from.to_string(), "endTimeUnixNano": to, "limit": limit});
            if let Some(s) = service_filter {
                query["serviceName"] = json!(format!("svc-{s}"));
            }
            if let Some(c) = color_filter {
                query["attributes"] = json!({"color": c.to_string()});
            }
            if let Some(t) = trace_filter {
                let mut id = [0u8; 16];
                id[8..].copy_from_slice(&t.to_be_bytes());
                query["traceId"] = json!(id.iter().map(|b| format!("{b:02x}")).collect::<String>());
            }

            // The early spans, read raw, then with some hours compacted:
            // the same pages.
            write(false).await;
            let raw = fetch_all(&app, "traces", query.clone()).await;
            compact(&store, &hours, delete_raw).await;
            let tiered = fetch_all(&app, "traces", query.clone()).await;
            // The same items, as many pages; a compacted hour gives them
            // in the order of its parts.
            let sorted = |(mut names, pages): (Vec<String>, usize)| {
                names.sort();
                (names, pages)
            };
            prop_assert_eq!(sorted(tiered), sorted(raw));

            // Late arrivals, and a compaction of other hours between the
            // first page and the rest.
            write(true).await;
            let mut names = Vec::new();
            let mut page_query = query.clone();
            for page_number in 0.. {
                let (status, page) = fetch(&app, "traces", page_query.clone()).await;
                prop_assert_eq!(status, StatusCode::OK, "{}", page);
                names.extend(span_names(&page));
                if page_number == 0 {
                    compact(&store, &hours_mid_paging, delete_raw).await;
                }
                match page["nextCursor"].as_str() {
                    Some(c) => page_query["cursor"] = json!(c),
                    None => break,
                }
                prop_assert!(page_number < 10_000, "pagination does not end");
            }
            let unique: HashSet<&String> = names.iter().collect();
            prop_assert_eq!(unique.len(), names.len(), "duplicates in {:?}", names);
            prop_assert_eq!(names.into_iter().collect::<BTreeSet<_>>(), expected);
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn window_edges_are_inclusive_start_exclusive_end() {
    let store = Arc::new(MemoryStore::new());
    let app = app(store);
    let spans = vec![
        span(0, T0 - 1, vec![]),
        span(1, T0, vec![]),
        span(2, T0 + MIN - 1, vec![]),
        span(3, T0 + MIN, vec![]),
    ];
    ingest(&app, batch("a", spans)).await;
    let (status, page) = fetch(
        &app,
        "traces",
        json!({"startTimeUnixNano": T0, "endTimeUnixNano": T0 + MIN}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(span_names(&page), vec!["span-1", "span-2"]);
    assert_eq!(page["hasMore"], false);
    assert!(page.get("nextCursor").is_none());
}

#[tokio::test]
async fn equal_resources_are_merged_across_objects() {
    let store = Arc::new(MemoryStore::new());
    let app = app(store.clone());
    for n in 0..4 {
        ingest(&app, batch("same", vec![span(n, T0 + n * MIN, vec![])])).await;
    }
    assert_eq!(
        otelvault_storage::list_all(&*store, &otelvault_storage::KeyPrefix::ROOT)
            .await
            .expect("list")
            .len(),
        4
    );
    let (_, page) = fetch(
        &app,
        "traces",
        json!({"startTimeUnixNano": T0, "endTimeUnixNano": T0 + 10 * MIN}),
    )
    .await;
    assert_eq!(
        page["resourceSpans"].as_array().map(Vec::len),
        Some(1),
        "{page}"
    );
    assert_eq!(span_names(&page).len(), 4);
}

#[tokio::test]
async fn cursors_are_bound_to_their_query_and_signal() {
    let store = Arc::new(MemoryStore::new());
    let app = app(store);
    ingest(
        &app,
        batch("a", (0..5).map(|n| span(n, T0 + n, vec![])).collect()),
    )
    .await;
    let query = json!({"startTimeUnixNano": T0, "endTimeUnixNano": T0 + MIN, "limit": 2});
    let (_, page) = fetch(&app, "traces", query.clone()).await;
    let cursor = page["nextCursor"].as_str().expect("cursor").to_owned();

    let mut other = query.clone();
    other["serviceName"] = json!("b");
    other["cursor"] = json!(cursor);
    let (status, body) = fetch(&app, "traces", other).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("cursor: invalid"),
        "{body}"
    );

    let mut logs = json!({"startTimeUnixNano": T0, "endTimeUnixNano": T0 + MIN});
    logs["cursor"] = json!(cursor);
    assert_eq!(fetch(&app, "logs", logs).await.0, StatusCode::BAD_REQUEST);

    let mut tampered = query.clone();
    let mut chars: Vec<char> = cursor.chars().collect();
    chars[20] = if chars[20] == 'A' { 'B' } else { 'A' };
    tampered["cursor"] = json!(chars.into_iter().collect::<String>());
    assert_eq!(
        fetch(&app, "traces", tampered).await.0,
        StatusCode::BAD_REQUEST
    );

    // Another server key: a cursor from elsewhere.
    let foreign = CursorSealer::new(&[4; 32]).seal(
        &Position {
            end: T0 + MIN,
            unit_start: T0,
            key: String::new(),
            include_key: false,
            skip: 0,
            chunk: None,
            covered: 0,
        },
        &FetchRequest::from_json(Signal::Traces, query.to_string().as_bytes())
            .expect("q")
            .query
            .fingerprint(),
    );
    let mut f = query.clone();
    f["cursor"] = json!(foreign);
    assert_eq!(fetch(&app, "traces", f).await.0, StatusCode::BAD_REQUEST);

    // The genuine cursor still works, with another page size too.
    let mut ok = query;
    ok["cursor"] = json!(cursor);
    ok["limit"] = json!(10);
    let (status, page) = fetch(&app, "traces", ok).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(span_names(&page).len(), 3);
}

/// `objects` objects of `spans` spans with a 4 KiB attribute each.
async fn ingest_big_spans(app: &Router, objects: u64, spans: u64) {
    let big = "x".repeat(4096);
    for b in 0..objects {
        let batch_spans = (0..spans)
            .map(|n| span(b * 1000 + n, T0 + b * 1000 + n, vec![kv("blob", &big)]))
            .collect();
        ingest(app, batch("big", batch_spans)).await;
    }
}

#[tokio::test]
async fn pages_stop_under_the_size_budget() {
    let app = app(Arc::new(MemoryStore::new()));
    // About 7.4 MB of JSON.
    ingest_big_spans(&app, 3, 600).await;
    let mut query = json!({"startTimeUnixNano": T0, "endTimeUnixNano": T0 + MIN, "limit": 10_000});
    let mut total = 0;
    let mut pages = 0;
    loop {
        let req = Request::post("/api/traces/fetch")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(query.to_string()))
            .expect("request");
        let (status, _, body) = call(&app, req).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.len() <= 5 * 1024 * 1024,
            "page of {} bytes",
            body.len()
        );
        let page: Value = serde_json::from_slice(&body).expect("json");
        total += span_names(&page).len();
        pages += 1;
        match page["nextCursor"].as_str() {
            Some(c) => query["cursor"] = json!(c),
            None => break,
        }
    }
    assert_eq!(total, 1800);
    assert!(pages >= 2, "{pages} pages");
}

#[tokio::test]
async fn protobuf_pages_leave_room_for_base64() {
    let app = app(Arc::new(MemoryStore::new()));
    ingest_big_spans(&app, 2, 700).await;
    let (status, _, body) = fetch_protobuf(&app, 10_000).await;
    assert_eq!(status, StatusCode::OK);
    // Base64 makes 4/3 of it; the Lambda response payload limit is 6 MB.
    assert!(body.len() * 4 / 3 < 6_000_000, "{} bytes", body.len());
    let page = FetchPage::decode_protobuf(Signal::Traces, &body).expect("page");
    assert!(
        page.next_cursor.is_some(),
        "1400 spans of 4 KiB do not fit one page"
    );
}

#[tokio::test]
async fn filters_select_by_service_trace_attributes_severity_and_metric() {
    let store = Arc::new(MemoryStore::new());
    let app = app(store);
    ingest(
        &app,
        batch(
            "checkout",
            vec![
                span(0, T0, vec![kv("http.route", "/buy")]),
                span(1, T0, vec![kv("http.route", "/cart")]),
            ],
        ),
    )
    .await;
    ingest(
        &app,
        batch("billing", vec![span(3, T0, vec![kv("http.route", "/buy")])]),
    )
    .await;
    let base = json!({"startTimeUnixNano": T0, "endTimeUnixNano": T0 + MIN});
    let with = |extra: Value| {
        let mut q = base.clone();
        for (k, v) in extra.as_object().expect("object") {
            q[k] = v.clone();
        }
        q
    };
    let names = |page: Value| {
        let mut n = span_names(&page);
        n.sort();
        n
    };
    assert_eq!(
        names(
            fetch(&app, "traces", with(json!({"serviceName": "checkout"})))
                .await
                .1
        ),
        vec!["span-0", "span-1"]
    );
    assert_eq!(
        names(
            fetch(
                &app,
                "traces",
                with(json!({"attributes": {"http.route": "/buy"}}))
            )
            .await
            .1
        ),
        vec!["span-0", "span-3"]
    );
    // Resource attributes match too, and filters combine with AND.
    assert_eq!(
        names(
            fetch(
                &app,
                "traces",
                with(json!({"attributes": {"service.name": "billing", "http.route": "/buy"}}))
            )
            .await
            .1
        ),
        vec!["span-3"]
    );
    // span(3) is in trace n/3+1 = 2; trace ids match in any case.
    let trace = format!("{:032X}", 2);
    assert_eq!(
        names(
            fetch(&app, "traces", with(json!({"traceId": trace})))
                .await
                .1
        ),
        vec!["span-3"]
    );

    // Logs by severity, metrics by name, from the samples.
    for (signal, sample) in [
        ("logs", include_str!("../../../../samples/otlp/logs.json")),
        (
            "metrics",
            include_str!("../../../../samples/otlp/metrics.json"),
        ),
    ] {
        let req = Request::post(format!("/v1/{signal}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(sample))
            .expect("request");
        assert_eq!(call(&app, req).await.0, StatusCode::OK);
    }
    let range = json!({"startTimeUnixNano": "1730000000000000000", "endTimeUnixNano": "1730000100000000000"});
    let mut logs = range.clone();
    logs["minSeverityNumber"] = json!(13);
    let (status, page) = fetch(&app, "logs", logs).await;
    assert_eq!(status, StatusCode::OK);
    let records = &page["resourceLogs"][0]["scopeLogs"][0]["logRecords"];
    assert_eq!(records.as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(records[0]["severityNumber"], 17);
    let mut metrics = range.clone();
    metrics["metricName"] = json!("http.server.requests");
    let (_, page) = fetch(&app, "metrics", metrics).await;
    let m = &page["resourceMetrics"][0]["scopeMetrics"][0]["metrics"];
    assert_eq!(m.as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(
        m[0]["sum"]["dataPoints"].as_array().map(Vec::len),
        Some(2),
        "both points, merged into one metric"
    );
    assert_eq!(m[0]["sum"]["dataPoints"][0]["asInt"], "9007199254740993");
}

#[tokio::test]
async fn protobuf_requests_and_responses() {
    let store = Arc::new(MemoryStore::new());
    let app = app(store);
    ingest(
        &app,
        batch("a", (0..3).map(|n| span(n, T0 + n, vec![])).collect()),
    )
    .await;
    let (status, headers, body) = fetch_protobuf(&app, 2).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/x-protobuf");
    let page = FetchPage::decode_protobuf(Signal::Traces, &body).expect("protobuf response");
    let Batch::Traces(traces) = &page.batch else {
        panic!("a traces page")
    };
    assert_eq!(traces.resource_spans[0].scope_spans[0].spans.len(), 2);
    assert!(page.next_cursor.as_ref().is_some_and(|c| !c.is_empty()));
}

#[tokio::test]
async fn bad_requests_are_400_and_keys_are_checked_by_scope() {
    let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
    let auth = Auth::new(
        true,
        "ingest-key-1".parse::<KeySet>().expect("k"),
        "query-key-1".parse::<KeySet>().expect("k"),
    );
    let app = app_with(store, auth);
    let send = |key: Option<&str>, body: &str| {
        let mut req =
            Request::post("/api/logs/fetch").header(header::CONTENT_TYPE, "application/json");
        if let Some(k) = key {
            req = req.header("Oteleport-Access-Key", k);
        }
        req.body(Body::from(body.to_owned())).expect("request")
    };
    assert_eq!(
        call(&app, send(None, "{}")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, send(Some("ingest-key-1"), "{}")).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, _, body) = call(&app, send(Some("query-key-1"), "{}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("startTimeUnixNano: is required"));
    let (status, _, _) = call(
        &app,
        send(
            Some("query-key-1"),
            r#"{"startTimeUnixNano": 1, "limit": 0.5}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = call(
        &app,
        send(Some("query-key-1"), r#"{"startTimeUnixNano": 1}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let get = Request::get("/api/logs/fetch")
        .body(Body::empty())
        .expect("request");
    assert_eq!(call(&app, get).await.0, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn unreadable_objects_are_reported_and_skipped() {
    let store = Arc::new(MemoryStore::new());
    let app = app(store.clone());
    ingest(&app, batch("a", vec![span(0, T0, vec![])])).await;
    let bad = "year=2024/month=10/day=27/hour=03/minute=33/traces_00000000000000000000000000000000.json.gz";
    store
        .put(
            &ObjectKey::new(bad).expect("key"),
            Bytes::from_static(b"not gzip"),
            &PutOptions::default(),
        )
        .await
        .expect("put");
    store
        .put(
            &ObjectKey::new("year=2024/month=10/day=27/hour=03/minute=33/_SUCCESS").expect("key"),
            Bytes::new(),
            &PutOptions::default(),
        )
        .await
        .expect("put");
    let (status, page) = fetch(
        &app,
        "traces",
        json!({"startTimeUnixNano": T0, "endTimeUnixNano": T0 + MIN}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(span_names(&page), vec!["span-0"]);
    assert_eq!(page["skippedObjects"][0]["key"], bad);
    assert!(
        page["skippedObjects"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("gzip"),
        "{page}"
    );
    assert_eq!(
        page["skippedObjects"].as_array().map(Vec::len),
        Some(1),
        "foreign files are not reported"
    );
}

#[tokio::test]
async fn collector_written_archives_are_read() {
    let store = Arc::new(MemoryStore::new());
    let app = app(store.clone());
    let sample = Batch::decode(
        Signal::Traces,
        Format::Json,
        include_str!("../../../../samples/otlp/traces.json").as_bytes(),
    )
    .expect("sample");
    let dir = "year=2024/month=10/day=27/hour=03/minute=33";
    let objects = [
        (
            format!("{dir}/traces_123456789.json"),
            sample.encode(Format::Json),
        ),
        (
            format!("{dir}/traces_987654321.binpb.gz"),
            Compression::Gzip
                .compress(&sample.encode(Format::Protobuf))
                .expect("gz"),
        ),
        (
            format!("{dir}/app_traces_0190a0f2-7c3e-7d45-9e3f-2b1c4d5e6f70.binpb"),
            sample.encode(Format::Protobuf),
        ),
        (
            format!("{dir}/traces_1.json.zst"),
            Compression::Zstd
                .compress(&sample.encode(Format::Json))
                .expect("zst"),
        ),
    ];
    for (key, body) in objects {
        store
            .put(
                &ObjectKey::new(key).expect("key"),
                Bytes::from(body),
                &PutOptions::default(),
            )
            .await
            .expect("put");
    }
    let (status, page) = fetch(&app, "traces", json!({"startTimeUnixNano": "1730000000000000000", "endTimeUnixNano": "1730000001000000000"})).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        span_names(&page).len(),
        8,
        "2 spans from each of 4 objects: {page}"
    );
    assert!(page.get("skippedObjects").is_none());
}

#[tokio::test]
async fn traces_are_looked_up_by_id() {
    let store = Arc::new(MemoryStore::new());
    let app = app(store);
    ingest(
        &app,
        batch(
            "a",
            vec![
                span(0, T0, vec![]),
                span(1, T0 + 2 * MIN, vec![]),
                span(3, T0, vec![]),
            ],
        ),
    )
    .await;
    let id = format!("{:032x}", 1); // spans 0 and 1
    let start = T0 / 1_000_000_000 - 60;
    let url = format!("/api/traces/{id}?start={start}&end={}", start + 3600);
    let (status, headers, body) = call(
        &app,
        Request::get(&url).body(Body::empty()).expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let data: Value = serde_json::from_slice(&body).expect("json");
    let mut names = span_names(&data);
    names.sort();
    assert_eq!(names, vec!["span-0", "span-1"]);
    assert!(data.get("nextCursor").is_none(), "TracesData only");

    let pb = Request::get(&url)
        .header(header::ACCEPT, "application/x-protobuf")
        .body(Body::empty())
        .expect("request");
    let (status, _, body) = call(&app, pb).await;
    assert_eq!(status, StatusCode::OK);
    let traces = ExportTraceServiceRequest::decode(body).expect("TracesData");
    assert_eq!(traces.resource_spans[0].scope_spans[0].spans.len(), 2);

    let missing = format!("/api/traces/{:032x}?start={start}&end={}", 77, start + 3600);
    let (status, _, body) = call(
        &app,
        Request::get(&missing).body(Body::empty()).expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(&body).contains("not found between"));
    // The default window (the last hour) does not reach 2024.
    let (status, _, _) = call(
        &app,
        Request::get(format!("/api/traces/{id}"))
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(
        &app,
        Request::get("/api/traces/xyz")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = call(
        &app,
        Request::get(format!("/api/traces/{id}?start=soon"))
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn queries_past_the_instance_limit_are_429_while_ingest_goes_on() {
    let state = state(Arc::new(MemoryStore::new()), Auth::default());
    let app = router(state.clone());
    let running = state
        .queries
        .acquire_many(crate::MAX_CONCURRENT_QUERIES as u32)
        .await
        .expect("every query slot");
    let req = Request::post("/api/traces/fetch")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "startTimeUnixNano": T0 }).to_string()))
        .expect("request");
    let (status, headers, body) = call(&app, req).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body:?}");
    assert_eq!(headers[header::RETRY_AFTER], "5");
    let lookup = Request::get(format!(
        "/api/traces/5b8efff798038103d269b633813fc60c?start={}&end={}",
        T0 / 1_000_000_000,
        T0 / 1_000_000_000 + 60
    ))
    .body(Body::empty())
    .expect("request");
    assert_eq!(call(&app, lookup).await.0, StatusCode::TOO_MANY_REQUESTS);
    // Ingest does not wait for queries.
    ingest(&app, batch("a", vec![span(0, T0, vec![])])).await;
    drop(running);
    let (status, page) = fetch(&app, "traces", json!({ "startTimeUnixNano": T0 })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(span_names(&page), vec!["span-0"]);
}

#[tokio::test]
async fn a_trace_lookup_that_runs_out_of_time_says_what_it_did_not_search() {
    let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
    let mut state = AppState::new(
        Archive::new(
            store,
            Layout {
                partitioning: Partitioning {
                    granularity: Granularity::Minute,
                    time: PartitionTime::Event,
                },
                format: Format::Json,
                compression: Compression::Gzip,
            },
        ),
        Auth::default(),
        &[3; 32],
    );
    let start = T0 / 1_000_000_000 - 60;
    let missing = format!("/api/traces/{:032x}?start={start}&end={}", 77, start + 3600);
    let lookup = async |app: &Router| {
        let (status, _, body) = call(
            app,
            Request::get(&missing).body(Body::empty()).expect("request"),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        rpc_text(&body)
    };
    // With time for the whole hour, the answer is final.
    let app = router(Arc::new(AppState::new(
        state.archive.clone(),
        Auth::default(),
        &[3; 32],
    )));
    ingest(&app, batch("a", vec![span(0, T0, vec![])])).await;
    let complete = lookup(&app).await;
    assert!(
        complete.contains("widen with") && !complete.contains("not searched"),
        "{complete}"
    );
    // Out of time at once: the answer says which part was not searched.
    state.page_time = Duration::ZERO;
    let partial = lookup(&router(Arc::new(state))).await;
    assert!(
        partial.contains("was not searched") && partial.contains(&format!("&end={}", start + 3600)),
        "{partial}"
    );
}

fn rpc_text(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).expect("json status");
    v["message"].as_str().expect("message").to_owned()
}
