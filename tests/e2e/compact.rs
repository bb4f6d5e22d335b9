//! `otelvault compact` through the real binary: ended hours of an archive
//! become Parquet that DuckDB reads with hive partitioning and counts the
//! same items per service as the fetch API; a second run changes nothing.
//! On S3, with the raw objects deleted, fetch, trace lookup and replay
//! read the parts by ranged reads and give back exactly what was ingested.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

use crate::support::*;

const HOURS: [&str; 4] = [
    "--start",
    "2024-10-27T03:00:00Z",
    "--end",
    "2024-10-27T05:00:00Z",
];

/// Items per `service.name` in an OTLP/JSON document from `fetch`.
fn per_service(document: &str, signal: &str) -> BTreeMap<String, u64> {
    let doc: Value = serde_json::from_str(document).expect("fetch output");
    let levels = if signal == "traces" { SPANS } else { LOGS };
    let mut out = BTreeMap::new();
    for (service, _) in items(&doc, levels) {
        *out.entry(service).or_default() += 1;
    }
    out
}

/// DuckDB over the Parquet tier: items per service, and the hive columns.
fn duckdb_per_service(dir: &str, signal: &str) -> BTreeMap<String, u64> {
    let python = script(".venv-bench/bin/python");
    assert!(
        python.exists(),
        "DuckDB is missing: run `make test-deps` (it installs .venv-bench)"
    );
    let query = format!(
        "import duckdb, json\n\
         rows = duckdb.sql(\"select ServiceName, count(*), min(year), min(hour) from read_parquet('{dir}/parquet/{signal}/**/*.parquet', hive_partitioning = true) group by 1\").fetchall()\n\
         assert all((int(y), int(h)) == (2024, 3) for _, _, y, h in rows), rows\n\
         print(json.dumps({{s: n for s, n, _, _ in rows}}))"
    );
    let mut command = Command::new(python);
    command.args(["-c", &query]);
    serde_json::from_value(run(command, "DuckDB")).expect("counts")
}

#[test]
fn compacted_hours_are_parquet_that_duckdb_counts_like_the_fetch_api() {
    let (server, _store) = Server::start(&Storage::Fs, &[]);
    ingest_samples(&server.url, None);
    let dir = server.archive_path();

    let mut dry = vec!["compact", "--storage", &dir, "--dry-run"];
    dry.extend(HOURS);
    let (code, stdout, stderr) = run_cli(&dry, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("traces 2024-10-27T03: would compact 1 raw objects"),
        "{stdout}"
    );
    assert!(
        !std::path::Path::new(&dir).join("parquet").exists(),
        "a dry run wrote"
    );

    let mut compact = vec!["compact", "--storage", &dir];
    compact.extend(HOURS);
    let (code, stdout, stderr) = run_cli(&compact, &[]);
    assert_eq!(code, 0, "{stderr}");
    for line in [
        "traces 2024-10-27T03: 1 raw objects",
        "logs 2024-10-27T03: 1 raw objects",
        "metrics 2024-10-27T03: 2 raw objects",
        "compacted 3 signal-hours",
    ] {
        assert!(stdout.contains(line), "{line} missing from:\n{stdout}");
    }

    for signal in ["traces", "logs"] {
        let mut fetch = vec!["fetch", "--endpoint", &server.url, "--signal", signal];
        fetch.extend(HOURS);
        let (code, document, stderr) = run_cli(&fetch, &[]);
        assert_eq!(code, 0, "{stderr}");
        let expected = per_service(&document, signal);
        assert!(!expected.is_empty(), "{document}");
        assert_eq!(duckdb_per_service(&dir, signal), expected, "{signal}");
    }

    // Nothing changed: nothing is written.
    let manifest = std::path::Path::new(&dir)
        .join("parquet/traces/year=2024/month=10/day=27/hour=03/_manifest.json");
    let written = std::fs::metadata(&manifest)
        .expect("manifest")
        .modified()
        .expect("mtime");
    let (code, stdout, stderr) = run_cli(&compact, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("compacted 0 signal-hours; 3 already up to date"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::metadata(&manifest)
            .expect("manifest")
            .modified()
            .expect("mtime"),
        written
    );

    // Decades: only the days that hold data are looked at.
    let (code, stdout, stderr) = run_cli(
        &[
            "compact",
            "--storage",
            &dir,
            "--start",
            "2000-01-01T00:00:00Z",
            "--end",
            "2025-01-01T00:00:00Z",
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("compacted 0 signal-hours; 3 already up to date"),
        "{stdout}"
    );

    // The hour that has not ended is left alone.
    let (code, stdout, stderr) = run_cli(&["compact", "--storage", &dir, "--since", "30m"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("compacted 0 signal-hours"), "{stdout}");
}

/// Every item of `signal` that `fetch` gets from a deployment over the
/// compacted hours, each on its own, sorted.
fn fetch_items(url: &str, signal: &str) -> Vec<String> {
    let mut args = vec!["fetch", "--endpoint", url, "--signal", signal];
    args.extend(HOURS);
    let (code, document, stderr) = run_cli(&args, &[]);
    assert_eq!(code, 0, "{stderr}");
    fetched_items(signal)(&document)
}

/// Every item of a fetched OTLP/JSON document, one per line, sorted.
fn fetched_items(signal: &str) -> impl Fn(&str) -> Vec<String> {
    let signal: otelvault_codec::Signal = signal.parse().expect("signal");
    move |document: &str| {
        let batch = otelvault_codec::Batch::decode(
            signal,
            otelvault_codec::Format::Json,
            document.as_bytes(),
        )
        .expect("OTLP/JSON");
        let mut items: Vec<String> = otelvault_testkit::data::item_by_item(&batch)
            .into_iter()
            .map(|b| base64_of(&b))
            .collect();
        items.sort();
        items
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn an_s3_archive_whose_raw_objects_were_deleted_reads_and_replays_from_parquet() {
    let s3 = shared_s3();
    let storage = Storage::S3 {
        endpoint: s3.endpoint(),
        bucket: "e2e-compact".into(),
    };
    let (server, store) = Server::start(&storage, &[]);
    ingest_samples(&server.url, None);
    let envs: Vec<(&str, String)> = s3_env(&s3.endpoint());
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let fetch = |signal: &str| fetch_items(&server.url, signal);
    let before: Vec<Vec<String>> = ["traces", "metrics", "logs"].map(fetch).into();
    assert!(before.iter().all(|items| !items.is_empty()));

    let from = format!("s3://e2e-compact/{S3_PREFIX}");
    let mut compact = vec!["compact", "--storage", &from, "--delete-raw"];
    compact.extend(HOURS);
    let (code, stdout, stderr) = run_cli(&compact, &envs);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("compacted 3 signal-hours") && stdout.contains("; 4 raw objects deleted"),
        "{stdout}"
    );
    let left: Vec<String> = block_on(otelvault_storage::list_all(
        &*store,
        &otelvault_storage::KeyPrefix::ROOT,
    ))
    .expect("list")
    .into_iter()
    .map(|m| m.key.into_string())
    // (A metric point without a time is stored at its receive time, now,
    // outside the compacted hours.)
    .filter(|k| k.starts_with("year=2024/"))
    .collect();
    assert!(left.is_empty(), "raw objects left: {left:?}");
    // stats shows what the Parquet tier holds.
    let (code, table, stderr) = run_cli(&["stats", "--from", &from], &envs);
    assert_eq!(code, 0, "{stderr}");
    let traces_row: Vec<&str> = table
        .lines()
        .skip_while(|l| !l.starts_with("parquet tier"))
        .find(|l| l.starts_with("2024-10-27  traces"))
        .unwrap_or_else(|| panic!("no Parquet row for the traces: {table}"))
        .split_whitespace()
        .collect();
    // day, signal, hours, parts, bytes, rows
    assert_eq!(
        (traces_row[2], traces_row[3], traces_row[5]),
        ("1", "1", "2"),
        "{table}"
    );

    // The fetch API reads the parts (ranged reads on S3): the same items.
    let after: Vec<Vec<String>> = ["traces", "metrics", "logs"].map(fetch).into();
    assert_eq!(after, before);

    // A trace by id, from its bloom filter and rows.
    let response = http()
        .get(format!(
            "{}/api/traces/5b8efff798038103d269b633813fc60c?start=1729990000&end=1730010000",
            server.url
        ))
        .call()
        .expect("trace lookup");
    assert_eq!(response.status(), 200);
    let body = response.into_body().read_to_string().expect("body");
    assert!(body.contains("5b8efff798038103d269b633813fc60c"), "{body}");

    // Replay straight from the compacted bucket into another deployment.
    let (target, _target_store) = Server::start(&Storage::Fs, &[]);
    let mut replay = vec!["replay", "--from", &from, "--to", &target.url];
    replay.extend(HOURS);
    let (code, _, stderr) = run_cli(&replay, &envs);
    assert_eq!(code, 0, "{stderr}");
    let replayed: Vec<Vec<String>> = ["traces", "metrics", "logs"]
        .map(|signal| fetch_items(&target.url, signal))
        .into();
    assert_eq!(replayed, before);
}

#[test]
fn a_directory_whose_raw_objects_are_all_gone_replays_from_parquet() {
    let (server, _store) = Server::start(&Storage::Fs, &[("OTELVAULT_COMPACT", "off")]);
    ingest_samples(&server.url, None);
    let fetch = |signal: &str| fetch_items(&server.url, signal);
    let before: Vec<Vec<String>> = ["traces", "metrics", "logs"].map(fetch).into();
    let dir = server.archive_dir.clone().expect("fs archive");
    let from = dir.to_string_lossy().into_owned();
    let mut compact = vec!["compact", "--storage", &from, "--delete-raw"];
    compact.extend(HOURS);
    let (code, stdout, stderr) = run_cli(&compact, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("raw objects deleted"), "{stdout}");
    // What compaction left raw (a point stored at its receive time, now) goes
    // too, as a lifecycle rule would take it: no raw object is left at all.
    for entry in std::fs::read_dir(&dir).expect("dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("year=") && name != "year=2024" {
            std::fs::remove_dir_all(entry.path()).expect("remove");
        }
    }
    let (target, _target_store) = Server::start(&Storage::Fs, &[]);
    let mut replay = vec!["replay", "--from", &from, "--to", &target.url];
    replay.extend(HOURS);
    let (code, _, stderr) = run_cli(&replay, &[]);
    assert_eq!(code, 0, "{stderr}");
    let replayed: Vec<Vec<String>> = ["traces", "metrics", "logs"]
        .map(|signal| fetch_items(&target.url, signal))
        .into();
    // Every item of the compacted hours arrives once (the point stored at
    // its receive time was outside them, and is gone).
    for (signal, (replayed, before)) in ["traces", "metrics", "logs"]
        .iter()
        .zip(replayed.iter().zip(&before))
    {
        assert!(
            !replayed.is_empty() && replayed.iter().all(|item| before.contains(item)),
            "{signal}: {replayed:?} not within {before:?}"
        );
    }
    assert_eq!(replayed[0], before[0], "every span");
    assert_eq!(replayed[2], before[2], "every log record");
}

#[test]
fn serve_compacts_ended_hours_in_the_background() {
    let (server, _store) = Server::start(
        &Storage::Fs,
        &[
            ("OTELVAULT_COMPACT_INTERVAL_SECS", "1"),
            ("OTELVAULT_COMPACT_DELETE_RAW", "true"),
        ],
    );
    let fetch = |signal: &str| fetch_items(&server.url, signal);
    ingest_samples(&server.url, None);
    let before = fetch("traces");
    let dir = server.archive_dir.clone().expect("fs archive");
    let manifest = dir.join("parquet/traces/year=2024/month=10/day=27/hour=03/_manifest.json");
    // Deleted raw objects leave no empty directories either.
    let raw = dir.join("year=2024");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !manifest.exists() || raw.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no background compaction; log:\n{}",
            server.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        server
            .log_text()
            .contains("Compacted ended hours into Parquet."),
        "{}",
        server.log_text()
    );
    assert_eq!(fetch("traces"), before);
}
