//! Typed OTLP batches: one `Export*ServiceRequest` of one signal.

use std::fmt;
use std::str::FromStr;

use prost::Message;

use crate::proto::collector_logs::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use crate::proto::collector_metrics::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use crate::proto::collector_trace::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use crate::{CodecError, Signal, json};

/// The wire format of a message: OTLP protobuf or OTLP/JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// OTLP/JSON (`application/json`, objects named `.json`).
    #[default]
    Json,
    /// OTLP protobuf (`application/x-protobuf`, objects named `.binpb`).
    Protobuf,
}

impl Format {
    /// Parses a `Content-Type` (or `Accept`) value; parameters such as
    /// `; charset=utf-8` are ignored. `None` for other media types.
    pub fn from_media_type(value: &str) -> Option<Self> {
        let essence = value.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("application/json") {
            Some(Format::Json)
        } else if essence.eq_ignore_ascii_case("application/x-protobuf")
            || essence.eq_ignore_ascii_case("application/protobuf")
        {
            Some(Format::Protobuf)
        } else {
            None
        }
    }

    /// The media type to send in `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Protobuf => "application/x-protobuf",
        }
    }

    /// The object name extension (without compression suffix or dot), as the
    /// Collector's `awss3exporter` names them.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Protobuf => "binpb",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Json => "json",
            Format::Protobuf => "proto",
        })
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(Format::Json),
            "proto" | "protobuf" => Ok(Format::Protobuf),
            other => Err(format!("unknown format {other:?} (expected json or proto)")),
        }
    }
}

/// One export request of one signal.
#[derive(Debug, Clone, PartialEq)]
pub enum Batch {
    /// Spans.
    Traces(ExportTraceServiceRequest),
    /// Metrics.
    Metrics(ExportMetricsServiceRequest),
    /// Log records.
    Logs(ExportLogsServiceRequest),
}

impl Batch {
    /// An empty batch of `signal`.
    pub fn empty(signal: Signal) -> Self {
        match signal {
            Signal::Traces => Batch::Traces(Default::default()),
            Signal::Metrics => Batch::Metrics(Default::default()),
            Signal::Logs => Batch::Logs(Default::default()),
        }
    }

    /// The batch's signal.
    pub fn signal(&self) -> Signal {
        match self {
            Batch::Traces(_) => Signal::Traces,
            Batch::Metrics(_) => Signal::Metrics,
            Batch::Logs(_) => Signal::Logs,
        }
    }

    /// Decodes an `Export*ServiceRequest` of `signal` (or the equivalent
    /// `*Data` message, which has the same encoding).
    pub fn decode(signal: Signal, format: Format, bytes: &[u8]) -> Result<Self, CodecError> {
        Batch::decode_limited(signal, format, bytes, usize::MAX)
    }

    /// Decodes a batch, refusing it with [`CodecError::DecodedTooLarge`]
    /// when it would take more than `limit` bytes of memory, input included
    /// (an estimate made before or while decoding: see [`crate::cost`]).
    pub fn decode_limited(
        signal: Signal,
        format: Format,
        bytes: &[u8],
        limit: usize,
    ) -> Result<Self, CodecError> {
        let pb = |message: &'static str| move |source| CodecError::Protobuf { message, source };
        if format == Format::Protobuf {
            crate::cost::check_protobuf(signal, bytes, limit)
                .map_err(|_| CodecError::DecodedTooLarge { limit })?;
        }
        Ok(match (signal, format) {
            (Signal::Traces, Format::Protobuf) => Batch::Traces(
                ExportTraceServiceRequest::decode(bytes)
                    .map_err(pb("ExportTraceServiceRequest"))?,
            ),
            (Signal::Metrics, Format::Protobuf) => Batch::Metrics(
                ExportMetricsServiceRequest::decode(bytes)
                    .map_err(pb("ExportMetricsServiceRequest"))?,
            ),
            (Signal::Logs, Format::Protobuf) => Batch::Logs(
                ExportLogsServiceRequest::decode(bytes).map_err(pb("ExportLogsServiceRequest"))?,
            ),
            (Signal::Traces, Format::Json) => Batch::Traces(json::decode_limited(bytes, limit)?),
            (Signal::Metrics, Format::Json) => Batch::Metrics(json::decode_limited(bytes, limit)?),
            (Signal::Logs, Format::Json) => Batch::Logs(json::decode_limited(bytes, limit)?),
        })
    }

    /// Encodes the batch.
    pub fn encode(&self, format: Format) -> Vec<u8> {
        match (self, format) {
            (Batch::Traces(r), Format::Protobuf) => r.encode_to_vec(),
            (Batch::Metrics(r), Format::Protobuf) => r.encode_to_vec(),
            (Batch::Logs(r), Format::Protobuf) => r.encode_to_vec(),
            (Batch::Traces(r), Format::Json) => json::encode_traces(r).into_bytes(),
            (Batch::Metrics(r), Format::Json) => json::encode_metrics(r).into_bytes(),
            (Batch::Logs(r), Format::Json) => json::encode_logs(r).into_bytes(),
        }
    }

    /// The number of items: spans, metric data points or log records.
    pub fn item_count(&self) -> usize {
        match self {
            Batch::Traces(r) => r
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum(),
            Batch::Metrics(r) => r
                .resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| &sm.metrics)
                .map(crate::points::point_count)
                .sum(),
            Batch::Logs(r) => r
                .resource_logs
                .iter()
                .flat_map(|rl| &rl.scope_logs)
                .map(|sl| sl.log_records.len())
                .sum(),
        }
    }

    /// True when the batch holds no item.
    pub fn is_empty(&self) -> bool {
        self.item_count() == 0
    }
}

/// The answer to an export request: success, possibly partial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportResponse {
    /// The request's signal.
    pub signal: Signal,
    /// Items refused (0 for full success).
    pub rejected: i64,
    /// Why items were refused; empty for full success.
    pub message: String,
}

impl ExportResponse {
    /// Encodes the matching `Export*ServiceResponse`; `partial_success` is set
    /// only when something was rejected or a message is present.
    pub fn encode(&self, format: Format) -> Vec<u8> {
        let partial = self.rejected != 0 || !self.message.is_empty();
        let message = self.message.clone();
        match (self.signal, format) {
            (Signal::Traces, _) => {
                let r = ExportTraceServiceResponse {
                    partial_success: partial.then_some(ExportTracePartialSuccess {
                        rejected_spans: self.rejected,
                        error_message: message,
                    }),
                };
                match format {
                    Format::Protobuf => r.encode_to_vec(),
                    Format::Json => json::encode_traces_response(&r).into_bytes(),
                }
            }
            (Signal::Metrics, _) => {
                let r = ExportMetricsServiceResponse {
                    partial_success: partial.then_some(ExportMetricsPartialSuccess {
                        rejected_data_points: self.rejected,
                        error_message: message,
                    }),
                };
                match format {
                    Format::Protobuf => r.encode_to_vec(),
                    Format::Json => json::encode_metrics_response(&r).into_bytes(),
                }
            }
            (Signal::Logs, _) => {
                let r = ExportLogsServiceResponse {
                    partial_success: partial.then_some(ExportLogsPartialSuccess {
                        rejected_log_records: self.rejected,
                        error_message: message,
                    }),
                };
                match format {
                    Format::Protobuf => r.encode_to_vec(),
                    Format::Json => json::encode_logs_response(&r).into_bytes(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_parse_with_parameters_and_case() {
        assert_eq!(
            Format::from_media_type("application/json"),
            Some(Format::Json)
        );
        assert_eq!(
            Format::from_media_type("Application/JSON; charset=utf-8"),
            Some(Format::Json)
        );
        assert_eq!(
            Format::from_media_type("application/x-protobuf"),
            Some(Format::Protobuf)
        );
        assert_eq!(Format::from_media_type("text/plain"), None);
        assert_eq!(Format::from_media_type("application/jsonx"), None);
        assert_eq!(Format::from_media_type(""), None);
    }

    #[test]
    fn responses_encode_partial_success_only_when_needed() {
        let ok = ExportResponse {
            signal: Signal::Traces,
            rejected: 0,
            message: String::new(),
        };
        assert_eq!(ok.encode(Format::Json), b"{}");
        assert!(ok.encode(Format::Protobuf).is_empty());

        let partial = ExportResponse {
            signal: Signal::Logs,
            rejected: 2,
            message: "bad ids".into(),
        };
        assert_eq!(
            String::from_utf8(partial.encode(Format::Json)).expect("utf8"),
            r#"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"bad ids"}}"#
        );
        let decoded =
            ExportLogsServiceResponse::decode(partial.encode(Format::Protobuf).as_slice())
                .expect("decode");
        let p = decoded.partial_success.expect("partial");
        assert_eq!(
            (p.rejected_log_records, p.error_message.as_str()),
            (2, "bad ids")
        );
    }

    #[test]
    fn protobuf_round_trips_and_rejects_garbage() {
        let json = include_str!("../../../samples/otlp/traces.json");
        let batch = Batch::decode(Signal::Traces, Format::Json, json.as_bytes()).expect("json");
        assert_eq!(batch.item_count(), 2);
        let pb = batch.encode(Format::Protobuf);
        assert_eq!(
            Batch::decode(Signal::Traces, Format::Protobuf, &pb).expect("pb"),
            batch
        );
        // Truncated protobuf, random bytes and JSON sent as protobuf all fail cleanly.
        for bad in [
            &pb[..pb.len() - 3],
            b"\xff\xff\xff\xff\xff".as_slice(),
            json.as_bytes(),
        ] {
            let err = Batch::decode(Signal::Traces, Format::Protobuf, bad).expect_err("garbage");
            assert!(
                err.to_string()
                    .starts_with("invalid protobuf ExportTraceServiceRequest"),
                "{err}"
            );
        }
        // Protobuf sent as JSON.
        let err = Batch::decode(Signal::Logs, Format::Json, &pb).expect_err("not json");
        assert!(err.to_string().starts_with("invalid OTLP/JSON"), "{err}");
    }

    #[test]
    fn item_counts_cover_every_metric_type() {
        let json = include_str!("../../../samples/otlp/metrics.json");
        let batch = Batch::decode(Signal::Metrics, Format::Json, json.as_bytes()).expect("json");
        // 1 gauge + 2 sum + 2 histogram + 1 exponential + 1 summary points.
        assert_eq!(batch.item_count(), 7);
        let logs = include_str!("../../../samples/otlp/logs.json");
        assert_eq!(
            Batch::decode(Signal::Logs, Format::Json, logs.as_bytes())
                .expect("json")
                .item_count(),
            8
        );
    }
}
