//! Writing: a batch is split by partition, each part encoded in the
//! layout's format, named by the hash of its content, compressed, and all
//! parts are written concurrently. Equal content gets an equal key, so a
//! retried write replaces its own objects instead of duplicating them.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use otelvault_codec::{Batch, Compression, split_by_partition};
use otelvault_storage::{ObjectKey, PutOptions};

use crate::tier::HOUR;
use crate::{Archive, ArchiveError, PartitionKey, PartitionTime, content_id};

/// Objects written at once for one batch.
const WRITE_CONCURRENCY: usize = 16;

/// A batch encoded into objects, ready to be stored: the CPU half of a write.
#[derive(Debug, Default)]
pub struct Encoded {
    objects: Vec<(ObjectKey, Bytes)>,
}

impl Encoded {
    /// Objects to write.
    pub fn objects(&self) -> usize {
        self.objects.len()
    }

    /// Bytes to write.
    pub fn bytes(&self) -> usize {
        self.objects.iter().map(|(_, body)| body.len()).sum()
    }
}

/// What a write stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// The keys written, one per partition the batch touched.
    pub keys: Vec<ObjectKey>,
    /// Bytes written (compressed).
    pub stored_bytes: usize,
}

impl Archive {
    /// Splits `batch` by partition (or puts it whole in the partition of
    /// `now` when partitioning by receive time), encodes, names and
    /// compresses each part. `now` (unix nanoseconds) also replaces missing
    /// or far-future item times. An empty batch gives no object.
    pub fn encode(&self, batch: Batch, now: u64) -> Result<Encoded, ArchiveError> {
        let layout = self.layout;
        let granularity = layout.partitioning.granularity;
        let parts = match layout.partitioning.time {
            PartitionTime::Event => split_by_partition(batch, granularity, now),
            PartitionTime::Receive if batch.is_empty() => Vec::new(),
            PartitionTime::Receive => vec![(granularity.truncate(now), batch)],
        };
        let objects = parts
            .into_iter()
            .map(|(start, part)| {
                let encoded = part.encode(layout.format);
                let key = PartitionKey::new(
                    start,
                    granularity,
                    part.signal(),
                    content_id(&encoded),
                    layout.format,
                    layout.compression,
                );
                let body = layout.compression.compress(&encoded).map_err(|e| {
                    ArchiveError::Internal(format!("could not compress the batch: {e}"))
                })?;
                let key = key
                    .object_key()
                    .map_err(|e| ArchiveError::storage(format!("naming {key}"), e))?;
                Ok((key, Bytes::from(body)))
            })
            .collect::<Result<Vec<_>, ArchiveError>>()?;
        Ok(Encoded { objects })
    }

    /// Writes encoded objects concurrently; returns once every one of them
    /// is durably stored, or with the first failure.
    pub async fn put(&self, encoded: Encoded) -> Result<WriteReport, ArchiveError> {
        let options = PutOptions {
            content_type: Some(self.layout.format.content_type().to_owned()),
            content_encoding: match self.layout.compression {
                Compression::None => None,
                c => Some(c.content_encoding().as_str().to_owned()),
            },
        };
        let report = WriteReport {
            stored_bytes: encoded.bytes(),
            keys: encoded.objects.iter().map(|(k, _)| k.clone()).collect(),
        };
        let store = &*self.store;
        let options = &options;
        futures::stream::iter(encoded.objects)
            .map(|(key, body)| async move {
                store
                    .put(&key, body, options)
                    .await
                    .map_err(|e| ArchiveError::storage(format!("writing {key}"), e))
            })
            .buffer_unordered(WRITE_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        if let Ok(mut hours) = self.written_hours.lock() {
            for key in &report.keys {
                if let Ok(parsed) = PartitionKey::parse(key) {
                    hours.insert(parsed.partition_start - parsed.partition_start % HOUR);
                }
            }
        }
        Ok(report)
    }

    /// [`Archive::encode`] on a blocking thread, then [`Archive::put`].
    pub async fn write(&self, batch: Batch, now: u64) -> Result<WriteReport, ArchiveError> {
        let this = self.clone();
        let encoded = tokio::task::spawn_blocking(move || this.encode(batch, now))
            .await
            .map_err(|e| ArchiveError::Internal(format!("encoding task failed: {e}")))??;
        self.put(encoded).await
    }
}
