//! `otelvault forward-retry`: re-send, from the archive, the batches whose
//! forwarding failed, and clear their markers.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

use super::writer_state;
use crate::settings::WriterArgs;

/// `otelvault forward-retry`.
#[derive(Debug, Args)]
pub struct ForwardRetryArgs {
    #[command(flatten)]
    writer: WriterArgs,
}

/// Re-sends every pending batch; fails when some could not be re-sent.
#[allow(clippy::print_stdout)] // The command's report.
pub async fn run(args: ForwardRetryArgs) -> anyhow::Result<()> {
    let (writer, state) = writer_state(args.writer, Default::default()).await?;
    let forwarder = state.forward.clone().context(
        "nothing to forward to: set OTELVAULT_FORWARD_ENDPOINT (or OTELVAULT_FORWARD_TRACES_ENDPOINT, …)",
    )?;
    let store = Arc::clone(state.archive.store());
    let report = otelvault_service::forward::retry_pending(&*store, &forwarder)
        .await
        .with_context(|| format!("reading the forward markers of {}", writer.storage.storage))?;
    println!(
        "re-sent {} batches ({} objects, {} items); {} left",
        report.delivered,
        report.objects,
        report.items,
        report.left.len()
    );
    for (marker, why) in &report.left {
        println!("left {marker}: {why}");
    }
    if !report.left.is_empty() {
        anyhow::bail!(
            "{} batches could not be re-sent; their markers stay: run forward-retry again once the backend answers",
            report.left.len()
        );
    }
    Ok(())
}
