//! Forwarding (dual export): every accepted batch is archived and, at the
//! same time, sent to a live OTLP backend, with the
//! exporter `replay` uses.
//!
//! The ingest answer waits for both (a frozen Lambda sends nothing later)
//! but depends on the archive alone: when forwarding fails within
//! its timeout, the batch is safe in the archive, the
//! client gets its 200, and a small marker object
//! (`forward-pending/{signal}/{id}.json`) names the archived objects to
//! re-send. [`retry_pending`] (`otelvault forward-retry`, a background task
//! of `serve`, the scheduled function on AWS) re-sends them from the
//! archive and deletes the marker once the backend took them: delivery to
//! the backend is at least once, across crashes and cold starts.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use otelvault_archive::{ForwardMarker, PartitionKey};
use otelvault_client::ClientError;
use otelvault_client::exporter::{Delivered, Exporter, RetryPolicy, Target};
use otelvault_client::http::HttpClient;
use otelvault_codec::Signal;
use otelvault_storage::{KeyPrefix, ObjectKey, ObjectStore, PutOptions, StorageError, list_all};

/// Where markers are, under the archive's root (compaction leaves the raw
/// objects they name).
pub const PENDING_PREFIX: &str = otelvault_archive::FORWARD_PENDING_PREFIX;

/// Retries while the ingest answer waits: quick, within the timeout.
const IN_REQUEST: RetryPolicy = RetryPolicy {
    attempts: 3,
    initial: Duration::from_millis(200),
    max: Duration::from_secs(1),
};

/// Items re-sent in one request at most (replay's default batch size).
const RESEND_ITEMS: usize = 1000;

/// Retries when re-sending from the archive.
const FROM_ARCHIVE: RetryPolicy = RetryPolicy {
    attempts: 3,
    initial: Duration::from_millis(500),
    max: Duration::from_secs(5),
};

/// What is forwarded, and where: a target per forwarded signal.
#[derive(Debug, Clone)]
pub struct ForwardConfig {
    /// Where traces go, if they are forwarded.
    pub traces: Option<Target>,
    /// Where metrics go.
    pub metrics: Option<Target>,
    /// Where logs go.
    pub logs: Option<Target>,
    /// Longest forwarding one request may take, retries included.
    pub timeout: Duration,
}

impl ForwardConfig {
    /// Whether any signal is forwarded.
    pub fn forwards(&self) -> bool {
        self.traces.is_some() || self.metrics.is_some() || self.logs.is_some()
    }

    fn target(&self, signal: Signal) -> Option<&Target> {
        match signal {
            Signal::Traces => self.traces.as_ref(),
            Signal::Metrics => self.metrics.as_ref(),
            Signal::Logs => self.logs.as_ref(),
        }
    }
}

/// The exporters of the forwarded signals.
#[derive(Debug)]
pub struct Forwarder {
    /// By signal (traces, metrics, logs): in-request and from-archive.
    exporters: [Option<(Exporter, Exporter)>; 3],
    timeout: Duration,
}

fn index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

impl Forwarder {
    /// The forwarder of `config`.
    pub fn new(config: ForwardConfig) -> Result<Arc<Forwarder>, ClientError> {
        let client = HttpClient::new()?;
        let exporter = |target: &Target| {
            (
                Exporter::new(client.clone(), target.clone(), IN_REQUEST),
                Exporter::new(client.clone(), target.clone(), FROM_ARCHIVE),
            )
        };
        let mut exporters = [None, None, None];
        for signal in Signal::ALL {
            exporters[index(signal)] = config.target(signal).map(exporter);
        }
        Ok(Arc::new(Forwarder {
            exporters,
            timeout: config.timeout,
        }))
    }

    /// The exporter forwarding `signal` while a request waits, if it is
    /// forwarded.
    pub fn exporter(&self, signal: Signal) -> Option<&Exporter> {
        self.exporters[index(signal)].as_ref().map(|(e, _)| e)
    }

    fn resender(&self, signal: Signal) -> Option<&Exporter> {
        self.exporters[index(signal)].as_ref().map(|(_, e)| e)
    }

    /// Sends an encoded batch within the timeout, retries included.
    pub async fn forward(&self, signal: Signal, body: Bytes) -> Result<Delivered, String> {
        let Some(exporter) = self.exporter(signal) else {
            return Err(format!("{signal} are not forwarded"));
        };
        match tokio::time::timeout(self.timeout, exporter.send_encoded(signal, body)).await {
            Ok(Ok(delivered)) => Ok(delivered),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "{}: no answer within the forwarding timeout ({} s)",
                exporter.target().url,
                self.timeout.as_secs_f64()
            )),
        }
    }
}

impl Forwarder {
    /// After a forward of the archived `keys` failed for `why`: the marker
    /// that has them re-sent, and the log line naming the target.
    pub async fn failed(
        &self,
        store: &dyn ObjectStore,
        signal: Signal,
        keys: &[ObjectKey],
        why: &str,
    ) {
        let target = self
            .exporter(signal)
            .map(|e| e.target().url.as_str())
            .unwrap_or_default();
        match mark_pending(store, signal, keys, target, why).await {
            Ok(marker) => {
                tracing::warn!(%signal, target, error = why, %marker, "Forwarding failed; the batch is archived and will be re-sent by forward-retry.")
            }
            Err(e) => {
                tracing::error!(%signal, target, error = why, marker_error = %e, ?keys, "Forwarding failed and its marker could not be written: these objects will not be re-sent.")
            }
        }
    }
}

/// Writes the marker naming `keys` (the archived objects of one request
/// of `signal`) for [`retry_pending`].
pub async fn mark_pending(
    store: &dyn ObjectStore,
    signal: Signal,
    keys: &[ObjectKey],
    target: &str,
    error: &str,
) -> Result<ObjectKey, StorageError> {
    let marker = ForwardMarker {
        signal,
        keys: keys.iter().map(|k| k.as_str().to_owned()).collect(),
        target: target.to_owned(),
        error: error.to_owned(),
        failed_at: otelvault_codec::now_unix_nanos(),
    };
    let key = marker.key()?;
    store
        .put(
            &key,
            Bytes::from(marker.to_json()),
            &PutOptions {
                content_type: Some("application/json".into()),
                content_encoding: None,
            },
        )
        .await?;
    Ok(key)
}

/// What [`retry_pending`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetryReport {
    /// Markers whose objects were all delivered (and which were deleted).
    pub delivered: usize,
    /// Objects re-sent.
    pub objects: usize,
    /// Items re-sent.
    pub items: usize,
    /// Markers left for a later run: key and why.
    pub left: Vec<(String, String)>,
}

/// Re-sends the objects every marker names, from the archive, and deletes
/// each marker once all its objects were delivered. A marker whose
/// objects cannot be sent now stays for the next run.
pub async fn retry_pending(
    store: &dyn ObjectStore,
    forwarder: &Forwarder,
) -> Result<RetryReport, StorageError> {
    let mut report = RetryReport::default();
    let prefix = KeyPrefix::new(PENDING_PREFIX)?;
    for meta in list_all(store, &prefix).await? {
        let key = meta.key;
        let body = match store.get(&key).await {
            Ok(body) => body,
            // Another run took it.
            Err(StorageError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        match resend(store, forwarder, &body).await {
            Ok((objects, items)) => {
                store.delete(&key).await?;
                report.delivered += 1;
                report.objects += objects;
                report.items += items;
            }
            Err(why) => {
                tracing::warn!(marker = %key, error = %why, "Forwarding from the archive failed; the marker stays for the next run.");
                report.left.push((key.into_string(), why));
            }
        }
    }
    Ok(report)
}

/// Re-sends the objects a marker names: how many, and their items.
async fn resend(
    store: &dyn ObjectStore,
    forwarder: &Forwarder,
    marker: &[u8],
) -> Result<(usize, usize), String> {
    let marker = ForwardMarker::parse(marker)?;
    let signal = marker.signal;
    let exporter = forwarder.resender(signal).ok_or_else(|| {
        format!("{signal} are not forwarded now (set OTELVAULT_FORWARD_ENDPOINT to re-send them)")
    })?;
    let (mut objects, mut items) = (0, 0);
    // The request's objects (one per partition it spanned) go back as few
    // requests as the exporter's batch size allows.
    let mut pending: Vec<otelvault_codec::Batch> = Vec::new();
    let mut pending_items = 0;
    for (i, key) in marker.keys.iter().enumerate() {
        let object = ObjectKey::new(key).map_err(|e| e.to_string())?;
        let parsed = PartitionKey::parse(&object).map_err(|e| e.to_string())?;
        let bytes = store
            .get(&object)
            .await
            .map_err(|e| format!("reading {key}: {e}"))?;
        let batch = tokio::task::spawn_blocking(move || parsed.decode(&bytes))
            .await
            .map_err(|e| e.to_string())??;
        objects += 1;
        items += batch.item_count();
        pending_items += batch.item_count();
        pending.push(batch);
        if pending_items >= RESEND_ITEMS || i + 1 == marker.keys.len() {
            pending_items = 0;
            if let Some(batch) = otelvault_codec::merge(std::mem::take(&mut pending)) {
                exporter
                    .send(&batch)
                    .await
                    .map_err(|e: ClientError| e.to_string())?;
            }
        }
    }
    Ok((objects, items))
}
