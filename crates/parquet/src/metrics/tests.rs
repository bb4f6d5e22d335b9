use arrow_array::cast::AsArray as _;
use arrow_array::types::Float64Type;
use otelvault_codec::{Batch, Signal};
use otelvault_testkit::arb::arb_metrics;
use otelvault_testkit::data::sample;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use proptest::prelude::*;
use prost::Message as _;

use super::*;

/// Every data point as a single-point metric with its resource, scope and
/// schema URLs, encoded, in a canonical order.
fn items(request: &ExportMetricsServiceRequest) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for rm in &request.resource_metrics {
        for sm in &rm.scope_metrics {
            for metric in &sm.metrics {
                for single in single_points(metric) {
                    out.push(
                        ResourceMetrics {
                            resource: rm.resource.clone(),
                            schema_url: rm.schema_url.clone(),
                            scope_metrics: vec![ScopeMetrics {
                                scope: sm.scope.clone(),
                                schema_url: sm.schema_url.clone(),
                                metrics: vec![single],
                            }],
                        }
                        .encode_to_vec(),
                    );
                }
            }
        }
    }
    out.sort();
    out
}

fn round_trip(request: &ExportMetricsServiceRequest) -> Result<Vec<Vec<u8>>, CompactError> {
    let mut back = ExportMetricsServiceRequest::default();
    for (_, _, part) in write(&[(0, request)], &mut |_, _| Ok(()))? {
        back.resource_metrics
            .extend(read(Bytes::from(part))?.resource_metrics);
    }
    Ok(items(&back))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_data_point_of_every_type_comes_back_exactly(request in arb_metrics()) {
        let back = round_trip(&request).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back.len(), Batch::Metrics(request.clone()).item_count());
        prop_assert_eq!(back, items(&request));
    }
}

#[test]
fn each_type_gets_its_table_with_the_clickhouse_columns() {
    let Batch::Metrics(request) = sample(Signal::Metrics) else {
        panic!("a metrics sample");
    };
    let parts = write(&[(0, &request)], &mut |_, _| Ok(())).expect("write");
    let kinds: Vec<MetricType> = parts.iter().map(|(k, _, _)| *k).collect();
    assert!(kinds.len() >= 3, "{kinds:?}");
    for (kind, rows, part) in parts {
        let mut batches: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(part))
            .expect("part")
            .build()
            .expect("reader")
            .map(|b| b.expect("batch"))
            .collect();
        let batch = batches.remove(0);
        assert_eq!(batch.num_rows(), rows);
        let names: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        for column in [
            "ServiceName",
            "TimeUnix",
            "MetricName",
            "Attributes",
            "OtlpMetric",
        ] {
            assert!(names.iter().any(|n| n == column), "{kind:?}: {names:?}");
        }
        let own: &[&str] = match kind {
            MetricType::Gauge => &["Value"],
            MetricType::Sum => &["Value", "AggregationTemporality", "IsMonotonic"],
            MetricType::Histogram => &["Count", "Sum", "BucketCounts", "ExplicitBounds"],
            MetricType::ExponentialHistogram => &[
                "Scale",
                "ZeroCount",
                "PositiveBucketCounts",
                "NegativeOffset",
            ],
            MetricType::Summary => &["ValueAtQuantiles.Quantile", "ValueAtQuantiles.Value"],
        };
        for column in own {
            assert!(names.iter().any(|n| n == column), "{kind:?}: {names:?}");
        }
        if kind == MetricType::Sum {
            // Values as the sample's points hold them, ints as doubles.
            let values = batch
                .column_by_name("Value")
                .expect("Value")
                .as_primitive::<Float64Type>()
                .clone();
            let expected: Vec<f64> = request
                .resource_metrics
                .iter()
                .flat_map(|rm| rm.scope_metrics.iter().flat_map(|sm| sm.metrics.iter()))
                .filter_map(|m| match &m.data {
                    Some(Data::Sum(s)) => Some(s.data_points.iter().map(number)),
                    _ => None,
                })
                .flatten()
                .collect();
            let mut got: Vec<f64> = values.values().to_vec();
            let mut expected = expected;
            got.sort_by(f64::total_cmp);
            expected.sort_by(f64::total_cmp);
            assert_eq!(got, expected);
        }
    }
}
