//! `otelvault fetch`: query a deployment (or read an archive directly) and
//! print OTLP/JSON; the work is done by `otelvault-client`.

use std::io::Write as _;

use anyhow::bail;
use clap::{Args, ValueEnum};
use otelvault_api::parse_trace_id;
use otelvault_archive::{AttrValue, Query};
use otelvault_client::api::ApiClient;
use otelvault_client::http::HttpClient;
use otelvault_client::replay::Source;
use otelvault_codec::{Format, Signal};

use super::{FollowArgs, Range, ReadArchiveArgs, follow, open_archive};
use crate::settings::AccessKeyArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SignalArg {
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
    archive: ReadArchiveArgs,
    #[command(flatten)]
    access: AccessKeyArgs,
    /// Signal to fetch.
    #[arg(long, value_enum, default_value = "traces")]
    signal: SignalArg,
    #[command(flatten)]
    range: Range,
    #[command(flatten)]
    follow: FollowArgs,
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

/// Runs the query and prints what it found.
pub async fn run(args: FetchArgs) -> anyhow::Result<()> {
    let (start, end) = match args.follow.follow {
        // The range starts there and never ends.
        true => (args.range.resolve().map(|(start, _)| start)?, 0),
        false => args.range.resolve()?,
    };
    let signal: Signal = args.signal.into();
    let source = match (&args.from, &args.endpoint) {
        (Some(from), _) => Source::Archive(open_archive(from, &args.archive).await?),
        (None, Some(endpoint)) => Source::Api(Box::new(ApiClient::new(
            HttpClient::new()?,
            endpoint,
            args.access.access_key.clone(),
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
    let stdout = std::io::stdout();
    let mut items = 0usize;
    if args.follow.follow {
        // Pages print as they come, a document per line.
        follow(start, args.follow.follow_lag, async |from, to| {
            let window = Query {
                start: from,
                end: to,
                ..query.clone()
            };
            let found = read_pages(&source, window, &args, Output::Ndjson, &mut items).await?;
            Ok(found.len())
        })
        .await?;
        tracing::info!(%signal, items, "Followed.");
        return Ok(());
    }
    let pages = read_pages(&source, query, &args, args.output, &mut items).await?;
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

/// Reads the pages of `query`: with `Ndjson`, prints each as it comes (and
/// returns an empty batch per page printed); with `Json`, returns them.
/// `items` counts what was taken, up to `--max-items`.
async fn read_pages(
    source: &Source,
    query: Query,
    args: &FetchArgs,
    output: Output,
    items: &mut usize,
) -> anyhow::Result<Vec<otelvault_codec::Batch>> {
    let mut pages = Vec::new();
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
                    let room = max.saturating_sub(*items);
                    if page.batch.item_count() >= room {
                        otelvault_codec::filter::truncate_items(&mut page.batch, room);
                        go_on = false;
                    }
                }
                *items += page.batch.item_count();
                match output {
                    Output::Ndjson if !page.batch.is_empty() => {
                        let mut out = stdout.lock();
                        if let Err(e) = out
                            .write_all(&page.batch.encode(Format::Json))
                            .and_then(|()| out.write_all(b"\n"))
                            .and_then(|()| out.flush())
                        {
                            failed = Some(e);
                            return false;
                        }
                        pages.push(otelvault_codec::Batch::empty(page.batch.signal()));
                    }
                    Output::Ndjson => {}
                    Output::Json => pages.push(page.batch),
                }
                go_on
            },
        )
        .await?;
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(pages),
    }
}
