//! `otelvault stats`: what an archive holds, per day and signal, raw and
//! compacted.

use anyhow::Context as _;
use clap::Args;
use otelvault_archive::{Inventory, RawDay};

use super::open_existing;
use crate::settings::{S3Args, StorageArgs};

/// `otelvault stats`: what an archive holds, per day and signal.
#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Count objects and bytes only, without reading the objects to count their items.
    #[arg(long)]
    no_items: bool,
    #[command(flatten)]
    s3: S3Args,
}

/// Prints the archive's inventory as two tables.
#[allow(clippy::print_stdout)] // The command's report.
pub async fn run(args: StatsArgs) -> anyhow::Result<()> {
    let (url, store) = open_existing(&args.storage.storage, &args.s3).await?;
    let inventory = Inventory::read(&*store, !args.no_items)
        .await
        .with_context(|| format!("reading {url}"))?;
    if inventory.is_empty() {
        println!("{url}: no archive objects");
        return Ok(());
    }
    print_raw(&inventory, !args.no_items);
    print_compacted(&inventory);
    Ok(())
}

#[allow(clippy::print_stdout)] // The command's report.
fn print_raw(inventory: &Inventory, counted: bool) {
    let count = |n: u64| {
        if counted {
            n.to_string()
        } else {
            "-".to_owned()
        }
    };
    let line = |day: &str, signal: &str, t: &RawDay| {
        println!(
            "{day:<10}  {signal:<7}  {:>9}  {:>14}  {:>12}  {:>10}",
            t.objects,
            t.bytes,
            count(t.items),
            count(t.unreadable)
        );
    };
    println!(
        "{:<10}  {:<7}  {:>9}  {:>14}  {:>12}  {:>10}",
        "day", "signal", "objects", "bytes", "items", "unreadable"
    );
    let mut total = RawDay::default();
    for ((day, signal), t) in &inventory.raw {
        line(day, signal.as_str(), t);
        total.objects += t.objects;
        total.bytes += t.bytes;
        total.items += t.items;
        total.unreadable += t.unreadable;
    }
    line("total", "", &total);
}

#[allow(clippy::print_stdout)] // The command's report.
fn print_compacted(inventory: &Inventory) {
    if inventory.compacted.is_empty() {
        return;
    }
    println!("\nparquet tier (compacted hours, from their manifests)");
    println!(
        "{:<10}  {:<7}  {:>9}  {:>9}  {:>14}  {:>12}",
        "day", "signal", "hours", "parts", "bytes", "rows"
    );
    for ((day, signal), t) in &inventory.compacted {
        println!(
            "{day:<10}  {:<7}  {:>9}  {:>9}  {:>14}  {:>12}",
            signal.as_str(),
            t.hours,
            t.parts,
            t.bytes,
            t.rows
        );
    }
}
