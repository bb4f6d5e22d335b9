//! OTLP/gRPC as otelvault speaks it, both ways: the `Export` method paths,
//! a codec that carries messages as bytes (the caller encodes and decodes
//! them, as OTLP/HTTP does), and the retry rules of the OTLP
//! specification for a status.

use std::time::Duration;

use bytes::{Buf as _, BufMut as _, Bytes};
use otelvault_codec::Signal;
use prost::Message as _;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};

/// The full name of `signal`'s collector service.
pub fn service(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "opentelemetry.proto.collector.trace.v1.TraceService",
        Signal::Metrics => "opentelemetry.proto.collector.metrics.v1.MetricsService",
        Signal::Logs => "opentelemetry.proto.collector.logs.v1.LogsService",
    }
}

/// The path of `signal`'s `Export` method.
pub fn export_path(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    }
}

/// Messages as bytes, both ways.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// `google.rpc.Status`, with details.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// The code.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// The message.
    #[prost(string, tag = "2")]
    pub message: String,
    /// Details, such as `RetryInfo`.
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Any {
    /// `type.googleapis.com/…`.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The message.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    /// How long to wait.
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoDuration {
    /// Seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `RetryInfo`'s type URL.
pub const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// The delay a status's `RetryInfo` asks for, if it has one.
pub fn retry_delay(status: &Status) -> Option<Duration> {
    let details = RpcStatus::decode(status.details()).ok()?;
    let info = details
        .details
        .iter()
        .find(|any| any.type_url == RETRY_INFO_TYPE)?;
    let delay = RetryInfo::decode(info.value.as_slice()).ok()?.retry_delay?;
    Some(
        Duration::from_secs(u64::try_from(delay.seconds).ok()?)
            + Duration::from_nanos(u64::try_from(delay.nanos).ok()?),
    )
}

/// Whether an export that failed with `status` may succeed if sent again
/// (the OTLP specification's list; `RESOURCE_EXHAUSTED` only with
/// `RetryInfo`).
pub fn retryable(status: &Status) -> bool {
    match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => true,
        Code::ResourceExhausted => retry_delay(status).is_some(),
        _ => false,
    }
}

/// A status that asks to be retried after `delay` (`RetryInfo` in its
/// details, and in `google.rpc.retryinfo-bin` for clients that read it
/// there).
pub fn status_with_retry(code: Code, message: String, delay: Duration) -> Status {
    let retry_info = RetryInfo {
        retry_delay: Some(ProtoDuration {
            seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(delay.subsec_nanos()).unwrap_or(0),
        }),
    }
    .encode_to_vec();
    let details = RpcStatus {
        code: code as i32,
        message: message.clone(),
        details: vec![Any {
            type_url: RETRY_INFO_TYPE.into(),
            value: retry_info.clone(),
        }],
    }
    .encode_to_vec();
    let mut status = Status::with_details(code, message, Bytes::from(details));
    status.metadata_mut().insert_bin(
        "google.rpc.retryinfo-bin",
        tonic::metadata::MetadataValue::from_bytes(&retry_info),
    );
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_info_round_trips_and_decides_resource_exhausted() {
        let status = status_with_retry(
            Code::ResourceExhausted,
            "throttled".into(),
            Duration::from_secs(5),
        );
        assert_eq!(retry_delay(&status), Some(Duration::from_secs(5)));
        assert!(retryable(&status));
        assert!(!retryable(&Status::resource_exhausted("too large")));
        assert!(retryable(&Status::unavailable("down")));
        assert!(!retryable(&Status::invalid_argument("bad")));
        assert!(!retryable(&Status::unauthenticated("key")));
    }
}
