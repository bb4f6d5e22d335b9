//! Ingest benchmarks through the real release binary, printing figures:
//! CPU cost per MiB of OTLP protobuf, requests/s and latency with
//! concurrent clients, peak RSS for one 6 MiB request, binary size, and the
//! time from exec to the first 200; then the Tempo API's searches over an
//! hour of traces, raw and compacted, against the fetch API. Storage is the filesystem store on a
//! tmpfs (`/dev/shm`) so the figures measure otelvault, not the disk.
//!
//! Run with `make bench` (or `cargo bench -p otelvault --bench ingest`).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use otelvault_codec::{Batch, Format};
use otelvault_testkit::corpus;
use otelvault_testkit::data::trace_batch;
use otelvault_testkit::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_otelvault");

struct Server {
    child: Child,
    url: String,
    grpc_url: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn spawn() -> (Server, Instant) {
        Server::spawn_with(&[])
    }

    /// A server with more settings; its gRPC receiver, when `grpc` is
    /// among them, on a free port ([`Server::grpc_url`]).
    fn spawn_with(extra: &[(&str, &str)]) -> (Server, Instant) {
        let dir = otelvault_testkit::bench::fast_tempdir();
        let (port, grpc_port) = (free_port(), free_port());
        let started = Instant::now();
        let child = Command::new(BIN)
            .arg("serve")
            .env("OTELVAULT_LISTEN", format!("127.0.0.1:{port}"))
            .env("OTELVAULT_GRPC_LISTEN", format!("127.0.0.1:{grpc_port}"))
            .env("OTELVAULT_STORAGE", dir.path().join("archive"))
            .env("OTELVAULT_LOG", "warn")
            .envs(extra.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        (
            Server {
                child,
                url: format!("http://127.0.0.1:{port}"),
                grpc_url: format!("http://127.0.0.1:{grpc_port}"),
                _dir: dir,
            },
            started,
        )
    }

    /// Waits for the first 200.
    fn ready(self, body: &[u8]) -> Server {
        let agent = new_agent();
        while post(&agent, &self.url, body) != 200 {
            std::thread::sleep(Duration::from_millis(5));
        }
        self
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// user + system CPU seconds of the server so far.
    fn cpu_seconds(&self) -> f64 {
        otelvault_testkit::bench::cpu_seconds(&self.pid().to_string())
    }

    /// Peak resident set size in MiB.
    fn peak_rss_mib(&self) -> f64 {
        otelvault_testkit::bench::peak_rss_mib(&self.pid().to_string())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn new_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> u16 {
    post_to(agent, url, "/v1/traces", body)
}

fn post_to(agent: &ureq::Agent, url: &str, path: &str, body: &[u8]) -> u16 {
    match agent
        .post(format!("{url}{path}"))
        .header("Content-Type", "application/x-protobuf")
        .send(body)
    {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

/// `n` spans with ids, a one-letter name and times only, as gzip OTLP/JSON:
/// the request shape whose memory follows its item count, not its bytes.
fn tiny_spans(n: usize, seed: u64) -> Vec<u8> {
    use otelvault_codec::proto::collector_trace::ExportTraceServiceRequest;
    use otelvault_codec::proto::trace::{ResourceSpans, ScopeSpans, Span};
    use std::io::Write as _;
    let t0: u64 = 1_730_000_000_000_000_000;
    let spans = (0..n as u64)
        .map(|i| Span {
            trace_id: (u128::from(seed) << 64 | u128::from(i + 1))
                .to_be_bytes()
                .to_vec(),
            span_id: (i + 1).to_be_bytes().to_vec(),
            name: "s".into(),
            start_time_unix_nano: t0 + i,
            end_time_unix_nano: t0 + i + 1,
            ..Default::default()
        })
        .collect();
    let json = Batch::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
    .encode(Format::Json);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&json).unwrap();
    gzip.finish().unwrap()
}

fn post_gzip_json(agent: &ureq::Agent, url: &str, body: &[u8]) -> u16 {
    match agent
        .post(format!("{url}/v1/traces"))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .send(body)
    {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

/// Fetches every span since the epoch, page by page; returns the pages.
fn fetch_all(agent: &ureq::Agent, url: &str) -> usize {
    fetch_pages(
        agent,
        url,
        serde_json::json!({"startTimeUnixNano": "1", "limit": 10000}),
    )
}

/// Fetches every page `query` answers; returns the pages.
fn fetch_pages(agent: &ureq::Agent, url: &str, query: serde_json::Value) -> usize {
    fetch_spans(agent, url, query).0
}

/// Fetches every page `query` answers, as a client that only follows the
/// cursor would; returns the pages and the spans they held.
fn fetch_spans(agent: &ureq::Agent, url: &str, mut query: serde_json::Value) -> (usize, usize) {
    let (mut pages, mut spans) = (0, 0);
    loop {
        let mut response = agent
            .post(format!("{url}/api/traces/fetch"))
            .header("Content-Type", "application/json")
            .send(query.to_string().as_bytes())
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let text = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .unwrap();
        pages += 1;
        // Every span has a start; links and events do not.
        spans += text.matches("\"startTimeUnixNano\"").count();
        let cursor = text.rfind("\"nextCursor\":\"").map(|at| {
            let rest = &text[at + "\"nextCursor\":\"".len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        });
        match cursor {
            Some(cursor) if !cursor.is_empty() => query["cursor"] = cursor.into(),
            _ => return (pages, spans),
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    // `cargo bench` passes --bench; a plain `cargo test --benches` run passes nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // `cargo bench -p otelvault --bench ingest -- tempo` runs the Tempo part alone.
    if std::env::args().any(|a| a == "tempo") {
        tempo();
        return;
    }
    // `-- tempo-day`: Tempo searches over a compacted day of a busy system.
    if std::env::args().any(|a| a == "tempo-day") {
        tempo_day();
        return;
    }
    // `-- compact`: the binary compacting a busy hour, and one with a
    // small memory setting.
    if std::env::args().any(|a| a == "compact") {
        compact_busy_hour();
        return;
    }
    // `-- loki`: Grafana's Loki queries over an hour of logs, raw and
    // compacted, against DuckDB over the same Parquet.
    if std::env::args().any(|a| a == "loki") {
        loki();
        return;
    }
    // `-- memory`: peak RSS under concurrent ingest, against the budget.
    if std::env::args().any(|a| a == "memory") {
        memory_under_concurrency();
        return;
    }
    let small = Batch::Traces(trace_batch(64 * 1024)).encode(Format::Protobuf);
    let mib = Batch::Traces(trace_batch(1 << 20)).encode(Format::Protobuf);
    let six = Batch::Traces(trace_batch(6_000_000)).encode(Format::Protobuf);
    assert!(six.len() <= 6 * 1024 * 1024, "{}", six.len());

    println!("otelvault ingest benchmarks (release binary, fs store on tmpfs)");
    println!(
        "binary size: {:.1} MiB ({})",
        std::fs::metadata(BIN).unwrap().len() as f64 / 1048576.0,
        BIN
    );

    // Time from exec to the first 200 (cold start of the local server).
    let mut starts = Vec::new();
    for _ in 0..5 {
        let (server, started) = Server::spawn();
        let agent = new_agent();
        while post(&agent, &server.url, &small) != 200 {
            std::thread::sleep(Duration::from_millis(1));
        }
        starts.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!("exec to first 200: {:.1} ms (median of 5)", median(starts));

    // CPU cost per MiB of protobuf, sequential 1 MiB requests.
    let (server, _) = Server::spawn();
    let agent = new_agent();
    while post(&agent, &server.url, &small) != 200 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let requests = 100;
    let cpu_before = server.cpu_seconds();
    let wall = Instant::now();
    for _ in 0..requests {
        assert_eq!(post(&agent, &server.url, &mib), 200);
    }
    let wall = wall.elapsed().as_secs_f64();
    let cpu = server.cpu_seconds() - cpu_before;
    let total_mib = (mib.len() * requests) as f64 / 1048576.0;
    println!(
        "1 MiB protobuf requests: {requests} in {wall:.2} s, server CPU {:.1} ms per MiB ({:.0} MiB/s per core), {:.1} ms per request",
        cpu * 1000.0 / total_mib,
        total_mib / cpu,
        wall * 1000.0 / requests as f64,
    );

    // Concurrent clients with ~64 KiB requests.
    for clients in [1usize, 8] {
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                let url = server.url.clone();
                let body = small.clone();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let agent = new_agent();
                    let mut latencies = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        assert_eq!(post(&agent, &url, &body), 200);
                        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    latencies
                })
            })
            .collect();
        let duration = Duration::from_secs(5);
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        let mut all: Vec<f64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{clients} client(s), {} KiB requests: {:.0} requests/s, latency p50 {:.2} ms, p99 {:.2} ms",
            small.len() / 1024,
            all.len() as f64 / duration.as_secs_f64(),
            percentile(&all, 0.5),
            percentile(&all, 0.99),
        );
    }
    drop(server);

    // Peak RSS for one 6 MiB request on a fresh server.
    let (server, _) = Server::spawn();
    let agent = new_agent();
    while post(&agent, &server.url, &small) != 200 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let idle = server.peak_rss_mib();
    assert_eq!(post(&agent, &server.url, &six), 200);
    println!(
        "peak RSS: {:.1} MiB after one {:.1} MiB protobuf request ({idle:.1} MiB before it)",
        server.peak_rss_mib(),
        six.len() as f64 / 1048576.0
    );
    drop(server);

    // Many tiny spans: memory follows what a request holds. Below the
    // decoded-size limit (128 MiB) it is stored; past it, refused early.
    for spans in [100_000, 300_000] {
        let (server, _) = Server::spawn();
        while post(&agent, &server.url, &small) != 200 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let body = tiny_spans(spans, 1);
        let status = post_gzip_json(&agent, &server.url, &body);
        println!(
            "peak RSS: {:.1} MiB after {spans} tiny spans in {:.1} MiB of gzip OTLP/JSON (answered {status})",
            server.peak_rss_mib(),
            body.len() as f64 / 1048576.0,
        );
    }

    // Fetch over objects of 100,000 tiny spans each: every page decodes one
    // whole object; read-ahead keeps only what a page can take.
    let (server, _) = Server::spawn();
    for seed in 1..=8 {
        assert_eq!(
            post_gzip_json(&agent, &server.url, &tiny_spans(100_000, seed)),
            200
        );
    }
    let before = server.peak_rss_mib();
    let wall = Instant::now();
    let pages = fetch_all(&agent, &server.url);
    println!(
        "fetch of 8 objects of 100000 tiny spans: {pages} pages in {:.2} s, peak RSS {:.1} MiB ({before:.1} MiB after ingesting them)",
        wall.elapsed().as_secs_f64(),
        server.peak_rss_mib(),
    );
    drop(server);

    memory_under_concurrency();
    forwarding_and_grpc(&small, &mib);
    emf(&small);
    tempo();
}

/// Clients each sending one request of 250,000 tiny spans (gzip OTLP/JSON,
/// under the per-request limit) at once: the server's peak RSS stays near
/// the ingest memory budget whatever their number, the requests that do
/// not fit in time answered 503 (they retry), none lost to an OOM kill.
fn memory_under_concurrency() {
    const BUDGET_MIB: &str = "512";
    let body = Arc::new(tiny_spans(250_000, 7));
    println!(
        "ingest memory budget {BUDGET_MIB} MiB; each client sends 250000 tiny spans ({:.2} MiB of gzip OTLP/JSON):",
        body.len() as f64 / 1048576.0
    );
    for clients in [1usize, 4, 16, 32] {
        let (server, _) = Server::spawn_with(&[("OTELVAULT_INGEST_MEMORY_MIB", BUDGET_MIB)]);
        let agent = new_agent();
        let ping = Batch::Traces(trace_batch(1024)).encode(Format::Protobuf);
        while post(&agent, &server.url, &ping) != 200 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let idle = server.peak_rss_mib();
        let wall = Instant::now();
        let statuses: Vec<u16> = (0..clients)
            .map(|_| {
                let (url, body) = (server.url.clone(), Arc::clone(&body));
                std::thread::spawn(move || post_gzip_json(&new_agent(), &url, &body))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        let stored = statuses.iter().filter(|s| **s == 200).count();
        let busy = statuses.iter().filter(|s| **s == 503).count();
        println!(
            "  {clients:>2} clients: peak RSS {:.0} MiB ({idle:.0} idle), {stored} stored, {busy} answered 503 to retry, {} other, in {:.1} s",
            server.peak_rss_mib(),
            clients - stored - busy,
            wall.elapsed().as_secs_f64()
        );
    }
}

/// A GET's status and body.
fn get(agent: &ureq::Agent, url: &str, accept: &str) -> (u16, Vec<u8>) {
    let Ok(mut response) = agent.get(url).header("Accept", accept).call() else {
        return (0, Vec::new()); // not listening yet
    };
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap();
    (response.status().as_u16(), body)
}

/// Median milliseconds of three runs of `f`.
fn median_ms(mut f: impl FnMut()) -> f64 {
    median(
        (0..3)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect(),
    )
}

/// Grafana's Tempo routes over one hour of production-like traces
/// (`otelvault_testkit::corpus`, 130,000 spans in 1,000-span requests), raw
/// and then compacted, against the fetch API reading the whole hour, in the
/// same run.
fn tempo() {
    const HOUR_SECS: u64 = 1_729_998_000; // 2024-10-27T03:00:00Z
    let dir = otelvault_testkit::bench::fast_tempdir();
    let archive = dir.path().join("archive");
    let storage = archive.to_str().unwrap();
    let settings = [("OTELVAULT_STORAGE", storage), ("OTELVAULT_COMPACT", "off")];
    let mut spans = 0;
    let mut trace_id = Vec::new();
    let bodies: Vec<Vec<u8>> = corpus::traces(HOUR_SECS * 1_000_000_000, 130_000, 1_000, 7)
        .map(|(_, batch)| {
            let batch = Batch::Traces(batch);
            spans += batch.item_count();
            if let Batch::Traces(request) = &batch {
                trace_id.clone_from(&request.resource_spans[0].scope_spans[0].spans[0].trace_id);
            }
            batch.encode(Format::Protobuf)
        })
        .collect();
    let server = Server::spawn_with(&settings).0.ready(&bodies[0]);
    let agent = new_agent();
    for body in &bodies {
        assert_eq!(post(&agent, &server.url, body), 200);
    }
    drop(server);
    let range = format!("start={HOUR_SECS}&end={}", HOUR_SECS + 3600);
    let trace = otelvault_codec::values::hex(&trace_id);
    let routes = [
        (
            "search, one service",
            format!(
                "/api/search?q=%7B%20resource.service.name%20%3D%20%22checkout%22%20%7D&limit=20&{range}"
            ),
        ),
        (
            "search, span duration",
            format!("/api/search?q=%7B%20duration%20%3E%204ms%20%7D&limit=20&{range}"),
        ),
        (
            "tag values, service.name",
            format!("/api/v2/search/tag/resource.service.name/values?{range}"),
        ),
        (
            "trace by id (v2, protobuf)",
            format!("/api/v2/traces/{trace}?{range}"),
        ),
    ];
    let fetch = serde_json::json!({
        "startTimeUnixNano": (HOUR_SECS * 1_000_000_000).to_string(),
        "endTimeUnixNano": ((HOUR_SECS + 3600) * 1_000_000_000).to_string(),
        "limit": 10000,
    });
    println!(
        "Tempo API over 1 hour of traces: {spans} spans in {} objects (median of 3 runs each)",
        bodies.len()
    );
    let mut raw = Vec::new();
    for tier in ["raw", "compacted"] {
        if tier == "compacted" {
            let t = Instant::now();
            let status = compact_command(storage, HOUR_SECS, HOUR_SECS + 3600)
                .status()
                .unwrap();
            assert!(status.success());
            println!(
                "  otelvault compact of the hour: {:.2} s",
                t.elapsed().as_secs_f64()
            );
        }
        let server = Server::spawn_with(&settings).0;
        while get(&agent, &format!("{}/api/echo", server.url), "text/plain").0 != 200 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let fetch_ms = median_ms(|| {
            fetch_pages(&agent, &server.url, fetch.clone());
        });
        println!("  {tier}: fetch API, every span of the hour: {fetch_ms:.0} ms");
        let mut service = fetch.clone();
        service["serviceName"] = "checkout".into();
        let service_ms = median_ms(|| {
            fetch_pages(&agent, &server.url, service.clone());
        });
        println!("  {tier}: fetch API, serviceName checkout: {service_ms:.0} ms");
        let mut status = fetch.clone();
        status["attributes"] = serde_json::json!({"http.response.status_code": "404"});
        let status_ms = median_ms(|| {
            fetch_pages(&agent, &server.url, status.clone());
        });
        println!("  {tier}: fetch API, http.response.status_code 404: {status_ms:.0} ms");
        let mut by_id = fetch.clone();
        by_id["traceId"] = trace.clone().into();
        let by_id_ms = median_ms(|| {
            fetch_pages(&agent, &server.url, by_id.clone());
        });
        println!("  {tier}: fetch API, one trace id: {by_id_ms:.0} ms");
        let mut figures = vec![fetch_ms];
        for (name, path) in &routes {
            let url = format!("{}{path}", server.url);
            let ms = median_ms(|| {
                let (status, body) = get(&agent, &url, "application/protobuf");
                assert_eq!(status, 200, "{name}: {}", String::from_utf8_lossy(&body));
            });
            println!(
                "  {tier}: {name}: {ms:.0} ms ({:.3}x the fetch)",
                ms / fetch_ms
            );
            figures.push(ms);
        }
        if tier == "raw" {
            raw = figures;
        } else {
            duckdb_fetch(
                storage,
                HOUR_SECS,
                &agent,
                &server.url,
                &trace,
                [
                    (&fetch, fetch_ms),
                    (&service, service_ms),
                    (&status, status_ms),
                    (&by_id, by_id_ms),
                ],
            );
            duckdb_tempo(
                storage,
                HOUR_SECS,
                &agent,
                &server.url,
                &range,
                &figures[1..],
            );
            let names = std::iter::once("fetch API").chain(routes.iter().map(|(n, _)| *n));
            let ratios: Vec<String> = names
                .zip(raw.iter().zip(&figures))
                .map(|(name, (r, c))| format!("{name} {:.2}x", c / r))
                .collect();
            println!("  compacted / raw: {}", ratios.join(", "));
        }
    }
}

/// Grafana's two Loki queries for an Explore view (the newest 1,000 lines
/// of one service containing a word, and that selection's log volume by
/// level) over one hour of production-like logs
/// (`otelvault_testkit::corpus::logs`, 300,000 records in 500-record
/// requests), raw and then compacted, against DuckDB answering the same
/// questions from the same Parquet parts in the same run; both must give
/// the same number of lines and the same total count.
fn loki() {
    const HOUR_SECS: u64 = 1_729_998_000; // 2024-10-27T03:00:00Z
    const RECORDS: usize = 300_000;
    let dir = otelvault_testkit::bench::fast_tempdir();
    let archive = dir.path().join("archive");
    let storage = archive.to_str().unwrap();
    let settings = [("OTELVAULT_STORAGE", storage), ("OTELVAULT_COMPACT", "off")];
    let bodies: Vec<Vec<u8>> = corpus::logs(HOUR_SECS * 1_000_000_000, RECORDS, 500, 7)
        .map(|(_, request)| Batch::Logs(request).encode(Format::Protobuf))
        .collect();
    let server = Server::spawn_with(&settings).0;
    let agent = new_agent();
    while post_to(&agent, &server.url, "/v1/logs", &bodies[0]) != 200 {
        std::thread::sleep(Duration::from_millis(5));
    }
    for body in &bodies[1..] {
        assert_eq!(post_to(&agent, &server.url, "/v1/logs", body), 200);
    }
    drop(server);
    let (start, end) = (HOUR_SECS.to_string(), (HOUR_SECS + 3600).to_string());
    let selection = r#"{service_name="checkout"} |= "Retrying""#;
    let volume = format!("sum by (detected_level) (count_over_time({selection} [1m]))");
    let lines_query = [
        ("query", selection),
        ("limit", "1000"),
        ("direction", "backward"),
        ("start", &start),
        ("end", &end),
    ];
    let volume_query = [
        ("query", volume.as_str()),
        ("step", "60"),
        ("start", &start),
        ("end", &end),
    ];
    println!(
        "Loki API over 1 hour of logs: {RECORDS} records in {} requests (median of 3 runs each)",
        bodies.len()
    );
    let mut raw = Vec::new();
    for tier in ["raw", "compacted"] {
        if tier == "compacted" {
            let status = compact_command(storage, HOUR_SECS, HOUR_SECS + 3600)
                .status()
                .unwrap();
            assert!(status.success());
        }
        let server = Server::spawn_with(&settings).0;
        while get(
            &agent,
            &format!("{}/loki/api/v1/status/buildinfo", server.url),
            "",
        )
        .0 != 200
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let ask = |query: &[(&str, &str)]| -> serde_json::Value {
            let mut response = agent
                .get(format!("{}/loki/api/v1/query_range", server.url))
                .query_pairs(query.iter().copied())
                .call()
                .unwrap();
            let body = response.body_mut().read_to_string().unwrap();
            assert_eq!(response.status(), 200, "{body}");
            serde_json::from_str(&body).unwrap()
        };
        let lines_ms = median_ms(|| {
            ask(&lines_query);
        });
        let lines: usize = ask(&lines_query)["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|stream| stream["values"].as_array().unwrap().len())
            .sum();
        let volume_ms = median_ms(|| {
            ask(&volume_query);
        });
        let counted: u64 = ask(&volume_query)["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|series| series["values"].as_array().unwrap().clone())
            .map(|point| point[1].as_str().unwrap().parse::<u64>().unwrap())
            .sum();
        println!(
            "  {tier}: newest 1,000 lines: {lines_ms:.0} ms ({lines} lines); log volume by level: {volume_ms:.0} ms ({counted} records)"
        );
        if tier == "raw" {
            raw = vec![lines_ms, volume_ms];
            continue;
        }
        println!(
            "  compacted / raw: lines {:.2}x, volume {:.2}x",
            lines_ms / raw[0],
            volume_ms / raw[1]
        );
        let Some(python) = otelvault_testkit::bench::duckdb_python() else {
            println!("  duckdb: not installed (make bench installs it into .venv-bench); skipped");
            return;
        };
        // The same selection: the service and the word in the body, over
        // the hour; the lines come with what Loki returns beside them
        // (labels and structured metadata).
        let chosen = format!(
            "(SELECT * FROM read_parquet('{storage}/parquet/logs/**/*.parquet') \
             WHERE ServiceName = 'checkout' AND contains(Body, 'Retrying') \
             AND epoch_ns(Timestamp) >= {start} AND epoch_ns(Timestamp) < {end})",
            start = HOUR_SECS * 1_000_000_000,
            end = (HOUR_SECS + 3600) * 1_000_000_000,
        );
        let questions = [
            (
                "newest 1,000 lines",
                format!(
                    "SELECT count(*) FROM (SELECT Timestamp, Body, ResourceAttributes, LogAttributes, \
                     ScopeName, TraceId, SpanId, SeverityText, SeverityNumber FROM {chosen} \
                     ORDER BY Timestamp DESC LIMIT 1000) \
                     WHERE concat(Body, ResourceAttributes, LogAttributes, ScopeName, TraceId) IS NOT NULL"
                ),
                lines as u64,
                lines_ms,
            ),
            (
                "log volume by level",
                format!(
                    "SELECT sum(n) FROM (SELECT SeverityText, time_bucket(INTERVAL 1 minute, Timestamp) AS minute, \
                     count(*) AS n FROM {chosen} GROUP BY ALL)"
                ),
                counted,
                volume_ms,
            ),
        ];
        for (name, sql, ours, ms) in questions {
            let (secs, theirs) = otelvault_testkit::bench::duckdb_count(&python, &sql);
            assert_eq!(ours, theirs, "{name}: otelvault and DuckDB disagree");
            println!(
                "  duckdb over the same Parquet: {name}: {:.0} ms; otelvault / duckdb {:.1}x",
                secs * 1000.0,
                ms / (secs * 1000.0)
            );
        }
    }
}

/// A day of a busy system (24 hours of about 600,000 spans each, written
/// as ingest writes them, then compacted by the binary): Tempo searches
/// over the whole day, against DuckDB computing the same newest 20 traces
/// from the same Parquet parts; the answers must be the same traces in the
/// same order. `BENCH_DAY_SPANS` sets the spans per hour;
/// `BENCH_DAY_DIR` keeps the compacted day in that directory and
/// reuses it on the next run (to compare builds on the same corpus).
fn tempo_day() {
    const FIRST_SECS: u64 = 1_729_998_000; // 2024-10-27T03:00:00Z
    const HOURS: u64 = 24;
    let per_hour: usize = std::env::var("BENCH_DAY_SPANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600_000);
    let kept = std::env::var_os("BENCH_DAY_DIR").map(std::path::PathBuf::from);
    let dir = otelvault_testkit::bench::fast_tempdir();
    let root = kept
        .as_ref()
        .map_or_else(|| dir.path(), |k| k.as_path())
        .join("archive");
    let storage = root.to_str().unwrap();
    let (start, end) = (FIRST_SECS, FIRST_SECS + HOURS * 3600);
    if kept.is_some() && root.join("parquet").is_dir() {
        println!("Tempo API over a day: the day kept in {storage}");
    } else {
        print!("Tempo API over a day: ");
        write_day(&root, per_hour, start, end);
    }
    tempo_day_searches(storage, start, end);
}

/// Writes the hours of `[start, end)` (seconds), `per_hour` spans each, to
/// an archive at `root` as ingest writes them, and compacts them with the
/// binary.
fn write_day(root: &std::path::Path, per_hour: usize, start: u64, end: u64) {
    write_hours(root, per_hour, start, end);
    let storage = root.to_str().unwrap();
    let t = Instant::now();
    let status = compact_command(storage, start, end).status().unwrap();
    assert!(status.success());
    println!(
        "  otelvault compact of the day: {:.0} s",
        t.elapsed().as_secs_f64()
    );
}

/// Writes the hours of `[start, end)` (seconds), `per_hour` spans each, to
/// an archive at `root` as ingest writes them (OTLP/JSON + gzip, requests
/// of 1,000 spans), an hour per core at a time.
fn write_hours(root: &std::path::Path, per_hour: usize, start: u64, end: u64) {
    use otelvault_archive::{Archive, Layout};
    use otelvault_storage::FsStore;
    let store = Arc::new(FsStore::new(root).unwrap());
    let archive = Archive::new(store, Layout::default());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let hours = (end - start) / 3600;
    let t = Instant::now();
    let next = std::sync::atomic::AtomicU64::new(0);
    let spans = std::sync::atomic::AtomicUsize::new(0);
    // An hour per core at a time: the corpus is made on the writing thread.
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let h = next.fetch_add(1, Ordering::Relaxed);
                    if h >= hours {
                        return;
                    }
                    let hour = (start + h * 3600) * 1_000_000_000;
                    for (sent, request) in corpus::traces(hour, per_hour, 1_000, 7 + h) {
                        let batch = Batch::Traces(request);
                        spans.fetch_add(batch.item_count(), Ordering::Relaxed);
                        rt.block_on(archive.write(batch, sent)).unwrap();
                    }
                }
            });
        }
    });
    let spans = spans.into_inner();
    println!(
        "{hours} hours, {spans} spans written ({:.0} s)",
        t.elapsed().as_secs_f64()
    );
}

/// `-- compact`: one busy hour of traces (`BENCH_COMPACT_SPANS`, 600,000
/// by default), written as ingest writes it, then compacted by the binary
/// at default settings (`BENCH_COMPACT_ROUNDS` times, taking turns with
/// DuckDB turning the same raw objects into Parquet) and once with
/// `OTELVAULT_COMPACT_MEMORY_MIB` at 64, so that the hour's decoded items
/// are several times the setting: wall time, CPU time, stored raw MiB per
/// CPU second, peak RSS, parts, and the ratios to DuckDB's; then what one
/// worker keeps up with on one core and on every core.
fn compact_busy_hour() {
    const HOUR_SECS: u64 = 1_729_998_000; // 2024-10-27T03:00:00Z
    let spans: usize = std::env::var("BENCH_COMPACT_SPANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600_000);
    let dir = otelvault_testkit::bench::fast_tempdir();
    // `BENCH_COMPACT_DIR` keeps the hour there, for profiling.
    let root = std::env::var_os("BENCH_COMPACT_DIR")
        .map_or_else(|| dir.path().join("archive"), std::path::PathBuf::from);
    print!("Compaction of a busy hour: ");
    write_hours(&root, spans, HOUR_SECS, HOUR_SECS + 3600);
    let (mut stored, mut content) = (0u64, 0u64);
    for file in walk(&root) {
        let bytes = std::fs::read(&file).unwrap();
        stored += bytes.len() as u64;
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
            .unwrap();
        content += text.len() as u64;
    }
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    println!(
        "  the hour: {:.1} MiB stored (OTLP/JSON + gzip), {:.1} MiB of OTLP/JSON",
        mib(stored),
        mib(content)
    );
    // The default setting and DuckDB take turns, `BENCH_COMPACT_ROUNDS`
    // times (3 by default): this machine's neighbours add a fifth or more
    // to a run's CPU time from one minute to the next, so a run is
    // compared with the DuckDB run beside it, and the least CPU of the
    // rounds (noise only ever adds) is reported with the median.
    let rounds: usize = std::env::var("BENCH_COMPACT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(3);
    let duckdb = otelvault_testkit::bench::duckdb_python();
    let duckdb_out = dir.path().join("duckdb.parquet");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut parts, mut bytes, mut duckdb_bytes) = (0, 0u64, 0u64);
    for _ in 0..rounds {
        let _ = std::fs::remove_dir_all(root.join("parquet"));
        let mut command = compact_command(root.to_str().unwrap(), HOUR_SECS, HOUR_SECS + 3600);
        command.env_remove("OTELVAULT_COMPACT_MEMORY_MIB");
        ours.push(measured(&mut command));
        parts = walk(&root.join("parquet/traces")).len();
        bytes = walk(&root.join("parquet"))
            .iter()
            .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
            .sum();
        if let Some(python) = &duckdb {
            let _ = std::fs::remove_file(&duckdb_out);
            theirs.push(measured(&mut duckdb_command(python, &root, &duckdb_out)));
            duckdb_bytes = std::fs::metadata(&duckdb_out).map_or(0, |m| m.len());
        }
    }
    let summary = |runs: &[(f64, f64, f64)]| {
        let least = runs
            .iter()
            .copied()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        let cpu = median(runs.iter().map(|r| r.1).collect());
        let rss = runs.iter().map(|r| r.2).fold(0.0, f64::max);
        (least, cpu, rss)
    };
    let ((wall, cpu, _), median_cpu, rss) = summary(&ours);
    println!(
        "  OTELVAULT_COMPACT_MEMORY_MIB=default (128), least CPU of {rounds} runs: {wall:.2} s wall, {cpu:.2} s CPU (wall {:.2}x CPU), {:.2} MiB of stored raw per CPU second (median {:.2}), peak RSS {rss:.0} MiB, {parts} parts",
        wall / cpu,
        mib(stored) / cpu,
        mib(stored) / median_cpu,
    );
    let _ = std::fs::remove_dir_all(root.join("parquet"));
    let mut command = compact_command(root.to_str().unwrap(), HOUR_SECS, HOUR_SECS + 3600);
    command.env("OTELVAULT_COMPACT_MEMORY_MIB", "64");
    let (wall, cpu, rss) = measured(&mut command);
    println!(
        "  OTELVAULT_COMPACT_MEMORY_MIB=64: {wall:.2} s wall, {cpu:.2} s CPU (wall {:.2}x CPU), {:.2} MiB of stored raw per CPU second, peak RSS {rss:.0} MiB, {} parts",
        wall / cpu,
        mib(stored) / cpu,
        walk(&root.join("parquet/traces")).len()
    );
    if !theirs.is_empty() {
        let ((wall, cpu, _), median_cpu, rss) = summary(&theirs);
        println!(
            "  DuckDB, the same raw objects to Parquet (a row per span), least CPU of {rounds} runs: {wall:.2} s wall, {cpu:.2} s CPU, {:.2} MiB of stored raw per CPU second (median {:.2}), peak RSS {rss:.0} MiB, {:.1} MiB of Parquet",
            mib(stored) / cpu,
            mib(stored) / median_cpu,
            mib(duckdb_bytes)
        );
        let ratios = |f: fn(&(f64, f64, f64)) -> f64| {
            let each: Vec<f64> = ours.iter().zip(&theirs).map(|(o, t)| f(o) / f(t)).collect();
            let list: Vec<String> = each.iter().map(|r| format!("{r:.2}")).collect();
            format!("{:.2}x (rounds: {})", median(each), list.join(", "))
        };
        println!(
            "  otelvault (default) / DuckDB, run beside run, median: wall {}, CPU {}, Parquet bytes {:.2}x (otelvault's with its indexes and lossless remainder)",
            ratios(|r| r.0),
            ratios(|r| r.1),
            bytes as f64 / duckdb_bytes as f64
        );
    }
    // Capacity: what one worker keeps up with, by the cores it has.
    // Lambda gives a function CPU in proportion to its memory (one vCPU
    // at 1,769 MB); the runs below take one core and every core, with the
    // memory setting such a function would have (half its memory).
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    for (cpus, lambda_mb) in [(1, 1769), (cores, 1769 * cores)] {
        let _ = std::fs::remove_dir_all(root.join("parquet"));
        let compact = compact_command(root.to_str().unwrap(), HOUR_SECS, HOUR_SECS + 3600);
        let mut command = Command::new("taskset");
        command
            .arg("-c")
            .arg(format!("0-{}", cpus - 1))
            .arg(compact.get_program())
            .args(compact.get_args())
            .env("OTELVAULT_COMPACT_MEMORY_MIB", (lambda_mb / 2).to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let (wall, cpu, rss) = measured(&mut command);
        println!(
            "  capacity on {cpus} core(s) (a {lambda_mb} MB function's CPU): {wall:.2} s wall, {cpu:.2} s CPU, {:.0} spans/s, {:.2} MiB of stored raw per second, {:.1} GiB of stored raw in 15 minutes, peak RSS {rss:.0} MiB",
            spans as f64 / wall,
            mib(stored) / wall,
            mib(stored) / wall * 900.0 / 1024.0
        );
    }
}

/// DuckDB turning the raw objects under `root` into Parquet at `out`, a
/// row per span (resource, scope and the span's fields as columns, zstd):
/// the yardstick of compaction.
fn duckdb_command(
    python: &std::path::Path,
    root: &std::path::Path,
    out: &std::path::Path,
) -> Command {
    let sql = format!(
        "COPY (WITH raw AS (SELECT * FROM read_json('{}/year=*/**/*.json.gz', union_by_name = true, maximum_object_size = 1073741824)), \
         rs AS (SELECT unnest(resourceSpans) AS rs FROM raw), \
         ss AS (SELECT rs.resource AS resource, unnest(rs.scopeSpans) AS ss FROM rs), \
         sp AS (SELECT resource, ss.scope AS scope, unnest(ss.spans) AS span FROM ss) \
         SELECT resource, scope, unnest(span) FROM sp) TO '{}' (FORMAT PARQUET, COMPRESSION ZSTD)",
        root.display(),
        out.display()
    );
    let mut command = Command::new(python);
    command
        .arg("-c")
        .arg(format!(
            "import duckdb\ncon = duckdb.connect()\ncon.execute('SET enable_progress_bar = false')\ncon.execute({sql:?})"
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// `otelvault compact` of `[start, end)` (unix seconds) of the archive at
/// `storage`, its output discarded.
fn compact_command(storage: &str, start: u64, end: u64) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["compact", "--storage", storage, "--start"])
        .arg(start.to_string())
        .arg("--end")
        .arg(end.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Runs `command` to its end: wall seconds, CPU seconds (user + system)
/// and peak RSS in MiB, from the kernel's account of the child.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code, clippy::zombie_processes)] // wait4 reaps the child.
fn measured(command: &mut Command) -> (f64, f64, f64) {
    let t = Instant::now();
    let child = command.spawn().unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value, and wait4 writes into the
    // two places it is given for the child this process spawned.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = t.elapsed().as_secs_f64();
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
    (wall, cpu, usage.ru_maxrss as f64 / 1024.0)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn measured(command: &mut Command) -> (f64, f64, f64) {
    let t = Instant::now();
    assert!(command.status().unwrap().success());
    (t.elapsed().as_secs_f64(), f64::NAN, f64::NAN)
}

/// The searches, tag values and tag names of [`tempo_day`] over the
/// compacted day at `storage`.
fn tempo_day_searches(storage: &str, start: u64, end: u64) {
    let settings = [("OTELVAULT_STORAGE", storage), ("OTELVAULT_COMPACT", "off")];
    let server = Server::spawn_with(&settings).0;
    let agent = new_agent();
    while get(&agent, &format!("{}/api/echo", server.url), "text/plain").0 != 200 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let python = otelvault_testkit::bench::duckdb_python();
    let spans_sql = format!(
        "(SELECT *, epoch_us(Timestamp) * 1000 + OtlpTimestampNanos AS t FROM read_parquet('{storage}/parquet/traces/**/part-*.parquet'))"
    );
    let searches = [
        (
            "{ resource.service.name = \"checkout\" }",
            "ServiceName = 'checkout'",
        ),
        ("{ status = error }", "StatusCode = 'Error'"),
        ("{}", "true"),
        ("{ duration > 4ms }", "Duration > 4000000"),
    ];
    for (q, matching) in searches {
        let url = format!(
            "{}/api/search?start={start}&end={end}&limit=20&q={}",
            server.url,
            q.replace(' ', "%20")
                .replace('"', "%22")
                .replace('{', "%7B")
                .replace('}', "%7D")
                .replace('=', "%3D")
                .replace('>', "%3E")
        );
        let (mut answer, mut truncated) = (serde_json::Value::Null, false);
        let ms = median_ms(|| {
            let mut response = agent.get(&url).call().unwrap();
            assert_eq!(response.status().as_u16(), 200, "{q}");
            truncated = response.headers().contains_key("otelvault-truncated");
            answer = serde_json::from_slice(&response.body_mut().read_to_vec().unwrap()).unwrap();
        });
        let ids: Vec<&str> = answer["traces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["traceID"].as_str().unwrap())
            .collect();
        println!(
            "  search {q} over the day: {ms:.0} ms, {} traces inspected, {} answered{}",
            answer["metrics"]["inspectedTraces"],
            ids.len(),
            if truncated {
                " (truncated by the time budget)"
            } else {
                ""
            }
        );
        let Some(python) = &python else {
            continue;
        };
        let sql = format!(
            "WITH s AS {spans_sql}, \
             m AS (SELECT DISTINCT TraceId FROM s WHERE {matching}), \
             t AS (SELECT s.TraceId, min(t) AS first FROM s JOIN m ON s.TraceId = m.TraceId GROUP BY s.TraceId) \
             SELECT string_agg(TraceId, ',' ORDER BY first DESC, TraceId) FROM (SELECT * FROM t ORDER BY first DESC, TraceId LIMIT 20)"
        );
        let (secs, theirs) = otelvault_testkit::bench::duckdb_value(python, &sql);
        assert_eq!(ids.join(","), theirs, "{q}: otelvault and DuckDB disagree");
        println!(
            "    duckdb over the same Parquet, the same 20 traces: {:.0} ms; otelvault / duckdb {:.2}x",
            secs * 1000.0,
            ms / (secs * 1000.0)
        );
    }
    let values = format!(
        "{}/api/v2/search/tag/resource.service.name/values?start={start}&end={end}",
        server.url
    );
    let mut listed = 0;
    let ms = median_ms(|| {
        let (status, body) = get(&agent, &values, "application/json");
        assert_eq!(status, 200);
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        listed = answer["tagValues"].as_array().unwrap().len();
    });
    println!("  tag values of resource.service.name over the day: {ms:.0} ms, {listed} values");
    if let Some(python) = &python {
        let sql =
            format!("SELECT count(DISTINCT ResourceAttributes['service.name']) FROM {spans_sql}");
        let (secs, count) = otelvault_testkit::bench::duckdb_count(python, &sql);
        assert_eq!(
            listed as u64, count,
            "tag values: otelvault and DuckDB disagree"
        );
        println!(
            "    duckdb over the same Parquet: {:.0} ms; otelvault / duckdb {:.2}x",
            secs * 1000.0,
            ms / (secs * 1000.0)
        );
    }
    let names = format!("{}/api/v2/search/tags?start={start}&end={end}", server.url);
    let ms = median_ms(|| assert_eq!(get(&agent, &names, "application/json").0, 200));
    println!("  tag names over the day: {ms:.0} ms");
    println!("  server peak RSS: {:.0} MiB", server.peak_rss_mib());
}

/// DuckDB writing the rows of the fetches of [`tempo`] (every span of the
/// hour, a service's, an attribute's and a trace's) out as JSON from the
/// same Parquet parts (best of 3), against otelvault's medians, as ratios;
/// the spans counted must agree.
fn duckdb_fetch(
    storage: &str,
    hour_secs: u64,
    agent: &ureq::Agent,
    url: &str,
    trace: &str,
    fetches: [(&serde_json::Value, f64); 4],
) {
    let Some(python) = otelvault_testkit::bench::duckdb_python() else {
        return;
    };
    let out = tempfile::NamedTempFile::new_in(storage).unwrap();
    let copy = |filter: &str| {
        format!(
            "COPY (SELECT * FROM read_parquet('{storage}/parquet/traces/**/part-*.parquet') WHERE Timestamp >= make_timestamp({start}) AND Timestamp < make_timestamp({end}){filter}) TO '{out}' (FORMAT json)",
            start = hour_secs * 1_000_000,
            end = (hour_secs + 3600) * 1_000_000,
            out = out.path().display(),
        )
    };
    let questions = [
        ("fetch API, every span of the hour", copy("")),
        (
            "fetch API, serviceName checkout",
            copy(" AND ServiceName = 'checkout'"),
        ),
        (
            "fetch API, http.response.status_code 404",
            // The fetch filter matches a span's attribute or its resource's.
            copy(
                " AND (map_extract(SpanAttributes, 'http.response.status_code') = ['404'] OR map_extract(ResourceAttributes, 'http.response.status_code') = ['404'])",
            ),
        ),
        (
            "fetch API, one trace id",
            copy(&format!(" AND TraceId = '{trace}'")),
        ),
    ];
    for ((name, sql), (query, ours)) in questions.iter().zip(fetches) {
        let (secs, rows) = otelvault_testkit::bench::duckdb_count(&python, sql);
        let (_, spans) = fetch_spans(agent, url, query.clone());
        assert_eq!(spans as u64, rows, "{name}: otelvault and DuckDB disagree");
        println!(
            "  duckdb over the same Parquet, rows written as JSON: {name}: {:.0} ms; otelvault / duckdb {:.1}x",
            secs * 1000.0,
            ours / (secs * 1000.0)
        );
    }
}

/// DuckDB answering the Tempo searches and tag values of [`tempo`] from
/// the same Parquet parts (best of 3), against otelvault's medians
/// (`ours`, in the routes' order), as ratios.
fn duckdb_tempo(
    storage: &str,
    hour_secs: u64,
    agent: &ureq::Agent,
    url: &str,
    range: &str,
    ours: &[f64],
) {
    let Some(python) = otelvault_testkit::bench::duckdb_python() else {
        println!("  duckdb: not installed (make bench installs it into .venv-bench); skipped");
        return;
    };
    let parts = format!(
        "(SELECT * FROM read_parquet('{storage}/parquet/traces/**/*.parquet') WHERE Timestamp >= make_timestamp({start}) AND Timestamp < make_timestamp({end}))",
        start = hour_secs * 1_000_000,
        end = (hour_secs + 3600) * 1_000_000,
    );
    // Tempo's answer: per trace with a matching span, its start, end, root
    // and matches; newest 20.
    let search = |matching: &str| {
        format!(
            "WITH s AS {parts}, \
             m AS (SELECT TraceId, count(*) AS matched FROM s WHERE {matching} GROUP BY TraceId), \
             t AS (SELECT s.TraceId, min(epoch_ns(Timestamp)) AS first, max(epoch_ns(Timestamp) + Duration) AS last, \
                   arg_min(ServiceName, Timestamp) FILTER (WHERE ParentSpanId = '') AS root_service, \
                   arg_min(SpanName, Timestamp) FILTER (WHERE ParentSpanId = '') AS root_name, any_value(matched) AS matched \
                   FROM s JOIN m ON s.TraceId = m.TraceId GROUP BY s.TraceId) \
             SELECT count(*) FROM (SELECT * FROM t ORDER BY first DESC, TraceId LIMIT 20) \
             WHERE concat(root_service, root_name, last, matched) IS NOT NULL"
        )
    };
    let questions = [
        (
            "search, one service",
            search("ServiceName = 'checkout'"),
            "/api/search?q=%7B%20resource.service.name%20%3D%20%22checkout%22%20%7D&limit=20",
        ),
        (
            "search, span duration",
            search("Duration > 4000000"),
            "/api/search?q=%7B%20duration%20%3E%204ms%20%7D&limit=20",
        ),
        (
            "tag values, service.name",
            format!("SELECT count(DISTINCT ResourceAttributes['service.name']) FROM {parts}"),
            "/api/v2/search/tag/resource.service.name/values",
        ),
    ];
    for ((name, sql, path), ours) in questions.iter().zip(ours) {
        let (secs, count) = otelvault_testkit::bench::duckdb_count(&python, sql);
        let join = if path.contains('?') { '&' } else { '?' };
        let (status, body) = get(
            agent,
            &format!("{url}{path}{join}{range}"),
            "application/json",
        );
        assert_eq!(status, 200);
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let listed = answer["traces"]
            .as_array()
            .or(answer["tagValues"].as_array())
            .map_or(0, Vec::len);
        assert_eq!(
            listed as u64, count,
            "{name}: otelvault and DuckDB disagree"
        );
        println!(
            "  duckdb over the same Parquet: {name}: {:.0} ms; otelvault / duckdb {:.1}x",
            secs * 1000.0,
            ours / (secs * 1000.0)
        );
    }
}

/// Ingest CPU per MiB of metrics with EMF off, with otelvault's own figures
/// only, and with OTLP metrics converted too (events to /dev/null), in the
/// same run.
fn emf(small: &[u8]) {
    let mib =
        Batch::Metrics(otelvault_testkit::data::metric_batch(1 << 20)).encode(Format::Protobuf);
    let requests = 50;
    let mut figures = Vec::new();
    for settings in [
        &[][..],
        &[
            ("OTELVAULT_SELF_METRICS", "on"),
            ("OTELVAULT_EMF_FILE", "/dev/null"),
        ][..],
        &[
            ("OTELVAULT_SELF_METRICS", "on"),
            ("OTELVAULT_EMF", "on"),
            ("OTELVAULT_EMF_FILE", "/dev/null"),
        ][..],
    ] {
        let server = Server::spawn_with(settings).0.ready(small);
        let agent = new_agent();
        assert_eq!(post_to(&agent, &server.url, "/v1/metrics", &mib), 200);
        let before = server.cpu_seconds();
        let wall = Instant::now();
        for _ in 0..requests {
            assert_eq!(post_to(&agent, &server.url, "/v1/metrics", &mib), 200);
        }
        let per_request = wall.elapsed().as_secs_f64() * 1000.0 / requests as f64;
        let cpu = server.cpu_seconds() - before;
        figures.push((
            cpu * 1000.0 / ((mib.len() * requests) as f64 / 1048576.0),
            per_request,
        ));
    }
    let (off, own, all) = (figures[0], figures[1], figures[2]);
    println!(
        "EMF, 1 MiB metrics requests: off {:.1} ms CPU per MiB ({:.1} ms a request); own figures {:.1} ms ({:.2}x); OTLP metrics converted too {:.1} ms ({:.2}x, {:.1} ms a request)",
        off.0,
        off.1,
        own.0,
        own.0 / off.0,
        all.0,
        all.0 / off.0,
        all.1
    );
}

/// Server CPU per MiB of sequential 1 MiB requests, and latency of one
/// client's small requests for 5 s.
fn cpu_and_latency(server: &Server, mib: &[u8], small: &[u8]) -> (f64, f64, f64) {
    let agent = new_agent();
    let requests = 50;
    let cpu_before = server.cpu_seconds();
    for _ in 0..requests {
        assert_eq!(post(&agent, &server.url, mib), 200);
    }
    let cpu = server.cpu_seconds() - cpu_before;
    let per_mib = cpu * 1000.0 / ((mib.len() * requests) as f64 / 1048576.0);
    let mut latencies = Vec::new();
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        let t = Instant::now();
        assert_eq!(post(&agent, &server.url, small), 200);
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    (
        per_mib,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    )
}

/// Forwarding on (to a second server on this machine) against off, and
/// OTLP/gRPC against OTLP/HTTP, in the same run.
fn forwarding_and_grpc(small: &[u8], mib: &[u8]) {
    let plain = Server::spawn().0.ready(small);
    let (off_cpu, off_p50, off_p99) = cpu_and_latency(&plain, mib, small);
    drop(plain);
    let backend = Server::spawn().0.ready(small);
    let forwarding = Server::spawn_with(&[("OTELVAULT_FORWARD_ENDPOINT", &backend.url)])
        .0
        .ready(small);
    let (on_cpu, on_p50, on_p99) = cpu_and_latency(&forwarding, mib, small);
    println!(
        "forwarding off: {off_cpu:.1} ms CPU per MiB, {} KiB latency p50 {off_p50:.2} ms, p99 {off_p99:.2} ms",
        small.len() / 1024
    );
    println!(
        "forwarding on (http/protobuf, gzip, to a local otelvault): {on_cpu:.1} ms CPU per MiB ({:.2}x), p50 {on_p50:.2} ms ({:.2}x), p99 {on_p99:.2} ms ({:.2}x)",
        on_cpu / off_cpu,
        on_p50 / off_p50,
        on_p99 / off_p99
    );
    drop((forwarding, backend));

    // The same 1 MiB requests through the same client, over HTTP and gRPC.
    use otelvault_client::exporter::{Exporter, RetryPolicy, Target, Transport};
    let server = Server::spawn().0.ready(small);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut per_mib = Vec::new();
    for (transport, url) in [
        (Transport::Http, format!("{}/v1/traces", server.url)),
        (Transport::Grpc, server.grpc_url.clone()),
    ] {
        let target = Target {
            url,
            headers: Vec::new(),
            transport,
            format: Format::Protobuf,
            compression: otelvault_codec::Compression::None,
            timeout: Duration::from_secs(30),
        };
        let client = otelvault_client::http::HttpClient::new().unwrap();
        let exporter = Exporter::new(client, target, RetryPolicy::default());
        let body = bytes::Bytes::copy_from_slice(mib);
        let requests = 50;
        let cpu = runtime.block_on(async {
            exporter
                .send_encoded(otelvault_codec::Signal::Traces, body.clone())
                .await
                .unwrap();
            let before = server.cpu_seconds();
            for _ in 0..requests {
                exporter
                    .send_encoded(otelvault_codec::Signal::Traces, body.clone())
                    .await
                    .unwrap();
            }
            server.cpu_seconds() - before
        });
        per_mib.push(cpu * 1000.0 / ((mib.len() * requests) as f64 / 1048576.0));
    }
    println!(
        "ingest CPU per MiB of 1 MiB protobuf requests: OTLP/HTTP {:.1} ms, OTLP/gRPC {:.1} ms ({:.2}x)",
        per_mib[0],
        per_mib[1],
        per_mib[1] / per_mib[0]
    );
}
