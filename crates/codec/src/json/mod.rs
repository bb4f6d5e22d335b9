//! OTLP/JSON, as the OTLP specification defines it.
//!
//! Differences from the canonical proto3 JSON mapping that this module
//! implements: trace and span ids are hex strings (case-insensitive on input,
//! lowercase on output) rather than base64; enums are written as integers;
//! field names are lowerCamelCase. Like proto3 JSON, 64-bit integers are
//! written as decimal strings and accepted as strings or numbers, default
//! values and absent messages are omitted (never `null`), and unknown fields
//! are ignored.

mod read;
pub(crate) mod write;

use std::fmt;

use crate::proto::collector_logs::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use crate::proto::collector_metrics::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use crate::proto::collector_trace::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use crate::proto::common::KeyValue;
use crate::status::RpcStatus;

pub(crate) use write::Obj;

/// An OTLP/JSON document that cannot be decoded, with the path of the
/// offending field (`resourceSpans[0].scopeSpans[2].spans[7].traceId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    path: String,
    message: String,
}

impl From<serde_json::Error> for JsonError {
    fn from(e: serde_json::Error) -> Self {
        let text = e.to_string();
        match text.split_once(read::PATH_END) {
            Some((path, message)) => JsonError {
                path: path.to_owned(),
                message: message.to_owned(),
            },
            None => JsonError {
                path: String::new(),
                message: text,
            },
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for JsonError {}

/// The length of a batch's OTLP/JSON encoding, counted without writing it.
pub(crate) fn encoded_len(batch: &crate::Batch) -> usize {
    let mut counter = write::Counter::default();
    match batch {
        crate::Batch::Traces(r) => write::traces_request(&mut counter, r),
        crate::Batch::Metrics(r) => write::metrics_request(&mut counter, r),
        crate::Batch::Logs(r) => write::logs_request(&mut counter, r),
    }
    counter.0
}

/// Decodes one message from a whole document (trailing whitespace only).
/// serde_json refuses nesting deeper than 128 levels, which also bounds the
/// recursion of the visitors.
///
/// A document that is UTF-8 throughout (checked in one pass, as fast as a
/// copy) is read as text, whose strings are not checked again one by one;
/// any other is read as bytes, which names where its first bad string is.
fn decode<T: read::JsonMessage>(bytes: &[u8]) -> Result<T, JsonError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => whole(serde_json::Deserializer::from_str(text)),
        Err(_) => whole(serde_json::Deserializer::from_slice(bytes)),
    }
}

fn whole<'de, R: serde_json::de::Read<'de>, T: read::JsonMessage>(
    mut de: serde_json::Deserializer<R>,
) -> Result<T, JsonError> {
    use serde::de::DeserializeSeed as _;
    let message = read::Msg::<T>::new().deserialize(&mut de)?;
    de.end()?;
    Ok(message)
}

/// Decodes one message, refusing it once its decoded cost (input included,
/// see [`crate::cost`]) passes `limit`.
pub(crate) fn decode_limited<T: read::JsonMessage>(
    bytes: &[u8],
    limit: usize,
) -> Result<T, crate::CodecError> {
    let too_large = crate::CodecError::DecodedTooLarge { limit };
    let Some(left) = limit.checked_sub(bytes.len()) else {
        return Err(too_large);
    };
    let scope = read::Limit::enter(left);
    decode(bytes).map_err(|e| if scope.passed() { too_large } else { e.into() })
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` (or `TracesData`, which has the same shape).
pub fn decode_traces(bytes: &[u8]) -> Result<ExportTraceServiceRequest, JsonError> {
    decode(bytes)
}

/// Decodes an OTLP/JSON `ExportMetricsServiceRequest` (or `MetricsData`).
pub fn decode_metrics(bytes: &[u8]) -> Result<ExportMetricsServiceRequest, JsonError> {
    decode(bytes)
}

/// Decodes an OTLP/JSON `ExportLogsServiceRequest` (or `LogsData`).
pub fn decode_logs(bytes: &[u8]) -> Result<ExportLogsServiceRequest, JsonError> {
    decode(bytes)
}

/// Encodes an `ExportTraceServiceRequest` as OTLP/JSON.
pub fn encode_traces(request: &ExportTraceServiceRequest) -> String {
    let mut out = String::new();
    write::traces_request(&mut out, request);
    out
}

/// Encodes one `KeyValue` (an attribute) as OTLP/JSON.
pub fn encode_key_value(kv: &KeyValue) -> String {
    let mut out = String::new();
    let mut o = Obj::begin(&mut out);
    write::key_value(&mut o, kv);
    o.end();
    out
}

/// Encodes an `ExportMetricsServiceRequest` as OTLP/JSON.
pub fn encode_metrics(request: &ExportMetricsServiceRequest) -> String {
    let mut out = String::new();
    write::metrics_request(&mut out, request);
    out
}

/// Encodes an `ExportLogsServiceRequest` as OTLP/JSON.
pub fn encode_logs(request: &ExportLogsServiceRequest) -> String {
    let mut out = String::new();
    write::logs_request(&mut out, request);
    out
}

/// Encodes an `ExportTraceServiceResponse` as OTLP/JSON.
pub fn encode_traces_response(response: &ExportTraceServiceResponse) -> String {
    let mut out = String::new();
    let mut o = Obj::begin(&mut out);
    o.opt_message(
        "partialSuccess",
        response.partial_success.as_ref(),
        write::traces_partial,
    );
    o.end();
    out
}

/// Encodes an `ExportMetricsServiceResponse` as OTLP/JSON.
pub fn encode_metrics_response(response: &ExportMetricsServiceResponse) -> String {
    let mut out = String::new();
    let mut o = Obj::begin(&mut out);
    o.opt_message(
        "partialSuccess",
        response.partial_success.as_ref(),
        write::metrics_partial,
    );
    o.end();
    out
}

/// Encodes an `ExportLogsServiceResponse` as OTLP/JSON.
pub fn encode_logs_response(response: &ExportLogsServiceResponse) -> String {
    let mut out = String::new();
    let mut o = Obj::begin(&mut out);
    o.opt_message(
        "partialSuccess",
        response.partial_success.as_ref(),
        write::logs_partial,
    );
    o.end();
    out
}

/// Reads the partial-success part of any `Export*ServiceResponse` in OTLP/JSON:
/// the number of rejected items and the server's message.
pub fn decode_partial_success(bytes: &[u8]) -> Result<(i64, String), JsonError> {
    let response: read::ExportResponse = decode(bytes)?;
    Ok((response.partial.rejected, response.partial.message))
}

/// Encodes a `google.rpc.Status` as JSON (`{"code":3,"message":"…"}`).
pub fn encode_status(status: &RpcStatus) -> String {
    let mut out = String::new();
    let mut o = Obj::begin(&mut out);
    o.i32("code", status.code);
    o.str("message", &status.message);
    o.end();
    out
}

/// Writes a JSON string literal (quoted and escaped) to `out`.
pub fn write_json_string(out: &mut String, s: &str) {
    write::write_string(out, s);
}

#[cfg(test)]
mod tests;
