//! Real OpenTelemetry exporters against the real binary: what they send is
//! what the archive holds, on the filesystem store and on S3.

use std::process::Command;

use otelvault_codec::{Format, Signal};
use otelvault_storage::ObjectStore;
use serde_json::Value;

use crate::support::*;

fn sorted(mut v: Vec<Value>, key: &str) -> Vec<Value> {
    v.sort_by_key(|x| x[key].to_string());
    v
}

/// Runs tests/python/send.py with the given exporter and checks every span,
/// metric point and log record it sent is in the archive, exactly.
fn python_round_trip(
    server: &Server,
    store: &dyn ObjectStore,
    venv: &str,
    protocol: &str,
    compression: &str,
) {
    let endpoint = match protocol {
        "grpc" => &server.grpc_url,
        _ => &server.url,
    };
    let mut cmd = python_sender(venv, protocol, endpoint, Some("ingest-secret-e2e"));
    // Unset is uncompressed (the gRPC exporter knows no "none").
    match compression {
        "none" => cmd.env_remove("OTEL_EXPORTER_OTLP_COMPRESSION"),
        _ => cmd.env("OTEL_EXPORTER_OTLP_COMPRESSION", compression),
    };
    let sent = run(cmd, &format!("python {protocol} exporter"));
    let service = sent["service"].as_str().expect("service");

    let spans = sent["spans"].as_array().expect("spans").clone();
    assert_eq!(spans.len(), 4);
    assert_eq!(
        sorted(span_summary(store, service, true), "spanId"),
        sorted(spans, "spanId"),
        "spans\n{}",
        server.log_text()
    );

    let stored_metrics = metric_summary(store, service);
    let sent_metrics = sent["metrics"].as_object().expect("metrics");
    assert_eq!(stored_metrics.len(), 3, "{stored_metrics:?}");
    for (name, points) in sent_metrics {
        let points = sorted(points.as_array().expect("points").clone(), "attributes");
        let stored = sorted(
            stored_metrics.get(name).cloned().unwrap_or_default(),
            "attributes",
        );
        assert_eq!(stored, points, "metric {name}");
    }
    // The values a user would look for, spelled out.
    assert_eq!(
        stored_metrics["e2e.requests"][1]["value"], 6,
        "1 + 2 + 3 on /checkout"
    );
    assert_eq!(stored_metrics["e2e.latency"][0]["count"], 3);
    assert_eq!(stored_metrics["e2e.latency"][0]["sum"], 45.0);

    let logs = sorted(sent["logs"].as_array().expect("logs").clone(), "body");
    assert_eq!(logs.len(), 3);
    assert_eq!(sorted(log_summary(store, service), "body"), logs);
    assert!(
        logs.iter()
            .any(|l| l["traceId"].as_str().is_some_and(|t| t.len() == 32)),
        "a log inside a span carries its trace id"
    );
}

const KEYS: [(&str, &str); 2] = [
    ("OTELVAULT_INGEST_KEYS", "python:ingest-secret-e2e"),
    ("OTELVAULT_QUERY_KEYS", "query-secret-e2e"),
];

#[test]
fn python_protobuf_exporter_with_gzip_into_the_filesystem_store() {
    let (server, store) = Server::start(&Storage::Fs, &KEYS);
    python_round_trip(&server, &*store, ".venv-otel-proto", "proto", "gzip");
    // The request log names the key by its id, never by its secret.
    let log = server.log_text();
    assert!(
        log.contains("key=\"python\"") || log.contains("key=python"),
        "{log}"
    );
    assert!(!log.contains("ingest-secret-e2e"));
}

#[test]
fn python_protobuf_exporter_uncompressed_into_s3() {
    let s3 = shared_s3();
    let storage = Storage::S3 {
        endpoint: s3.endpoint(),
        bucket: "e2e-python-proto".into(),
    };
    let (server, store) = Server::start(
        &storage,
        &[
            KEYS[0],
            KEYS[1],
            ("OTELVAULT_FORMAT", "proto"),
            ("OTELVAULT_COMPRESSION", "zstd"),
        ],
    );
    python_round_trip(&server, &*store, ".venv-otel-proto", "proto", "none");
    for (key, _) in archive(&*store) {
        assert_eq!(key.format, Format::Protobuf);
        assert!(key.to_string().ends_with(".binpb.zst"), "{key}");
    }
}

#[test]
fn python_grpc_exporter_with_gzip_into_the_filesystem_store() {
    let (server, store) = Server::start(&Storage::Fs, &KEYS);
    python_round_trip(&server, &*store, ".venv-otel-proto", "grpc", "gzip");
    let log = server.log_text();
    assert!(
        log.contains("TraceService/Export") && log.contains("key=\"python\""),
        "the request log names the method and the key's id:\n{log}"
    );
}

#[test]
fn python_grpc_exporter_uncompressed_into_s3() {
    let s3 = shared_s3();
    let storage = Storage::S3 {
        endpoint: s3.endpoint(),
        bucket: "e2e-python-grpc".into(),
    };
    let (server, store) = Server::start(&storage, &KEYS);
    python_round_trip(&server, &*store, ".venv-otel-proto", "grpc", "none");
}

#[test]
fn python_json_exporter_into_the_filesystem_store() {
    let (server, store) = Server::start(&Storage::Fs, &KEYS);
    python_round_trip(&server, &*store, ".venv-otel-json", "json", "gzip");
}

#[test]
fn node_json_protobuf_and_grpc_exporters_into_s3() {
    let s3 = shared_s3();
    let storage = Storage::S3 {
        endpoint: s3.endpoint(),
        bucket: "e2e-node".into(),
    };
    let (server, store) = Server::start(&storage, &[("OTELVAULT_INGEST_KEYS", "node-secret-e2e")]);
    for protocol in ["json", "proto", "grpc"] {
        let mut cmd = Command::new("node");
        cmd.current_dir(node_dir())
            .arg("send-traces.mjs")
            .arg(protocol)
            .env("OTELVAULT_URL", &server.url)
            .env("OTELVAULT_GRPC_URL", &server.grpc_url)
            .env("OTELVAULT_KEY", "node-secret-e2e");
        let sent = run(cmd, &format!("node {protocol} exporter"));
        let service = sent["service"].as_str().expect("service");
        let spans = sent["spans"].as_array().expect("spans").clone();
        assert_eq!(spans.len(), 5);
        assert_eq!(
            sorted(span_summary(&*store, service, false), "spanId"),
            sorted(spans, "spanId"),
            "{protocol}"
        );
    }
    // Without the key nothing gets in, over HTTP or gRPC.
    for protocol in ["json", "grpc"] {
        let mut cmd = Command::new("node");
        cmd.current_dir(node_dir())
            .arg("send-traces.mjs")
            .arg(protocol)
            .env("OTELVAULT_URL", &server.url)
            .env("OTELVAULT_GRPC_URL", &server.grpc_url);
        let output = cmd.output().expect("node");
        assert!(
            !output.status.success(),
            "{protocol} export without a key must fail"
        );
        assert_eq!(
            span_summary(&*store, &format!("node-e2e-{protocol}"), false).len(),
            5
        );
    }
}

#[test]
fn a_client_retry_rewrites_the_same_object() {
    let (server, store) = Server::start(&Storage::Fs, &[]);
    let body = std::fs::read(script("samples/otlp/traces.binpb")).expect("sample");
    for _ in 0..2 {
        let response = http()
            .post(format!("{}/v1/traces", server.url))
            .header("Content-Type", "application/x-protobuf")
            .send(&body[..])
            .expect("post");
        assert_eq!(response.status(), 200);
    }
    let objects = archive(&*store);
    assert_eq!(objects.len(), 1, "two identical requests, one object");
    assert_eq!(objects[0].1.item_count(), 2);
    assert_eq!(objects[0].0.signal, Signal::Traces);
}
