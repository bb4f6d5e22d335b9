//! Replay: read a time range from a deployment's API or straight from an
//! archive, and send every page to an OTLP/HTTP endpoint. A batch that
//! cannot be delivered after retries is counted, never dropped silently:
//! the summary says what was lost and the command exits non-zero.

use std::time::Duration;

use otelvault_api::{FetchPage, FetchRequest};
use otelvault_archive::{Archive, Budget, Query};
use otelvault_codec::{Batch, Format, Signal};

use crate::ClientError;
use crate::api::ApiClient;
use crate::exporter::Exporter;

/// Where archived data is read from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A deployment's query API.
    Api(Box<ApiClient>),
    /// An archive read directly (s3:// or a directory).
    Archive(Archive),
}

/// What to replay.
#[derive(Debug, Clone)]
pub struct Options {
    /// Range start, unix nanoseconds.
    pub start: u64,
    /// Range end (exclusive).
    pub end: u64,
    /// Items per request sent.
    pub batch_items: usize,
    /// Count what would be sent (requests, items, bytes), sending nothing.
    pub dry_run: bool,
}

/// Requests are also cut at this size (before compression), well under
/// common receiver limits (the Collector's default is 20 MiB, ours 6 MiB).
const BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Totals of a replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Items delivered.
    pub items: u64,
    /// Requests delivered.
    pub batches: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Requests that could not be delivered.
    pub failed_batches: u64,
    /// Items in them.
    pub failed_items: u64,
    /// Items the receiver refused (partial success).
    pub rejected_items: u64,
    /// Archive objects that could not be read.
    pub unreadable_objects: u64,
}

impl Summary {
    /// True when something was not replayed.
    pub fn lost_data(&self) -> bool {
        self.failed_batches > 0 || self.rejected_items > 0 || self.unreadable_objects > 0
    }
}

/// Progress reports, one per batch.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// The signal being replayed.
    pub signal: Signal,
    /// Totals so far.
    pub summary: Summary,
}

/// Replays `signal` from `source` to `exporter`, adding to `summary`.
pub async fn replay_signal(
    source: &Source,
    signal: Signal,
    exporter: &Exporter,
    options: &Options,
    summary: &mut Summary,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), ClientError> {
    let send = async |batch: Batch, summary: &mut Summary| {
        let items = batch.item_count() as u64;
        if items == 0 {
            return;
        }
        if options.dry_run {
            summary.items += items;
            summary.batches += 1;
            summary.bytes +=
                otelvault_codec::size::encoded_len(&batch, exporter.target().format) as u64;
            return;
        }
        match exporter.send(&batch).await {
            Ok(d) => {
                summary.items += items - u64::try_from(d.rejected.max(0)).unwrap_or(0).min(items);
                summary.batches += 1;
                summary.bytes += d.bytes as u64;
                if d.rejected > 0 {
                    summary.rejected_items += d.rejected as u64;
                    tracing::error!(%signal, rejected = d.rejected, message = d.message, "The receiver rejected items.");
                }
            }
            Err(e) => {
                summary.failed_batches += 1;
                summary.failed_items += items;
                tracing::error!(%signal, items, error = %e, "A batch could not be delivered.");
            }
        }
    };
    let query = Query {
        start: options.start,
        end: options.end,
        limit: options.batch_items,
        ..Query::new(signal)
    };
    source
        .pages(query, exporter.target().format, BATCH_BYTES, async |page| {
            summary.unreadable_objects += page.skipped.len() as u64;
            for s in &page.skipped {
                tracing::error!(
                    key = s.key,
                    error = s.error,
                    "The archive has an unreadable object."
                );
            }
            send(page.batch, summary).await;
            progress(Progress {
                signal,
                summary: *summary,
            });
            true
        })
        .await
}

impl Source {
    /// Reads every page of `query` in turn and hands each to `each`, which
    /// returns whether to go on. `format` and `bytes` bound the pages read
    /// straight from an archive (a deployment applies its own limits).
    pub async fn pages(
        &self,
        query: Query,
        format: Format,
        bytes: usize,
        mut each: impl AsyncFnMut(FetchPage) -> bool,
    ) -> Result<(), ClientError> {
        match self {
            Source::Api(api) => {
                let mut request = FetchRequest {
                    query,
                    cursor: None,
                };
                loop {
                    let page = api.page(&request).await?;
                    let next = page.next_cursor.clone();
                    if !each(page).await {
                        return Ok(());
                    }
                    match next {
                        Some(c) => request.cursor = Some(c),
                        None => return Ok(()),
                    }
                }
            }
            Source::Archive(archive) => {
                let mut resume = None;
                let budget = Budget {
                    bytes,
                    time: Duration::from_secs(60),
                };
                loop {
                    let page = archive
                        .read(
                            &query,
                            resume,
                            otelvault_codec::now_unix_nanos(),
                            format,
                            budget,
                        )
                        .await
                        .map_err(|e| {
                            ClientError::Storage(format!("reading the archive: {}", e.detail()))
                        })?;
                    let next = page.next.clone();
                    if !each(FetchPage::new(page, None)).await {
                        return Ok(());
                    }
                    match next {
                        Some(next) => resume = Some(next),
                        None => return Ok(()),
                    }
                }
            }
        }
    }
}
