//! `otelvault check`: with `--url`, a deployment from outside (a span sent
//! with the ingest key, fetched back with the query key); without, the
//! configuration as the Lambda function reads it, and its storage.

mod smoke;

use clap::Args;

use super::{check_storage, server_state};
use crate::secrets;
use crate::settings::{AccessKeyArgs, Runtime, ServeArgs};

/// `otelvault check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Check the deployment at this URL end to end (the Function URL, or
    /// http://127.0.0.1:4318) instead of the local configuration.
    #[arg(long)]
    url: Option<String>,
    /// With --url: an ingest key, for the span the check sends.
    #[arg(long, env = "OTELVAULT_CHECK_INGEST_KEY", hide_env_values = true)]
    ingest_key: Option<String>,
    // With --url: a query key, to fetch the span back.
    #[command(flatten)]
    access: AccessKeyArgs,
    // Without --url: the function's configuration.
    #[command(flatten)]
    serve: ServeArgs,
}

/// Runs the check; prints a line per step (with `--url`) or one line
/// saying what the configuration is.
#[allow(clippy::print_stdout)] // The command's report.
pub async fn run(args: CheckArgs) -> anyhow::Result<()> {
    if let Some(url) = &args.url {
        return smoke::run(smoke::Target {
            url,
            ingest_key: args.ingest_key.as_deref(),
            access_key: args.access.access_key.as_deref(),
        })
        .await;
    }
    let (args, state) = server_state(args.serve, Runtime::Lambda, secrets::SERVER).await?;
    let storage = args.storage.url()?;
    check_storage(&state, &storage).await?;
    let layout = state.archive.layout();
    println!(
        "ok: storage {storage} is reachable; {} ingest and {} query keys ({}); objects {} + {}, {} partitions by {} time",
        args.ingest_keys.len(),
        args.query_keys.len(),
        if args.keys_enforced() {
            "enforced"
        } else {
            "not enforced: OTELVAULT_AUTH=none"
        },
        layout.format,
        layout.compression,
        layout.partitioning.granularity,
        layout.partitioning.time,
    );
    Ok(())
}
