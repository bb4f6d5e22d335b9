//! What the compacted tier costs in bytes, on traffic that looks like
//! production (`otelvault_testkit::corpus`): one hour of each signal
//! written through the archive as ingest writes it (OTLP/JSON + gzip),
//! compacted, and the Parquet tier's bytes compared with the raw bytes it
//! replaces, with the bytes of each column, so that a change can see where
//! they go.
//!
//! `cargo bench -p otelvault-archive --bench tier`; `BENCH_SPANS` sets the
//! spans of the hour (100,000 by default; the issue-sized busy hour is
//! 600,000), `BENCH_LOGS` the log records (120,000).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use otelvault_archive::{Archive, CompactOptions, Layout, compact_hour};
use otelvault_codec::{Batch, Compression, Format, Signal};
use otelvault_storage::{FsStore, KeyPrefix, ObjectStore, list_all};
use otelvault_testkit::bench::{cpu_seconds, fast_tempdir};
use otelvault_testkit::corpus;
use parquet::file::metadata::ParquetMetaDataReader;

/// 2024-10-27T03:00:00Z
const HOUR: u64 = 1_729_998_000_000_000_000;

fn count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The stored bytes of every object under `prefix` whose key contains `part`.
fn stored(
    rt: &tokio::runtime::Runtime,
    store: &dyn ObjectStore,
    prefix: &str,
    part: &str,
) -> Vec<(String, u64)> {
    rt.block_on(list_all(store, &KeyPrefix::new(prefix).unwrap()))
        .unwrap()
        .into_iter()
        .filter(|m| m.key.as_str().contains(part))
        .map(|m| (m.key.as_str().to_owned(), m.size))
        .collect()
}

/// Compressed bytes of each root column over the Parquet files; an index's
/// columns are named after its table (`trace_summaries.TraceId`).
fn columns(root: &std::path::Path, keys: &[(String, u64)]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (key, _) in keys.iter().filter(|(k, _)| k.ends_with(".parquet")) {
        let index = key.contains("/index-").then(|| {
            let dir = key.trim_start_matches("parquet/");
            dir.split("/year=").next().unwrap_or(dir).replace('/', "_")
        });
        let bytes = bytes::Bytes::from(std::fs::read(root.join(key)).unwrap());
        let metadata = ParquetMetaDataReader::new()
            .parse_and_finish(&bytes)
            .unwrap();
        for rg in metadata.row_groups() {
            for column in rg.columns() {
                let name = column.column_path().parts()[0].clone();
                let name = match &index {
                    Some(table) => format!("{table}.{name}"),
                    None => name,
                };
                *out.entry(name).or_default() += column.compressed_size() as u64;
            }
        }
    }
    out
}

/// One hour of a signal, each request with the time it was sent.
type Generate = Box<dyn Fn() -> Vec<(u64, Batch)>>;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let spans = count("BENCH_SPANS", 100_000);
    let records = count("BENCH_LOGS", 120_000);
    println!(
        "otelvault tier size benchmark: one hour of production-like traffic (otelvault_testkit::corpus), OTLP/JSON + gzip raw vs the Parquet tier"
    );
    let signals: [(Signal, &str, Generate); 3] = [
        (
            Signal::Traces,
            "spans",
            Box::new(move || {
                corpus::traces(HOUR, spans, 1_000, 7)
                    .map(|(t, r)| (t, Batch::Traces(r)))
                    .collect()
            }),
        ),
        (
            Signal::Logs,
            "log records",
            Box::new(move || {
                corpus::logs(HOUR, records, 1_000, 7)
                    .map(|(t, r)| (t, Batch::Logs(r)))
                    .collect()
            }),
        ),
        (
            Signal::Metrics,
            "data points",
            Box::new(|| {
                corpus::metrics(HOUR, 7)
                    .map(|(t, r)| (t, Batch::Metrics(r)))
                    .collect()
            }),
        ),
    ];
    for (signal, items, generate) in signals {
        let dir = fast_tempdir();
        let store = Arc::new(FsStore::new(dir.path()).unwrap());
        let archive = Archive::new(
            store.clone(),
            Layout {
                format: Format::Json,
                compression: Compression::Gzip,
                ..Layout::default()
            },
        );
        let mut n = 0;
        for (time, batch) in generate() {
            n += batch.item_count();
            rt.block_on(archive.write(batch, time)).unwrap();
        }
        let raw: u64 = stored(&rt, &*store, "year=", signal.as_str())
            .iter()
            .map(|(_, s)| s)
            .sum();
        let cpu = cpu_seconds("self");
        let wall = Instant::now();
        let report = rt
            .block_on(compact_hour(
                &*store,
                signal,
                HOUR,
                CompactOptions::default(),
            ))
            .unwrap();
        let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds("self") - cpu);
        assert_eq!(report.rows, n);
        // Each signal has a store of its own: everything under parquet/
        // (parts and manifests) is its tier.
        let tier = stored(&rt, &*store, "parquet/", "");
        let tier_bytes: u64 = tier.iter().map(|(_, s)| s).sum();
        println!();
        println!(
            "{signal}: {n} {items}; raw {:.2} MiB, Parquet tier {:.2} MiB ({} objects): {:.2}x raw; compaction {wall:.2} s wall, {cpu:.2} s CPU",
            raw as f64 / 1048576.0,
            tier_bytes as f64 / 1048576.0,
            tier.len(),
            tier_bytes as f64 / raw as f64,
        );
        let columns = columns(dir.path(), &tier);
        let total: u64 = columns.values().sum();
        let mut sorted: Vec<_> = columns.into_iter().collect();
        sorted.sort_by_key(|c| std::cmp::Reverse(c.1));
        for (name, bytes) in sorted {
            println!(
                "  {name:<28} {:>9.1} KiB {:>5.1}%  {:>6.2} B/{}",
                bytes as f64 / 1024.0,
                100.0 * bytes as f64 / total as f64,
                bytes as f64 / n as f64,
                items
                    .trim_end_matches('s')
                    .rsplit(' ')
                    .next()
                    .unwrap_or(items),
            );
        }
    }
}
