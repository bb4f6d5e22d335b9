//! `otelvault compact`: ended hours of an archive into the Parquet tier,
//! with a line per hour and a summary.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use clap::Args;
use otelvault_archive::{CompactOptions, HourReport, Outcome, RunReport, compact_range};
use otelvault_codec::HOUR_NANOS as HOUR;

use super::{Range, open_existing, size};
use crate::settings::{CompactMemoryArgs, S3Args, StorageArgs};

/// `otelvault compact`: closed hours of an archive into the Parquet tier.
#[derive(Debug, Args)]
pub struct CompactArgs {
    #[command(flatten)]
    storage: StorageArgs,
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
    memory: CompactMemoryArgs,
    #[command(flatten)]
    s3: S3Args,
}

/// Compacts the range, printing what each hour did.
#[allow(clippy::print_stdout)] // The command's report.
pub async fn run(args: CompactArgs) -> anyhow::Result<()> {
    let (url, store) = open_existing(&args.storage.storage, &args.s3).await?;
    let options = CompactOptions {
        dry_run: args.dry_run,
        delete_raw: args.delete_raw,
        memory: Some(args.memory.here()),
        ..CompactOptions::default()
    };
    let (start, end) = if args.range.is_open() {
        let now = otelvault_codec::now_unix_nanos();
        (now.saturating_sub(24 * HOUR), now)
    } else {
        args.range.resolve()?
    };
    // Only hours that have ended: the current one is still being written.
    let end = end.min(otelvault_codec::now_unix_nanos() / HOUR * HOUR);
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} signal-hours, {elapsed} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    });
    let mut report = RunReport::default();
    compact_range(&*store, start, end, options, |hour, (done, total)| {
        report.add(hour);
        let lines = hour_lines(hour);
        let print = || lines.iter().for_each(|line| println!("{line}"));
        match &bar {
            Some(bar) => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                bar.set_message(format!(
                    "{:.1} MiB of raw compacted; {} {}",
                    report.raw_bytes as f64 / 1_048_576.0,
                    hour.signal,
                    hour_name(hour.hour)
                ));
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
    println!("{}", summary(&report, options));
    Ok(())
}

/// `2024-10-27T03`.
fn hour_name(hour: u64) -> String {
    let t = otelvault_codec::UtcMinute::from_unix_nanos(hour);
    format!("{:04}-{:02}-{:02}T{:02}", t.year, t.month, t.day, t.hour)
}

/// What one hour did, a line per fact worth a line.
fn hour_lines(report: &HourReport) -> Vec<String> {
    let here = format!("{} {}", report.signal, hour_name(report.hour));
    let mut lines = Vec::new();
    match report.outcome {
        Outcome::Compacted if report.raw_objects > 0 => lines.push(format!(
            "{here}: {} raw objects ({}) -> {} parts, {} rows ({})",
            report.raw_objects,
            size(report.raw_bytes),
            report.parts,
            report.rows,
            size(report.parquet_bytes),
        )),
        Outcome::WouldCompact if report.raw_objects > 0 => lines.push(format!(
            "{here}: would compact {} raw objects ({})",
            report.raw_objects,
            size(report.raw_bytes)
        )),
        _ => {}
    }
    if report.upgraded_parts > 0 {
        let verb = match report.outcome {
            Outcome::WouldCompact => "would rewrite",
            _ => "rewrote",
        };
        lines.push(format!(
            "{here}: {verb} {} parts of an earlier format (for SQL engines)",
            report.upgraded_parts
        ));
    }
    for key in &report.unreadable {
        lines.push(format!("{here}: left raw, cannot be decoded: {key}"));
    }
    lines
}

/// The run's last line.
fn summary(report: &RunReport, options: CompactOptions) -> String {
    let verb = if options.dry_run {
        "would compact"
    } else {
        "compacted"
    };
    let mut summary = format!("{verb} {} signal-hours", report.compacted);
    if !options.dry_run && report.compacted > 0 {
        summary.push_str(&format!(
            " ({} raw -> {} parquet)",
            size(report.raw_bytes),
            size(report.parquet_bytes)
        ));
    }
    summary.push_str(&format!("; {} already up to date", report.up_to_date));
    if options.delete_raw && !options.dry_run {
        summary.push_str(&format!("; {} raw objects deleted", report.deleted_raw));
    }
    summary
}
