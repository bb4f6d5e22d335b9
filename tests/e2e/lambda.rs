//! The Lambda path: Function URL (API Gateway v2 payload) events from
//! `samples/events/` decoded by `lambda_http` and served by the same router
//! the binary runs, in process. The fixtures are generated from the OTLP
//! samples; `OTELVAULT_UPDATE_SAMPLES=1` rewrites them.

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt as _;
use otelvault_archive::{Archive, Layout};
use otelvault_codec::{Compression, Signal};
use otelvault_service::{AppState, Auth, router};
use otelvault_storage::{MemoryStore, ObjectStore};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::support::{archive, block_on, script};

fn event(method: &str, path: &str, headers: Value, body: Option<(&[u8], bool)>) -> Value {
    let (body, base64) = match body {
        None => (Value::Null, false),
        Some((bytes, true)) => (
            json!(base64::engine::general_purpose::STANDARD.encode(bytes)),
            true,
        ),
        Some((bytes, false)) => (
            json!(String::from_utf8(bytes.to_vec()).expect("utf8")),
            false,
        ),
    };
    let mut headers = headers;
    headers["host"] = json!("abcdefghij.lambda-url.eu-west-1.on.aws");
    headers["x-forwarded-proto"] = json!("https");
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghij",
            "domainName": "abcdefghij.lambda-url.eu-west-1.on.aws",
            "domainPrefix": "abcdefghij",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "OTel-OTLP-Exporter-Python/1.45.2"
            },
            "requestId": "6f0c5c2e-1d2b-4c47-9a53-0d9b2f7e8a11",
            "routeKey": "$default",
            "stage": "$default",
            "time": "27/Oct/2024:03:33:20 +0000",
            "timeEpoch": 1730000000000u64
        },
        "body": body,
        "isBase64Encoded": base64
    })
}

/// A fixture: file name, event, expected status, and the signal and item
/// count it stores (if any).
type Fixture = (&'static str, Value, u16, Option<(Signal, usize)>);

fn fixtures() -> Vec<Fixture> {
    let traces_json = std::fs::read(script("samples/otlp/traces.json")).expect("sample");
    let logs_pb = std::fs::read(script("samples/otlp/logs.binpb")).expect("sample");
    let metrics_json = std::fs::read(script("samples/otlp/metrics.json")).expect("sample");
    let metrics_gz = Compression::Gzip.compress(&metrics_json).expect("gzip");
    let key = json!("ingest-secret-lambda");
    vec![
        (
            "function-url-traces-json.json",
            event(
                "POST",
                "/v1/traces",
                json!({"content-type": "application/json", "oteleport-access-key": key}),
                Some((&traces_json, false)),
            ),
            200,
            Some((Signal::Traces, 2)),
        ),
        (
            "function-url-logs-protobuf-base64.json",
            event(
                "POST",
                "/v1/logs",
                json!({"content-type": "application/x-protobuf", "authorization": "Bearer ingest-secret-lambda"}),
                Some((&logs_pb, true)),
            ),
            200,
            Some((Signal::Logs, 8)),
        ),
        (
            "function-url-metrics-json-gzip-base64.json",
            event(
                "POST",
                "/v1/metrics",
                json!({"content-type": "application/json", "content-encoding": "gzip", "oteleport-access-key": key}),
                Some((&metrics_gz, true)),
            ),
            200,
            Some((Signal::Metrics, 7)),
        ),
        (
            "function-url-wrong-content-type.json",
            event(
                "POST",
                "/v1/traces",
                json!({"content-type": "text/plain", "oteleport-access-key": key}),
                Some((b"hello", false)),
            ),
            415,
            None,
        ),
        (
            "function-url-missing-key.json",
            event(
                "POST",
                "/v1/traces",
                json!({"content-type": "application/json"}),
                Some((&traces_json, false)),
            ),
            401,
            None,
        ),
        (
            "function-url-health.json",
            event("GET", "/health", json!({}), None),
            200,
            None,
        ),
    ]
}

#[test]
fn function_url_events_are_served_by_the_router() {
    let dir = script("samples/events");
    let update = std::env::var_os("OTELVAULT_UPDATE_SAMPLES").is_some();
    for (name, event, status, stored) in fixtures() {
        let path = dir.join(name);
        let text = serde_json::to_string_pretty(&event).expect("json") + "\n";
        if update {
            std::fs::create_dir_all(&dir).expect("dir");
            std::fs::write(&path, &text).expect("write fixture");
        }
        let on_disk = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{name} missing (OTELVAULT_UPDATE_SAMPLES=1 writes it)"));
        assert_eq!(on_disk, text, "{name} is stale");

        let store = Arc::new(MemoryStore::new());
        let state = AppState::new(
            Archive::new(
                store.clone(),
                Layout {
                    compression: Compression::Gzip,
                    ..Layout::default()
                },
            ),
            Auth::new(
                true,
                "ingest-secret-lambda".parse().expect("keys"),
                Default::default(),
            ),
            &[1; 32],
        );
        let request =
            lambda_http::request::from_str(&on_disk).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (got, body) = block_on(async {
            let response = router(Arc::new(state))
                .oneshot(request)
                .await
                .expect("infallible");
            let status = response.status().as_u16();
            let body: Bytes = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            (status, body)
        });
        assert_eq!(got, status, "{name}: {}", String::from_utf8_lossy(&body));
        let objects = archive(&*store as &dyn ObjectStore);
        match stored {
            None => assert!(objects.is_empty(), "{name} stored data"),
            Some((signal, items)) => {
                assert!(objects.iter().all(|(k, _)| k.signal == signal));
                assert_eq!(
                    objects.iter().map(|(_, b)| b.item_count()).sum::<usize>(),
                    items,
                    "{name}"
                );
            }
        }
    }
}
