use arrow_array::cast::AsArray as _;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use otelvault_codec::proto::common::{AnyValue, any_value};
use otelvault_codec::{Batch, Signal};
use otelvault_testkit::arb::arb_traces;
use otelvault_testkit::data::sample;
use parquet::file::reader::{FileReader as _, SerializedFileReader};
use proptest::prelude::*;

use super::*;
use crate::values::hex;
use crate::values::{as_string, string_attribute};
use arrow_array::{Array as _, ArrayRef, RecordBatch, StringArray};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;

/// Every span with its resource, scope and schema URLs, encoded, in a
/// canonical order: what "the same items" means, whatever the grouping.
fn items(request: &ExportTraceServiceRequest) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = request
        .resource_spans
        .iter()
        .flat_map(|rs| {
            rs.scope_spans.iter().flat_map(move |ss| {
                ss.spans.iter().map(move |span| {
                    ResourceSpans {
                        resource: rs.resource.clone(),
                        schema_url: rs.schema_url.clone(),
                        scope_spans: vec![ScopeSpans {
                            scope: ss.scope.clone(),
                            schema_url: ss.schema_url.clone(),
                            spans: vec![span.clone()],
                        }],
                    }
                    .encode_to_vec()
                })
            })
        })
        .collect();
    out.sort();
    out
}

fn sample_traces() -> ExportTraceServiceRequest {
    match sample(Signal::Traces) {
        Batch::Traces(request) => request,
        other => panic!("a traces sample, got {:?}", other.signal()),
    }
}

/// The whole part as one record batch, every column, as an SQL engine reads it.
fn sql_rows(part: &[u8]) -> RecordBatch {
    let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::copy_from_slice(part))
        .expect("part")
        .build()
        .expect("reader");
    let mut batches: Vec<RecordBatch> = reader.map(|b| b.expect("batch")).collect();
    assert_eq!(batches.len(), 1, "one batch for a small part");
    batches.remove(0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Each fact the remainder holds is one no column says: without any one
    /// of its fields (or of the span it keeps), the span does not come back.
    #[test]
    fn the_remainder_holds_nothing_a_column_says(span in otelvault_testkit::arb::arb_span()) {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span.clone()],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        let part = write(&[(0, &request)], &mut |_, _| Ok(())).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let batch = sql_rows(&part);
        let rest = crate::table::binary(&batch, TABLE, ITEM_COLUMN)
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .value(0)
            .to_vec();
        let whole = restore(&batch, 0, &rest).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&whole, &span);
        let mutations = crate::rest::without_each_field(&rest, 1);
        for mutated in mutations {
            let back = restore(&batch, 0, &mutated).ok();
            prop_assert_ne!(back, Some(span.clone()));
        }
    }

    #[test]
    fn every_span_comes_back_exactly(request in arb_traces()) {
        let part = write(&[(0, &request)], &mut |_, _| Ok(())).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = read(Bytes::from(part)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(items(&back), items(&request));
    }
}

#[test]
fn sql_columns_follow_the_clickhouse_exporter() {
    let request = sample_traces();
    let part = write(&[(0, &request)], &mut |_, _| Ok(())).expect("write");
    let rows = sql_rows(&part);
    let spans: Vec<&Span> = request
        .resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter().flat_map(|ss| ss.spans.iter()))
        .collect();
    assert_eq!(rows.num_rows(), spans.len());
    let column = |name: &str| {
        rows.column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name}"))
            .clone()
    };
    let text = |name: &str, i: usize| column(name).as_string::<i32>().value(i).to_owned();
    // The sample's first span, found by its id, column by column.
    let first = spans[0];
    let i = (0..rows.num_rows())
        .find(|i| text("SpanId", *i) == hex(&first.span_id))
        .expect("the first span is a row");
    assert_eq!(text("TraceId", i), hex(&first.trace_id));
    assert_eq!(text("SpanName", i), first.name);
    assert_eq!(text("SpanKind", i), kind_name(first.kind));
    let resource = request.resource_spans[0]
        .resource
        .as_ref()
        .expect("resource");
    assert_eq!(
        text("ServiceName", i),
        string_attribute(&resource.attributes, "service.name").expect("service.name")
    );
    assert_eq!(
        column("Timestamp")
            .as_primitive::<TimestampMicrosecondType>()
            .value(i),
        i64::try_from(first.start_time_unix_nano / 1000).expect("time")
    );
    assert_eq!(
        column("Duration").as_primitive::<Int64Type>().value(i),
        i64::try_from(first.end_time_unix_nano - first.start_time_unix_nano).expect("duration")
    );
    assert!(!first.attributes.is_empty());
    let attributes = column("SpanAttributes").as_map().value(i);
    let keys = attributes.column(0).as_string::<i32>();
    let values = attributes.column(1).as_string::<i32>();
    for kv in &first.attributes {
        let at = (0..keys.len())
            .find(|j| keys.value(*j) == kv.key)
            .unwrap_or_else(|| panic!("attribute {}", kv.key));
        assert_eq!(values.value(at), as_string(kv.value.as_ref()));
    }
}

#[test]
fn parts_are_sorted_compressed_and_carry_bloom_filters() {
    let mut request = sample_traces();
    // A second service whose name sorts first, at the same times.
    let mut other = request.resource_spans[0].clone();
    if let Some(resource) = other.resource.as_mut() {
        for kv in &mut resource.attributes {
            if kv.key == "service.name" {
                kv.value = Some(AnyValue {
                    value: Some(any_value::Value::StringValue("a-first-service".into())),
                });
            }
        }
    }
    request.resource_spans.push(other);
    let part = write(&[(0, &request)], &mut |_, _| Ok(())).expect("write");
    let rows = sql_rows(&part);
    let services = rows
        .column_by_name("ServiceName")
        .expect("ServiceName")
        .as_string::<i32>()
        .clone();
    let times = rows
        .column_by_name("Timestamp")
        .expect("Timestamp")
        .as_primitive::<TimestampMicrosecondType>()
        .clone();
    let keys: Vec<(String, i64)> = (0..rows.num_rows())
        .map(|i| (services.value(i).to_owned(), times.value(i)))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{keys:?}");
    assert_eq!(keys[0].0, "a-first-service");

    let file = SerializedFileReader::new(Bytes::from(part)).expect("file");
    let meta = file.metadata();
    let group = meta.row_group(0);
    assert_eq!(group.sorting_columns().map(Vec::len), Some(2));
    for column in group.columns() {
        let path = column.column_path().string();
        assert!(
            matches!(column.compression(), Compression::ZSTD(_)),
            "{path}"
        );
        assert_eq!(
            column.bloom_filter_offset().is_some(),
            path == "TraceId" || path == "ServiceName",
            "bloom filter on {path}"
        );
    }
}

#[test]
fn a_file_that_is_not_a_traces_part_is_refused_by_name() {
    let batch = RecordBatch::try_from_iter(vec![(
        "Other",
        Arc::new(StringArray::from(vec!["x"])) as ArrayRef,
    )])
    .expect("batch");
    let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), None).expect("writer");
    writer.write(&batch).expect("write");
    let part = writer.into_inner().expect("close");
    let err = read(Bytes::from(part)).expect_err("not a traces part");
    assert_eq!(
        err.to_string(),
        "not an otelvault traces part: no column OtlpResource"
    );
    assert!(read(Bytes::from_static(b"not parquet")).is_err());
}
