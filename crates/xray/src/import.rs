//! Importing from X-Ray: `GetTraceSummaries` over time windows of at most
//! six hours (paged), `BatchGetTraces` five ids at a time (paged), each
//! trace translated ([`crate::translate`]) and handed, one at a time, to a
//! sink (the ingest pipeline). A checkpoint object in the archive
//! (`xray-import/checkpoint.json`) makes runs resumable: the end of the
//! last completed window, and the traces already imported from the window
//! in progress. A trace is marked imported only once the sink stored it,
//! so a crash never loses one; a re-run skips those marked, and the
//! archive's content-addressed objects absorb any that were stored but not
//! yet marked. A window with a trace still in progress stays open.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use aws_sdk_xray::Client;
use aws_sdk_xray::primitives::DateTime;
use bytes::Bytes;
use otelvault_codec::proto::collector_trace::ExportTraceServiceRequest;
use otelvault_storage::{ObjectKey, ObjectStore, PutOptions, StorageError};
use serde_json::{Value, json};

use crate::translate;

/// Where the checkpoint is, under the archive's root.
pub const CHECKPOINT: &str = "xray-import/checkpoint.json";
/// The longest window `GetTraceSummaries` takes.
pub const WINDOW_SECS: u64 = 6 * 3600;
/// Trace ids a `BatchGetTraces` call takes.
const BATCH: usize = 5;
/// A trace still in progress this long after its window is skipped, so
/// that one segment that never closes does not hold the import forever.
const GIVE_UP_SECS: u64 = 24 * 3600;

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// X-Ray refused or failed (after the SDK's retries).
    #[error("X-Ray {call}: {message}")]
    Xray {
        /// The API call.
        call: &'static str,
        /// What it said.
        message: String,
    },
    /// The archive failed.
    #[error("{0}")]
    Storage(#[from] StorageError),
    /// A segment document could not be translated.
    #[error("{0}")]
    Translate(#[from] crate::TranslateError),
    /// The sink refused.
    #[error("storing imported traces: {0}")]
    Sink(String),
    /// The checkpoint cannot be read.
    #[error("{CHECKPOINT} cannot be parsed ({0}); delete it to import from --since again")]
    Checkpoint(String),
}

/// Where imports stand.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Every trace of windows ending at or before this (unix seconds) is
    /// imported.
    pub completed_until: u64,
    /// The window in progress and the traces imported from it.
    pub open: Option<(u64, u64, BTreeSet<String>)>,
}

impl Checkpoint {
    /// The archive's checkpoint, if it has one.
    pub async fn load(store: &dyn ObjectStore) -> Result<Option<Checkpoint>, ImportError> {
        let key = ObjectKey::new(CHECKPOINT)?;
        let body = match store.get(&key).await {
            Ok(body) => body,
            Err(StorageError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| ImportError::Checkpoint(e.to_string()))?;
        let completed_until = v["completed_until"]
            .as_u64()
            .ok_or_else(|| ImportError::Checkpoint("no completed_until".into()))?;
        let open = match (v["open"]["start"].as_u64(), v["open"]["end"].as_u64()) {
            (Some(start), Some(end)) => Some((
                start,
                end,
                v["open"]["imported"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|id| id.as_str().map(str::to_owned))
                    .collect(),
            )),
            _ => None,
        };
        Ok(Some(Checkpoint {
            completed_until,
            open,
        }))
    }

    async fn save(&self, store: &dyn ObjectStore) -> Result<(), ImportError> {
        let open = self.open.as_ref().map(
            |(start, end, imported)| json!({"start": start, "end": end, "imported": imported}),
        );
        let body = json!({"version": 1, "completed_until": self.completed_until, "open": open});
        store
            .put(
                &ObjectKey::new(CHECKPOINT)?,
                Bytes::from(body.to_string()),
                &PutOptions {
                    content_type: Some("application/json".into()),
                    content_encoding: None,
                },
            )
            .await?;
        Ok(())
    }
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Windows completed.
    pub windows: usize,
    /// Traces imported.
    pub traces: usize,
    /// Spans imported.
    pub spans: usize,
    /// Traces skipped as imported by an earlier run.
    pub already: usize,
    /// Traces left for a later run (a segment in progress).
    pub in_progress: usize,
}

/// An X-Ray client from the standard chain (region, credentials), with an
/// endpoint override for compatible servers, and the SDK's standard
/// retries (throttling included) with backoff.
pub async fn client(endpoint: Option<&str>) -> Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(5)
                .with_initial_backoff(Duration::from_millis(200)),
        );
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
        let region_in_env = ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
        if !region_in_env {
            loader = loader.region(aws_config::Region::new("us-east-1"));
        }
    }
    Client::new(&loader.load().await)
}

fn xray<E: std::error::Error>(call: &'static str) -> impl Fn(E) -> ImportError {
    move |e| ImportError::Xray {
        call,
        message: aws_sdk_xray::error::DisplayErrorContext(&e).to_string(),
    }
}

/// The trace ids of `[start, end)` (unix seconds), every page.
async fn trace_ids(
    client: &Client,
    start: u64,
    end: u64,
    filter: Option<&str>,
) -> Result<Vec<String>, ImportError> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .get_trace_summaries()
            .start_time(DateTime::from_secs(start as i64))
            .end_time(DateTime::from_secs(end as i64))
            .set_filter_expression(filter.map(str::to_owned))
            .set_next_token(token.take())
            .send()
            .await
            .map_err(xray("GetTraceSummaries"))?;
        ids.extend(
            page.trace_summaries()
                .iter()
                .filter_map(|s| s.id().map(str::to_owned)),
        );
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => return Ok(ids),
        }
    }
}

/// The segment documents of up to five traces, by trace id.
async fn documents(
    client: &Client,
    ids: &[String],
) -> Result<Vec<(String, Vec<String>)>, ImportError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .batch_get_traces()
            .set_trace_ids(Some(ids.to_vec()))
            .set_next_token(token.take())
            .send()
            .await
            .map_err(xray("BatchGetTraces"))?;
        for trace in page.traces() {
            let docs = trace
                .segments()
                .iter()
                .filter_map(|s| s.document().map(str::to_owned))
                .collect();
            out.push((trace.id().unwrap_or_default().to_owned(), docs));
        }
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// Imports the traces of `[start, end)` (unix seconds; resuming from the
/// checkpoint when it is further on and `resume` is set), handing each
/// batch of translated traces to `sink`, which must store them durably.
pub async fn import<F, Fut>(
    client: &Client,
    store: &dyn ObjectStore,
    start: u64,
    end: u64,
    filter: Option<&str>,
    resume: bool,
    mut sink: F,
) -> Result<ImportReport, ImportError>
where
    F: FnMut(ExportTraceServiceRequest) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut checkpoint = Checkpoint::load(store).await?.unwrap_or_default();
    let now = otelvault_codec::now_unix_nanos() / 1_000_000_000;
    let mut report = ImportReport::default();
    let mut from = if resume {
        start.max(checkpoint.completed_until)
    } else {
        start
    };
    while from < end {
        let to = (from + WINDOW_SECS).min(end);
        let mut imported = match &checkpoint.open {
            Some((s, e, ids)) if *s == from && *e == to => ids.clone(),
            _ => BTreeSet::new(),
        };
        let ids = trace_ids(client, from, to, filter).await?;
        let (done, todo): (Vec<String>, Vec<String>) =
            ids.into_iter().partition(|id| imported.contains(id));
        report.already += done.len();
        let mut open_traces = 0;
        for chunk in todo.chunks(BATCH) {
            for (id, docs) in documents(client, chunk).await? {
                // One trace at a time: its objects' content, and so their
                // names, do not depend on what else a run fetched.
                let texts: Vec<&str> = docs.iter().map(String::as_str).collect();
                let translated = translate(&texts)?;
                if !translated.in_progress.is_empty() {
                    if now.saturating_sub(to) > GIVE_UP_SECS {
                        tracing::warn!(trace = %id, "A trace still in progress a day after its window; skipped.");
                        imported.insert(id);
                    } else {
                        open_traces += 1;
                    }
                    continue;
                }
                let spans: usize = translated
                    .request
                    .resource_spans
                    .iter()
                    .flat_map(|rs| &rs.scope_spans)
                    .map(|ss| ss.spans.len())
                    .sum();
                if spans > 0 {
                    sink(translated.request).await.map_err(ImportError::Sink)?;
                }
                imported.insert(id);
                report.traces += 1;
                report.spans += spans;
            }
            checkpoint.open = Some((from, to, imported.clone()));
            checkpoint.save(store).await?;
        }
        report.in_progress += open_traces;
        if open_traces > 0 {
            // Stays open: the next run imports the rest once complete
            // (and the windows after it then).
            checkpoint.open = Some((from, to, imported));
            checkpoint.save(store).await?;
            break;
        }
        checkpoint.completed_until = checkpoint.completed_until.max(to);
        checkpoint.open = None;
        checkpoint.save(store).await?;
        report.windows += 1;
        from = to;
    }
    Ok(report)
}
