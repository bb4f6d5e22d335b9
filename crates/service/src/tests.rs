//! Router tests: every status path of the ingest API, in process, against
//! the in-memory store (and a store that fails on purpose).

use std::io::Write;

use async_trait::async_trait;
use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use otelvault_archive::{Layout, PartitionKey, PartitionTime, Partitioning};
use otelvault_codec::proto::collector_trace::ExportTraceServiceResponse;
use otelvault_codec::status::RpcStatus;
use otelvault_codec::{Batch, Compression, Format, Granularity, Signal};
use otelvault_storage::{
    KeyPrefix, ListPage, MemoryStore, ObjectKey, ObjectStore, PutOptions, StorageError, list_all,
};
use otelvault_testkit::data::sample;
use prost::Message;
use tower::ServiceExt;

use super::*;
use crate::auth::KeySet;

const TRACES_JSON: &str = include_str!("../../../samples/otlp/traces.json");
const METRICS_JSON: &str = include_str!("../../../samples/otlp/metrics.json");
const LOGS_JSON: &str = include_str!("../../../samples/otlp/logs.json");

fn settings(partition_time: PartitionTime) -> Layout {
    Layout {
        partitioning: Partitioning {
            granularity: Granularity::Minute,
            time: partition_time,
        },
        format: Format::Json,
        compression: Compression::Gzip,
    }
}

fn app_with(store: Arc<dyn ObjectStore>, auth: Auth, layout: Layout) -> Router {
    router(Arc::new(AppState::new(
        Archive::new(store, layout),
        auth,
        &[9; 32],
    )))
}

fn app() -> (Router, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    (
        app_with(
            store.clone(),
            Auth::default(),
            settings(PartitionTime::Event),
        ),
        store,
    )
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let response = app.clone().oneshot(req).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, headers, body)
}

async fn send_json(app: &Router, path: &str, body: &str) -> (StatusCode, HeaderMap, Bytes) {
    let req = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    send(app, req.body(Body::from(body.to_owned())).expect("request")).await
}

/// Every stored object, decoded back into a batch.
async fn stored(store: &dyn ObjectStore) -> Vec<(PartitionKey, Batch)> {
    let mut out = Vec::new();
    for meta in list_all(store, &KeyPrefix::ROOT).await.expect("list") {
        let key = PartitionKey::parse(&meta.key).expect("archive key");
        let raw = store.get(&meta.key).await.expect("get");
        let data = key
            .compression
            .decompress(&raw, 1 << 30)
            .expect("decompress")
            .into_owned();
        out.push((
            key.clone(),
            Batch::decode(key.signal, key.format, &data).expect("decode"),
        ));
    }
    out
}

fn rpc_message(format: Format, body: &[u8]) -> String {
    match format {
        Format::Protobuf => RpcStatus::decode(body).expect("status").message,
        Format::Json => {
            let v: serde_json::Value = serde_json::from_slice(body).expect("json status");
            v["message"].as_str().expect("message").to_owned()
        }
    }
}

#[tokio::test]
async fn every_signal_is_stored_as_sent_in_both_encodings() {
    for signal in Signal::ALL {
        for format in [Format::Json, Format::Protobuf] {
            let (app, store) = app();
            let batch = sample(signal);
            let req = Request::post(format!("/v1/{signal}"))
                .header(header::CONTENT_TYPE, format.content_type())
                .body(Body::from(batch.encode(format)))
                .expect("request");
            let (status, headers, body) = send(&app, req).await;
            assert_eq!(status, StatusCode::OK, "{signal} {format}: {body:?}");
            assert_eq!(headers[header::CONTENT_TYPE], format.content_type());
            match format {
                Format::Json => assert_eq!(&body[..], b"{}"),
                Format::Protobuf => assert!(body.is_empty(), "empty Export*ServiceResponse"),
            }
            let objects = stored(&*store).await;
            let merged =
                otelvault_codec::merge(objects.iter().map(|(_, b)| b.clone())).expect("objects");
            assert_eq!(merged.item_count(), batch.item_count(), "{signal} {format}");
            for (key, _) in &objects {
                assert_eq!(
                    (key.signal, key.format, key.compression),
                    (signal, Format::Json, Compression::Gzip)
                );
            }
        }
    }
}

#[tokio::test]
async fn traces_keep_every_field_and_land_in_event_time_partitions() {
    let (app, store) = app();
    let (status, _, _) = send_json(&app, "/v1/traces", TRACES_JSON).await;
    assert_eq!(status, StatusCode::OK);
    let objects = stored(&*store).await;
    // Both sample spans start in minute 2024-10-27T03:33.
    assert_eq!(objects.len(), 1);
    assert!(
        objects[0]
            .0
            .to_string()
            .starts_with("year=2024/month=10/day=27/hour=03/minute=33/traces_")
    );
    assert_eq!(objects[0].1, sample(Signal::Traces));
}

#[tokio::test]
async fn compressed_bodies_are_accepted() {
    let json = TRACES_JSON.as_bytes();
    let mut deflate = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    deflate.write_all(json).expect("write");
    for (encoding, body) in [
        ("gzip", Compression::Gzip.compress(json).expect("gzip")),
        ("zstd", Compression::Zstd.compress(json).expect("zstd")),
        ("deflate", deflate.finish().expect("deflate")),
        ("identity", json.to_vec()),
    ] {
        let (app, store) = app();
        let req = Request::post("/v1/traces")
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .header(header::CONTENT_ENCODING, encoding)
            .body(Body::from(body))
            .expect("request");
        let (status, _, body) = send(&app, req).await;
        assert_eq!(status, StatusCode::OK, "{encoding}: {body:?}");
        assert_eq!(stored(&*store).await[0].1.item_count(), 2, "{encoding}");
    }
}

#[tokio::test]
async fn unsupported_media_types_and_encodings_are_415() {
    let (app, store) = app();
    let cases = [
        (
            Some("text/plain"),
            None,
            "unsupported Content-Type \"text/plain\"",
        ),
        (None, None, "missing Content-Type"),
        (
            Some("application/json"),
            Some("br"),
            "unsupported Content-Encoding \"br\"",
        ),
    ];
    for (ct, ce, expected) in cases {
        let mut req = Request::post("/v1/logs");
        if let Some(ct) = ct {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        if let Some(ce) = ce {
            req = req.header(header::CONTENT_ENCODING, ce);
        }
        let (status, _, body) = send(&app, req.body(Body::from(LOGS_JSON)).expect("request")).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?} {ce:?}");
        assert!(
            rpc_message(Format::Json, &body).contains(expected),
            "{body:?}"
        );
    }
    assert!(
        list_all(&*store, &KeyPrefix::ROOT)
            .await
            .expect("list")
            .is_empty()
    );
}

#[tokio::test]
async fn undecodable_bodies_are_400_with_a_message_in_the_request_encoding() {
    let (app, store) = app();
    let (status, headers, body) = send_json(
        &app,
        "/v1/traces",
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let message = rpc_message(Format::Json, &body);
    assert!(
        message.contains("resourceSpans[0].scopeSpans[0].spans[0].traceId"),
        "{message}"
    );

    let req = Request::post("/v1/metrics")
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .body(Body::from(vec![0xff, 0xff, 0xff]))
        .expect("request");
    let (status, headers, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers[header::CONTENT_TYPE], "application/x-protobuf");
    assert!(
        rpc_message(Format::Protobuf, &body)
            .contains("invalid protobuf ExportMetricsServiceRequest")
    );

    let req = Request::post("/v1/logs")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from("not gzip"))
        .expect("request");
    let (status, _, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(rpc_message(Format::Json, &body).contains("invalid gzip data"));
    assert!(
        list_all(&*store, &KeyPrefix::ROOT)
            .await
            .expect("list")
            .is_empty()
    );
}

#[tokio::test]
async fn oversized_bodies_are_413_declared_streamed_or_inflated() {
    let (app, _) = app();
    let big = vec![b' '; MAX_BODY_BYTES + 1];
    let (status, _, body) =
        send_json(&app, "/v1/logs", std::str::from_utf8(&big).expect("ascii")).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(rpc_message(Format::Json, &body).contains("exceeds 6291456 bytes"));

    // A chunked body with no Content-Length, as the Node.js exporter sends.
    let chunks = futures::stream::iter(
        (0..7).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b' '; 1024 * 1024]))),
    );
    let req = Request::post("/v1/logs")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(chunks))
        .expect("request");
    assert_eq!(send(&app, req).await.0, StatusCode::PAYLOAD_TOO_LARGE);

    // 65 MiB of JSON whitespace gzips to well under 6 MiB.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..65 {
        enc.write_all(&vec![b' '; 1024 * 1024]).expect("write");
    }
    let bomb = enc.finish().expect("gzip");
    assert!(bomb.len() < MAX_BODY_BYTES);
    let req = Request::post("/v1/logs")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from(bomb))
        .expect("request");
    let (status, _, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(rpc_message(Format::Json, &body).contains("after decompression"));
}

/// One span with `n` empty attributes: two bytes each on the wire, a
/// `KeyValue` each once decoded.
fn span_with_empty_attributes(n: usize) -> Vec<u8> {
    use otelvault_codec::proto::collector_trace::ExportTraceServiceRequest;
    use otelvault_codec::proto::common::KeyValue;
    use otelvault_codec::proto::trace::{ResourceSpans, ScopeSpans, Span};
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![1; 16],
                    span_id: vec![1; 8],
                    name: "s".into(),
                    attributes: vec![KeyValue::default(); n],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

#[tokio::test]
async fn requests_too_costly_to_decode_are_413_and_store_nothing() {
    let (app, store) = app();
    // 5 MB of protobuf (well under the body limits) that would take about
    // 150 MB once decoded, past the default 128 MiB.
    let protobuf = span_with_empty_attributes(2_500_000);
    assert!(protobuf.len() < MAX_BODY_BYTES);
    let json = Batch::decode(Signal::Traces, Format::Protobuf, &protobuf)
        .expect("decode")
        .encode(Format::Json);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&json).expect("gzip");
    for (format, body, encoding) in [
        (Format::Protobuf, protobuf, "identity"),
        (Format::Json, gzip.finish().expect("gzip"), "gzip"),
    ] {
        let req = Request::post("/v1/traces")
            .header(header::CONTENT_TYPE, format.content_type())
            .header(header::CONTENT_ENCODING, encoding)
            .body(Body::from(body))
            .expect("request");
        let (status, _, body) = send(&app, req).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{format:?}");
        let message = rpc_message(format, &body);
        assert!(
            message.contains("more than 128 MiB of memory once decoded")
                && message.contains("OTELVAULT_MAX_REQUEST_MIB")
                && message.contains("fewer spans"),
            "{message}"
        );
    }
    assert!(stored(&*store).await.is_empty());

    // The same shape, smaller, is stored.
    let req = Request::post("/v1/traces")
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .body(Body::from(span_with_empty_attributes(100_000)))
        .expect("request");
    assert_eq!(send(&app, req).await.0, StatusCode::OK);
    assert_eq!(stored(&*store).await.len(), 1);
}

#[tokio::test]
async fn too_large_is_resource_exhausted_not_invalid_argument() {
    let (app, _) = app();
    let req = Request::post("/v1/traces")
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .body(Body::from(vec![0u8; MAX_BODY_BYTES + 1]))
        .expect("request");
    let (status, _, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let rpc = RpcStatus::decode(body).expect("status");
    assert_eq!(rpc.code, otelvault_codec::status::code::RESOURCE_EXHAUSTED);
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let (app, _) = app();
    let (status, _, body) = send(
        &app,
        Request::get("/v1/profiles")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(rpc_message(Format::Json, &body).contains("/v1/profiles"));
    for (method, path) in [
        ("GET", "/v1/traces"),
        ("PUT", "/v1/logs"),
        ("POST", "/health"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .expect("request");
        let (status, _, body) = send(&app, req).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(rpc_message(Format::Json, &body).contains(&format!("{method} is not allowed")));
    }
    let (status, _, body) = send(
        &app,
        Request::get("/health")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(
        (status, &body[..]),
        (StatusCode::OK, &br#"{"status":"ok"}"#[..])
    );
}

#[tokio::test]
async fn invalid_ids_are_rejected_through_partial_success_and_the_rest_stored() {
    let (app, store) = app();
    let doc = TRACES_JSON.replacen(
        "\"spanId\": \"eee19b7ec3c1b174\"",
        "\"spanId\": \"eee19b\"",
        1,
    );
    let (status, _, body) = send_json(&app, "/v1/traces", &doc).await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["partialSuccess"]["rejectedSpans"], "1");
    let message = v["partialSuccess"]["errorMessage"]
        .as_str()
        .expect("message");
    assert!(message.contains("span id must be 8 bytes"), "{message}");
    let objects = stored(&*store).await;
    assert_eq!(
        objects.iter().map(|(_, b)| b.item_count()).sum::<usize>(),
        1
    );

    // Same over protobuf.
    let mut batch = sample(Signal::Traces);
    if let Batch::Traces(r) = &mut batch {
        r.resource_spans[0].scope_spans[0].spans[1].trace_id = vec![1, 2, 3];
    }
    let req = Request::post("/v1/traces")
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .body(Body::from(batch.encode(Format::Protobuf)))
        .expect("request");
    let (status, _, body) = send(&app, req).await;
    assert_eq!(status, StatusCode::OK);
    let response = ExportTraceServiceResponse::decode(&body[..]).expect("response");
    assert_eq!(response.partial_success.map(|p| p.rejected_spans), Some(1));
}

#[tokio::test]
async fn empty_requests_succeed_and_write_nothing() {
    let (app, store) = app();
    for body in [
        "{}",
        r#"{"resourceSpans":[]}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[]}]}]}"#,
    ] {
        let (status, _, _) = send_json(&app, "/v1/traces", body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let req = Request::post("/v1/metrics")
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .body(Body::empty())
        .expect("request");
    assert_eq!(send(&app, req).await.0, StatusCode::OK);
    assert!(
        list_all(&*store, &KeyPrefix::ROOT)
            .await
            .expect("list")
            .is_empty()
    );
}

#[tokio::test]
async fn a_retried_request_leaves_one_object() {
    let (app, store) = app();
    for _ in 0..3 {
        assert_eq!(
            send_json(&app, "/v1/logs", LOGS_JSON).await.0,
            StatusCode::OK
        );
    }
    let first = list_all(&*store, &KeyPrefix::ROOT).await.expect("list");
    assert_eq!(first.len(), 1, "logs sample spans partitions 03:33 only");
    assert_eq!(
        send_json(&app, "/v1/metrics", METRICS_JSON).await.0,
        StatusCode::OK
    );
    let after_metrics = list_all(&*store, &KeyPrefix::ROOT)
        .await
        .expect("list")
        .len();
    assert_eq!(
        send_json(&app, "/v1/metrics", METRICS_JSON).await.0,
        StatusCode::OK
    );
    assert_eq!(
        list_all(&*store, &KeyPrefix::ROOT)
            .await
            .expect("list")
            .len(),
        after_metrics
    );
}

#[tokio::test]
async fn batches_split_by_minute_and_receive_mode_uses_arrival_time() {
    let (app, store) = app();
    // The metrics sample has a point one minute after the others.
    assert_eq!(
        send_json(&app, "/v1/metrics", METRICS_JSON).await.0,
        StatusCode::OK
    );
    let keys: Vec<String> = stored(&*store)
        .await
        .iter()
        .map(|(k, _)| k.to_string())
        .collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.iter().any(|k| k.contains("/minute=34/")), "{keys:?}");

    let store = Arc::new(MemoryStore::new());
    let app = app_with(
        store.clone(),
        Auth::default(),
        settings(PartitionTime::Receive),
    );
    assert_eq!(
        send_json(&app, "/v1/metrics", METRICS_JSON).await.0,
        StatusCode::OK
    );
    let objects = stored(&*store).await;
    assert_eq!(objects.len(), 1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    assert!(now - objects[0].0.partition_start < 2 * 60 * 1_000_000_000);
}

#[tokio::test]
async fn keys_are_enforced_by_scope_and_health_stays_open() {
    let store = Arc::new(MemoryStore::new());
    let auth = Auth::new(
        true,
        "ingest-key-123".parse::<KeySet>().expect("keys"),
        "query-key-123".parse::<KeySet>().expect("keys"),
    );
    let app = app_with(store.clone(), auth, settings(PartitionTime::Event));
    let with_key = |key: Option<&str>| {
        let mut req = Request::post("/v1/logs").header(header::CONTENT_TYPE, "application/json");
        if let Some(key) = key {
            req = req.header("Oteleport-Access-Key", key);
        }
        req.body(Body::from(LOGS_JSON)).expect("request")
    };
    let (status, _, body) = send(&app, with_key(None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(rpc_message(Format::Json, &body).contains("missing API key"));
    assert_eq!(
        send(&app, with_key(Some("wrong-key-123"))).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, _, body) = send(&app, with_key(Some("query-key-123"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(rpc_message(Format::Json, &body).contains("not allowed to ingest"));
    assert!(
        list_all(&*store, &KeyPrefix::ROOT)
            .await
            .expect("list")
            .is_empty(),
        "nothing stored without a valid key"
    );
    assert_eq!(
        send(&app, with_key(Some("ingest-key-123"))).await.0,
        StatusCode::OK
    );
    let bearer = Request::post("/v1/logs")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, "Bearer ingest-key-123")
        .body(Body::from(LOGS_JSON))
        .expect("request");
    assert_eq!(send(&app, bearer).await.0, StatusCode::OK);
    assert_eq!(
        send(
            &app,
            Request::get("/health")
                .body(Body::empty())
                .expect("request")
        )
        .await
        .0,
        StatusCode::OK
    );
}

/// A store whose every call fails with the given error.
#[derive(Debug)]
struct FailingStore(fn() -> StorageError);

#[async_trait]
impl ObjectStore for FailingStore {
    async fn put(&self, _: &ObjectKey, _: Bytes, _: &PutOptions) -> Result<(), StorageError> {
        Err((self.0)())
    }
    async fn get(&self, _: &ObjectKey) -> Result<Bytes, StorageError> {
        Err((self.0)())
    }
    async fn get_range(
        &self,
        _: &ObjectKey,
        _: std::ops::Range<u64>,
    ) -> Result<Bytes, StorageError> {
        Err((self.0)())
    }
    async fn head(&self, _: &ObjectKey) -> Result<otelvault_storage::ObjectMeta, StorageError> {
        Err((self.0)())
    }
    async fn list_page(&self, _: &KeyPrefix, _: Option<&str>) -> Result<ListPage, StorageError> {
        Err((self.0)())
    }
    async fn list_dirs(&self, _: &KeyPrefix) -> Result<Vec<String>, StorageError> {
        Err((self.0)())
    }
    async fn delete(&self, _: &ObjectKey) -> Result<(), StorageError> {
        Err((self.0)())
    }
}

#[tokio::test]
async fn storage_faults_are_503_or_429_with_retry_after_and_mistakes_500() {
    let cases: [(fn() -> StorageError, StatusCode); 3] = [
        (
            || StorageError::Unavailable {
                message: "connection refused".into(),
            },
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            || StorageError::Failed {
                message: "PutObject s3://b/k: AccessDenied".into(),
            },
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        (
            || StorageError::Throttled {
                message: "SlowDown".into(),
            },
            StatusCode::TOO_MANY_REQUESTS,
        ),
    ];
    for (fault, expected) in cases {
        let app = app_with(
            Arc::new(FailingStore(fault)),
            Auth::default(),
            settings(PartitionTime::Event),
        );
        let req = Request::post("/v1/traces")
            .header(header::CONTENT_TYPE, "application/x-protobuf")
            .body(Body::from(sample(Signal::Traces).encode(Format::Protobuf)))
            .expect("request");
        let (status, headers, body) = send(&app, req).await;
        assert_eq!(status, expected);
        let message = rpc_message(Format::Protobuf, &body);
        if expected == StatusCode::INTERNAL_SERVER_ERROR {
            // Permanent: no retry invited, and the cause is named.
            assert!(headers.get(header::RETRY_AFTER).is_none());
            assert!(
                message.contains("s3://b/k: AccessDenied") && !message.contains("retry"),
                "{message}"
            );
        } else {
            assert_eq!(headers[header::RETRY_AFTER], "5");
            assert!(
                message.contains("retry later") && !message.contains("connection refused"),
                "{message}"
            );
        }
        // Empty requests never touch storage.
        let (status, _, _) = send_json(&app, "/v1/traces", "{}").await;
        assert_eq!(status, StatusCode::OK);
    }
}

/// An app whose EMF events go to a file; returns the app, its store and
/// the file.
fn app_with_emf(store: Arc<dyn ObjectStore>) -> (Router, tempfile::NamedTempFile) {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let config = emf::EmfConfig {
        self_metrics: true,
        converter: Some(otelvault_emf::Config::default()),
        namespace: "otelvault".into(),
        file: Some(file.path().to_owned()),
        max_series: None,
    };
    let mut state = AppState::new(
        Archive::new(store, settings(PartitionTime::Event)),
        Auth::default(),
        &[9; 32],
    );
    state.emf = emf::Emf::new(config).expect("emf");
    (router(Arc::new(state)), file)
}

/// The EMF events written so far: otelvault's own, and the others.
fn emf_events(file: &tempfile::NamedTempFile) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let text = std::fs::read_to_string(file.path()).expect("read");
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
        .partition(|e| e["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "otelvault")
}

#[tokio::test]
async fn each_request_prints_its_figures_and_each_stored_metrics_batch_its_emf_events() {
    let (app, file) = app_with_emf(Arc::new(MemoryStore::new()));
    let (status, _, _) = send_json(&app, "/v1/metrics", METRICS_JSON).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = send_json(&app, "/v1/logs", "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (own, converted) = emf_events(&file);
    assert_eq!(own.len(), 2, "one event per request: {own:?}");
    let metrics = &own[0];
    assert_eq!(metrics["route"], "/v1/metrics");
    assert_eq!(metrics["signal"], "metrics");
    let points = Batch::decode(Signal::Metrics, Format::Json, METRICS_JSON.as_bytes())
        .expect("sample")
        .item_count();
    assert_eq!(metrics["ItemsAccepted"], points as f64);
    assert_eq!(metrics["BytesReceived"], METRICS_JSON.len() as f64);
    assert!(metrics["BytesStored"].as_f64() > Some(0.0));
    assert!(metrics["StorageLatency"].as_f64() >= Some(0.0));
    assert_eq!(metrics["ServerErrors"], 0.0);
    let directive = &metrics["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(
        directive["Dimensions"],
        serde_json::json!([["signal", "route"]])
    );
    let refused = &own[1];
    assert_eq!(refused["route"], "/v1/logs");
    assert_eq!(refused["ClientErrors"], 1.0);
    assert_eq!(refused["ItemsAccepted"], 0.0);

    // The sample's metrics, in the service's namespace: its cumulative sum
    // as the delta of its second point (its first has none to take), and
    // none of the points flagged as having no recorded value.
    assert!(!converted.is_empty());
    let names: std::collections::BTreeSet<&str> = converted
        .iter()
        .flat_map(|e| {
            e["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .expect("metrics")
        })
        .filter_map(|m| m["Name"].as_str())
        .collect();
    let expected = ["gc.pause", "http.server.duration", "http.server.requests"];
    assert_eq!(names, expected.into_iter().collect());
    let requests: Vec<_> = converted
        .iter()
        .filter_map(|e| e.get("http.server.requests"))
        .collect();
    // 0 after 9007199254740993: a reset, sent as the new count.
    assert_eq!(requests, [&serde_json::json!(0.0)]);
    assert!(
        converted
            .iter()
            .all(|e| e["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "checkout")
    );
}

#[tokio::test]
async fn paths_a_client_chooses_share_one_emf_route() {
    let (app, file) = app_with_emf(Arc::new(MemoryStore::new()));
    for path in ["/random-1", "/random-2/x", "/api/traces/0123/extra"] {
        let req = Request::get(path).body(Body::empty()).expect("request");
        let (status, _, _) = send(&app, req).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let req = Request::get("/api/traces/5b8efff798038103d269b633813fc60c")
        .body(Body::empty())
        .expect("request");
    send(&app, req).await;
    let (own, _) = emf_events(&file);
    let routes: Vec<&str> = own.iter().filter_map(|e| e["route"].as_str()).collect();
    assert_eq!(
        routes,
        [
            "unmatched",
            "unmatched",
            "unmatched",
            "/api/traces/{trace_id}"
        ]
    );
}

#[tokio::test]
async fn a_batch_that_is_not_stored_sends_no_emf_metrics() {
    let (app, file) = app_with_emf(Arc::new(FailingStore(|| StorageError::Unavailable {
        message: "connection refused".into(),
    })));
    let (status, _, _) = send_json(&app, "/v1/metrics", METRICS_JSON).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (own, converted) = emf_events(&file);
    assert!(converted.is_empty(), "the client retries: nothing yet");
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["ServerErrors"], 1.0);
    assert_eq!(own[0]["ItemsAccepted"], 0.0);
}

/// A store that counts its checks and fails while told to.
#[derive(Debug, Default)]
struct ProbedStore {
    inner: MemoryStore,
    checks: std::sync::atomic::AtomicUsize,
    down: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl ObjectStore for ProbedStore {
    async fn put(&self, k: &ObjectKey, b: Bytes, o: &PutOptions) -> Result<(), StorageError> {
        self.inner.put(k, b, o).await
    }
    async fn get(&self, k: &ObjectKey) -> Result<Bytes, StorageError> {
        self.inner.get(k).await
    }
    async fn get_range(
        &self,
        k: &ObjectKey,
        r: std::ops::Range<u64>,
    ) -> Result<Bytes, StorageError> {
        self.inner.get_range(k, r).await
    }
    async fn head(&self, k: &ObjectKey) -> Result<otelvault_storage::ObjectMeta, StorageError> {
        self.inner.head(k).await
    }
    async fn list_page(&self, p: &KeyPrefix, a: Option<&str>) -> Result<ListPage, StorageError> {
        self.inner.list_page(p, a).await
    }
    async fn list_dirs(&self, p: &KeyPrefix) -> Result<Vec<String>, StorageError> {
        self.inner.list_dirs(p).await
    }
    async fn delete(&self, k: &ObjectKey) -> Result<(), StorageError> {
        self.inner.delete(k).await
    }
    async fn check(&self) -> Result<(), StorageError> {
        use std::sync::atomic::Ordering::Relaxed;
        self.checks.fetch_add(1, Relaxed);
        if self.down.load(Relaxed) {
            return Err(StorageError::Unavailable {
                message: "connection refused".into(),
            });
        }
        Ok(())
    }
}

#[tokio::test]
async fn ready_checks_the_storage_at_most_once_per_interval_and_health_never() {
    use std::sync::atomic::Ordering::Relaxed;
    let store = Arc::new(ProbedStore::default());
    let app = router(Arc::new(AppState::new(
        Archive::new(store.clone(), Layout::default()),
        Auth::default(),
        &[3; 32],
    )));
    let get = |path: &'static str| Request::get(path).body(Body::empty()).expect("request");
    for _ in 0..5 {
        let (status, _, body) = send(&app, get("/ready")).await;
        assert_eq!(status, StatusCode::OK, "{body:?}");
        let (status, _, _) = send(&app, get("/health")).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(
        store.checks.load(Relaxed),
        1,
        "one check answers the probes"
    );

    // A store that fails takes the server out of rotation; liveness stays.
    store.down.store(true, Relaxed);
    let app = router(Arc::new(AppState::new(
        Archive::new(store.clone(), Layout::default()),
        Auth::default(),
        &[3; 32],
    )));
    let (status, headers, body) = send(&app, get("/ready")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body:?}");
    assert_eq!(
        headers.get("retry-after").map(|v| v.as_bytes()),
        Some(&b"5"[..])
    );
    assert!(
        !String::from_utf8_lossy(&body).contains("refused"),
        "no detail for anyone"
    );
    let (status, _, _) = send(&app, get("/health")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn ingest_waits_for_room_in_the_memory_budget_then_answers_503() {
    let state = Arc::new(
        AppState::new(
            Archive::new(Arc::new(MemoryStore::new()), Layout::default()),
            Auth::default(),
            &[5; 32],
        )
        .with_ingest_memory(64),
    );
    let app = router(Arc::clone(&state));
    // Requests in flight hold the whole budget.
    let held = Arc::clone(&state.ingest_memory)
        .acquire_many_owned(64)
        .await
        .expect("permits");
    let started = Instant::now();
    let (status, headers, body) = send_json(&app, "/v1/traces", TRACES_JSON).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body:?}");
    assert!(headers.contains_key("retry-after"));
    assert!(String::from_utf8_lossy(&body).contains("busy"), "{body:?}");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "it waited first"
    );
    // Once they are done, the same request is stored, and gives its memory back.
    drop(held);
    let (status, _, _) = send_json(&app, "/v1/traces", TRACES_JSON).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state.ingest_memory.available_permits(), 64);
    // A request waits while another finishes.
    let held = Arc::clone(&state.ingest_memory)
        .acquire_many_owned(64)
        .await
        .expect("permits");
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        drop(held);
    });
    let (status, _, _) = send_json(&app, "/v1/traces", TRACES_JSON).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn converted_metrics_stop_at_a_cap_of_distinct_dimension_values() {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let config = emf::EmfConfig {
        self_metrics: false,
        converter: Some(otelvault_emf::Config::default()),
        namespace: "otelvault".into(),
        file: Some(file.path().to_owned()),
        max_series: Some(1),
    };
    let mut state = AppState::new(
        Archive::new(Arc::new(MemoryStore::new()), settings(PartitionTime::Event)),
        Auth::default(),
        &[9; 32],
    );
    state.emf = emf::Emf::new(config).expect("emf");
    let app = router(Arc::new(state));
    let (status, _, _) = send_json(&app, "/v1/metrics", METRICS_JSON).await;
    assert_eq!(status, StatusCode::OK);
    let (_, converted) = emf_events(&file);
    let mut series: Vec<String> = converted
        .iter()
        .map(|e| {
            let mut e = e.clone();
            if let Some(map) = e.as_object_mut() {
                map.retain(|k, v| k != "_aws" && v.is_string());
            }
            e.to_string()
        })
        .collect();
    series.sort();
    series.dedup();
    assert_eq!(
        series.len(),
        1,
        "one distinct set of dimension values: {converted:?}"
    );
    assert!(!converted.is_empty());
}
