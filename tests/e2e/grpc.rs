//! OTLP/gRPC through the real binary, called with grpcio (the Python
//! exporter's library): keys from metadata, gzip, the three services, the
//! status codes the OTLP specification gives for bad input, missing or
//! wrong keys, requests too large and storage faults (with `RetryInfo`),
//! and `partial_success`.

use std::process::Command;

use otelvault_codec::Signal;
use otelvault_testkit::S3Server;
use serde_json::Value;

use crate::support::*;

const KEYS: [(&str, &str); 3] = [
    ("OTELVAULT_INGEST_KEYS", "grpc:ingest-secret-grpc"),
    ("OTELVAULT_QUERY_KEYS", "query-secret-grpc"),
    ("OTELVAULT_MAX_REQUEST_MIB", "8"),
];

/// The results of `tests/python/grpc_calls.py` for `cases`, by case.
fn calls(server: &Server, cases: &[&str]) -> Value {
    let mut command = Command::new(python(".venv-otel-proto"));
    command
        .arg(script("tests/python/grpc_calls.py"))
        .arg(server.grpc_url.trim_start_matches("http://"))
        .args(cases)
        .env("INGEST_KEY", "ingest-secret-grpc")
        .env("QUERY_KEY", "query-secret-grpc");
    run(command, "grpc calls")
}

#[test]
fn grpc_export_answers_as_the_otlp_specification_says() {
    let (server, store) = Server::start(&Storage::Fs, &KEYS);
    let all = [
        "bearer",
        "header",
        "gzip",
        "metrics",
        "logs",
        "no-key",
        "wrong-key",
        "query-key",
        "garbage",
        "bad-id",
        "too-large",
        "no-method",
        "over-transport",
        "over-transport-gzip",
        "bomb-no-key",
    ];
    let results = calls(&server, &all);
    let code = |case: &str| {
        results[case]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let details = |case: &str| {
        results[case]["details"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    for case in ["bearer", "header", "gzip", "metrics", "logs"] {
        assert_eq!(code(case), "OK", "{case}: {}", results[case]);
        assert_eq!(results[case]["partial_success"], Value::Null, "{case}");
    }
    assert_eq!(code("no-key"), "UNAUTHENTICATED", "{results}");
    assert_eq!(code("wrong-key"), "PERMISSION_DENIED", "{results}");
    assert_eq!(code("query-key"), "PERMISSION_DENIED", "{results}");
    assert_eq!(code("garbage"), "INVALID_ARGUMENT", "{results}");
    assert!(!details("garbage").is_empty(), "{results}");
    assert_eq!(code("no-method"), "UNIMPLEMENTED", "{results}");
    // Too large: not to retry, so no RetryInfo; the message says what to do.
    assert_eq!(code("too-large"), "RESOURCE_EXHAUSTED", "{results}");
    assert_eq!(results["too-large"]["retry_seconds"], Value::Null);
    assert!(
        details("too-large").contains("OTELVAULT_MAX_REQUEST_MIB"),
        "{results}"
    );
    // Over the transport's limit: final too (tonic's own OUT_OF_RANGE is
    // retryable in OTLP), and said so.
    assert_eq!(code("over-transport"), "RESOURCE_EXHAUSTED", "{results}");
    assert_eq!(results["over-transport"]["retry_seconds"], Value::Null);
    assert!(
        details("over-transport").contains("MiB once decompressed"),
        "{results}"
    );
    assert_eq!(
        code("over-transport-gzip"),
        "RESOURCE_EXHAUSTED",
        "{results}"
    );
    assert_eq!(results["over-transport-gzip"]["retry_seconds"], Value::Null);
    // Without a key, the bomb is refused before it is decompressed.
    assert_eq!(code("bomb-no-key"), "UNAUTHENTICATED", "{results}");
    // A span with a bad id is rejected; the rest of the request is stored.
    assert_eq!(code("bad-id"), "OK");
    let partial = &results["bad-id"]["partial_success"];
    assert_eq!(partial["rejected"], 1, "{results}");
    assert!(
        partial["message"]
            .as_str()
            .is_some_and(|m| m.contains("short id") && m.contains("trace id must be 16 bytes")),
        "{results}"
    );

    // What the archive holds: the good span once (three identical exports
    // are one content-addressed object), the fine one, and nothing refused.
    let names: Vec<String> = span_summary(&*store, "grpc-calls", false)
        .iter()
        .map(|s| s["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, ["fine", "good"], "{}", server.log_text());
    assert_eq!(
        merged(&*store, Signal::Metrics).item_count(),
        1,
        "the gauge point"
    );
    assert_eq!(merged(&*store, Signal::Logs).item_count(), 1, "the log");
    // Every call has its log line, naming the key by its id only.
    let log = server.log_text();
    assert!(log.contains("LogsService/Export"), "{log}");
    assert!(
        log.contains("status=401") && log.contains("status=403"),
        "{log}"
    );
    // With the gRPC status a client sees.
    assert!(
        log.contains("grpc_status=\"UNAUTHENTICATED\"")
            || log.contains("grpc_status=UNAUTHENTICATED"),
        "{log}"
    );
    assert!(!log.contains("ingest-secret-grpc"), "{log}");
}

#[test]
fn a_storage_outage_is_unavailable_with_retry_info() {
    let mut s3 = S3Server::start();
    let storage = Storage::S3 {
        endpoint: s3.endpoint(),
        bucket: "e2e-grpc-faults".into(),
    };
    let (server, _store) = Server::start(&storage, &KEYS);
    assert_eq!(calls(&server, &["bearer"])["bearer"]["code"], "OK");
    s3.stop();
    let results = calls(&server, &["bearer"]);
    assert_eq!(results["bearer"]["code"], "UNAVAILABLE", "{results}");
    assert_eq!(results["bearer"]["retry_seconds"], 5, "{results}");
    assert!(
        !results["bearer"]["details"]
            .as_str()
            .unwrap_or_default()
            .contains("127.0.0.1"),
        "no internals leak to the client: {results}"
    );
}
