//! The archive on its own: what is written is read back, once, whatever the
//! page size; failures keep their storage cause. In-memory store only; the
//! HTTP API over it is tested in the service crate, and every backend is
//! held to the same contract by the storage conformance suite.

use std::collections::BTreeSet;
use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use otelvault_codec::proto::collector_trace::ExportTraceServiceRequest;
use otelvault_codec::proto::common::{AnyValue, KeyValue, any_value};
use otelvault_codec::proto::resource::Resource;
use otelvault_codec::proto::trace::{ResourceSpans, ScopeSpans, Span};
use otelvault_codec::{Batch, Compression, Format, Granularity, Signal};
use otelvault_storage::{
    KeyPrefix, ListPage, MemoryStore, ObjectKey, ObjectStore, PutOptions, StorageError, list_all,
};

use super::*;

const MIN: u64 = 60_000_000_000;
/// 2024-10-27T03:33:00Z, a minute boundary.
const T0: u64 = 1_729_999_980_000_000_000;

fn layout(time: PartitionTime) -> Layout {
    Layout {
        partitioning: Partitioning {
            granularity: Granularity::Minute,
            time,
        },
        format: Format::Json,
        compression: Compression::Gzip,
    }
}

/// `n` spans of `service`, one every 10 s from `start`, named `{service}-{i}`.
fn spans(service: &str, start: u64, n: u64) -> Batch {
    let spans = (0..n)
        .map(|i| Span {
            trace_id: vec![1; 16],
            span_id: (i + 1).to_be_bytes().to_vec(),
            name: format!("{service}-{i}"),
            start_time_unix_nano: start + i * 10_000_000_000,
            end_time_unix_nano: start + i * 10_000_000_000 + 1000,
            ..Default::default()
        })
        .collect();
    Batch::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(service.into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn names(batch: &Batch) -> Vec<String> {
    let Batch::Traces(r) = batch else {
        return Vec::new();
    };
    r.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.name.clone())
        .collect()
}

/// Every page of `query`, following positions; the names read, in order.
async fn read_all(archive: &Archive, query: &Query, budget: Budget) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut resume = None;
    let mut pages = 0;
    loop {
        let page = archive
            .read(query, resume, T0 + 10 * MIN, Format::Json, budget)
            .await
            .expect("read");
        pages += 1;
        assert!(page.batch.item_count() <= query.limit);
        // Within the byte budget, but for a page of one item too big for it.
        let size = page.batch.encode(Format::Json).len();
        assert!(
            size <= budget.bytes || page.batch.item_count() == 1,
            "{size} bytes > {}",
            budget.bytes
        );
        out.extend(names(&page.batch));
        match page.next {
            Some(next) => resume = Some(next),
            None => return (out, pages),
        }
    }
}

fn budget(bytes: usize) -> Budget {
    Budget {
        bytes,
        time: Duration::from_secs(60),
    }
}

#[tokio::test]
async fn what_is_written_reads_back_once_whatever_the_page_size() {
    let store = Arc::new(MemoryStore::new());
    let archive = Archive::new(store.clone(), layout(PartitionTime::Event));
    let mut written = BTreeSet::new();
    for (service, start) in [("a", T0), ("b", T0 + 30_000_000_000), ("c", T0 + 2 * MIN)] {
        let batch = spans(service, start, 12);
        written.extend(names(&batch));
        let report = archive.write(batch, T0 + 5 * MIN).await.expect("write");
        // 12 spans 10 s apart from a minute boundary touch 2 minutes; from
        // the half minute, 3.
        assert!(
            (2..=3).contains(&report.keys.len()),
            "{service}: {:?}",
            report.keys
        );
        for key in &report.keys {
            let parsed = PartitionKey::parse(key).expect("an archive key");
            assert_eq!(
                (parsed.signal, parsed.format, parsed.compression),
                (Signal::Traces, Format::Json, Compression::Gzip)
            );
        }
    }
    let query = Query {
        start: T0,
        end: T0 + 10 * MIN,
        ..Query::new(Signal::Traces)
    };
    let (all, pages) = read_all(&archive, &query, budget(5 << 20)).await;
    assert_eq!(pages, 1);
    assert_eq!(all.len(), written.len());
    assert_eq!(all.iter().cloned().collect::<BTreeSet<_>>(), written);
    // Small limits and byte budgets cut inside objects; nothing is lost
    // or returned twice (one page merges a resource's spans across
    // objects, so compare in sorted order).
    let mut all = all;
    all.sort();
    for (limit, bytes) in [(1, 5 << 20), (5, 5 << 20), (7, 700), (1000, 400)] {
        let query = Query {
            limit,
            ..query.clone()
        };
        let (mut paged, pages) = read_all(&archive, &query, budget(bytes)).await;
        paged.sort();
        assert_eq!(paged, all, "limit {limit}, {bytes} bytes");
        assert!(pages > 1, "limit {limit}, {bytes} bytes: {pages} pages");
    }
    // A retried write names the same objects: nothing is duplicated.
    let before = list_all(&*store, &KeyPrefix::ROOT).await.expect("list");
    archive
        .write(spans("a", T0, 12), T0 + 5 * MIN)
        .await
        .expect("rewrite");
    assert_eq!(
        list_all(&*store, &KeyPrefix::ROOT).await.expect("list"),
        before
    );
}

#[tokio::test]
async fn receive_time_partitions_hold_the_batch_whole_and_are_read_late() {
    let archive = Archive::new(Arc::new(MemoryStore::new()), layout(PartitionTime::Receive));
    // Spans of 03:33 and 03:34 received at 03:40.
    let report = archive
        .write(spans("a", T0, 12), T0 + 7 * MIN)
        .await
        .expect("write");
    assert_eq!(report.keys.len(), 1);
    assert!(
        report.keys[0].starts_with("year=2024/month=10/day=27/hour=03/minute=40/traces_"),
        "{}",
        report.keys[0]
    );
    // A query for 03:33 to 03:35 finds them 5 minutes later.
    let query = Query {
        start: T0,
        end: T0 + 2 * MIN,
        ..Query::new(Signal::Traces)
    };
    let (found, _) = read_all(&archive, &query, budget(5 << 20)).await;
    assert_eq!(found.len(), 12);
}

#[tokio::test]
async fn empty_batches_write_nothing() {
    let store = Arc::new(MemoryStore::new());
    for time in [PartitionTime::Event, PartitionTime::Receive] {
        let archive = Archive::new(store.clone(), layout(time));
        let report = archive
            .write(Batch::empty(Signal::Logs), T0)
            .await
            .expect("write");
        assert_eq!(report, WriteReport::default());
    }
    assert!(
        list_all(&*store, &KeyPrefix::ROOT)
            .await
            .expect("list")
            .is_empty()
    );
}

/// A store whose every call fails with a retryable error.
#[derive(Debug)]
struct Down;

#[async_trait]
impl ObjectStore for Down {
    async fn put(&self, _: &ObjectKey, _: Bytes, _: &PutOptions) -> Result<(), StorageError> {
        Err(StorageError::Unavailable {
            message: "connection refused".into(),
        })
    }
    async fn get(&self, _: &ObjectKey) -> Result<Bytes, StorageError> {
        Err(StorageError::Unavailable {
            message: "connection refused".into(),
        })
    }
    async fn get_range(
        &self,
        key: &ObjectKey,
        _: std::ops::Range<u64>,
    ) -> Result<Bytes, StorageError> {
        self.get(key).await
    }
    async fn head(&self, key: &ObjectKey) -> Result<otelvault_storage::ObjectMeta, StorageError> {
        Err(StorageError::Unavailable {
            message: format!("connection refused reading {key}"),
        })
    }
    async fn list_page(&self, _: &KeyPrefix, _: Option<&str>) -> Result<ListPage, StorageError> {
        Err(StorageError::Throttled {
            message: "SlowDown".into(),
        })
    }
    async fn list_dirs(&self, _: &KeyPrefix) -> Result<Vec<String>, StorageError> {
        Err(StorageError::Throttled {
            message: "SlowDown".into(),
        })
    }
    async fn delete(&self, _: &ObjectKey) -> Result<(), StorageError> {
        Ok(())
    }
}

#[tokio::test]
async fn failures_say_what_was_being_done_and_keep_the_storage_cause() {
    let archive = Archive::new(Arc::new(Down), layout(PartitionTime::Event));
    let err = archive
        .write(spans("a", T0, 1), T0)
        .await
        .expect_err("store is down");
    assert!(err.to_string().starts_with("writing year=2024/"), "{err}");
    assert!(err.is_retryable());
    let source = err.source().expect("a source");
    assert!(
        matches!(
            source.downcast_ref::<StorageError>(),
            Some(StorageError::Unavailable { .. })
        ),
        "{source:?}"
    );
    assert!(
        err.detail().ends_with("connection refused"),
        "{}",
        err.detail()
    );

    let query = Query {
        start: T0,
        end: T0 + MIN,
        ..Query::new(Signal::Traces)
    };
    let err = archive
        .read(&query, None, T0, Format::Json, budget(1 << 20))
        .await
        .expect_err("store is down");
    // The first listing: whether the signal has a compacted tier.
    assert!(
        err.to_string().starts_with("listing parquet/traces/"),
        "{err}"
    );
    assert!(matches!(
        err.storage_error(),
        Some(StorageError::Throttled { .. })
    ));
}

#[tokio::test]
async fn a_range_of_decades_costs_what_the_archive_holds() {
    let archive = Archive::new(Arc::new(MemoryStore::new()), layout(PartitionTime::Event));
    // 2014-05-01T00:00:00Z and the usual 2024-10-27T03:33.
    let old = 1_398_902_400_000_000_000;
    archive
        .write(spans("old", old, 6), T0)
        .await
        .expect("write");
    archive.write(spans("new", T0, 6), T0).await.expect("write");
    let query = Query {
        start: 1,
        end: T0 + 10 * MIN,
        ..Query::new(Signal::Traces)
    };
    let page = archive
        .read(&query, None, T0, Format::Json, budget(5 << 20))
        .await
        .expect("read");
    assert_eq!(page.batch.item_count(), 12);
    assert!(page.next.is_none());
    // Decades hold 480,000 hours; two days of them hold data, one of them
    // cut by the end of the range into hours and minutes.
    assert!(page.stats.partitions <= 100, "{:?}", page.stats);
    assert!(page.stats.list_requests <= 100, "{:?}", page.stats);
    // Paging across the years returns every span once.
    let (mut paged, pages) = read_all(
        &archive,
        &Query {
            limit: 4,
            ..query.clone()
        },
        budget(5 << 20),
    )
    .await;
    paged.sort();
    let mut all = names(&page.batch);
    all.sort();
    assert_eq!(paged, all);
    assert!(pages >= 3);
}

#[tokio::test]
async fn the_partition_width_is_read_from_the_archive() {
    let empty: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
    assert_eq!(
        Archive::detect_granularity(&*empty).await.expect("ok"),
        None
    );
    for granularity in [Granularity::Minute, Granularity::Hour] {
        let store: Arc<dyn ObjectStore> = Arc::new(MemoryStore::new());
        let mut layout = layout(PartitionTime::Event);
        layout.partitioning.granularity = granularity;
        Archive::new(store.clone(), layout)
            .write(spans("a", T0, 3), T0)
            .await
            .expect("write");
        assert_eq!(
            Archive::detect_granularity(&*store).await.expect("ok"),
            Some(granularity)
        );
    }
}

#[tokio::test]
async fn a_time_range_ending_inside_a_microsecond_reads_the_same_from_parquet() {
    // The Parquet tier's time columns hold microseconds; a range whose
    // bounds fall inside an item's microsecond still gives exactly the raw
    // tier's items.
    let store = Arc::new(MemoryStore::new());
    let archive = Archive::new(store.clone(), layout(PartitionTime::Event));
    archive
        .write(spans("a", T0 + 500, 8), T0 + 5 * MIN)
        .await
        .expect("write");
    let query = Query {
        start: T0 + 10_000_000_000 + 400,
        end: T0 + 50_000_000_000 + 501,
        ..Query::new(Signal::Traces)
    };
    let (raw, _) = read_all(&archive, &query, budget(5 << 20)).await;
    assert_eq!(raw, ["a-1", "a-2", "a-3", "a-4", "a-5"]);
    let report = compact_hour(
        &*store,
        Signal::Traces,
        T0,
        CompactOptions {
            delete_raw: true,
            ..CompactOptions::default()
        },
    )
    .await
    .expect("compact");
    assert_eq!(
        report.deleted_raw, 2,
        "two minutes of raw objects: {report:?}"
    );
    let (compacted, _) = read_all(&archive, &query, budget(5 << 20)).await;
    assert_eq!(compacted, raw);
}

/// A record as a line shows it: its service, time, severity number and
/// text, and body as text.
type Line = (String, u64, i32, String, String);

/// Every record of the pages of `query` as a line shows it, sorted, and
/// whether any record came with attributes or ids.
async fn log_lines(archive: &Archive, query: &Query, now: u64) -> (Vec<Line>, bool) {
    let (mut out, mut whole) = (Vec::new(), false);
    let mut resume = None;
    loop {
        let page = archive
            .read(query, resume, now, Format::Json, budget(usize::MAX))
            .await
            .expect("read");
        let Batch::Logs(request) = &page.batch else {
            panic!("a page of logs holds {:?}", page.batch.signal());
        };
        for rl in &request.resource_logs {
            let attributes = rl.resource.as_ref().map_or(&[][..], |r| &r.attributes);
            let service = otelvault_codec::values::string_attribute(attributes, "service.name")
                .unwrap_or_default()
                .to_owned();
            for record in rl.scope_logs.iter().flat_map(|sl| &sl.log_records) {
                whole |= !record.attributes.is_empty() || !record.trace_id.is_empty();
                let time = match record.time_unix_nano {
                    0 => record.observed_time_unix_nano,
                    t => t,
                };
                out.push((
                    service.clone(),
                    time,
                    record.severity_number,
                    record.severity_text.clone(),
                    otelvault_codec::values::as_string(record.body.as_ref()),
                ));
            }
        }
        match page.next {
            Some(next) => resume = Some(next),
            None => {
                out.sort();
                return (out, whole);
            }
        }
    }
}

#[tokio::test]
async fn log_lines_read_from_a_compacted_hour_are_the_records_lines() {
    // A reader that needs only each record's time, severity, body and
    // resource gets exactly those of the records a whole read gives,
    // before and after compaction; records come whole when a filter needs
    // the rest.
    const HOUR: u64 = 1_729_998_000_000_000_000;
    let now = HOUR + 3 * 60 * MIN;
    let store = Arc::new(MemoryStore::new());
    let archive = Archive::new(store.clone(), layout(PartitionTime::Event));
    for (_, request) in otelvault_testkit::corpus::logs(HOUR, 3_000, 300, 5) {
        archive
            .write(Batch::Logs(request), HOUR + 61 * MIN)
            .await
            .expect("write");
    }
    let whole = Query {
        start: HOUR,
        end: HOUR + 60 * MIN,
        limit: 500,
        service_name: Some("checkout".into()),
        body_contains: vec!["Retrying".into()],
        ..Query::new(Signal::Logs)
    };
    let lines = Query {
        fields: Fields::LogLines,
        ..whole.clone()
    };
    let (raw, raw_whole) = log_lines(&archive, &whole, now).await;
    assert!(raw.len() > 10 && raw_whole, "{} records", raw.len());
    assert_eq!(log_lines(&archive, &lines, now).await.0, raw);
    compact_hour(
        &*store,
        Signal::Logs,
        HOUR,
        CompactOptions {
            delete_raw: true,
            ..CompactOptions::default()
        },
    )
    .await
    .expect("compact");
    let (compacted, compacted_whole) = log_lines(&archive, &whole, now).await;
    assert_eq!(compacted, raw);
    assert!(compacted_whole);
    let (as_lines, lines_whole) = log_lines(&archive, &lines, now).await;
    assert_eq!(as_lines, raw);
    assert!(
        !lines_whole,
        "records read as lines come without attributes or ids"
    );
    // An attribute filter is decided on whole records.
    let first = compacted.len();
    let filtered = Query {
        attributes: vec![("service.name".into(), AttrValue::Str("checkout".into()))],
        ..lines.clone()
    };
    let (by_attribute, by_attribute_whole) = log_lines(&archive, &filtered, now).await;
    assert_eq!(by_attribute.len(), first);
    assert!(by_attribute_whole);
}
