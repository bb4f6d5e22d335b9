//! `otelvault replay`: send archived data (from a deployment, s3:// or a
//! directory) to an OTLP endpoint; the work is done by `otelvault-client`.

use std::io::IsTerminal as _;

use anyhow::bail;
use axum::http::Uri;
use clap::{Args, ValueEnum};
use otelvault_client::api::ApiClient;
use otelvault_client::exporter::{Exporter, RetryPolicy, Target};
use otelvault_client::http::HttpClient;
use otelvault_client::replay::{self, Options, Progress, Source, Summary};
use otelvault_client::time::parse_duration;
use otelvault_codec::Signal;

use super::{FollowArgs, Range, ReadArchiveArgs, follow, open_archive};
use crate::settings::AccessKeyArgs;

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
    #[command(flatten)]
    follow: FollowArgs,
    #[command(flatten)]
    access: AccessKeyArgs,
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
    archive: ReadArchiveArgs,
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

#[allow(clippy::print_stderr)] // The command's summary.
/// Replays; `Ok(false)` when data was lost (the summary says what).
pub async fn run(args: ReplayArgs) -> anyhow::Result<bool> {
    let (start, end) = args.range.resolve()?;
    // Followed, the range never ends: its first window ends --follow-lag before now.
    let end = if args.follow.follow { 0 } else { end };
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
            args.access.access_key.clone(),
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
    let replay_window = async |options: &Options, summary: &mut Summary| {
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
            replay::replay_signal(&source, *signal, exporter, options, summary, &mut report)
                .await?;
        }
        anyhow::Ok(())
    };
    if args.follow.follow {
        // A live copy: each new window as it ends, until Ctrl-C.
        follow(start, args.follow.follow_lag, async |from, to| {
            let before = summary.items;
            let window = Options {
                start: from,
                end: to,
                ..options.clone()
            };
            replay_window(&window, &mut summary).await?;
            Ok(usize::try_from(summary.items - before).unwrap_or(usize::MAX))
        })
        .await?;
    } else {
        replay_window(&options, &mut summary).await?;
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
