use std::sync::Arc;

use crate::{Archive, Layout};
use otelvault_codec::{Compression, Format};
use otelvault_storage::MemoryStore;
use otelvault_testkit::data::sample;

use super::*;
use otelvault_parquet::read_part;

/// The samples' hour (2024-10-27 03:00 UTC).
const SAMPLE_HOUR: u64 = 1_729_998_000_000_000_000;

fn archive(store: Arc<MemoryStore>) -> Archive {
    Archive::new(
        store,
        Layout {
            format: Format::Json,
            compression: Compression::Gzip,
            ..Layout::default()
        },
    )
}

/// Compacts the samples' hour of `signal`, raw objects kept.
async fn compact(store: &MemoryStore, signal: Signal) -> Result<HourReport, CompactError> {
    compact_hour(store, signal, SAMPLE_HOUR, CompactOptions::default()).await
}

/// Every object of the store: key and bytes.
async fn snapshot(store: &MemoryStore) -> Vec<(String, Bytes)> {
    let mut out = Vec::new();
    for meta in list_all(store, &KeyPrefix::ROOT).await.expect("list") {
        let body = store.get(&meta.key).await.expect("get");
        out.push((meta.key.into_string(), body));
    }
    out
}

/// The items of the hour's parts, as encoded single-item batches, sorted.
async fn parquet_items(store: &MemoryStore, signal: Signal) -> Vec<Vec<u8>> {
    let prefix = hour_prefix(signal, SAMPLE_HOUR);
    let manifest = store
        .get(&ObjectKey::new(format!("{prefix}_manifest.json").as_str()).expect("key"))
        .await
        .expect("manifest");
    let manifest = Manifest::parse(&manifest, &prefix).expect("a manifest");
    let mut items = Vec::new();
    for part in manifest.parts {
        let bytes = store
            .get(&ObjectKey::new(part.key.as_str()).expect("key"))
            .await
            .expect("part");
        items.extend(singles(read_part(signal, bytes).expect("read")));
    }
    items.sort();
    items
}

/// Every item of `batch` on its own, sorted: batches that hold the same
/// items, however grouped and ordered, compare equal.
fn singles(batch: Batch) -> Vec<Vec<u8>> {
    let mut items = otelvault_testkit::data::item_by_item(&batch);
    items.sort();
    items
}

#[tokio::test]
async fn an_hour_compacts_once_and_again_only_when_raw_objects_change() {
    let store = Arc::new(MemoryStore::new());
    let archive = archive(store.clone());
    for signal in Signal::ALL {
        archive
            .write(sample(signal), SAMPLE_HOUR)
            .await
            .expect("write");
    }

    let report = compact_hour(
        &*store,
        Signal::Traces,
        SAMPLE_HOUR + 5,
        CompactOptions::default(),
    )
    .await
    .expect("compact");
    assert_eq!(report.outcome, Outcome::Compacted);
    assert_eq!(report.hour, SAMPLE_HOUR);
    assert_eq!((report.raw_objects, report.parts), (1, 1));
    assert_eq!(report.rows, sample(Signal::Traces).item_count());
    assert_eq!(
        parquet_items(&store, Signal::Traces).await,
        singles(sample(Signal::Traces))
    );

    // Running again writes nothing.
    let before = snapshot(&store).await;
    let again = compact(&store, Signal::Traces).await.expect("again");
    assert_eq!(again.outcome, Outcome::UpToDate);
    assert_eq!(snapshot(&store).await, before);

    // A late arrival: compacted into a part of its own, appended to the
    // manifest; the first run's part stays as it is.
    let late = late_traces();
    archive
        .write(late.clone(), SAMPLE_HOUR)
        .await
        .expect("write late");
    assert_eq!(
        compact_hour(
            &*store,
            Signal::Traces,
            SAMPLE_HOUR,
            CompactOptions {
                dry_run: true,
                ..CompactOptions::default()
            }
        )
        .await
        .expect("dry run")
        .outcome,
        Outcome::WouldCompact
    );
    let report = compact(&store, Signal::Traces).await.expect("compact late");
    assert_eq!(
        (report.outcome, report.raw_objects),
        (Outcome::Compacted, 1)
    );
    let mut expected = singles(sample(Signal::Traces));
    expected.extend(singles(late));
    expected.sort();
    assert_eq!(parquet_items(&store, Signal::Traces).await, expected);
    let parts = list_all(
        &*store,
        &KeyPrefix::new(hour_prefix(Signal::Traces, SAMPLE_HOUR).as_str()).expect("prefix"),
    )
    .await
    .expect("list")
    .into_iter()
    .filter(|m| m.key.as_str().ends_with(".parquet"))
    .count();
    assert_eq!(parts, 2, "the first run's part and the late one's");

    // Logs and metrics have their tables too.
    let logs = compact(&store, Signal::Logs).await.expect("logs");
    assert_eq!(logs.outcome, Outcome::Compacted);
    assert_eq!(
        parquet_items(&store, Signal::Logs).await,
        singles(sample(Signal::Logs))
    );
    let metrics = compact(&store, Signal::Metrics).await.expect("metrics");
    assert_eq!(metrics.outcome, Outcome::Compacted);
    assert_eq!(metrics.rows, sample(Signal::Metrics).item_count());
    assert!(metrics.parts >= 3, "a part per metric type: {metrics:?}");
    // Each metric type's parts are in its table's directory only, so that
    // an engine pointed at one table reads no other's rows.
    let manifest = store
        .get(
            &ObjectKey::new(
                format!(
                    "{}_manifest.json",
                    hour_prefix(Signal::Metrics, SAMPLE_HOUR)
                )
                .as_str(),
            )
            .expect("key"),
        )
        .await
        .expect("manifest");
    let manifest = Manifest::parse(&manifest, "unused/").expect("manifest");
    let mut dirs: Vec<&str> = Vec::new();
    for part in &manifest.parts {
        let table = Table::of(Signal::Metrics)
            .find(|t| part.key.starts_with(&table_hour_prefix(t, SAMPLE_HOUR)))
            .unwrap_or_else(|| panic!("{} is in no table's directory", part.key));
        dirs.push(table.dir);
    }
    dirs.dedup();
    assert_eq!(
        dirs.len(),
        manifest.parts.len(),
        "one part per type: {dirs:?}"
    );
    assert_eq!(
        parquet_items(&store, Signal::Metrics).await,
        singles(sample(Signal::Metrics))
    );
    // An hour without data is empty, and nothing is written for it.
    let empty = compact_hour(
        &*store,
        Signal::Traces,
        SAMPLE_HOUR + HOUR,
        CompactOptions::default(),
    )
    .await
    .expect("empty");
    assert_eq!(empty.outcome, Outcome::Empty);
}

#[tokio::test]
async fn a_run_cut_before_its_manifest_is_completed_by_the_next() {
    let store = Arc::new(MemoryStore::new());
    archive(store.clone())
        .write(sample(Signal::Traces), SAMPLE_HOUR)
        .await
        .expect("write");
    let prefix = hour_prefix(Signal::Traces, SAMPLE_HOUR);
    // What a crashed run leaves: a part, no manifest.
    store
        .put(
            &ObjectKey::new(format!("{prefix}part-crashed-0000.parquet").as_str()).expect("key"),
            Bytes::from_static(b"half a part"),
            &PutOptions::default(),
        )
        .await
        .expect("put");
    let report = compact(&store, Signal::Traces).await.expect("compact");
    assert_eq!(report.outcome, Outcome::Compacted);
    let names: Vec<String> = list_all(&*store, &KeyPrefix::new(prefix.as_str()).expect("prefix"))
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.key.into_string())
        .collect();
    assert!(!names.iter().any(|n| n.contains("crashed")), "{names:?}");
    assert_eq!(names.len(), 2, "one part and the manifest: {names:?}");
}

#[tokio::test]
async fn unreadable_raw_objects_stay_raw_and_are_reported() {
    let store = Arc::new(MemoryStore::new());
    let written = archive(store.clone())
        .write(sample(Signal::Logs), SAMPLE_HOUR)
        .await
        .expect("write");
    let broken = put_broken_beside(&store, &written.keys[0]).await;
    let report = compact(&store, Signal::Logs).await.expect("compact");
    assert_eq!(report.outcome, Outcome::Compacted);
    assert_eq!(report.unreadable, vec![broken.as_str().to_owned()]);
    assert_eq!(report.rows, sample(Signal::Logs).item_count());
    let again = compact(&store, Signal::Logs).await.expect("again");
    assert_eq!(again.outcome, Outcome::UpToDate);
}

/// Stores an object that cannot be decoded beside `key`, named as the
/// archive names its objects; returns its key.
async fn put_broken_beside(store: &MemoryStore, key: &ObjectKey) -> ObjectKey {
    let broken =
        ObjectKey::new(key.as_str().replace(".json.gz", "0.json.gz").as_str()).expect("key");
    store
        .put(
            &broken,
            Bytes::from_static(b"not gzip"),
            &PutOptions::default(),
        )
        .await
        .expect("put");
    broken
}

/// Every item a read of the sample hour returns, one page.
async fn read_hour(archive: &Archive, signal: Signal) -> Vec<Vec<u8>> {
    let query = crate::Query {
        start: SAMPLE_HOUR,
        end: SAMPLE_HOUR + HOUR,
        limit: crate::MAX_LIMIT,
        ..crate::Query::new(signal)
    };
    let page = archive
        .read(
            &query,
            None,
            SAMPLE_HOUR + HOUR,
            Format::Json,
            crate::Budget {
                bytes: 64 << 20,
                time: std::time::Duration::from_secs(60),
            },
        )
        .await
        .expect("read");
    assert!(page.next.is_none());
    let mut items = singles(page.batch);
    items.sort();
    items
}

/// The samples' spans with another schema URL: other items of the same
/// hour, arriving after it was compacted.
fn late_traces() -> Batch {
    match sample(Signal::Traces) {
        Batch::Traces(mut r) => {
            for rs in &mut r.resource_spans {
                rs.schema_url = "late".into();
            }
            Batch::Traces(r)
        }
        other => other,
    }
}

/// The samples' logs with another schema URL: other items of the same
/// hour, arriving after it was compacted.
fn late_logs() -> Batch {
    match sample(Signal::Logs) {
        Batch::Logs(mut r) => {
            for rl in &mut r.resource_logs {
                rl.schema_url = "late".into();
            }
            Batch::Logs(r)
        }
        other => other,
    }
}

/// The index objects of the hour under `dir` (`trace_summaries`, …), with
/// the sum of `column` over their rows.
async fn index_objects(store: &MemoryStore, dir: &str, column: &str) -> (usize, i64) {
    use arrow_array::cast::AsArray as _;
    let prefix = format!("parquet/{dir}/");
    let mut objects = 0;
    let mut sum = 0;
    for (key, bytes) in snapshot(store).await {
        if !key.starts_with(&prefix) {
            continue;
        }
        objects += 1;
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|b| b.build())
            .expect("an index object");
        for batch in reader {
            let batch = batch.expect("batch");
            sum += batch[column]
                .as_primitive::<arrow_array::types::Int64Type>()
                .iter()
                .flatten()
                .sum::<i64>();
        }
    }
    (objects, sum)
}

#[tokio::test]
async fn an_hours_indexes_cover_late_arrivals_and_replace_the_earlier_ones() {
    let store = Arc::new(MemoryStore::new());
    let archive = archive(store.clone());
    let first = sample(Signal::Traces);
    let spans = first.item_count() as i64;
    archive.write(first, SAMPLE_HOUR).await.expect("write");
    compact(&store, Signal::Traces).await.expect("compact");
    assert_eq!(
        index_objects(&store, "trace_summaries", "SpanCount").await,
        (1, spans)
    );
    let late = late_traces();
    archive.write(late, SAMPLE_HOUR).await.expect("late");
    // A visit takes the late arrival from the raw tier, the rest from the
    // parts, each once.
    let (read, visited) = spans_seen(&archive, SAMPLE_HOUR..SAMPLE_HOUR + HOUR).await;
    assert_eq!(read.len(), 2 * spans as usize);
    assert_eq!(visited, read);
    compact(&store, Signal::Traces).await.expect("compact late");
    // One summary object, counting both runs' spans; one tag index, whose
    // `service.name` counts are every span's.
    assert_eq!(
        index_objects(&store, "trace_summaries", "SpanCount").await,
        (1, 2 * spans)
    );
    let (objects, _) = index_objects(&store, "tags/traces", "Count").await;
    assert_eq!(objects, 1);
}

#[tokio::test]
async fn with_delete_raw_the_parts_are_the_archive_and_late_arrivals_are_appended() {
    let store = Arc::new(MemoryStore::new());
    let archive = archive(store.clone());
    for signal in Signal::ALL {
        archive
            .write(sample(signal), SAMPLE_HOUR)
            .await
            .expect("write");
    }
    let delete = CompactOptions {
        delete_raw: true,
        ..CompactOptions::default()
    };
    for signal in Signal::ALL {
        let report = compact_hour(&*store, signal, SAMPLE_HOUR, delete)
            .await
            .expect("compact");
        assert_eq!(
            (report.outcome, report.deleted_raw),
            (Outcome::Compacted, 1)
        );
    }
    let left: Vec<String> = list_all(&*store, &KeyPrefix::ROOT)
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.key.into_string())
        .filter(|k| !k.starts_with("parquet/"))
        .collect();
    assert!(left.is_empty(), "raw objects left: {left:?}");
    for signal in Signal::ALL {
        assert_eq!(read_hour(&archive, signal).await, singles(sample(signal)));
    }

    // The same logs again are the same object (keys are content hashes):
    // nothing new.
    archive
        .write(sample(Signal::Logs), SAMPLE_HOUR)
        .await
        .expect("again");
    assert_eq!(
        read_hour(&archive, Signal::Logs).await,
        singles(sample(Signal::Logs))
    );
    // Other logs of the hour arrive late: read raw at once, and compacted
    // next to the first run's rows, which have no raw object any more.
    let late = late_logs();
    archive
        .write(late.clone(), SAMPLE_HOUR)
        .await
        .expect("late");
    let mut twice = singles(sample(Signal::Logs));
    twice.extend(singles(late));
    twice.sort();
    assert_eq!(read_hour(&archive, Signal::Logs).await, twice);
    let report = compact_hour(&*store, Signal::Logs, SAMPLE_HOUR, delete)
        .await
        .expect("compact late");
    assert_eq!(
        (report.outcome, report.raw_objects),
        (Outcome::Compacted, 1)
    );
    // The late object, and the identical one written again.
    assert_eq!(report.deleted_raw, 2);
    assert_eq!(read_hour(&archive, Signal::Logs).await, twice);
    let again = compact_hour(&*store, Signal::Logs, SAMPLE_HOUR, delete)
        .await
        .expect("again");
    assert_eq!((again.outcome, again.deleted_raw), (Outcome::UpToDate, 0));
}

#[tokio::test]
async fn an_hour_whose_first_parts_expired_before_its_manifest_reads_what_remains() {
    // Lifecycle rules expire objects by their own age: an hour compacted
    // again for late data has a manifest younger than its first part,
    // which goes first. The hour then reads as its remaining parts, not as
    // an error that would last until the manifest expires too.
    let store = Arc::new(MemoryStore::new());
    let archive = archive(store.clone());
    let delete = CompactOptions {
        delete_raw: true,
        ..CompactOptions::default()
    };
    archive
        .write(sample(Signal::Logs), SAMPLE_HOUR)
        .await
        .expect("write");
    compact_hour(&*store, Signal::Logs, SAMPLE_HOUR, delete)
        .await
        .expect("compact");
    let prefix = hour_prefix(Signal::Logs, SAMPLE_HOUR);
    let manifest_key = ObjectKey::new(format!("{prefix}_manifest.json").as_str()).expect("key");
    let first = Manifest::parse(&store.get(&manifest_key).await.expect("manifest"), &prefix)
        .expect("a manifest")
        .parts;
    let late = late_logs();
    archive
        .write(late.clone(), SAMPLE_HOUR)
        .await
        .expect("late");
    compact_hour(&*store, Signal::Logs, SAMPLE_HOUR, delete)
        .await
        .expect("compact late");
    for part in &first {
        store
            .delete(&ObjectKey::new(part.key.as_str()).expect("key"))
            .await
            .expect("expire");
    }
    assert_eq!(read_hour(&archive, Signal::Logs).await, singles(late));
}

/// Every item of the archive's `signal`, page after page, in read order,
/// each on its own.
async fn read_everything(archive: &Archive, signal: Signal, limit: usize) -> Vec<Vec<u8>> {
    read_range(archive, signal, limit, 0..u64::MAX).await
}

/// Every item of the archive's `signal` in `range`, as [`read_everything`].
async fn read_range(
    archive: &Archive,
    signal: Signal,
    limit: usize,
    range: std::ops::Range<u64>,
) -> Vec<Vec<u8>> {
    let query = crate::Query {
        start: range.start,
        end: range.end,
        limit,
        ..crate::Query::new(signal)
    };
    // In no particular order: a compacted hour gives its items in the
    // order of its parts.
    let mut items: Vec<Vec<u8>> = pages(archive, &query)
        .await
        .iter()
        .flat_map(otelvault_testkit::data::item_by_item)
        .collect();
    items.sort();
    items
}

/// A budget no page of the tests reaches.
fn roomy() -> crate::Budget {
    crate::Budget {
        bytes: 64 << 20,
        time: std::time::Duration::from_secs(600),
    }
}

/// Every page of `query`, followed from the first to the last.
async fn pages(archive: &Archive, query: &crate::Query) -> Vec<Batch> {
    let budget = roomy();
    let mut pages = Vec::new();
    let mut resume = None;
    loop {
        let page = archive
            .read(query, resume, u64::MAX, Format::Json, budget)
            .await
            .expect("read");
        pages.push(page.batch);
        match page.next {
            Some(next) => resume = Some(next),
            None => return pages,
        }
    }
}

/// Everything a search sees of a span, as text.
fn seen(span: &dyn otelvault_codec::view::SpanView) -> String {
    let mut keys = Vec::new();
    span.attribute_keys(&mut |key| keys.push(key.to_owned()));
    let attributes: Vec<String> = keys
        .iter()
        .map(|key| format!("{key}={:?}", span.attribute(key)))
        .collect();
    format!(
        "{:?} {:?} {} {:?} {} {} {} {} {:?} {attributes:?} {:?}",
        span.trace_id(),
        span.span_id(),
        span.is_root(),
        span.name(),
        span.start(),
        span.end(),
        span.kind(),
        span.status_code(),
        span.status_message(),
        span.resource(),
    )
}

/// What a search sees of every span in `range`, through pages of
/// decoded OTLP (as [`read_range`]) and through a visit, each sorted.
async fn spans_seen(archive: &Archive, range: std::ops::Range<u64>) -> (Vec<String>, Vec<String>) {
    let query = crate::Query {
        start: range.start,
        end: range.end,
        limit: crate::MAX_LIMIT,
        ..crate::Query::new(Signal::Traces)
    };
    let mut read = Vec::new();
    for page in pages(archive, &query).await {
        if let Batch::Traces(request) = &page {
            for rs in &request.resource_spans {
                let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes);
                for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                    read.push(seen(&otelvault_codec::view::OtlpSpan { resource, span }));
                }
            }
        }
    }
    let mut visited = Vec::new();
    let needs = crate::SpanNeeds { attributes: true };
    let visit = archive
        .visit_spans(
            range.start,
            range.end,
            u64::MAX,
            std::time::Duration::from_secs(600),
            needs,
            |span| {
                visited.push(seen(span));
                true
            },
        )
        .await
        .expect("visit");
    assert!(visit.complete);
    assert_eq!(visit.items, visited.len());
    read.sort();
    visited.sort();
    (read, visited)
}

/// Tests of one field each (and one of none), as a search pushes its
/// conditions into the reader.
fn span_tests() -> Vec<(&'static str, crate::SpanTest)> {
    use otelvault_codec::proto::common::any_value::Value;
    use otelvault_codec::view::SpanView;
    let test = |fields, test: fn(&dyn SpanView) -> bool| crate::SpanTest {
        fields,
        test: Some(Arc::new(test)),
        ..crate::SpanTest::everything()
    };
    let fields = crate::SpanFields::default;
    let durations = |durations| crate::SpanTest {
        durations,
        ..crate::SpanTest::everything()
    };
    vec![
        ("none", test(fields(), |_| true)),
        ("every span", crate::SpanTest::everything()),
        ("durations", durations(1_001..=u64::MAX)),
        ("durations, bounded", durations(100..=5_000)),
        ("no duration", durations(crate::SpanTest::NO_DURATIONS)),
        ("durations, 2^61 to 2^62", durations((1 << 61)..=(1 << 62))),
        (
            "durations, short of the column's most",
            durations(0..=(i64::MAX as u64 - 1)),
        ),
        (
            "durations and name",
            crate::SpanTest {
                durations: 0..=1_000,
                ..test(
                    crate::SpanFields {
                        name: true,
                        ..fields()
                    },
                    |s| s.name().contains('a'),
                )
            },
        ),
        (
            "name",
            test(
                crate::SpanFields {
                    name: true,
                    ..fields()
                },
                |s| s.name().contains('a'),
            ),
        ),
        (
            "kind",
            test(
                crate::SpanFields {
                    kind: true,
                    ..fields()
                },
                |s| s.kind() == 2,
            ),
        ),
        (
            "status",
            test(
                crate::SpanFields {
                    status: true,
                    ..fields()
                },
                |s| s.status_code() == 2 || !s.status_message().is_empty(),
            ),
        ),
        (
            "duration",
            test(
                crate::SpanFields {
                    duration: true,
                    ..fields()
                },
                |s| s.end().saturating_sub(s.start()) > 1_000,
            ),
        ),
        (
            "resource",
            test(
                crate::SpanFields {
                    resource: true,
                    ..fields()
                },
                |s| s.resource().iter().any(|kv| kv.key.contains('e')),
            ),
        ),
        (
            "typed attributes",
            test(
                crate::SpanFields {
                    attributes: true,
                    ..fields()
                },
                |s| {
                    let mut keys = Vec::new();
                    s.attribute_keys(&mut |key| keys.push(key.to_owned()));
                    keys.iter().any(|key| {
                        matches!(
                            s.attribute(key).and_then(|v| v.value),
                            Some(Value::IntValue(_) | Value::BoolValue(_))
                        )
                    })
                },
            ),
        ),
    ]
}

/// The trace id and start of every span that `test` passes: as whole
/// views decide it, and as the reader decides it on the columns the test
/// names, over hours that summaries answer (every hour, in an archive
/// compacted whole), each sorted.
async fn passing(archive: &Archive, test: &crate::SpanTest) -> [Vec<(Vec<u8>, u64)>; 2] {
    let time = std::time::Duration::from_secs(600);
    let needs = crate::SpanNeeds { attributes: true };
    let mut whole = Vec::new();
    let visit = archive
        .visit_spans(0, u64::MAX, u64::MAX, time, needs, |span| {
            if test.passes(span) {
                whole.push((span.trace_id().to_vec(), span.start()));
            }
            true
        })
        .await
        .expect("visit");
    assert!(visit.complete);
    let spans = visit.items;
    let summaries = Some(crate::SummaryUse { services: false });
    let visit = archive
        .visit_traces(
            0,
            u64::MAX,
            u64::MAX,
            time,
            needs,
            summaries,
            |_| true,
            |_, _| true,
        )
        .await
        .expect("visit");
    assert!(visit.visit.complete);
    assert_eq!(visit.summarized.is_empty(), spans == 0, "hours summarized");
    let mut pushed = Vec::new();
    let which = crate::SummarizedSpans::Passing(test);
    let read = archive
        .visit_summarized(&visit.summarized, which, time, needs, |span| {
            pushed.push((span.trace_id().to_vec(), span.start()));
            true
        })
        .await
        .expect("visit of summarized hours");
    assert!(read.complete);
    whole.sort();
    pushed.sort();
    [whole, pushed]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 16, ..Default::default() })]

    /// Random batches of every signal (every metric type, typed attribute
    /// values, bytes, flags, schema URLs), written, then compacted (raw
    /// objects deleted or not): fetch returns exactly the same items, in
    /// the same order, page by page.
    #[test]
    fn compacted_archives_read_exactly_as_raw_ones(
        traces in proptest::collection::vec(otelvault_testkit::arb::arb_traces(), 1..4),
        logs in proptest::collection::vec(otelvault_testkit::arb::arb_logs(), 1..4),
        metrics in proptest::collection::vec(otelvault_testkit::arb::arb_metrics(), 1..4),
        limit in 1usize..50,
        delete_raw in proptest::prelude::any::<bool>(),
        // A memory budget small enough cuts shards of a few objects.
        memory in proptest::option::of(1usize..100_000),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let store = Arc::new(MemoryStore::new());
            let archive = archive(store.clone());
            let batches = traces
                .into_iter()
                .map(Batch::Traces)
                .chain(logs.into_iter().map(Batch::Logs))
                .chain(metrics.into_iter().map(Batch::Metrics));
            for batch in batches {
                archive.write(batch, SAMPLE_HOUR).await.expect("write");
            }
            let mut raw = Vec::new();
            for signal in Signal::ALL {
                raw.push(read_everything(&archive, signal, limit).await);
            }
            let (read, visited) = spans_seen(&archive, 0..u64::MAX).await;
            proptest::prop_assert_eq!(&visited, &read);
            let options = CompactOptions { delete_raw, memory, ..CompactOptions::default() };
            compact_range(&*store, 0, u64::MAX - HOUR, options, |_, _| {}).await.expect("compact");
            for (signal, raw) in Signal::ALL.into_iter().zip(raw) {
                let compacted = read_everything(&archive, signal, limit).await;
                proptest::prop_assert_eq!(compacted, raw, "{}", signal);
            }
            // A search reads the compacted spans by column: it sees what
            // it saw of the raw ones.
            let (compacted, visited) = spans_seen(&archive, 0..u64::MAX).await;
            proptest::prop_assert_eq!(&compacted, &read);
            proptest::prop_assert_eq!(&visited, &read);
            // A test pushed into the reader, on views of only the fields
            // it names, passes the spans it passes on whole views.
            for (name, test) in span_tests() {
                let [whole, pushed] = passing(&archive, &test).await;
                proptest::prop_assert_eq!(pushed, whole, "{}", name);
            }
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn a_manifest_that_cannot_be_parsed_stops_the_hour_with_the_fix() {
    let store = Arc::new(MemoryStore::new());
    archive(store.clone())
        .write(sample(Signal::Traces), SAMPLE_HOUR)
        .await
        .expect("write");
    let key = ObjectKey::new(
        format!("{}_manifest.json", hour_prefix(Signal::Traces, SAMPLE_HOUR)).as_str(),
    )
    .expect("key");
    store
        .put(
            &key,
            Bytes::from_static(b"{\"raw\": 3"),
            &PutOptions::default(),
        )
        .await
        .expect("put");
    let err = compact(&store, Signal::Traces)
        .await
        .expect_err("a broken manifest");
    let text = err.to_string();
    assert!(
        text.contains("_manifest.json cannot be parsed") && text.contains("delete it"),
        "{text}"
    );
    // Readers ignore it and read the raw objects.
    assert_eq!(
        read_hour(&archive(store.clone()), Signal::Traces).await,
        singles(sample(Signal::Traces))
    );
}

#[test]
fn manifests_of_version_1_name_parts_beside_them_and_none_may_leave_parquet() {
    let v1 = br#"{"version":1,"raw":["year=2024/x"],"rows":2,"parts":[{"name":"gauge-r-0000.parquet","rows":2,"bytes":10}]}"#;
    let manifest = Manifest::parse(v1, "parquet/metrics/year=2024/month=10/day=27/hour=03/")
        .expect("a version 1 manifest");
    assert_eq!(
        manifest.parts[0].key,
        "parquet/metrics/year=2024/month=10/day=27/hour=03/gauge-r-0000.parquet"
    );
    for key in [
        "year=2024/x.json.gz",
        "parquet/../year=2024/x",
        "parquet//x",
    ] {
        let bad =
            format!(r#"{{"raw":[],"rows":0,"parts":[{{"key":"{key}","rows":0,"bytes":0}}]}}"#);
        assert!(
            Manifest::parse(bad.as_bytes(), "parquet/traces/").is_none(),
            "{key}"
        );
    }
}

/// An archive whose hour 2024-10-27T03 was compacted by an earlier release
/// of the Parquet tier: version 1 (nanosecond timestamps, spans' start
/// times in `Timestamp` only, metric parts beside the manifest) or 2 (each
/// table in its directory, microsecond times, the lossless columns
/// holding attributes, end times and kinds again).
async fn archive_of_version(version: u64) -> Arc<MemoryStore> {
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/v{version}"));
    let store = Arc::new(MemoryStore::new());
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("fixture") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let key = path.strip_prefix(&root).expect("inside").to_string_lossy();
            let bytes = std::fs::read(&path).expect("read");
            store
                .put(
                    &ObjectKey::new(key.as_ref()).expect("key"),
                    Bytes::from(bytes),
                    &PutOptions::default(),
                )
                .await
                .expect("put");
        }
    }
    store
}

#[tokio::test]
async fn hours_compacted_by_earlier_versions_read_back_exactly_and_are_rewritten_in_todays_format()
{
    for version in [1, 2] {
        an_hour_of_version_reads_back_exactly_and_is_rewritten(version).await;
    }
}

async fn an_hour_of_version_reads_back_exactly_and_is_rewritten(version: u64) {
    let store = archive_of_version(version).await;
    let raw_only = Arc::new(MemoryStore::new());
    for (key, bytes) in snapshot(&store).await {
        if key.starts_with("year=") {
            raw_only
                .put(
                    &ObjectKey::new(key.as_str()).expect("key"),
                    bytes,
                    &PutOptions::default(),
                )
                .await
                .expect("put");
        }
    }
    // 2024-10-27T03:33:20.000_000_500Z, inside the samples' first second.
    let cut = 1_730_000_000_000_000_500;
    let ranges = [
        SAMPLE_HOUR..SAMPLE_HOUR + HOUR,
        cut..SAMPLE_HOUR + HOUR,
        SAMPLE_HOUR..cut,
    ];
    let old = format!("version {version}");
    for round in [old.as_str(), "rewritten"] {
        for signal in Signal::ALL {
            // What the raw objects hold …
            let mut raw = Vec::new();
            for meta in list_all(&*store, &KeyPrefix::new("year=2024/").expect("prefix"))
                .await
                .expect("list")
            {
                let key = PartitionKey::parse(&meta.key).expect("raw key");
                if key.signal == signal {
                    let bytes = store.get(&meta.key).await.expect("get");
                    raw.extend(singles(key.decode(&bytes).expect("decode")));
                }
            }
            raw.sort();
            assert!(!raw.is_empty(), "{signal}");
            // … is what the parts give back, to the nanosecond, and reads
            // that filter on time (cut inside the items too) give what the
            // raw objects alone give.
            assert_eq!(parquet_items(&store, signal).await, raw, "{round} {signal}");
            for range in &ranges {
                assert_eq!(
                    read_range(&archive(store.clone()), signal, 3, range.clone()).await,
                    read_range(&archive(raw_only.clone()), signal, 3, range.clone()).await,
                    "{round} {signal} {range:?}"
                );
            }
        }
        // A search sees the old parts' spans (rebuilt whole) as the raw
        // ones, and then the rewritten parts' (read by column).
        for range in &ranges {
            let (_, compacted) = spans_seen(&archive(store.clone()), range.clone()).await;
            let (raw, _) = spans_seen(&archive(raw_only.clone()), range.clone()).await;
            assert_eq!(compacted, raw, "{round} {range:?}");
        }
        if round == "rewritten" {
            break;
        }
        for signal in Signal::ALL {
            let dry = compact_hour(
                &*store,
                signal,
                SAMPLE_HOUR,
                CompactOptions {
                    dry_run: true,
                    ..CompactOptions::default()
                },
            )
            .await
            .expect("dry run");
            assert_eq!(dry.outcome, Outcome::WouldCompact, "{signal}");
            let report = compact(&store, signal).await.expect("compact");
            assert_eq!(report.outcome, Outcome::Compacted, "{signal}");
            assert!(report.upgraded_parts > 0, "{signal}: {report:?}");
            let again = compact(&store, signal).await.expect("again");
            assert_eq!(again.outcome, Outcome::UpToDate, "{signal}");
        }
        // Every part is now in its table's directory, and no other is left.
        let prefix = |signal| hour_prefix(signal, SAMPLE_HOUR);
        for signal in Signal::ALL {
            let manifest = store
                .get(
                    &ObjectKey::new(format!("{}_manifest.json", prefix(signal)).as_str())
                        .expect("key"),
                )
                .await
                .expect("manifest");
            let manifest = Manifest::parse(&manifest, &prefix(signal)).expect("manifest");
            assert_eq!(manifest.version, MANIFEST_VERSION);
            for part in &manifest.parts {
                assert!(
                    Table::of(signal)
                        .any(|t| part.key.starts_with(&table_hour_prefix(t, SAMPLE_HOUR))),
                    "{}",
                    part.key
                );
            }
            // The hour's indexes were built from the rewritten parts.
            let indexes: Vec<&str> = manifest.indexes.iter().map(|i| i.key.as_str()).collect();
            assert_eq!(
                indexes.len(),
                Table::indexes_of(signal).count(),
                "{indexes:?}"
            );
        }
        let parts: Vec<String> = snapshot(&store)
            .await
            .into_iter()
            .map(|(key, _)| key)
            .filter(|key| key.ends_with(".parquet"))
            .collect();
        let (indexes, parts): (Vec<_>, Vec<_>) =
            parts.iter().partition(|key| key.contains("/index-"));
        assert_eq!(parts.len(), 7, "one part per table: {parts:?}");
        assert_eq!(
            indexes.len(),
            4,
            "summaries and three tag indexes: {indexes:?}"
        );
    }
}

#[tokio::test]
async fn raw_objects_a_forward_marker_names_outlive_delete_raw_until_it_is_cleared() {
    let store = Arc::new(MemoryStore::new());
    let report = archive(store.clone())
        .write(sample(Signal::Traces), SAMPLE_HOUR)
        .await
        .expect("write");
    let kept = report.keys[0].clone();
    // A forward of that object failed: its marker names it.
    let marker =
        ObjectKey::new(format!("{FORWARD_PENDING_PREFIX}traces/m.json").as_str()).expect("key");
    let body = serde_json::json!({"signal": "traces", "keys": [kept.as_str()]}).to_string();
    store
        .put(&marker, Bytes::from(body), &PutOptions::default())
        .await
        .expect("marker");
    let delete = CompactOptions {
        delete_raw: true,
        ..CompactOptions::default()
    };
    let report = compact_hour(&*store, Signal::Traces, SAMPLE_HOUR, delete)
        .await
        .expect("compact");
    assert_eq!(report.outcome, Outcome::Compacted);
    assert_eq!(report.deleted_raw, 0, "{report:?}");
    store.get(&kept).await.expect("still there to re-send");
    // Once re-sent (the marker gone), the next run deletes it.
    store.delete(&marker).await.expect("clear");
    let again = compact_hour(&*store, Signal::Traces, SAMPLE_HOUR, delete)
        .await
        .expect("again");
    assert_eq!((again.outcome, again.deleted_raw), (Outcome::UpToDate, 1));
    assert!(store.get(&kept).await.is_err());
}

#[tokio::test]
async fn the_temporary_files_of_a_killed_compaction_go_with_the_next_run_of_its_hour() {
    let dir = tempfile::tempdir().expect("dir");
    let store = Arc::new(otelvault_storage::FsStore::new(dir.path()).expect("store"));
    Archive::new(store.clone(), Layout::default())
        .write(sample(Signal::Traces), SAMPLE_HOUR)
        .await
        .expect("write");
    // What `kill -9` leaves in the middle of writing a part.
    let parts = dir
        .path()
        .join("parquet/traces/year=2024/month=10/day=27/hour=03");
    std::fs::create_dir_all(&parts).expect("dirs");
    let left = parts.join(".otelvault-999999-3.tmp");
    std::fs::write(&left, b"half a part").expect("write");
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&left)
        .and_then(|f| f.set_modified(an_hour_ago))
        .expect("age it");
    let report = compact_hour(
        &*store,
        Signal::Traces,
        SAMPLE_HOUR,
        CompactOptions::default(),
    )
    .await
    .expect("compact");
    assert_eq!(report.outcome, Outcome::Compacted);
    assert!(!left.exists(), "the stale temporary file is gone");
}

#[tokio::test]
async fn one_compaction_of_an_archive_runs_at_a_time() {
    let store = Arc::new(MemoryStore::new());
    archive(store.clone())
        .write(sample(Signal::Traces), SAMPLE_HOUR)
        .await
        .expect("write");
    let range = (SAMPLE_HOUR, SAMPLE_HOUR + HOUR);
    let run = || {
        compact_range(
            &*store,
            range.0,
            range.1,
            CompactOptions::default(),
            |_, _| {},
        )
    };
    // Another compaction holds the lease: this one stops before any hour.
    let lease = Lease::acquire(&*store).await.expect("lease");
    let err = run().await.expect_err("busy");
    assert!(matches!(err, CompactError::Busy { .. }), "{err}");
    assert!(err.to_string().contains("run again after it"), "{err}");
    assert!(
        snapshot(&store)
            .await
            .iter()
            .all(|(k, _)| !k.ends_with(".parquet"))
    );
    // Given back, the next run takes it, compacts, and gives it back too.
    lease.release(&*store).await.expect("release");
    run().await.expect("compact");
    let keys: Vec<String> = snapshot(&store).await.into_iter().map(|(k, _)| k).collect();
    assert!(keys.iter().any(|k| k.ends_with(".parquet")), "{keys:?}");
    assert!(!keys.iter().any(|k| k == crate::LEASE_KEY), "{keys:?}");
    // A holder that crashed blocks no longer than its lease.
    let expired = serde_json::json!({"version": 1, "holder": "pid 1 at gone", "until": "1"});
    store
        .put(
            &ObjectKey::new(crate::LEASE_KEY).expect("key"),
            Bytes::from(expired.to_string()),
            &PutOptions::default(),
        )
        .await
        .expect("put");
    run().await.expect("an expired lease is taken over");
    // A dry run takes no lease.
    let _held = Lease::acquire(&*store).await.expect("lease");
    let dry = CompactOptions {
        dry_run: true,
        ..CompactOptions::default()
    };
    compact_range(&*store, range.0, range.1, dry, |_, _| {})
        .await
        .expect("a dry run reads only");
}

/// Searches see the same spans in a compacted hour as in its raw objects
/// over ranges that cut hours (listed a minute at a time at their edges),
/// span two hours, or hold a late arrival: each hour's parts are read
/// once, every row tested by the archive's time rule.
#[tokio::test]
async fn span_visits_over_ranges_that_cut_hours_see_what_pages_see() {
    const MINUTE: u64 = 60_000_000_000;
    let store = Arc::new(MemoryStore::new());
    let archive = archive(store.clone());
    for hour in [SAMPLE_HOUR, SAMPLE_HOUR + HOUR] {
        for (sent, batch) in otelvault_testkit::corpus::traces(hour, 3_000, 100, 11) {
            archive
                .write(Batch::Traces(batch), sent)
                .await
                .expect("write");
        }
    }
    let ranges = [
        SAMPLE_HOUR..SAMPLE_HOUR + 2 * HOUR,
        SAMPLE_HOUR + 10 * MINUTE..SAMPLE_HOUR + 35 * MINUTE,
        SAMPLE_HOUR + 50 * MINUTE..SAMPLE_HOUR + HOUR + 7 * MINUTE,
        SAMPLE_HOUR - HOUR..SAMPLE_HOUR + 1,
    ];
    let mut raw = Vec::new();
    for range in &ranges {
        let (read, visited) = spans_seen(&archive, range.clone()).await;
        assert_eq!(visited, read, "{range:?}, raw");
        raw.push(read);
    }
    assert!(raw[0].len() >= 6_000 && !raw[1].is_empty() && !raw[2].is_empty());
    compact_range(
        &*store,
        SAMPLE_HOUR,
        SAMPLE_HOUR + 2 * HOUR,
        CompactOptions::default(),
        |_, _| {},
    )
    .await
    .expect("compact");
    // A late arrival in the first hour, not compacted.
    archive
        .write(late_traces(), SAMPLE_HOUR + 20 * MINUTE)
        .await
        .expect("late");
    for (range, before) in ranges.iter().zip(&raw) {
        let (read, visited) = spans_seen(&archive, range.clone()).await;
        assert_eq!(visited, read, "{range:?}, compacted");
        assert!(read.len() >= before.len(), "{range:?}");
    }
}

/// Follows pages of `query` from `resume`, collecting their items, until
/// the range is exhausted (`None`) or a position passes `stop`.
async fn follow(
    archive: &Archive,
    query: &crate::Query,
    mut resume: Option<crate::Position>,
    mut stop: impl FnMut(&crate::Position) -> bool,
    items: &mut Vec<Vec<u8>>,
) -> Option<crate::Position> {
    let budget = roomy();
    loop {
        let page = archive
            .read(query, resume, u64::MAX, Format::Json, budget)
            .await
            .expect("read");
        items.extend(otelvault_testkit::data::item_by_item(&page.batch));
        match page.next {
            Some(next) if stop(&next) => return Some(next),
            Some(next) => resume = Some(next),
            None => return None,
        }
    }
}

/// Writes `spans` corpus spans of the samples' hour, 300 to an object.
async fn write_corpus(archive: &Archive, spans: usize, seed: u64) {
    for (sent, batch) in otelvault_testkit::corpus::traces(SAMPLE_HOUR, spans, 300, seed) {
        archive
            .write(Batch::Traces(batch), sent)
            .await
            .expect("write");
    }
}

#[tokio::test]
async fn pages_return_each_item_once_while_their_hour_is_compacted_and_grows() {
    let store = Arc::new(MemoryStore::new());
    // Protobuf objects: pages of raw objects decode fast enough in debug.
    let archive = Archive::new(
        store.clone(),
        Layout {
            format: Format::Protobuf,
            compression: Compression::Gzip,
            ..Layout::default()
        },
    );
    // Several chunks of a part's rows.
    write_corpus(&archive, 3_000, 3).await;
    let query = crate::Query {
        start: SAMPLE_HOUR,
        end: SAMPLE_HOUR + HOUR,
        limit: 300,
        ..crate::Query::new(Signal::Traces)
    };
    let everything = || async {
        let mut items = Vec::new();
        follow(&archive, &query, None, |_| false, &mut items).await;
        items.sort();
        items
    };
    let sorted = |mut items: Vec<Vec<u8>>| {
        items.sort();
        items
    };
    let compact = || async {
        compact_hour(
            &*store,
            Signal::Traces,
            SAMPLE_HOUR,
            CompactOptions::default(),
        )
        .await
        .expect("compact")
    };
    let raw = everything().await;
    assert!(raw.len() >= 3_000, "{}", raw.len());

    // Compacted after three pages of raw objects: the rest comes from the
    // parts, by raw key.
    let mut items = Vec::new();
    let mut pages = 0;
    let at = follow(
        &archive,
        &query,
        None,
        |_| {
            pages += 1;
            pages == 3
        },
        &mut items,
    )
    .await;
    assert!(at.as_ref().is_some_and(|p| p.chunk.is_none()));
    compact().await;
    follow(&archive, &query, at, |_| false, &mut items).await;
    assert_eq!(sorted(items), raw, "compacted while paging");
    assert_eq!(everything().await, raw, "compacted");

    // Late arrivals compacted while a page is inside the first parts: their
    // part, appended, is read after them.
    let mut items = Vec::new();
    let at = follow(&archive, &query, None, |p| p.chunk.is_some(), &mut items).await;
    assert!(at.as_ref().is_some_and(|p| p.chunk.is_some()));
    write_corpus(&archive, 600, 4).await;
    compact().await;
    follow(&archive, &query, at, |_| false, &mut items).await;
    let grown = everything().await;
    assert!(grown.len() > raw.len());
    assert_eq!(sorted(items), grown, "grown while paging its parts");

    // Late arrivals read raw, after the parts, and compacted while a page
    // is among them: what is left of them comes from their new part, by
    // key; another late arrival after that is read raw.
    write_corpus(&archive, 900, 5).await;
    let small = crate::Query {
        limit: 130,
        ..query.clone()
    };
    let mut items = Vec::new();
    let mut seen_parts = false;
    let at = follow(
        &archive,
        &small,
        None,
        |p| {
            seen_parts |= p.chunk.is_some();
            seen_parts && p.chunk.is_none() && p.skip > 0
        },
        &mut items,
    )
    .await;
    assert!(at.as_ref().is_some_and(|p| p.chunk.is_none() && p.skip > 0));
    compact().await;
    write_corpus(&archive, 300, 6).await;
    follow(&archive, &small, at, |_| false, &mut items).await;
    let last = everything().await;
    assert!(last.len() > grown.len() + 900);
    assert_eq!(sorted(items), last, "grown while paging its late arrivals");
}

#[tokio::test]
async fn a_cursor_into_parts_that_an_upgrade_rewrote_asks_for_a_new_query() {
    let store = archive_of_version(2).await;
    let archive = archive(store.clone());
    let query = crate::Query {
        start: SAMPLE_HOUR,
        end: SAMPLE_HOUR + HOUR,
        limit: 1,
        ..crate::Query::new(Signal::Traces)
    };
    let mut items = Vec::new();
    let at = follow(&archive, &query, None, |p| p.chunk.is_some(), &mut items).await;
    assert!(at.is_some());
    let report = compact_hour(
        &*store,
        Signal::Traces,
        SAMPLE_HOUR,
        CompactOptions::default(),
    )
    .await
    .expect("upgrade");
    assert!(report.upgraded_parts > 0);
    let budget = roomy();
    let error = archive
        .read(&query, at, u64::MAX, Format::Json, budget)
        .await
        .expect_err("the parts are gone");
    assert!(
        matches!(error, crate::ArchiveError::Rewritten(_)),
        "{error:?}"
    );
    assert!(error.to_string().contains("run the query again"), "{error}");
}

#[tokio::test]
async fn a_trace_lookup_opens_no_part_of_an_hour_whose_summaries_rule_the_trace_out() {
    let store = Arc::new(MemoryStore::new());
    let archive = archive(store.clone());
    write_corpus(&archive, 600, 5).await;
    let options = CompactOptions {
        delete_raw: true,
        ..CompactOptions::default()
    };
    compact_hour(&*store, Signal::Traces, SAMPLE_HOUR, options)
        .await
        .expect("compact");
    let lookup = |id: Vec<u8>| crate::Query {
        start: SAMPLE_HOUR,
        end: SAMPLE_HOUR + HOUR,
        trace_id: Some(id),
        limit: 10_000,
        ..crate::Query::new(Signal::Traces)
    };
    let everything = read_everything(&archive, Signal::Traces, 10_000).await;
    assert!(!everything.is_empty());
    let present = otelvault_testkit::corpus::traces(SAMPLE_HOUR, 600, 300, 5)
        .next()
        .expect("a batch")
        .1
        .resource_spans[0]
        .scope_spans[0]
        .spans[0]
        .trace_id
        .clone();
    let found: usize = pages(&archive, &lookup(present.clone()))
        .await
        .iter()
        .map(Batch::item_count)
        .sum();
    assert!(found > 0, "the trace is found through the summaries");
    // Parts that cannot be read: a lookup that opened one would fail.
    let prefix = KeyPrefix::new(hour_prefix(Signal::Traces, SAMPLE_HOUR).as_str()).expect("prefix");
    let mut spoiled = 0;
    for meta in list_all(&*store, &prefix).await.expect("list") {
        if meta.key.as_str().contains("/part-") {
            store
                .put(
                    &meta.key,
                    Bytes::from_static(b"not parquet"),
                    &PutOptions::default(),
                )
                .await
                .expect("put");
            spoiled += 1;
        }
    }
    assert!(spoiled > 0, "the hour has parts");
    let absent = lookup(vec![0xab; 16]);
    let page = archive
        .read(&absent, None, u64::MAX, Format::Json, roomy())
        .await
        .expect("a lookup of an absent trace reads the summaries alone");
    assert!(page.batch.is_empty() && page.next.is_none());
    assert!(
        archive
            .read(&lookup(present), None, u64::MAX, Format::Json, roomy())
            .await
            .is_err(),
        "a trace the summaries may hold is looked up in the parts"
    );
}

/// What an hour's indexes tell a search: each trace's summary and each
/// tag's values, as text, sorted.
async fn indexes_seen(archive: &Archive) -> (Vec<String>, Vec<String>) {
    let time = std::time::Duration::from_secs(600);
    let needs = crate::SpanNeeds::default();
    let (start, end) = (SAMPLE_HOUR, SAMPLE_HOUR + HOUR);
    let mut summaries = Vec::new();
    let visit = archive
        .visit_traces(
            start,
            end,
            u64::MAX,
            time,
            needs,
            Some(crate::SummaryUse { services: true }),
            |_| true,
            |id, s| {
                summaries.push(format!(
                    "{id:?} {} {} {} {} {} {} {} {:?}",
                    s.start,
                    s.end,
                    s.has_root,
                    s.root_service,
                    s.root_name,
                    s.spans,
                    s.errors,
                    s.has_service("checkout"),
                ));
                true
            },
        )
        .await
        .expect("visit");
    assert!(visit.visit.complete && !visit.summarized.is_empty());
    let mut tags = Vec::new();
    archive
        .visit_tags(
            start,
            end,
            u64::MAX,
            time,
            needs,
            None,
            |_| true,
            |t| {
                tags.push(format!(
                    "{} {} {} {} {}",
                    t.scope, t.key, t.value, t.kind, t.truncated
                ));
                true
            },
        )
        .await
        .expect("tags");
    summaries.sort();
    tags.sort();
    (summaries, tags)
}

#[tokio::test]
async fn an_hour_compacted_in_many_shards_reads_and_indexes_as_in_one() {
    let mut seen = Vec::new();
    // One shard; shards cut by items; shards cut by memory, one at a
    // time.
    for (part_rows, memory) in [(None, None), (Some(60), None), (None, Some(1))] {
        let store = Arc::new(MemoryStore::new());
        let archive = archive(store.clone());
        // Requests of 20 spans: a trace's spans are in several objects,
        // and so in several shards.
        for (sent, batch) in otelvault_testkit::corpus::traces(SAMPLE_HOUR, 600, 20, 11) {
            archive
                .write(Batch::Traces(batch), sent)
                .await
                .expect("write");
        }
        let raw = read_everything(&archive, Signal::Traces, 1_000).await;
        let options = CompactOptions {
            part_rows,
            memory,
            ..CompactOptions::default()
        };
        let report = compact_hour(&*store, Signal::Traces, SAMPLE_HOUR, options)
            .await
            .expect("compact");
        assert_eq!(report.rows, raw.len());
        if part_rows.is_some() || memory.is_some() {
            assert!(report.parts >= 8, "{} parts", report.parts);
        } else {
            assert_eq!(report.parts, 1);
        }
        assert_eq!(read_everything(&archive, Signal::Traces, 1_000).await, raw);
        let (summaries, tags) = indexes_seen(&archive).await;
        assert!(!summaries.is_empty() && !tags.is_empty());
        seen.push((raw, summaries, tags));
    }
    for other in &seen[1..] {
        assert_eq!(seen[0].0, other.0, "the same corpus");
        assert_eq!(seen[0].1, other.1, "trace summaries");
        assert_eq!(seen[0].2, other.2, "tag indexes");
    }
}

/// Runs each of `tasks` as a worker would, one after the other.
async fn work(store: &MemoryStore, tasks: &[fanout::ShardTask]) -> Vec<fanout::ShardReport> {
    let mut reports = Vec::new();
    for task in tasks {
        reports.push(
            fanout::compact_shard(store, task, CompactOptions::default())
                .await
                .expect("shard"),
        );
    }
    reports
}

/// Plans the samples' hour in shards of about `shard_bytes`.
async fn plan(store: &MemoryStore, shard_bytes: u64) -> (Vec<fanout::ShardTask>, Vec<HourReport>) {
    let mut reports = Vec::new();
    let tasks = fanout::plan_range(
        store,
        SAMPLE_HOUR,
        SAMPLE_HOUR + HOUR,
        CompactOptions::default(),
        shard_bytes,
        |report| reports.push(report.clone()),
    )
    .await
    .expect("plan");
    (tasks, reports)
}

/// The keys of the store's plans, shard markers and index states.
async fn plan_objects(store: &MemoryStore) -> Vec<String> {
    snapshot(store)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.contains("_plan.json") || k.contains("/_shards/"))
        .collect()
}

/// Writes the corpus the fan-out tests share: 600 spans in requests of
/// 20 (a trace's spans are in several objects, and so in several shards),
/// and an object that cannot be decoded among them.
async fn fanout_corpus(store: &Arc<MemoryStore>) -> ObjectKey {
    let archive = archive(store.clone());
    let mut keys = Vec::new();
    for (sent, batch) in otelvault_testkit::corpus::traces(SAMPLE_HOUR, 600, 20, 11) {
        let written = archive
            .write(Batch::Traces(batch), sent)
            .await
            .expect("write");
        keys.extend(written.keys);
    }
    put_broken_beside(store, &keys[7]).await
}

#[tokio::test]
async fn an_hour_planned_in_shards_reads_and_indexes_as_one_process_compacts_it() {
    let mut seen = Vec::new();
    for fanned_out in [false, true] {
        let store = Arc::new(MemoryStore::new());
        let broken = fanout_corpus(&store).await;
        let archive = archive(store.clone());
        let raw = read_everything(&archive, Signal::Traces, 1_000).await;
        let stored: u64 = list_raw(&*store, Signal::Traces, SAMPLE_HOUR)
            .await
            .expect("list")
            .iter()
            .map(|(_, _, size)| size)
            .sum();
        if fanned_out {
            let (tasks, reports) = plan(&store, stored / 5).await;
            assert!(tasks.len() >= 5, "{} shards", tasks.len());
            let traces = reports
                .iter()
                .find(|r| r.signal == Signal::Traces)
                .expect("traces");
            assert_eq!(
                (traces.outcome, traces.shards),
                (Outcome::Planned, tasks.len())
            );
            // Planned, not committed: readers see the raw objects.
            assert_eq!(read_everything(&archive, Signal::Traces, 1_000).await, raw);
            // Workers finish in any order; the last one commits the hour.
            let mut reversed = tasks.clone();
            reversed.reverse();
            let done = work(&store, &reversed).await;
            let committed: Vec<&HourReport> =
                done.iter().filter_map(|r| r.committed.as_ref()).collect();
            assert_eq!(committed.len(), 1);
            assert!(done.last().expect("a shard").committed.is_some());
            assert_eq!(committed[0].rows, raw.len());
            assert_eq!(committed[0].unreadable, vec![broken.as_str().to_owned()]);
            assert_eq!(done.iter().map(|r| r.rows).sum::<usize>(), raw.len());
            assert!(plan_objects(&store).await.is_empty(), "the plan is removed");
            // A worker retried after the commit writes nothing.
            let before = snapshot(&store).await;
            let late = work(&store, &tasks[..1]).await;
            assert!(!late[0].compacted);
            assert_eq!(snapshot(&store).await, before);
            // The next planner run finds the hour up to date.
            let (tasks, reports) = plan(&store, stored / 5).await;
            assert!(tasks.is_empty());
            assert!(
                reports
                    .iter()
                    .all(|r| r.outcome == Outcome::UpToDate || r.outcome == Outcome::Empty)
            );
        } else {
            compact(&store, Signal::Traces).await.expect("compact");
        }
        // The undecodable object stays raw and is not planned again.
        assert!(store.get(&broken).await.is_ok());
        assert_eq!(read_everything(&archive, Signal::Traces, 1_000).await, raw);
        // Gone, it leaves the hour to its parts and indexes.
        store.delete(&broken).await.expect("delete");
        let (summaries, tags) = indexes_seen(&archive).await;
        seen.push((parquet_items(&store, Signal::Traces).await, summaries, tags));
    }
    assert_eq!(seen[0].0, seen[1].0, "the parts' items");
    assert_eq!(seen[0].1, seen[1].1, "trace summaries");
    assert_eq!(seen[0].2, seen[1].2, "tag indexes");
}

#[tokio::test]
async fn a_worker_killed_mid_shard_is_handed_its_shard_again_and_the_hour_converges() {
    let store = Arc::new(MemoryStore::new());
    fanout_corpus(&store).await;
    let archive = archive(store.clone());
    let raw = read_everything(&archive, Signal::Traces, 1_000).await;
    let (tasks, _) = plan(&store, 4096).await;
    assert!(tasks.len() >= 3, "{} shards", tasks.len());
    // Every shard but the first two is done. The second's worker was
    // killed after its parts, before its marker: its parts are there,
    // the marker is not.
    work(&store, &tasks[2..]).await;
    work(&store, &tasks[1..2]).await;
    let markers: Vec<String> = plan_objects(&store)
        .await
        .into_iter()
        .filter(|k| k.ends_with("0001.json") || k.ends_with("0001.index.json"))
        .collect();
    assert_eq!(markers.len(), 2, "{markers:?}");
    for marker in markers {
        store
            .delete(&ObjectKey::new(marker.as_str()).expect("key"))
            .await
            .expect("delete");
    }
    // Nothing is committed: readers see the raw objects, each item once.
    assert_eq!(read_everything(&archive, Signal::Traces, 1_000).await, raw);
    // The next planner run hands out the two shards again, and only them.
    let (again, reports) = plan(&store, 4096).await;
    assert_eq!(again, tasks[..2].to_vec());
    assert!(reports.iter().any(|r| r.outcome == Outcome::Planned));
    // A worker that was not killed after all still commits nothing alone.
    let first = work(&store, &again[1..]).await;
    assert!(first[0].committed.is_none());
    // The lease is taken when the last one ends: the commit is left to
    // the planner.
    let lease = Lease::acquire(&*store).await.expect("lease");
    let last = work(&store, &again[..1]).await;
    assert!(last[0].committed.is_none());
    lease.release(&*store).await.expect("release");
    assert_eq!(read_everything(&archive, Signal::Traces, 1_000).await, raw);
    let (none, reports) = plan(&store, 4096).await;
    assert!(none.is_empty());
    let traces = reports
        .iter()
        .find(|r| r.signal == Signal::Traces)
        .expect("traces");
    assert_eq!(traces.outcome, Outcome::Compacted);
    assert_eq!(traces.rows, raw.len());
    assert!(plan_objects(&store).await.is_empty());
    assert_eq!(read_everything(&archive, Signal::Traces, 1_000).await, raw);
    assert_eq!(parquet_items(&store, Signal::Traces).await.len(), raw.len());
}

#[test]
fn a_shard_task_goes_to_its_worker_as_an_event_and_back() {
    let task = fanout::ShardTask {
        signal: Signal::Logs,
        hour: SAMPLE_HOUR,
        plan: "0123abcd".into(),
        shard: 3,
    };
    let event = task.to_event();
    assert_eq!(fanout::ShardTask::from_event(&event), Some(Ok(task)));
    assert_eq!(
        fanout::ShardTask::from_event(&serde_json::json!({"start": 1})),
        None
    );
    let bad = serde_json::json!({"compact_shard": {"signal": "logs", "hour": "7", "plan": "ab", "shard": 1}});
    let err = fanout::ShardTask::from_event(&bad)
        .expect("a shard event")
        .expect_err("not an hour");
    assert!(err.contains("hour"), "{err}");
}
