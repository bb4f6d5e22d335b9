//! Fetch and replay through the real binary: paging with the fetch
//! command, replaying a deployment into a second one, replaying straight
//! from S3 and from a Collector-written directory, and loss reporting.

use otelvault_codec::{Batch, Compression, Format, Signal};
use otelvault_storage::{ObjectKey, ObjectStore, PutOptions};
use serde_json::Value;

use crate::support::*;

/// Every item of `signal` in the archive, as canonical OTLP/JSON of a
/// one-item batch, sorted: archives compare equal when they hold the same
/// items under the same resources and scopes, however split into objects.
/// Every item of `signal` in the archive, encoded, sorted.
pub(crate) fn items(store: &dyn ObjectStore, signal: Signal) -> Vec<String> {
    items_of(&merged(store, signal))
}

fn items_of(all: &Batch) -> Vec<String> {
    let n = all.item_count();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut one = all.clone();
        otelvault_codec::filter::skip_items(&mut one, i);
        otelvault_codec::filter::truncate_items(&mut one, 1);
        out.push(String::from_utf8(one.encode(Format::Json)).expect("utf8"));
    }
    out.sort();
    out
}

#[test]
fn fetch_pages_through_the_api_and_prints_otlp_json() {
    let (server, store) = Server::start(
        &Storage::Fs,
        &[
            ("OTELVAULT_QUERY_KEYS", "query-secret-1"),
            ("OTELVAULT_INGEST_KEYS", "ingest-secret-1"),
        ],
    );
    ingest_samples(&server.url, Some("ingest-secret-1"));
    for (signal, n) in [("traces", 2usize), ("metrics", 7), ("logs", 8)] {
        // Page size 2 makes several pages; ndjson prints one document each.
        let mut args = vec![
            "fetch",
            "--endpoint",
            &server.url,
            "--signal",
            signal,
            "--limit",
            "2",
            "--output",
            "ndjson",
        ];
        args.extend(RANGE);
        let (code, stdout, stderr) = run_cli(&args, &[("OTELVAULT_ACCESS_KEY", "query-secret-1")]);
        assert_eq!(code, 0, "{stderr}");
        let pages: Vec<Batch> = stdout
            .lines()
            .map(|l| {
                Batch::decode(signal.parse().expect("signal"), Format::Json, l.as_bytes())
                    .expect("OTLP/JSON")
            })
            .collect();
        assert_eq!(pages.len(), n.div_ceil(2), "{signal}: {stdout}");
        assert!(pages.iter().all(|p| p.item_count() <= 2));
        let fetched = otelvault_codec::merge(pages).expect("pages");
        assert_eq!(fetched.item_count(), n);
        assert_eq!(
            items_of(&fetched),
            items(&*store, signal.parse().expect("signal")),
            "{signal}: what was fetched is what is stored"
        );
    }
    // The merged JSON output, with a filter.
    let mut args = vec![
        "fetch",
        "--endpoint",
        &server.url,
        "--signal",
        "logs",
        "--min-severity",
        "17",
    ];
    args.extend(RANGE);
    let (code, stdout, _) = run_cli(&args, &[("OTELVAULT_ACCESS_KEY", "query-secret-1")]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(
        doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["severityNumber"],
        17
    );
    // A wrong key is a clear failure.
    let (code, _, stderr) = run_cli(&args, &[("OTELVAULT_ACCESS_KEY", "ingest-secret-1")]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("403") && stderr.contains("not allowed to query"),
        "{stderr}"
    );
}

#[test]
fn replay_from_a_deployment_into_another_gives_the_same_archive() {
    let (source, source_store) = Server::start(
        &Storage::Fs,
        &[
            ("OTELVAULT_QUERY_KEYS", "query-secret-2"),
            ("OTELVAULT_INGEST_KEYS", "ingest-secret-2"),
        ],
    );
    // Real SDK data plus the samples.
    let cmd = python_sender(
        ".venv-otel-proto",
        "proto",
        &source.url,
        Some("ingest-secret-2"),
    );
    run(cmd, "python exporter");
    ingest_samples(&source.url, Some("ingest-secret-2"));
    let (target, target_store) = Server::start(&Storage::Fs, &[]);

    let (code, _, stderr) = run_cli(
        &[
            "replay",
            "--from",
            &source.url,
            "--start",
            "2024-10-27T00:00:00Z",
            "--batch-size",
            "3",
        ],
        &[
            ("OTELVAULT_ACCESS_KEY", "query-secret-2"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &target.url),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("failed: 0 requests"), "{stderr}");
    for signal in Signal::ALL {
        let want = items(&*source_store, signal);
        assert!(!want.is_empty());
        assert_eq!(items(&*target_store, signal), want, "{signal}");
    }

    // And over OTLP/gRPC (gzip, a key in the metadata) into a third.
    let (grpc, grpc_store) = Server::start(&Storage::Fs, &[("OTELVAULT_INGEST_KEYS", "grpc-in-3")]);
    let (code, _, stderr) = run_cli(
        &[
            "replay",
            "--from",
            &source.url,
            "--start",
            "2024-10-27T00:00:00Z",
        ],
        &[
            ("OTELVAULT_ACCESS_KEY", "query-secret-2"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &grpc.grpc_url),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "Oteleport-Access-Key=grpc-in-3",
            ),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    for signal in Signal::ALL {
        assert_eq!(
            items(&*grpc_store, signal),
            items(&*source_store, signal),
            "{signal} over gRPC"
        );
    }
}

#[test]
fn replay_straight_from_s3_and_from_a_collector_directory() {
    let s3 = shared_s3();
    let storage = Storage::S3 {
        endpoint: s3.endpoint(),
        bucket: "e2e-replay".into(),
    };
    let (source, source_store) = Server::start(&storage, &[]);
    ingest_samples(&source.url, None);
    drop(source);
    let (target, target_store) = Server::start(&Storage::Fs, &[]);
    let mut envs: Vec<(&str, String)> = s3_env(&s3.endpoint());
    envs.push(("OTEL_EXPORTER_OTLP_ENDPOINT", target.url.clone()));
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let from = format!("s3://e2e-replay/{S3_PREFIX}");
    let mut args = vec!["replay", "--from", &from];
    args.extend(RANGE);
    let (code, _, stderr) = run_cli(&args, &envs);
    assert_eq!(code, 0, "{stderr}");
    for signal in Signal::ALL {
        assert_eq!(
            items(&*target_store, signal),
            items(&*source_store, signal),
            "{signal}"
        );
    }

    // A directory in the Collector's layout: numeric and uuidv7 ids, a file
    // prefix, JSON and gzip protobuf, partitioned by receive time.
    let dir = tempfile::tempdir().expect("dir");
    let collector = otelvault_storage::FsStore::new(dir.path()).expect("fs");
    let traces = Batch::decode(
        Signal::Traces,
        Format::Json,
        &std::fs::read(script("samples/otlp/traces.json")).expect("sample"),
    )
    .expect("sample");
    let logs = Batch::decode(
        Signal::Logs,
        Format::Json,
        &std::fs::read(script("samples/otlp/logs.json")).expect("sample"),
    )
    .expect("sample");
    let options = PutOptions::default();
    block_on(async {
        let put = async |key: &'static str, body: Vec<u8>| {
            let key = ObjectKey::new(key).expect("key");
            collector.put(&key, body.into(), &options).await
        };
        put(
            "year=2024/month=10/day=27/hour=03/minute=35/traces_123456789.json",
            traces.encode(Format::Json),
        )
        .await
        .expect("put");
        put("year=2024/month=10/day=27/hour=03/minute=36/app_logs_0190a0f2-7c3e-7d45-9e3f-2b1c4d5e6f70.binpb.gz", Compression::Gzip.compress(&logs.encode(Format::Protobuf)).expect("gzip")).await.expect("put");
    });
    let (target2, target2_store) = Server::start(&Storage::Fs, &[]);
    let path = dir.path().to_string_lossy().into_owned();
    let mut args = vec![
        "replay",
        "--from",
        &path,
        "--to",
        &target2.url,
        "--partition-time",
        "receive",
    ];
    args.extend(RANGE);
    let (code, _, stderr) = run_cli(&args, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("replayed 10 items"), "{stderr}");
    assert_eq!(merged(&*target2_store, Signal::Traces), traces);
    assert_eq!(merged(&*target2_store, Signal::Logs).item_count(), 8);
}

#[test]
fn replay_reports_undeliverable_batches_and_exits_non_zero() {
    let (source, _store) = Server::start(&Storage::Fs, &[]);
    ingest_samples(&source.url, None);
    // A receiver whose storage is down answers 503 to every export.
    let mut s3 = otelvault_testkit::S3Server::start();
    let storage = Storage::S3 {
        endpoint: s3.endpoint(),
        bucket: "e2e-down".into(),
    };
    let (target, _) = Server::start(&storage, &[]);
    s3.stop();
    let mut args = vec![
        "replay",
        "--from",
        &source.url,
        "--to",
        &target.url,
        "--signal",
        "traces",
        "--retries",
        "1",
        "--max-backoff",
        "1s",
    ];
    args.extend(RANGE);
    let (code, _, stderr) = run_cli(&args, &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("failed: 1 requests with 2 items"),
        "{stderr}"
    );
    assert!(stderr.contains("Retrying an OTLP export"), "{stderr}");
}
