//! Property test: protobuf -> OTLP/JSON -> protobuf keeps every message
//! exactly, counted JSON lengths equal written ones, and no bytes panic the
//! decoder.

use std::fmt;

use otelvault_codec::json::{
    JsonError, decode_logs, decode_metrics, decode_traces, encode_logs, encode_metrics,
    encode_traces,
};
use otelvault_codec::size::encoded_len;
use otelvault_codec::{Batch, Format};
use otelvault_testkit::arb::{arb_logs, arb_metrics, arb_traces};
use proptest::prelude::*;

/// protobuf bytes -> message -> OTLP/JSON -> message -> protobuf bytes must
/// give back the same message and the same bytes.
fn round_trip<M: prost::Message + Default + PartialEq + fmt::Debug>(
    original: &M,
    to_json: impl Fn(&M) -> String,
    from_json: impl Fn(&[u8]) -> Result<M, JsonError>,
) -> Result<(), TestCaseError> {
    let pb = original.encode_to_vec();
    let decoded = M::decode(pb.as_slice()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let json = to_json(&decoded);
    prop_assert!(!json.contains(":null"), "null in {}", json);
    let back =
        from_json(json.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}\n{json}")))?;
    prop_assert_eq!(&back, &decoded);
    prop_assert_eq!(back.encode_to_vec(), pb);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn traces_round_trip_through_json(req in arb_traces()) {
        round_trip(&req, encode_traces, decode_traces)?;
    }

    #[test]
    fn metrics_round_trip_through_json(req in arb_metrics()) {
        round_trip(&req, encode_metrics, decode_metrics)?;
    }

    #[test]
    fn logs_round_trip_through_json(req in arb_logs()) {
        round_trip(&req, encode_logs, decode_logs)?;
    }

    #[test]
    fn counted_json_lengths_equal_the_written_ones(
        traces in arb_traces(),
        metrics in arb_metrics(),
        logs in arb_logs(),
    ) {
        for batch in [
            Batch::Traces(traces),
            Batch::Metrics(metrics),
            Batch::Logs(logs),
        ] {
            prop_assert_eq!(encoded_len(&batch, Format::Json), batch.encode(Format::Json).len());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_json_decoder(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_traces(&bytes);
        let _ = decode_metrics(&bytes);
        let _ = decode_logs(&bytes);
    }
}
