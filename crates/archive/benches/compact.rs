//! Compaction benchmark: one hour of minute partitions (120 objects, about
//! 130k spans over 20 services, OTLP/JSON + gzip as ingest writes them) on
//! the filesystem store on a tmpfs, compacted into Parquet. Prints stored
//! bytes raw and as Parquet, compaction throughput and peak RSS, and, in
//! the same run, DuckDB answering the same questions over the raw JSON and
//! over the Parquet parts, with the ratios.
//!
//! Run with `make bench` (which installs DuckDB into `.venv-bench`).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use otelvault_archive::{Archive, Layout};
use otelvault_archive::{CompactOptions, compact_hour};
use otelvault_codec::{Batch, Compression, Format, Signal};
use otelvault_storage::{FsStore, KeyPrefix, list_all};
use otelvault_testkit::bench::{
    cpu_seconds, duckdb_count, duckdb_python, fast_tempdir, peak_rss_mib,
};
use otelvault_testkit::data::minute_batches;

/// 2024-10-27T03:00:00Z
const HOUR: u64 = 1_729_998_000_000_000_000;

fn main() {
    // `cargo bench` passes --bench; a plain `cargo test --benches` run passes nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = fast_tempdir();
    let store = Arc::new(FsStore::new(dir.path()).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let archive = Archive::new(
        store.clone(),
        Layout {
            format: Format::Json,
            compression: Compression::Gzip,
            ..Layout::default()
        },
    );
    let mut spans = 0;
    for (minute, batch) in minute_batches(HOUR) {
        let batch = Batch::Traces(batch);
        spans += batch.item_count();
        rt.block_on(archive.write(batch, minute)).unwrap();
    }
    let raw_bytes: u64 = rt
        .block_on(list_all(&*store, &KeyPrefix::new("year=").unwrap()))
        .unwrap()
        .iter()
        .map(|m| m.size)
        .sum();
    println!("otelvault compaction benchmark (fs store on tmpfs)");
    println!(
        "archive: 1 hour, 120 objects, {spans} spans, {:.1} MiB stored as OTLP/JSON + gzip",
        raw_bytes as f64 / 1048576.0
    );

    let rss_before = peak_rss_mib("self");
    let cpu = cpu_seconds("self");
    let wall = Instant::now();
    let report = rt
        .block_on(compact_hour(
            &*store,
            Signal::Traces,
            HOUR,
            CompactOptions::default(),
        ))
        .unwrap();
    let wall = wall.elapsed().as_secs_f64();
    let cpu = cpu_seconds("self") - cpu;
    assert_eq!(report.rows, spans);
    let raw_mib = raw_bytes as f64 / 1048576.0;
    println!(
        "compaction: {:.2} s wall, {:.2} s CPU, {:.1} MiB/s of stored raw per core, {} parts; peak RSS {:.1} MiB ({rss_before:.1} MiB before)",
        wall,
        cpu,
        raw_mib / cpu,
        report.parts,
        peak_rss_mib("self"),
    );
    println!(
        "stored: Parquet {:.1} MiB vs raw {:.1} MiB: {:.2}x",
        report.parquet_bytes as f64 / 1048576.0,
        raw_mib,
        report.parquet_bytes as f64 / raw_bytes as f64
    );

    let Some(python) = duckdb_python() else {
        println!("duckdb: not installed (make bench installs it into .venv-bench); skipped");
        return;
    };
    let root = dir.path().display();
    let raw = format!(
        "(SELECT unnest(rs.scopeSpans) AS ss, rs FROM (SELECT unnest(resourceSpans) AS rs FROM read_json('{root}/year=*/**/traces_*.json.gz', maximum_object_size=268435456)))"
    );
    let parquet =
        format!("read_parquet('{root}/parquet/traces/**/*.parquet', hive_partitioning = true)");
    let questions = [
        (
            "all spans",
            format!("SELECT count(*) FROM (SELECT unnest(ss.spans) FROM {raw})"),
            format!("SELECT count(*) FROM {parquet}"),
        ),
        (
            "service-3",
            format!(
                "SELECT count(*) FROM (SELECT unnest(ss.spans) FROM {raw} WHERE list_contains(list_transform(rs.resource.attributes, a -> a.key || '=' || coalesce(a.value.stringValue, '')), 'service.name=service-3'))"
            ),
            format!("SELECT count(*) FROM {parquet} WHERE ServiceName = 'service-3'"),
        ),
    ];
    let lossless = format!(
        "SELECT (100 * sum(total_compressed_size) FILTER (WHERE path_in_schema LIKE 'Otlp%') / sum(total_compressed_size))::BIGINT FROM parquet_metadata('{root}/parquet/traces/**/*.parquet')"
    );
    println!(
        "the lossless Otlp* columns: {}% of the Parquet bytes",
        duckdb_count(&python, &lossless).1
    );
    for (label, over_raw, over_parquet) in questions {
        let (raw_secs, raw_count) = duckdb_count(&python, &over_raw);
        let (pq_secs, pq_count) = duckdb_count(&python, &over_parquet);
        assert_eq!(raw_count, pq_count, "{label}");
        println!(
            "duckdb, {label} ({pq_count} spans): read_json over raw {raw_secs:.3} s, Parquet {pq_secs:.3} s: {:.1}x faster",
            raw_secs / pq_secs
        );
    }
}
