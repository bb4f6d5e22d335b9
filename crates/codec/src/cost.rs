//! What a request costs in memory once decoded, known before decoding it.
//!
//! Bytes alone do not bound the memory of a decoded OTLP request: an empty
//! attribute is two bytes of protobuf and a `KeyValue` of about 60 bytes in
//! memory, an empty span two bytes and a `Span` of about 300. A 40 KB gzip
//! body of 20 million empty attributes would take more than a gigabyte.
//! [`Batch::decode_limited`](crate::Batch::decode_limited) therefore counts,
//! on top of the input's own size, the size of every element of every
//! repeated field and an allocation for every string and byte field, and
//! refuses the request once that passes the limit:
//!
//! - protobuf: a walk over the wire format with the OTLP schema below, before
//!   prost allocates anything;
//! - OTLP/JSON: the decoder charges the same costs as it goes and stops at
//!   the limit.
//!
//! The figure is an estimate with a known shape (it ignores the spare
//! capacity of growing vectors and the allocator's own overhead), not a
//! measurement; it grows with what a request really costs, which is what a
//! limit needs.

use crate::Signal;
use crate::proto::common::{AnyValue, EntityRef, KeyValue};
use crate::proto::logs::{LogRecord, ResourceLogs, ScopeLogs};
use crate::proto::metrics::{
    Exemplar, ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, SummaryDataPoint, summary_data_point::ValueAtQuantile,
};
use crate::proto::trace::{ResourceSpans, ScopeSpans, Span, span};

/// What one string or byte field costs besides its bytes: the allocation
/// that holds them (the smallest block glibc's allocator hands out).
pub(crate) const STRING_COST: usize = 32;

/// Where the limit was passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OverLimit;

/// Protobuf messages nested deeper than this are refused by prost anyway;
/// the walk stops there too, so its recursion is bounded.
const MAX_DEPTH: u32 = 100;

/// The OTLP message types a request is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    TracesRequest,
    ResourceSpans,
    ScopeSpans,
    Span,
    Event,
    Link,
    Status,
    MetricsRequest,
    ResourceMetrics,
    ScopeMetrics,
    Metric,
    /// Gauge and Sum: field 1 is their number data points.
    NumberPoints,
    Histogram,
    ExponentialHistogram,
    Summary,
    NumberDataPoint,
    HistogramDataPoint,
    ExponentialHistogramDataPoint,
    Buckets,
    SummaryDataPoint,
    ValueAtQuantile,
    Exemplar,
    LogsRequest,
    ResourceLogs,
    ScopeLogs,
    LogRecord,
    Resource,
    Scope,
    EntityRef,
    KeyValue,
    AnyValue,
    ArrayValue,
    KeyValueList,
}

/// What a field of a message holds, as far as memory goes.
#[derive(Debug, Clone, Copy)]
enum Field {
    /// A repeated message: one element of `size` bytes each.
    Repeated(Kind, usize),
    /// A singular message, stored inside its parent.
    Inline(Kind),
    /// A repeated `fixed64` or `double`: eight bytes an element, packed or not.
    Fixed64s,
    /// A repeated varint: eight bytes an element, packed or not.
    Varints,
    /// A repeated string: a `String` and its allocation each.
    Strings,
    /// A string, bytes or a number.
    Scalar,
}

fn field(kind: Kind, number: u64) -> Field {
    use Field::{Fixed64s, Inline, Repeated, Scalar, Strings, Varints};
    use Kind as K;
    const fn rep<T>(kind: Kind) -> Field {
        Repeated(kind, size_of::<T>())
    }
    let attributes = rep::<KeyValue>(K::KeyValue);
    match (kind, number) {
        (K::TracesRequest, 1) => rep::<ResourceSpans>(K::ResourceSpans),
        (K::ResourceSpans, 1) | (K::ResourceMetrics, 1) | (K::ResourceLogs, 1) => {
            Inline(K::Resource)
        }
        (K::ResourceSpans, 2) => rep::<ScopeSpans>(K::ScopeSpans),
        (K::ScopeSpans, 1) | (K::ScopeMetrics, 1) | (K::ScopeLogs, 1) => Inline(K::Scope),
        (K::ScopeSpans, 2) => rep::<Span>(K::Span),
        (K::Span, 9) | (K::Event, 3) | (K::Link, 4) => attributes,
        (K::Span, 11) => rep::<span::Event>(K::Event),
        (K::Span, 13) => rep::<span::Link>(K::Link),
        (K::Span, 15) => Inline(K::Status),

        (K::MetricsRequest, 1) => rep::<ResourceMetrics>(K::ResourceMetrics),
        (K::ResourceMetrics, 2) => rep::<ScopeMetrics>(K::ScopeMetrics),
        (K::ScopeMetrics, 2) => rep::<Metric>(K::Metric),
        (K::Metric, 5) | (K::Metric, 7) => Inline(K::NumberPoints),
        (K::Metric, 9) => Inline(K::Histogram),
        (K::Metric, 10) => Inline(K::ExponentialHistogram),
        (K::Metric, 11) => Inline(K::Summary),
        (K::Metric, 12) => attributes,
        (K::NumberPoints, 1) => rep::<NumberDataPoint>(K::NumberDataPoint),
        (K::Histogram, 1) => rep::<HistogramDataPoint>(K::HistogramDataPoint),
        (K::ExponentialHistogram, 1) => {
            rep::<ExponentialHistogramDataPoint>(K::ExponentialHistogramDataPoint)
        }
        (K::Summary, 1) => rep::<SummaryDataPoint>(K::SummaryDataPoint),
        (K::NumberDataPoint, 7) | (K::HistogramDataPoint, 9) => attributes,
        (K::ExponentialHistogramDataPoint, 1) | (K::SummaryDataPoint, 7) => attributes,
        (K::NumberDataPoint, 5) | (K::HistogramDataPoint, 8) => rep::<Exemplar>(K::Exemplar),
        (K::ExponentialHistogramDataPoint, 11) => rep::<Exemplar>(K::Exemplar),
        (K::HistogramDataPoint, 6) | (K::HistogramDataPoint, 7) => Fixed64s,
        (K::Buckets, 2) => Varints,
        (K::ExponentialHistogramDataPoint, 8) | (K::ExponentialHistogramDataPoint, 9) => {
            Inline(K::Buckets)
        }
        (K::SummaryDataPoint, 6) => rep::<ValueAtQuantile>(K::ValueAtQuantile),
        (K::Exemplar, 7) => attributes,

        (K::LogsRequest, 1) => rep::<ResourceLogs>(K::ResourceLogs),
        (K::ResourceLogs, 2) => rep::<ScopeLogs>(K::ScopeLogs),
        (K::ScopeLogs, 2) => rep::<LogRecord>(K::LogRecord),
        (K::LogRecord, 5) => Inline(K::AnyValue),
        (K::LogRecord, 6) => attributes,

        (K::Resource, 1) | (K::Scope, 3) | (K::KeyValueList, 1) => attributes,
        (K::Resource, 3) => rep::<EntityRef>(K::EntityRef),
        (K::EntityRef, 3) | (K::EntityRef, 4) => Strings,
        (K::KeyValue, 2) => Inline(K::AnyValue),
        (K::AnyValue, 5) => Inline(K::ArrayValue),
        (K::AnyValue, 6) => Inline(K::KeyValueList),
        (K::ArrayValue, 1) => rep::<AnyValue>(K::AnyValue),
        _ => Scalar,
    }
}

/// Charges `cost` against what is left of the limit.
pub(crate) fn charge(left: &mut usize, cost: usize) -> Result<(), OverLimit> {
    *left = left.checked_sub(cost).ok_or(OverLimit)?;
    Ok(())
}

/// How much more than its text an OTLP/JSON request may take once decoded,
/// at the most: `{}` (two bytes and a comma) is a `KeyValue` of about 60.
pub const JSON_EXPANSION: usize = 24;

/// What a request of `signal` will take in memory once decoded (its own
/// bytes included), known before decoding it: the protobuf walk's figure,
/// or for OTLP/JSON a bound ([`JSON_EXPANSION`] times its length). Never
/// more than `cap`.
pub fn estimate(signal: Signal, format: crate::Format, bytes: &[u8], cap: usize) -> usize {
    match format {
        crate::Format::Protobuf => {
            let mut left = cap;
            let kind = match signal {
                Signal::Traces => Kind::TracesRequest,
                Signal::Metrics => Kind::MetricsRequest,
                Signal::Logs => Kind::LogsRequest,
            };
            match charge(&mut left, bytes.len()).and_then(|()| walk(kind, bytes, 0, &mut left)) {
                Ok(()) => cap - left,
                Err(OverLimit) => cap,
            }
        }
        crate::Format::Json => bytes.len().saturating_mul(JSON_EXPANSION).min(cap),
    }
}

/// Walks a protobuf request of `signal`, charging its decoded cost (its own
/// length included) against `limit`. Bytes that are not valid protobuf end
/// the walk without error: prost reports them when it decodes.
pub(crate) fn check_protobuf(signal: Signal, bytes: &[u8], limit: usize) -> Result<(), OverLimit> {
    let mut left = limit;
    charge(&mut left, bytes.len())?;
    let kind = match signal {
        Signal::Traces => Kind::TracesRequest,
        Signal::Metrics => Kind::MetricsRequest,
        Signal::Logs => Kind::LogsRequest,
    };
    walk(kind, bytes, 0, &mut left)
}

fn walk(kind: Kind, mut bytes: &[u8], depth: u32, left: &mut usize) -> Result<(), OverLimit> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    while !bytes.is_empty() {
        let Some(tag) = varint(&mut bytes) else {
            return Ok(());
        };
        let number = tag >> 3;
        let payload = match tag & 7 {
            0 => varint(&mut bytes).map(|_| &[][..]),
            1 => take(&mut bytes, 8),
            5 => take(&mut bytes, 4),
            2 => varint(&mut bytes)
                .and_then(|len| usize::try_from(len).ok())
                .and_then(|len| take(&mut bytes, len)),
            // Groups (3, 4) are not used by OTLP; prost refuses what follows.
            _ => None,
        };
        let Some(payload) = payload else {
            return Ok(());
        };
        let delimited = tag & 7 == 2;
        match field(kind, number) {
            Field::Repeated(child, size) if delimited => {
                charge(left, size)?;
                walk(child, payload, depth + 1, left)?;
            }
            Field::Inline(child) if delimited => walk(child, payload, depth + 1, left)?,
            // Packed: the payload holds the elements back to back.
            Field::Fixed64s if delimited => charge(left, payload.len())?,
            Field::Varints if delimited => {
                let elements = payload.iter().filter(|b| **b < 0x80).count();
                charge(left, elements.saturating_mul(8))?;
            }
            Field::Fixed64s | Field::Varints => charge(left, 8)?,
            Field::Strings if delimited => {
                charge(left, size_of::<String>())?;
                charge(left, string_cost(payload))?;
            }
            Field::Scalar if delimited => charge(left, string_cost(payload))?,
            _ => {}
        }
    }
    Ok(())
}

/// A string or byte field's allocation, when it has one (its bytes are
/// counted with the input's).
pub(crate) fn string_cost(bytes: &[u8]) -> usize {
    if bytes.is_empty() { 0 } else { STRING_COST }
}

fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Some(value);
        }
    }
    None
}

fn take<'a>(bytes: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    if bytes.len() < len {
        return None;
    }
    let (head, rest) = bytes.split_at(len);
    *bytes = rest;
    Some(head)
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::proto::collector_trace::ExportTraceServiceRequest;
    use crate::proto::trace::{ResourceSpans, ScopeSpans, Span};
    use crate::samples::sample;
    use crate::{Batch, CodecError, Format};

    /// The smallest limit under which `bytes` decodes.
    fn cost(signal: Signal, format: Format, bytes: &[u8]) -> usize {
        let (mut low, mut high) = (0usize, 1 << 40);
        while low < high {
            let mid = low + (high - low) / 2;
            match Batch::decode_limited(signal, format, bytes, mid) {
                Ok(_) => high = mid,
                Err(CodecError::DecodedTooLarge { limit }) => {
                    assert_eq!(limit, mid);
                    low = mid + 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
        low
    }

    #[test]
    fn protobuf_and_json_count_the_same_structure() {
        for signal in Signal::ALL {
            let batch = sample(signal);
            let pb = batch.encode(Format::Protobuf);
            let json = batch.encode(Format::Json);
            let pb_cost = cost(signal, Format::Protobuf, &pb);
            let json_cost = cost(signal, Format::Json, &json);
            // Above their own bytes both count the same elements and strings.
            assert_eq!(pb_cost - pb.len(), json_cost - json.len(), "{signal}");
            assert!(pb_cost > pb.len() + 1000, "{signal}: {pb_cost}");
        }
    }

    fn empty_attributes(n: usize) -> Vec<u8> {
        let mut span = Span {
            trace_id: vec![1; 16],
            span_id: vec![1; 8],
            name: "s".into(),
            ..Default::default()
        }
        .encode_to_vec();
        // Field 9 (attributes), empty: two bytes each.
        span.extend(std::iter::repeat_n([0x4a, 0x00], n).flatten());
        // ExportTraceServiceRequest { resource_spans: [{ scope_spans: [{ spans: [span] }] }] }
        let wrap = |field: u8, inner: &[u8]| {
            let mut out = vec![field << 3 | 2];
            prost::encoding::encode_varint(inner.len() as u64, &mut out);
            out.extend_from_slice(inner);
            out
        };
        wrap(1, &wrap(2, &wrap(2, &span)))
    }

    #[test]
    fn tiny_elements_are_refused_before_prost_allocates_them() {
        let bytes = empty_attributes(200_000);
        let limit = 8 << 20;
        let refused = Batch::decode_limited(Signal::Traces, Format::Protobuf, &bytes, limit);
        assert!(matches!(refused, Err(CodecError::DecodedTooLarge { limit: l }) if l == limit));
        // Each costs a KeyValue, far more than its two bytes.
        let needed = cost(Signal::Traces, Format::Protobuf, &bytes);
        assert!(
            needed >= bytes.len() + 200_000 * size_of::<KeyValue>(),
            "{needed}"
        );
        assert!(
            needed < bytes.len() + 200_000 * size_of::<KeyValue>() + 1000,
            "{needed}"
        );

        let json = Batch::decode(Signal::Traces, Format::Protobuf, &bytes)
            .expect("decode")
            .encode(Format::Json);
        let refused = Batch::decode_limited(Signal::Traces, Format::Json, &json, limit);
        assert!(matches!(refused, Err(CodecError::DecodedTooLarge { .. })));
    }

    #[test]
    fn invalid_protobuf_is_reported_as_such_not_as_too_large() {
        let mut bytes = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans::default()],
                ..Default::default()
            }],
        }
        .encode_to_vec();
        bytes.push(0x0a); // a field with no length
        let err = Batch::decode_limited(Signal::Traces, Format::Protobuf, &bytes, 1 << 20);
        assert!(matches!(err, Err(CodecError::Protobuf { .. })), "{err:?}");
        let err = Batch::decode_limited(
            Signal::Traces,
            Format::Json,
            b"{\"resourceSpans\": 3}",
            1 << 20,
        );
        assert!(matches!(err, Err(CodecError::Json(_))), "{err:?}");
    }

    #[test]
    fn a_limit_ends_with_its_decoding() {
        let json = sample(Signal::Logs).encode(Format::Json);
        assert!(matches!(
            Batch::decode_limited(Signal::Logs, Format::Json, &json, json.len() + 10),
            Err(CodecError::DecodedTooLarge { .. })
        ));
        // The next decoding on this thread has its own limit, or none.
        assert!(Batch::decode(Signal::Logs, Format::Json, &json).is_ok());
        assert!(Batch::decode_limited(Signal::Logs, Format::Json, &json, 1 << 30).is_ok());
    }
}

#[cfg(test)]
mod estimate_tests {
    use super::*;
    use crate::{Batch, Format};

    #[test]
    fn the_estimate_is_what_the_limit_checks_and_never_more_than_the_cap() {
        let batch = Batch::decode(
            Signal::Traces,
            Format::Json,
            include_bytes!("../../../samples/otlp/traces.json"),
        )
        .expect("sample");
        let proto = batch.encode(Format::Protobuf);
        let cost = estimate(Signal::Traces, Format::Protobuf, &proto, usize::MAX);
        assert!(cost > proto.len(), "{cost}");
        // The limit refuses exactly what costs more than it.
        assert!(Batch::decode_limited(Signal::Traces, Format::Protobuf, &proto, cost).is_ok());
        assert!(Batch::decode_limited(Signal::Traces, Format::Protobuf, &proto, cost - 1).is_err());
        assert_eq!(
            estimate(Signal::Traces, Format::Protobuf, &proto, cost / 2),
            cost / 2
        );
        let json = batch.encode(Format::Json);
        assert_eq!(
            estimate(Signal::Traces, Format::Json, &json, usize::MAX),
            json.len() * JSON_EXPANSION
        );
    }
}
