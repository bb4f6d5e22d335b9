//! `otelvault xray import`: traces of a time range from AWS X-Ray into the
//! archive, as OTLP, through the ingest pipeline (the scheduled function
//! shares [`import_into`]).

use std::sync::Arc;

use anyhow::bail;
use clap::{Args, Subcommand};
use otelvault_client::time::{parse_duration, parse_time};
use otelvault_service::AppState;
use otelvault_xray::import::{ImportReport, import};

use super::{check_storage, writer_state};
use crate::settings::{LayoutArgs, WriterArgs};

/// `otelvault xray …`.
#[derive(Debug, Subcommand)]
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
    // Where to archive, and where imported batches are also sent.
    #[command(flatten)]
    pub writer: WriterArgs,
    // How the archive is written.
    #[command(flatten)]
    pub layout: LayoutArgs,
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

/// Runs `xray import`.
#[allow(clippy::print_stdout)] // The command's report.
pub async fn run(command: XrayCommand) -> anyhow::Result<()> {
    let XrayCommand::Import(args) = command;
    let (start, end, resume) = args.range()?;
    let (writer, state) = writer_state(args.writer, args.layout.layout()).await?;
    check_storage(&state, &writer.storage.storage).await?;
    let client = otelvault_xray::import::client(args.xray_endpoint.as_deref()).await;
    let report = import_into(
        &state,
        &client,
        (start, end),
        args.filter_expression.as_deref(),
        resume,
    )
    .await?;
    println!(
        "imported {} traces ({} spans) over {} windows; {} already imported; {} still in progress, left for a later run",
        report.traces, report.spans, report.windows, report.already, report.in_progress
    );
    Ok(())
}

/// Imports `[start, end)` (unix seconds) into the archive of `state`,
/// every trace through the ingest pipeline.
pub async fn import_into(
    state: &AppState,
    xray: &aws_sdk_xray::Client,
    (start, end): (u64, u64),
    filter: Option<&str>,
    resume: bool,
) -> anyhow::Result<ImportReport> {
    let store = Arc::clone(state.archive.store());
    let report = import(
        xray,
        &*store,
        start,
        end,
        filter,
        resume,
        |request| async move {
            otelvault_service::ingest_batch(
                state,
                otelvault_codec::Batch::Traces(request),
                "xray import",
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
        },
    )
    .await?;
    Ok(report)
}
