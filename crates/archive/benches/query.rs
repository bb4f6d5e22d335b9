//! Query benchmark: one hour of production-like traffic
//! (`otelvault_testkit::corpus`: 130,000 spans in 1,000-span requests) in
//! minute partitions, OTLP/JSON + gzip as ingest writes them, on the filesystem store
//! on a tmpfs, fetched page by page with and without a service filter.
//! Prints items/s, MB/s of stored data and storage requests, and, in the
//! same run, DuckDB's `read_json` answering the same question over the same
//! files, with the ratio.
//!
//! Run with `make bench` (which installs DuckDB into `.venv-bench`).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use std::sync::Arc;

use bytes::Bytes;
use otelvault_archive::{Archive, Budget, Layout, PartitionKey, Query, Stats, content_id};
use otelvault_codec::{Batch, Compression, Format, Granularity, Signal};
use otelvault_storage::{FsStore, ObjectStore, PutOptions};
use otelvault_testkit::bench::{duckdb_count, duckdb_python, fast_tempdir};
use otelvault_testkit::corpus;

const MINUTE: u64 = 60_000_000_000;
/// 2024-10-27T03:00:00Z
const HOUR: u64 = 1_729_998_000_000_000_000;

fn generate(store: &FsStore) -> (usize, u64) {
    let mut spans = 0;
    let mut bytes = 0u64;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // Production-like traffic: 130,000 spans in 1,000-span requests.
    for (sent, batch) in corpus::traces(HOUR, 130_000, 1_000, 7) {
        let minute_start = sent - sent % 60_000_000_000;
        let batch = Batch::Traces(batch);
        spans += batch.item_count();
        let json = batch.encode(Format::Json);
        let key = PartitionKey::new(
            minute_start,
            Granularity::Minute,
            Signal::Traces,
            content_id(&json),
            Format::Json,
            Compression::Gzip,
        );
        let body = Compression::Gzip.compress(&json).unwrap();
        bytes += body.len() as u64;
        rt.block_on(store.put(
            &key.object_key().unwrap(),
            Bytes::from(body),
            &PutOptions::default(),
        ))
        .unwrap();
    }
    (spans, bytes)
}

/// Fetches every page; returns (items, stats summed over pages, pages).
async fn run_query(archive: &Archive, service: Option<&str>) -> (usize, Stats, usize) {
    let query = Query {
        start: HOUR,
        end: HOUR + 60 * MINUTE,
        limit: 10_000,
        service_name: service.map(str::to_owned),
        ..Query::new(Signal::Traces)
    };
    let budget = Budget {
        bytes: 5 * 1024 * 1024,
        time: Duration::from_secs(60),
    };
    let mut resume = None;
    let mut items = 0;
    let mut pages = 0;
    let mut total = Stats::default();
    loop {
        let page = archive
            .read(&query, resume, HOUR + 61 * MINUTE, Format::Json, budget)
            .await
            .unwrap();
        // A response is encoded as it would be sent.
        std::hint::black_box(page.batch.encode(Format::Json));
        items += page.batch.item_count();
        pages += 1;
        total.partitions += page.stats.partitions;
        total.list_requests += page.stats.list_requests;
        total.objects += page.stats.objects;
        total.bytes_read += page.stats.bytes_read;
        match page.next {
            Some(next) => resume = Some(next),
            None => return (items, total, pages),
        }
    }
}

/// Seconds DuckDB takes to return the matching spans (best of 3), and their count.
fn duckdb(python: &Path, dir: &Path, service: Option<&str>) -> (f64, u64) {
    let filter = match service {
        Some(s) => format!(
            "WHERE list_contains(list_transform(rs.resource.attributes, a -> a.key || '=' || coalesce(a.value.stringValue, '')), 'service.name={s}')"
        ),
        None => String::new(),
    };
    let sql = format!(
        "SELECT count(*) FROM (SELECT unnest(ss.spans) AS span FROM (SELECT unnest(rs.scopeSpans) AS ss FROM (SELECT unnest(resourceSpans) AS rs FROM read_json('{}/**/traces_*.json.gz', maximum_object_size=268435456)) {filter}))",
        dir.display()
    );
    duckdb_count(python, &sql)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = fast_tempdir();
    let store = FsStore::new(dir.path()).unwrap();
    let (spans, stored) = generate(&store);
    let archive = Archive::new(Arc::new(store), Layout::default());
    println!(
        "otelvault query benchmark: 1 hour of production-like traffic (otelvault_testkit::corpus) in minute partitions, {spans} spans, {:.1} MiB stored (OTLP/JSON + gzip, fs store on tmpfs)",
        stored as f64 / 1048576.0
    );
    let python = duckdb_python();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for (label, service) in [
        ("all spans", None),
        ("service.name=checkout", Some("checkout")),
    ] {
        // Best of 3.
        let mut best = f64::MAX;
        let mut result = (0, Stats::default(), 0);
        for _ in 0..3 {
            let t = Instant::now();
            result = rt.block_on(run_query(&archive, service));
            best = best.min(t.elapsed().as_secs_f64());
        }
        let (items, stats, pages) = result;
        println!(
            "otelvault, {label}: {items} spans in {pages} pages, {best:.3} s, {:.0} spans/s, {:.1} MB/s of stored data; {} list requests, {} object reads",
            items as f64 / best,
            stats.bytes_read as f64 / 1e6 / best,
            stats.list_requests,
            stats.objects,
        );
        match &python {
            Some(python) => {
                let (secs, count) = duckdb(python, dir.path(), service);
                assert_eq!(
                    count as usize, items,
                    "DuckDB and otelvault disagree on {label}"
                );
                println!(
                    "duckdb read_json, {label}: {count} spans in {secs:.3} s ({:.0} spans/s); otelvault/duckdb time ratio {:.2}",
                    count as f64 / secs,
                    best / secs
                );
            }
            None => println!("duckdb: not installed (`make bench` installs it into .venv-bench)"),
        }
    }
}
