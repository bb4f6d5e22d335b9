//! `otelvault fetch` and `otelvault replay`: flag parsing and output; the
//! work is done by `otelvault-client`.

use std::io::{IsTerminal as _, Write as _};

use anyhow::{Context as _, bail};
use axum::http::Uri;
use clap::{Args, ValueEnum};
use otelvault_api::parse_trace_id;
use otelvault_archive::{
    Archive, AttrValue, Layout, PartitionTime, Partitioning, Query, parse_with,
};
use otelvault_client::api::ApiClient;
use otelvault_client::exporter::{Exporter, RetryPolicy, Target};
use otelvault_client::http::HttpClient;
use otelvault_client::replay::{self, Options, Progress, Source, Summary};
use otelvault_client::time::{parse_duration, parse_time};
use otelvault_codec::{Format, Granularity, Signal};
use otelvault_service::S3Args;
use otelvault_storage::StorageUrl;

/// The time range flags shared by both commands.
#[derive(Debug, Clone, Args)]
pub struct Range {
    /// How far back to start, ending now (90s, 15m, 2h, 7d).
    #[arg(long, conflicts_with = "start", value_parser = parse_duration)]
    since: Option<u64>,
    /// Start: RFC 3339 (2024-10-27T03:33:20Z) or unix seconds.
    #[arg(long, value_parser = parse_time)]
    start: Option<u64>,
    /// End (exclusive): RFC 3339 or unix seconds; default now.
    #[arg(long, value_parser = parse_time)]
    end: Option<u64>,
}

impl Range {
    fn resolve(&self) -> anyhow::Result<(u64, u64)> {
        let now = otelvault_codec::now_unix_nanos();
        let end = self.end.unwrap_or(now);
        let start = match (self.since, self.start) {
            (Some(since), _) => end.saturating_sub(since),
            (None, Some(start)) => start,
            (None, None) => bail!("give a range: --since 15m, or --start (and --end)"),
        };
        if end <= start {
            bail!("--end must be after the start of the range");
        }
        Ok((start, end))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SignalArg {
    Traces,
    Metrics,
    Logs,
}

impl From<SignalArg> for Signal {
    fn from(s: SignalArg) -> Signal {
        match s {
            SignalArg::Traces => Signal::Traces,
            SignalArg::Metrics => Signal::Metrics,
            SignalArg::Logs => Signal::Logs,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    /// One OTLP/JSON document with every page merged.
    Json,
    /// One OTLP/JSON document per page, one per line.
    Ndjson,
}

/// `otelvault fetch`: query a deployment and print OTLP/JSON.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Base URL of the deployment (the Function URL, or http://127.0.0.1:4318).
    #[arg(long, env = "OTELVAULT_ENDPOINT", required_unless_present = "from")]
    endpoint: Option<String>,
    /// Read an archive directly instead of a deployment: a directory or s3://bucket/prefix.
    #[arg(long)]
    from: Option<String>,
    #[command(flatten)]
    archive: ArchiveArgs,
    /// Query key.
    #[arg(long, env = "OTELVAULT_ACCESS_KEY", hide_env_values = true)]
    access_key: Option<String>,
    /// Signal to fetch.
    #[arg(long, value_enum, default_value = "traces")]
    signal: SignalArg,
    #[command(flatten)]
    range: Range,
    /// Only this service.name.
    #[arg(long)]
    service: Option<String>,
    /// Only this trace (traces and logs), 32 hex digits.
    #[arg(long, value_parser = trace_id)]
    trace_id: Option<TraceId>,
    /// Only items with this attribute (resource or item), as key=value; repeatable.
    #[arg(long = "attribute", value_parser = key_value)]
    attributes: Vec<(String, String)>,
    /// Logs: lowest severity number (9 = INFO, 13 = WARN, 17 = ERROR).
    #[arg(long)]
    min_severity: Option<i32>,
    /// Metrics: only this metric.
    #[arg(long)]
    metric: Option<String>,
    /// Items per page requested.
    #[arg(long, default_value_t = 1000)]
    limit: usize,
    /// Stop after this many items.
    #[arg(long)]
    max_items: Option<usize>,
    /// Output shape.
    #[arg(long, value_enum, default_value = "json")]
    output: Output,
}

/// A trace id's bytes (a type of its own: clap takes `Option<Vec<u8>>`
/// for a list of bytes).
#[derive(Debug, Clone)]
struct TraceId(Vec<u8>);

fn trace_id(s: &str) -> Result<TraceId, String> {
    parse_trace_id("--trace-id", s)
        .map(TraceId)
        .map_err(|e| e.to_string())
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected key=value, got {s:?}"))
}

pub async fn fetch(args: FetchArgs) -> anyhow::Result<()> {
    let (start, end) = args.range.resolve()?;
    let signal: Signal = args.signal.into();
    let source = match (&args.from, &args.endpoint) {
        (Some(from), _) => Source::Archive(open_archive(from, &args.archive).await?),
        (None, Some(endpoint)) => Source::Api(Box::new(ApiClient::new(
            HttpClient::new()?,
            endpoint,
            args.access_key.clone(),
        )?)),
        (None, None) => bail!("give --endpoint (or OTELVAULT_ENDPOINT), or --from an archive"),
    };
    let query = Query {
        start,
        end,
        limit: args.limit,
        service_name: args.service.clone(),
        trace_id: args.trace_id.as_ref().map(|id| id.0.clone()),
        attributes: args
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), AttrValue::Str(v.clone())))
            .collect(),
        min_severity: args.min_severity,
        metric_name: args.metric.clone(),
        ..Query::new(signal)
    };
    let mut pages = Vec::new();
    let mut items = 0usize;
    let mut failed: Option<std::io::Error> = None;
    let stdout = std::io::stdout();
    source
        .pages(
            query,
            Format::Json,
            otelvault_service::query::PAGE_BYTES,
            async |mut page| {
                for s in &page.skipped {
                    tracing::warn!(
                        key = s.key,
                        error = s.error,
                        "Skipped an unreadable archive object."
                    );
                }
                let mut go_on = true;
                if let Some(max) = args.max_items {
                    let room = max.saturating_sub(items);
                    if page.batch.item_count() >= room {
                        otelvault_codec::filter::truncate_items(&mut page.batch, room);
                        go_on = false;
                    }
                }
                items += page.batch.item_count();
                match args.output {
                    Output::Ndjson if !page.batch.is_empty() => {
                        let mut out = stdout.lock();
                        if let Err(e) = out
                            .write_all(&page.batch.encode(Format::Json))
                            .and_then(|()| out.write_all(b"\n"))
                        {
                            failed = Some(e);
                            return false;
                        }
                    }
                    Output::Ndjson => {}
                    Output::Json => pages.push(page.batch),
                }
                go_on
            },
        )
        .await?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    if args.output == Output::Json {
        let merged =
            otelvault_codec::merge(pages).unwrap_or_else(|| otelvault_codec::Batch::empty(signal));
        let mut out = stdout.lock();
        out.write_all(&merged.encode(Format::Json))?;
        out.write_all(b"\n")?;
        out.flush()?;
    }
    tracing::info!(%signal, items, "Fetched.");
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SignalsArg {
    All,
    Traces,
    Metrics,
    Logs,
}

/// `otelvault replay`: re-send archived data to an OTLP/HTTP endpoint.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A deployment (https://…), an S3 archive (s3://bucket/prefix) or a directory.
    #[arg(long)]
    from: String,
    /// Base URL of the OTLP/HTTP receiver; else OTEL_EXPORTER_OTLP_ENDPOINT (or the per-signal variables). There is no default.
    #[arg(long)]
    to: Option<String>,
    /// Read the range and print what would be sent, without sending anything.
    #[arg(long)]
    dry_run: bool,
    /// Signals to replay.
    #[arg(long, value_enum, default_value = "all")]
    signal: SignalsArg,
    #[command(flatten)]
    range: Range,
    /// Query key, when reading from a deployment.
    #[arg(long, env = "OTELVAULT_ACCESS_KEY", hide_env_values = true)]
    access_key: Option<String>,
    /// Items per request sent.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Retries of a request that failed with 429, 502, 503, 504 or a network error.
    #[arg(long, default_value_t = 5)]
    retries: u32,
    /// Longest wait between retries (also caps Retry-After).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    max_backoff: u64,
    #[command(flatten)]
    archive: ArchiveArgs,
}

/// How to read an archive directly (`--from` a directory or s3://).
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// Partition width of an archive read directly: minute or hour (default: read from the archive).
    #[arg(long, env = "OTELVAULT_PARTITION", value_parser = parse_with::<Granularity>("OTELVAULT_PARTITION"))]
    partition: Option<Granularity>,
    /// How an archive read directly was partitioned: event, or receive (Collector archives).
    #[arg(
        long,
        env = "OTELVAULT_PARTITION_TIME",
        value_enum,
        default_value = "event"
    )]
    partition_time: PartitionTime,
    #[command(flatten)]
    s3: S3Args,
}

/// Scheme, host and port of a URL, with the loopback names made one.
fn origin(url: &str) -> Option<(String, String, u16)> {
    let uri: Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    let host = match host.as_str() {
        "localhost" | "127.0.0.1" | "[::1]" | "::1" => "loopback".to_owned(),
        _ => host,
    };
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    Some((scheme, host, port))
}

/// Opens the store at `from` (`--from`), which must exist: a directory is
/// never created for reading.
async fn open_existing(
    from: &str,
    s3: &S3Args,
) -> anyhow::Result<(
    StorageUrl,
    std::sync::Arc<dyn otelvault_storage::ObjectStore>,
)> {
    let url: StorageUrl = from.parse().map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    if let StorageUrl::Fs(path) = &url
        && !path.is_dir()
    {
        bail!(
            "--from {}: no such directory (give an archive directory, s3://bucket/prefix or, where it applies, a deployment URL)",
            path.display()
        );
    }
    let store = s3
        .open(&url)
        .await
        .with_context(|| format!("opening {url}"))?;
    Ok((url, store))
}

/// Opens the archive at `from` for reading: the location must exist and
/// hold objects in the archive layout, whose partition width is read from
/// them (and must agree with `--partition` when that is given).
async fn open_archive(from: &str, args: &ArchiveArgs) -> anyhow::Result<Archive> {
    let (url, store) = open_existing(from, &args.s3).await?;
    let detected = Archive::detect_granularity(&*store)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.detail()))
        .with_context(|| format!("reading {url}"))?;
    let granularity = match (detected, args.partition) {
        (None, _) => bail!(
            "--from {url}: holds no archive objects (year=YYYY/month=MM/day=DD/hour=HH[/minute=mm]/{{signal}}_{{id}}.json|binpb[.gz|.zst])"
        ),
        (Some(found), Some(given)) if found != given => bail!(
            "--from {url}: the archive is partitioned by {found}, not {given}: drop --partition (or OTELVAULT_PARTITION)"
        ),
        (Some(found), _) => found,
    };
    Ok(Archive::new(
        store,
        Layout::from(Partitioning {
            granularity,
            time: args.partition_time,
        }),
    ))
}

#[allow(clippy::print_stderr)] // The command's summary.
pub async fn replay(args: ReplayArgs) -> anyhow::Result<bool> {
    let (start, end) = args.range.resolve()?;
    if !(1..=10_000).contains(&args.batch_size) {
        bail!("--batch-size must be between 1 and 10000");
    }
    let client = HttpClient::new()?;
    let from_deployment = args.from.starts_with("http://") || args.from.starts_with("https://");
    let signals: Vec<Signal> = match args.signal {
        SignalsArg::All => Signal::ALL.to_vec(),
        SignalsArg::Traces => vec![Signal::Traces],
        SignalsArg::Metrics => vec![Signal::Metrics],
        SignalsArg::Logs => vec![Signal::Logs],
    };
    let env = |k: &str| std::env::var(k).ok();
    let max = std::time::Duration::from_nanos(args.max_backoff);
    let retry = RetryPolicy {
        attempts: args.retries + 1,
        initial: RetryPolicy::default().initial.min(max),
        max,
    };
    let exporters = signals
        .iter()
        .map(|s| {
            Ok((
                *s,
                Exporter::new(
                    client.clone(),
                    Target::from_env(*s, args.to.as_deref(), &env)?,
                    retry,
                ),
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if from_deployment {
        let from = origin(&args.from);
        if let Some((_, exporter)) = exporters
            .iter()
            .find(|(_, e)| from.is_some() && origin(&e.target().url) == from)
        {
            bail!(
                "--from {} and the target {} are the same deployment: replaying it into itself would store everything twice",
                args.from,
                exporter.target().url
            );
        }
    }
    let source = if from_deployment {
        Source::Api(Box::new(ApiClient::new(
            client.clone(),
            &args.from,
            args.access_key.clone(),
        )?))
    } else {
        Source::Archive(open_archive(&args.from, &args.archive).await?)
    };
    let options = Options {
        start,
        end,
        batch_items: args.batch_size,
        dry_run: args.dry_run,
    };

    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    });
    let mut summary = Summary::default();
    for (signal, exporter) in &exporters {
        tracing::info!(%signal, to = exporter.target().url, "Replaying.");
        let mut report = |p: Progress| {
            if let Some(bar) = &bar {
                bar.set_message(format!(
                    "{} {}; so far {} items in {} requests, {} failed",
                    if args.dry_run { "reading" } else { "replaying" },
                    p.signal,
                    p.summary.items,
                    p.summary.batches,
                    p.summary.failed_batches
                ));
            }
        };
        replay::replay_signal(
            &source,
            *signal,
            exporter,
            &options,
            &mut summary,
            &mut report,
        )
        .await?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if args.dry_run {
        for (signal, exporter) in &exporters {
            eprintln!("dry run: {signal} would go to {}", exporter.target().url);
        }
        eprintln!(
            "dry run: would replay {} items in {} requests ({} bytes before compression); nothing was sent; unreadable archive objects: {}",
            summary.items, summary.batches, summary.bytes, summary.unreadable_objects
        );
        return Ok(summary.unreadable_objects == 0);
    }
    eprintln!(
        "replayed {} items in {} requests ({} bytes); failed: {} requests with {} items; rejected by the receiver: {} items; unreadable archive objects: {}",
        summary.items,
        summary.batches,
        summary.bytes,
        summary.failed_batches,
        summary.failed_items,
        summary.rejected_items,
        summary.unreadable_objects
    );
    Ok(!summary.lost_data())
}

/// `otelvault xray …`.
#[derive(Debug, clap::Subcommand)]
pub enum XrayCommand {
    /// Import the traces of a time range from AWS X-Ray (GetTraceSummaries, BatchGetTraces) into the archive as OTLP; runs resume where the last stopped (a checkpoint in the archive).
    Import(XrayImportArgs),
}

/// `otelvault xray import`.
#[derive(Debug, Args)]
pub struct XrayImportArgs {
    /// How far back to start (90s, 15m, 2h, 7d), or from where the last run stopped when that is later [default: 1h].
    #[arg(long, conflicts_with = "start", value_parser = parse_duration)]
    since: Option<u64>,
    /// Start: RFC 3339 or unix seconds (imports from there even if an earlier run went further).
    #[arg(long, value_parser = parse_time)]
    start: Option<u64>,
    /// End (exclusive): RFC 3339 or unix seconds [default: a minute ago, as X-Ray indexes traces with a delay].
    #[arg(long, value_parser = parse_time)]
    end: Option<u64>,
    /// An X-Ray filter expression (service("checkout") AND fault).
    #[arg(long)]
    pub filter_expression: Option<String>,
    /// Endpoint URL of an X-Ray-compatible service.
    #[arg(long, env = "OTELVAULT_XRAY_ENDPOINT")]
    pub xray_endpoint: Option<String>,
    /// Where to archive, and how (the server's settings).
    #[command(flatten)]
    pub serve: otelvault_service::ServeArgs,
}

impl XrayImportArgs {
    /// Start and end in unix seconds, and whether to resume from the
    /// checkpoint when it is further on.
    pub fn range(&self) -> anyhow::Result<(u64, u64, bool)> {
        const SECOND: u64 = 1_000_000_000;
        let now = otelvault_codec::now_unix_nanos();
        let end = self.end.unwrap_or(now.saturating_sub(60 * SECOND));
        let (start, resume) = match (self.since, self.start) {
            (_, Some(start)) => (start, false),
            (since, None) => (end.saturating_sub(since.unwrap_or(3600 * SECOND)), true),
        };
        if end <= start {
            bail!("--end must be after the start of the range");
        }
        Ok((start / SECOND, end.div_ceil(SECOND), resume))
    }
}

/// `otelvault schema`: the compacted tier's tables as SQL.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The engine whose SQL to print; glue is the tables as JSON (name, directory, columns),
    /// as the terraform module declares them.
    #[arg(long, value_enum)]
    dialect: SchemaDialect,
    /// The archive the tables read: s3://bucket/prefix, or a directory (Spark and DuckDB).
    #[arg(long, env = "OTELVAULT_STORAGE", default_value = "./otelvault-data")]
    storage: String,
    /// First and last year Athena's partition projection covers.
    #[arg(long, default_value = "2020,2050", value_parser = parse_years)]
    years: (u16, u16),
    /// Print the named queries (trace by id, error spans by service, …) after the tables.
    #[arg(long)]
    queries: bool,
}

/// A SQL engine, or Glue's JSON.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum SchemaDialect {
    /// Athena (Trino) DDL with partition projection.
    Athena,
    /// Spark SQL (with Hive support): Athena's DDL, then MSCK REPAIR TABLE.
    Spark,
    /// DuckDB views over read_parquet.
    Duckdb,
    /// The tables as JSON, for terraform.
    Glue,
}

fn parse_years(text: &str) -> Result<(u16, u16), String> {
    let parsed = text
        .split_once(',')
        .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
    match parsed {
        Some((first, last)) if first <= last => Ok((first, last)),
        _ => Err(format!("{text:?} is not two years, first,last (2020,2050)")),
    }
}

/// Where the engine reads the archive: `s3://…` (and, for Spark and
/// DuckDB, any URL such as `s3a://…`) as it is; a directory as an absolute
/// path (DuckDB) or a `file://` URL (Spark). Athena reads S3 only.
fn sql_root(storage: &str, dialect: SchemaDialect) -> anyhow::Result<String> {
    let url = storage
        .split_once("://")
        .filter(|(scheme, _)| *scheme != "file");
    match (url, dialect) {
        (Some(("s3", _)), _) | (Some(_), SchemaDialect::Spark | SchemaDialect::Duckdb) => {
            return Ok(storage.trim_end_matches('/').to_owned());
        }
        _ => {}
    }
    let path = storage.strip_prefix("file://").unwrap_or(storage);
    if matches!(dialect, SchemaDialect::Athena) {
        anyhow::bail!(
            "Athena reads S3 only: give --storage s3://bucket/prefix (the archive's bucket and prefix)"
        );
    }
    let absolute = std::path::absolute(path)
        .with_context(|| format!("--storage {storage} is not a usable path"))?;
    let text = absolute.to_string_lossy().trim_end_matches('/').to_owned();
    Ok(match dialect {
        SchemaDialect::Spark => format!("file://{text}"),
        _ => text,
    })
}

#[allow(clippy::print_stdout)] // The command's output.
pub fn schema(args: SchemaArgs) -> anyhow::Result<()> {
    use otelvault_compact::sql;
    let dialect = match args.dialect {
        SchemaDialect::Glue => {
            println!("{:#}", sql::glue_tables(args.years)?);
            return Ok(());
        }
        SchemaDialect::Athena => sql::Dialect::Athena,
        SchemaDialect::Spark => sql::Dialect::Spark,
        SchemaDialect::Duckdb => sql::Dialect::DuckDb,
    };
    let root = sql_root(&args.storage, args.dialect)?;
    print!("{}", sql::ddl(dialect, &root, args.years)?);
    if args.queries {
        for (name, text) in sql::QUERIES {
            println!(
                "-- Named query {name}:
{};
",
                text.trim_end()
            );
        }
    }
    Ok(())
}

/// `otelvault stats`: what an archive holds, per day and signal.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The archive: a directory or s3://bucket/prefix.
    #[arg(long, env = "OTELVAULT_STORAGE", default_value = "./otelvault-data")]
    from: String,
    /// Count objects and bytes only, without reading the objects to count their items.
    #[arg(long)]
    no_items: bool,
    #[command(flatten)]
    s3: S3Args,
}

/// Objects, bytes and items of one day and signal.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    objects: u64,
    bytes: u64,
    items: u64,
    unreadable: u64,
}

#[allow(clippy::print_stdout)] // The command's report.
pub async fn stats(args: StatsArgs) -> anyhow::Result<()> {
    use futures::StreamExt as _;
    let (url, store) = open_existing(&args.from, &args.s3).await?;
    let years = otelvault_storage::KeyPrefix::new("year=").map_err(anyhow::Error::msg)?;
    let objects: Vec<(
        otelvault_archive::PartitionKey,
        otelvault_storage::ObjectMeta,
    )> = otelvault_storage::list_all(&*store, &years)
        .await
        .with_context(|| format!("listing {url}"))?
        .into_iter()
        .filter_map(|meta| {
            otelvault_archive::PartitionKey::parse(&meta.key)
                .ok()
                .map(|k| (k, meta))
        })
        .collect();
    let compacted = compacted_hours(&*store)
        .await
        .with_context(|| format!("listing {url}"))?;
    if objects.is_empty() && compacted.is_empty() {
        println!("{url}: no archive objects");
        return Ok(());
    }
    let items: Vec<Result<u64, String>> = if args.no_items {
        Vec::new()
    } else {
        let store = &store;
        futures::stream::iter(&objects)
            .map(|(key, meta)| async move {
                let raw = store.get(&meta.key).await.map_err(|e| e.to_string())?;
                let key = key.clone();
                tokio::task::spawn_blocking(move || key.decode(&raw).map(|b| b.item_count() as u64))
                    .await
                    .map_err(|e| e.to_string())?
            })
            .buffered(8)
            .collect()
            .await
    };
    let mut rows: std::collections::BTreeMap<(String, Signal), Tally> = Default::default();
    for (i, (key, meta)) in objects.iter().enumerate() {
        let day = otelvault_codec::UtcMinute::from_unix_nanos(key.partition_start);
        let day = format!("{:04}-{:02}-{:02}", day.year, day.month, day.day);
        let row = rows.entry((day, key.signal)).or_default();
        row.objects += 1;
        row.bytes += meta.size;
        match items.get(i) {
            Some(Ok(n)) => row.items += n,
            Some(Err(e)) => {
                row.unreadable += 1;
                tracing::warn!(key = %meta.key, error = e, "Unreadable archive object.");
            }
            None => {}
        }
    }
    let count = |n: u64| {
        if args.no_items {
            "-".to_owned()
        } else {
            n.to_string()
        }
    };
    println!(
        "{:<10}  {:<7}  {:>9}  {:>14}  {:>12}  {:>10}",
        "day", "signal", "objects", "bytes", "items", "unreadable"
    );
    let mut total = Tally::default();
    for ((day, signal), t) in &rows {
        println!(
            "{day:<10}  {:<7}  {:>9}  {:>14}  {:>12}  {:>10}",
            signal.as_str(),
            t.objects,
            t.bytes,
            count(t.items),
            count(t.unreadable)
        );
        total.objects += t.objects;
        total.bytes += t.bytes;
        total.items += t.items;
        total.unreadable += t.unreadable;
    }
    println!(
        "{:<10}  {:<7}  {:>9}  {:>14}  {:>12}  {:>10}",
        "total",
        "",
        total.objects,
        total.bytes,
        count(total.items),
        count(total.unreadable)
    );
    if !compacted.is_empty() {
        println!("\nparquet tier (compacted hours, from their manifests)");
        println!(
            "{:<10}  {:<7}  {:>9}  {:>9}  {:>14}  {:>12}",
            "day", "signal", "hours", "parts", "bytes", "rows"
        );
        for ((day, signal), (hours, parts, bytes, rows)) in &compacted {
            println!(
                "{day:<10}  {:<7}  {hours:>9}  {parts:>9}  {bytes:>14}  {rows:>12}",
                signal.as_str()
            );
        }
    }
    Ok(())
}

/// Compacted hours, parts, bytes and rows per day and signal, from the
/// manifests under `parquet/`.
async fn compacted_hours(
    store: &dyn otelvault_storage::ObjectStore,
) -> anyhow::Result<std::collections::BTreeMap<(String, Signal), (u64, u64, u64, u64)>> {
    let prefix = otelvault_storage::KeyPrefix::new("parquet/").map_err(anyhow::Error::msg)?;
    let mut out: std::collections::BTreeMap<(String, Signal), (u64, u64, u64, u64)> =
        Default::default();
    for meta in otelvault_storage::list_all(store, &prefix).await? {
        // parquet/{signal}/year=YYYY/month=MM/day=DD/hour=HH/_manifest.json
        let parts: Vec<&str> = meta.key.as_str().split('/').collect();
        let [_, signal, year, month, day, _, "_manifest.json"] = parts[..] else {
            continue;
        };
        let (Ok(signal), Some(y), Some(m), Some(d)) = (
            signal.parse::<Signal>(),
            year.strip_prefix("year="),
            month.strip_prefix("month="),
            day.strip_prefix("day="),
        ) else {
            continue;
        };
        let dir = meta.key.as_str().trim_end_matches("_manifest.json");
        let Some(manifest) = otelvault_archive::Manifest::parse(&store.get(&meta.key).await?, dir)
        else {
            tracing::warn!(key = %meta.key, "A manifest that cannot be parsed.");
            continue;
        };
        let row = out.entry((format!("{y}-{m}-{d}"), signal)).or_default();
        row.0 += 1;
        row.1 += manifest.parts.len() as u64;
        row.2 += manifest.parts.iter().map(|p| p.bytes).sum::<u64>();
        row.3 += manifest.rows as u64;
    }
    Ok(out)
}

/// `otelvault compact`: closed hours of an archive into the Parquet tier.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// The archive: a directory or s3://bucket/prefix.
    #[arg(long, env = "OTELVAULT_STORAGE", default_value = "./otelvault-data")]
    storage: String,
    /// Which hours: --since (default 24h) or --start/--end; only hours that
    /// have ended are compacted.
    #[command(flatten)]
    range: Range,
    /// Say what would be compacted, and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Delete the raw objects of each compacted hour once its manifest is
    /// written. Fetch, trace lookup and replay read the Parquet parts
    /// then; the raw objects are the Collector-compatible copy.
    #[arg(long)]
    delete_raw: bool,
    #[command(flatten)]
    s3: S3Args,
}

#[allow(clippy::print_stdout)] // The command's report.
pub async fn compact(args: CompactArgs) -> anyhow::Result<()> {
    use otelvault_archive::{CompactOptions, Outcome, compact_range};
    use otelvault_codec::HOUR_NANOS as HOUR;
    let (url, store) = open_existing(&args.storage, &args.s3).await?;
    let options = CompactOptions {
        dry_run: args.dry_run,
        delete_raw: args.delete_raw,
    };
    let (start, end) = if args.range.since.is_none() && args.range.start.is_none() {
        let now = otelvault_codec::now_unix_nanos();
        (now.saturating_sub(24 * HOUR), now)
    } else {
        args.range.resolve()?
    };
    // Only hours that have ended: the current one is still being written.
    let end = end.min(otelvault_codec::now_unix_nanos() / HOUR * HOUR);
    let (mut compacted, mut up_to_date, mut deleted) = (0usize, 0usize, 0usize);
    let (mut raw_bytes, mut parquet_bytes) = (0u64, 0u64);
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} signal-hours {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    });
    compact_range(&*store, start, end, options, |report, (done, total)| {
        let signal = report.signal;
        let when = otelvault_codec::UtcMinute::from_unix_nanos(report.hour);
        let when = format!(
            "{:04}-{:02}-{:02}T{:02}",
            when.year, when.month, when.day, when.hour
        );
        let mut lines = Vec::new();
        match report.outcome {
            Outcome::Compacted => {
                compacted += 1;
                raw_bytes += report.raw_bytes;
                parquet_bytes += report.parquet_bytes;
                lines.extend((report.raw_objects > 0).then(|| {
                    format!(
                        "{signal} {when}: {} raw objects ({}) -> {} parts, {} rows ({})",
                        report.raw_objects,
                        size(report.raw_bytes),
                        report.parts,
                        report.rows,
                        size(report.parquet_bytes),
                    )
                }));
            }
            Outcome::WouldCompact => {
                compacted += 1;
                lines.extend((report.raw_objects > 0).then(|| {
                    format!(
                        "{signal} {when}: would compact {} raw objects ({})",
                        report.raw_objects,
                        size(report.raw_bytes)
                    )
                }));
            }
            Outcome::UpToDate => up_to_date += 1,
            Outcome::Empty => {}
        }
        deleted += report.deleted_raw;
        if report.upgraded_parts > 0 {
            let verb = match report.outcome {
                Outcome::WouldCompact => "would rewrite",
                _ => "rewrote",
            };
            lines.push(format!(
                "{signal} {when}: {verb} {} parts of an earlier format (for SQL engines)",
                report.upgraded_parts
            ));
        }
        for key in &report.unreadable {
            lines.push(format!(
                "{signal} {when}: left raw, cannot be decoded: {key}"
            ));
        }
        let print = || lines.iter().for_each(|line| println!("{line}"));
        match &bar {
            Some(bar) => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                bar.set_message(format!("{signal} {when}"));
                bar.suspend(print);
            }
            None => print(),
        }
    })
    .await
    .with_context(|| format!("compacting {url}"))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let verb = if args.dry_run {
        "would compact"
    } else {
        "compacted"
    };
    let mut summary = format!("{verb} {compacted} signal-hours");
    if !args.dry_run && compacted > 0 {
        summary.push_str(&format!(
            " ({} raw -> {} parquet)",
            size(raw_bytes),
            size(parquet_bytes)
        ));
    }
    summary.push_str(&format!("; {up_to_date} already up to date"));
    if args.delete_raw && !args.dry_run {
        summary.push_str(&format!("; {deleted} raw objects deleted"));
    }
    println!("{summary}");
    Ok(())
}

fn size(bytes: u64) -> String {
    if bytes < 1 << 20 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / 1048576.0)
    }
}
