//! `otelvault compact` through the real binary: ended hours of an archive
//! become Parquet that DuckDB reads with hive partitioning and counts the
//! same items per service as the fetch API; a second run changes nothing.

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
    let (resources, scopes, items) = match signal {
        "traces" => ("resourceSpans", "scopeSpans", "spans"),
        _ => ("resourceLogs", "scopeLogs", "logRecords"),
    };
    let doc: Value = serde_json::from_str(document).expect("fetch output");
    let mut out = BTreeMap::new();
    for resource in doc[resources].as_array().expect("resources") {
        let service = resource["resource"]["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|kv| kv["key"] == "service.name")
            .and_then(|kv| kv["value"]["stringValue"].as_str())
            .unwrap_or("")
            .to_owned();
        let count: u64 = resource[scopes]
            .as_array()
            .into_iter()
            .flatten()
            .map(|scope| scope[items].as_array().map_or(0, |a| a.len() as u64))
            .sum();
        *out.entry(service).or_default() += count;
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
    let out = Command::new(python)
        .args(["-c", &query])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("counts")
}

#[test]
fn compacted_hours_are_parquet_that_duckdb_counts_like_the_fetch_api() {
    let (server, _store) = Server::start(&Storage::Fs, &[]);
    ingest_samples(&server.url, None);
    let dir = server
        .archive_dir
        .clone()
        .expect("fs archive")
        .to_string_lossy()
        .into_owned();

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
