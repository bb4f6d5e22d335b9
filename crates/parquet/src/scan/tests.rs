use otelvault_codec::proto::collector_logs::ExportLogsServiceRequest;
use otelvault_codec::proto::collector_trace::ExportTraceServiceRequest;
use otelvault_storage::{MemoryStore, PutOptions};
use otelvault_testkit::arb::{arb_logs, arb_metrics, arb_traces};
use otelvault_testkit::data::{item_by_item, trace_batch};
use proptest::prelude::*;

use super::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// Writes `objects` as parts of `signal` into a memory store.
async fn store_parts(objects: &[(u32, Batch)]) -> (Arc<MemoryStore>, Vec<PartFile>, Arc<Work>) {
    let store = Arc::new(MemoryStore::new());
    let work = Arc::new(Work::default());
    let signal = objects.first().map_or(Signal::Traces, |(_, b)| b.signal());
    let mut indexes = crate::index::HourIndexes::new(signal);
    let parts: Vec<Vec<u8>> = crate::write_parts(objects, &mut indexes)
        .expect("write")
        .into_iter()
        .map(|(_, _, bytes)| bytes)
        .collect();
    let mut files = Vec::new();
    for (n, bytes) in parts.into_iter().enumerate() {
        let key = ObjectKey::new(format!("parquet/part-{n}.parquet").as_str()).expect("key");
        let size = bytes.len() as u64;
        store
            .put(&key, Bytes::from(bytes), &PutOptions::default())
            .await
            .expect("put");
        files.push(PartFile::new(store.clone(), key, size, work.clone()));
    }
    (store, files, work)
}

fn everything() -> Filter {
    Filter {
        start: 0,
        end: u64::MAX,
        unreliable_from: u64::MAX,
        service: None,
        trace_id: None,
        objects: 0..u32::MAX,
        attributes: Vec::new(),
        body_contains: Vec::new(),
    }
}

/// The objects back from the parts: every candidate of `filter`, read and
/// assembled.
async fn scan(signal: Signal, files: &[PartFile], filter: &Filter) -> Vec<(u32, Batch)> {
    let mut rows = Vec::new();
    for file in files {
        let found = candidates(file.clone(), signal, filter)
            .await
            .expect("candidates");
        let wanted: Vec<u64> = found.iter().map(|c| c.row).collect();
        rows.extend(
            read_rows(file.clone(), signal, &wanted)
                .await
                .expect("rows"),
        );
    }
    rows.sort_by_key(|r| (r.object, r.index));
    assemble(signal, rows).expect("assemble")
}

fn round_trip(objects: Vec<Batch>) -> Result<(), TestCaseError> {
    let signal = objects[0].signal();
    let numbered: Vec<(u32, Batch)> = objects
        .into_iter()
        .enumerate()
        .map(|(i, b)| (i as u32 * 3, b))
        .collect();
    let back = runtime().block_on(async {
        let (_store, files, _) = store_parts(&numbered).await;
        scan(signal, &files, &everything()).await
    });
    let want: Vec<(u32, Vec<Vec<u8>>)> = numbered
        .iter()
        .filter(|(_, b)| b.item_count() > 0)
        .map(|(i, b)| (*i, item_by_item(b)))
        .collect();
    let got: Vec<(u32, Vec<Vec<u8>>)> = back.iter().map(|(i, b)| (*i, item_by_item(b))).collect();
    prop_assert_eq!(got, want);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Rows read back by object and index rebuild every object's items, in
    /// their order, whatever order the part holds them in.
    #[test]
    fn objects_come_back_item_by_item_in_their_order(
        traces in proptest::collection::vec(arb_traces(), 1..4),
        logs in proptest::collection::vec(arb_logs(), 1..4),
        metrics in proptest::collection::vec(arb_metrics(), 1..4),
    ) {
        round_trip(traces.into_iter().map(Batch::Traces).collect())?;
        round_trip(logs.into_iter().map(Batch::Logs).collect())?;
        round_trip(metrics.into_iter().map(Batch::Metrics).collect())?;
    }
}

fn spans_of(batch: &Batch) -> Vec<Vec<u8>> {
    match batch {
        Batch::Traces(r) => r
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .map(|s| s.trace_id.clone())
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn a_trace_id_reads_its_rows_and_an_absent_one_only_footers_and_bloom_filters() {
    // Three objects of about 1 MB of protobuf each.
    let objects: Vec<(u32, Batch)> = (0..3)
        .map(|i| (i, Batch::Traces(trace_batch(1_000_000))))
        .collect();
    let wanted = spans_of(&objects[1].1)[17].clone();
    let expected = objects
        .iter()
        .flat_map(|(_, b)| spans_of(b))
        .filter(|t| *t == wanted)
        .count();
    runtime().block_on(async {
        let (_store, files, work) = store_parts(&objects).await;
        let filter = Filter {
            trace_id: Some(wanted.clone()),
            ..everything()
        };
        let found = scan(Signal::Traces, &files, &filter).await;
        let spans: Vec<Vec<u8>> = found.iter().flat_map(|(_, b)| spans_of(b)).collect();
        assert_eq!(spans.len(), expected);
        assert!(spans.iter().all(|t| *t == wanted));

        // A trace that is not there: footer and bloom filters only.
        let before = work.bytes.load(Ordering::Relaxed);
        let none = Filter {
            trace_id: Some(vec![0xee; 16]),
            ..everything()
        };
        assert!(scan(Signal::Traces, &files, &none).await.is_empty());
        let read = work.bytes.load(Ordering::Relaxed) - before;
        let size: u64 = files.iter().map(|f| f.size).sum();
        assert!(
            (read as u64) < size / 20,
            "read {read} bytes of {size} for an absent trace"
        );
    });
}

#[test]
fn objects_outside_the_range_asked_for_are_not_read() {
    let objects: Vec<(u32, Batch)> = (0..4)
        .map(|i| {
            let mut r: ExportTraceServiceRequest = trace_batch(200);
            r.resource_spans.truncate(2);
            (i, Batch::Traces(r))
        })
        .collect();
    runtime().block_on(async {
        let (_store, files, _) = store_parts(&objects).await;
        let filter = Filter {
            objects: 2..3,
            ..everything()
        };
        let found = scan(Signal::Traces, &files, &filter).await;
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, 2);
        assert_eq!(item_by_item(&found[0].1), item_by_item(&objects[2].1));
    });
}

#[test]
fn objects_spanning_several_row_groups_come_back_whole() {
    // About 20,000 spans: two row groups, with objects on both sides of
    // the boundary and runs of rows across it.
    let objects: Vec<(u32, Batch)> = (0..3)
        .map(|i| (i, Batch::Traces(trace_batch(2_500_000))))
        .collect();
    runtime().block_on(async {
        let (_store, files, _) = store_parts(&objects).await;
        let groups = ParquetRecordBatchStreamBuilder::new(files[0].clone())
            .await
            .expect("footer")
            .metadata()
            .num_row_groups();
        assert!(groups >= 2, "{groups} row groups");
        let back = scan(Signal::Traces, &files, &everything()).await;
        assert_eq!(back.len(), 3);
        // Each object's resources and scopes follow one another once, so it
        // comes back equal as a whole.
        for ((i, got), (j, want)) in back.iter().zip(&objects) {
            assert_eq!(i, j);
            assert!(got == want, "object {i} differs");
        }
        // And a part of them: every other object.
        let filter = Filter {
            objects: 1..2,
            ..everything()
        };
        let middle = scan(Signal::Traces, &files, &filter).await;
        assert!(middle.len() == 1 && middle[0].1 == objects[1].1);
        // One service: row groups of others are skipped by their name
        // ranges, and its spans all come back.
        let of_service = |batch: &Batch, name: &str| -> usize {
            match batch {
                Batch::Traces(r) => r
                    .resource_spans
                    .iter()
                    .filter(|rs| {
                        crate::values::string_attribute(
                            rs.resource.as_ref().map_or(&[][..], |r| &r.attributes),
                            "service.name",
                        ) == Some(name)
                    })
                    .flat_map(|rs| &rs.scope_spans)
                    .map(|ss| ss.spans.len())
                    .sum(),
                _ => 0,
            }
        };
        for name in ["service-0", "service-7"] {
            let filter = Filter {
                service: Some(name.into()),
                ..everything()
            };
            let found = scan(Signal::Traces, &files, &filter).await;
            let want: usize = objects.iter().map(|(_, b)| of_service(b, name)).sum();
            let got: usize = found.iter().map(|(_, b)| of_service(b, name)).sum();
            let rows: usize = found.iter().map(|(_, b)| b.item_count()).sum();
            assert!(want > 0);
            assert_eq!((got, rows), (want, want), "{name}");
        }
    });
}

#[test]
fn an_attribute_value_keeps_only_rows_that_hold_it() {
    let objects: Vec<(u32, Batch)> = (0..2)
        .map(|i| (i, Batch::Traces(trace_batch(200_000))))
        .collect();
    // The spans whose status code attribute is 400 (an integer).
    let with_400 = |batch: &Batch| -> usize {
        match batch {
            Batch::Traces(r) => r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .flat_map(|ss| &ss.spans)
                .filter(|s| {
                    s.attributes.iter().any(|kv| {
                        kv.key == "http.response.status_code"
                            && kv.value.as_ref().and_then(|v| v.value.as_ref())
                                == Some(
                                    &otelvault_codec::proto::common::any_value::Value::IntValue(
                                        400,
                                    ),
                                )
                    })
                })
                .count(),
            _ => 0,
        }
    };
    let expected: usize = objects.iter().map(|(_, b)| with_400(b)).sum();
    let all: usize = objects.iter().map(|(_, b)| b.item_count()).sum();
    assert!(expected > 0 && expected < all);
    runtime().block_on(async {
        let (_store, files, _) = store_parts(&objects).await;
        let filter = Filter {
            attributes: vec![("http.response.status_code".into(), vec!["400".into()])],
            ..everything()
        };
        let found = scan(Signal::Traces, &files, &filter).await;
        let got: usize = found.iter().map(|(_, b)| with_400(b)).sum();
        let rows: usize = found.iter().map(|(_, b)| b.item_count()).sum();
        assert_eq!((got, rows), (expected, expected));
        // A service.name in the resource attributes counts too.
        let filter = Filter {
            attributes: vec![("service.name".into(), vec!["service-1".into()])],
            ..everything()
        };
        let found = scan(Signal::Traces, &files, &filter).await;
        assert!(!found.is_empty());
        // No list of texts: every row stays.
        let filter = Filter {
            attributes: vec![("retry.ratio".into(), Vec::new())],
            ..everything()
        };
        let rows: usize = scan(Signal::Traces, &files, &filter)
            .await
            .iter()
            .map(|(_, b)| b.item_count())
            .sum();
        assert_eq!(rows, all);
    });
}

#[test]
fn body_texts_keep_only_log_records_whose_body_holds_them_all() {
    let objects: Vec<(u32, Batch)> =
        otelvault_testkit::corpus::logs(1_729_998_000_000_000_000, 4_000, 1_000, 3)
            .enumerate()
            .map(|(i, (_, request))| (i as u32, Batch::Logs(request)))
            .collect();
    // (service, body) of every record.
    let records = |batch: &Batch| -> Vec<(String, String)> {
        let Batch::Logs(r) = batch else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for rl in &r.resource_logs {
            let service = rl
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .map(|kv| crate::values::as_string(kv.value.as_ref()))
                .unwrap_or_default();
            for record in rl.scope_logs.iter().flat_map(|sl| &sl.log_records) {
                out.push((
                    service.clone(),
                    crate::values::as_string(record.body.as_ref()),
                ));
            }
        }
        out
    };
    let texts = vec!["Retrying".to_owned(), "attempt 2".to_owned()];
    let holds = |body: &str| texts.iter().all(|t| body.contains(t.as_str()));
    let expected: Vec<(String, String)> = objects
        .iter()
        .flat_map(|(_, b)| records(b))
        .filter(|(_, body)| holds(body))
        .collect();
    let all: usize = objects.iter().map(|(_, b)| b.item_count()).sum();
    assert!(!expected.is_empty() && expected.len() < all);
    // Alone, and after a service narrowed the rows (then bodies are read
    // for the rows left only).
    let service = expected[0].0.clone();
    let of_service: Vec<(String, String)> = expected
        .iter()
        .filter(|(s, _)| *s == service)
        .cloned()
        .collect();
    assert!(of_service.len() < expected.len());
    runtime().block_on(async {
        let (_store, files, _) = store_parts(&objects).await;
        for (service, expected) in [(None, &expected), (Some(service), &of_service)] {
            let filter = Filter {
                body_contains: texts.clone(),
                service: service.clone(),
                ..everything()
            };
            let mut got: Vec<(String, String)> = scan(Signal::Logs, &files, &filter)
                .await
                .iter()
                .flat_map(|(_, b)| records(b))
                .collect();
            let mut expected = expected.clone();
            got.sort();
            expected.sort();
            assert_eq!(got, expected, "service {service:?}");
        }
        let filter = Filter {
            body_contains: texts.clone(),
            ..everything()
        };
        // Spans have no body: nothing holds a text.
        let traces = [(0, Batch::Traces(trace_batch(50_000)))];
        let (_store, files, _) = store_parts(&traces).await;
        assert!(scan(Signal::Traces, &files, &filter).await.is_empty());
    });
}

/// A record as a line shows it: its resource (encoded), time, severity
/// number and text, and body as text.
type Line = (Option<Vec<u8>>, u64, i32, String, String);

/// What a line shows of each record of a batch of logs, in order: its
/// resource, time (else when it was observed), severity and body as text.
fn lines_of(batch: &Batch) -> Vec<Line> {
    let Batch::Logs(request) = batch else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for rl in &request.resource_logs {
        let resource = rl.resource.as_ref().map(prost::Message::encode_to_vec);
        for record in rl.scope_logs.iter().flat_map(|sl| &sl.log_records) {
            let time = match record.time_unix_nano {
                0 => record.observed_time_unix_nano,
                t => t,
            };
            out.push((
                resource.clone(),
                time,
                record.severity_number,
                record.severity_text.clone(),
                crate::values::as_string(record.body.as_ref()),
            ));
        }
    }
    out
}

/// The records of `numbered` read back as lines, keeping those whose
/// bodies hold every one of `texts`.
fn read_lines(numbered: &[(u32, Batch)], texts: &[String]) -> Vec<(u32, Vec<Line>)> {
    let back = runtime().block_on(async {
        let (_store, files, _) = store_parts(numbered).await;
        let mut rows = Vec::new();
        for file in &files {
            let found = candidates(file.clone(), Signal::Logs, &everything())
                .await
                .expect("candidates");
            let wanted: Vec<u64> = found.iter().map(|c| c.row).collect();
            let lines = read_log_lines(file.clone(), &wanted, texts).await;
            rows.extend(lines.expect("lines"));
        }
        rows.sort_by_key(|r| (r.object, r.index));
        assemble(Signal::Logs, rows).expect("assemble")
    });
    back.iter().map(|(i, b)| (*i, lines_of(b))).collect()
}

fn numbered(logs: Vec<ExportLogsServiceRequest>) -> Vec<(u32, Batch)> {
    logs.into_iter()
        .enumerate()
        .map(|(i, b)| (i as u32, Batch::Logs(b)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Records read as lines have the time, severity, body (as text) and
    /// resource of the records sent, each in its object and place.
    #[test]
    fn log_lines_show_each_record_as_sent(logs in proptest::collection::vec(arb_logs(), 1..4)) {
        let numbered = numbered(logs);
        let want: Vec<(u32, _)> = numbered
            .iter()
            .filter(|(_, b)| b.item_count() > 0)
            .map(|(i, b)| (*i, lines_of(b)))
            .collect();
        prop_assert_eq!(read_lines(&numbered, &[]), want);
    }

    /// Lines read with a text are exactly the records whose body holds it.
    #[test]
    fn log_lines_keep_the_records_whose_body_holds_the_text(
        logs in proptest::collection::vec(arb_logs(), 1..4),
        pick in any::<proptest::sample::Index>(),
    ) {
        let numbered = numbered(logs);
        let bodies: Vec<String> = numbered
            .iter()
            .flat_map(|(_, b)| lines_of(b))
            .map(|line| line.4)
            .filter(|body| !body.is_empty())
            .collect();
        // Part of a body sent, so that some records hold it.
        let text: String = match bodies.is_empty() {
            true => "x".into(),
            false => pick.get(&bodies).chars().take(2).collect(),
        };
        let want: Vec<(u32, Vec<Line>)> = numbered
            .iter()
            .map(|(i, b)| {
                let kept = lines_of(b).into_iter().filter(|l| l.4.contains(&text));
                (*i, kept.collect::<Vec<_>>())
            })
            .filter(|(_, lines)| !lines.is_empty())
            .collect();
        prop_assert_eq!(read_lines(&numbered, &[text]), want);
    }
}
