//! OTLP/JSON decoder, streaming: serde visitors fill the prost messages
//! straight from the parser, without building a `serde_json::Value` tree.
//!
//! Lenient where the OTLP specification asks receivers to be: field names in
//! lowerCamelCase or the original snake_case, 64-bit integers as strings or
//! numbers, enums as integers or their names, ids in any hex case, unknown
//! fields and `null` values ignored. Strict everywhere else, with errors that
//! name the offending field by its path
//! (`resourceSpans[0].scopeSpans[2].spans[7].traceId: …`).

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use smallvec::SmallVec;

use crate::cost;
use crate::proto::collector_logs::ExportLogsServiceRequest;
use crate::proto::collector_metrics::ExportMetricsServiceRequest;
use crate::proto::collector_trace::ExportTraceServiceRequest;
use crate::proto::common::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use crate::proto::logs::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use crate::proto::metrics::{
    AggregationTemporality, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    Summary, SummaryDataPoint, exemplar, exponential_histogram_data_point::Buckets, metric,
    number_data_point, summary_data_point::ValueAtQuantile,
};
use crate::proto::resource::Resource;
use crate::proto::trace::{ResourceSpans, ScopeSpans, Span, Status, span, status};

/// Separates the field path from the message inside error texts while they
/// travel up through the visitors; the top level turns it into ": ".
pub(crate) const PATH_END: char = '\u{1}';

/// serde_json appends " at line L column C" to every error that passes a
/// deserializer; only the outermost position is kept.
fn strip_position(text: String) -> String {
    match text.rfind(" at line ") {
        Some(i) if text[i..].contains(" column ") => text[..i].to_owned(),
        _ => text,
    }
}

/// Prefixes the path of an error raised below `segment` (a `.field` or `[i]`).
fn at<E: de::Error>(segment: fmt::Arguments<'_>, inner: E) -> E {
    let inner = strip_position(inner.to_string());
    let segment = segment.to_string();
    match inner.split_once(PATH_END) {
        Some((path, message)) if path.starts_with('[') => {
            E::custom(format_args!("{segment}{path}{PATH_END}{message}"))
        }
        Some((path, message)) => E::custom(format_args!("{segment}.{path}{PATH_END}{message}")),
        None => E::custom(format_args!("{segment}{PATH_END}{inner}")),
    }
}

/// `trace_id` → `traceId`; camelCase names pass through without allocating.
fn camel(key: &str) -> Cow<'_, str> {
    if !key.contains('_') {
        return Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

// ---------------------------------------------------------------------------
// decoded-size limit

thread_local! {
    /// What is left of the decoded-size limit of the document being decoded
    /// on this thread (see [`crate::cost`]); `None` once it was passed.
    static LEFT: Cell<Option<usize>> = const { Cell::new(Some(usize::MAX)) };
}

/// The limit of one decoding on this thread; the previous one (of an
/// enclosing decoding) comes back when it is dropped.
pub(crate) struct Limit {
    previous: Option<usize>,
}

impl Limit {
    pub(crate) fn enter(limit: usize) -> Limit {
        Limit {
            previous: LEFT.replace(Some(limit)),
        }
    }

    /// True when the document was refused for passing the limit.
    pub(crate) fn passed(&self) -> bool {
        LEFT.get().is_none()
    }
}

impl Drop for Limit {
    fn drop(&mut self) {
        LEFT.set(self.previous);
    }
}

/// Charges what a decoded value costs in memory; past the limit, decoding stops.
fn charge<E: de::Error>(cost: usize) -> Result<(), E> {
    let mut left = LEFT.get().unwrap_or(0);
    match cost::charge(&mut left, cost) {
        Ok(()) => {
            LEFT.set(Some(left));
            Ok(())
        }
        Err(cost::OverLimit) => {
            LEFT.set(None);
            Err(E::custom("the decoded request passes the size limit"))
        }
    }
}

// ---------------------------------------------------------------------------
// messages

/// A message decoded from an OTLP/JSON object, field by field.
pub(crate) trait JsonMessage: Default {
    /// Decodes the value of field `key` (lowerCamelCase) from `map`.
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
}

/// Decodes a message; `null` gives the default message.
pub(crate) struct Msg<T>(PhantomData<T>);

impl<T> Msg<T> {
    pub(crate) fn new() -> Self {
        Msg(PhantomData)
    }
}

impl<T> Clone for Msg<T> {
    fn clone(&self) -> Self {
        Msg(PhantomData)
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

impl<'de, T: JsonMessage> DeserializeSeed<'de> for Msg<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: JsonMessage> Visitor<'de> for Msg<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut message = T::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            message
                .field(&key, &mut map)
                .map_err(|e| at(format_args!("{key}"), e))?;
        }
        Ok(message)
    }
}

/// `null` → `None`, anything else through `S`.
#[derive(Clone)]
pub(crate) struct Opt<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Opt<S> {
    type Value = Option<S::Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for Opt<S> {
    type Value = Option<S::Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(d).map(Some)
    }
}

/// A JSON array of `S`; `null` is empty.
#[derive(Clone)]
pub(crate) struct List<S>(S);

impl<'de, S: DeserializeSeed<'de> + Clone> DeserializeSeed<'de> for List<S> {
    type Value = Vec<S::Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, S: DeserializeSeed<'de> + Clone> Visitor<'de> for List<S> {
    type Value = Vec<S::Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // The parser does not know a list's length: its first elements
        // gather on the stack and move to the heap once, at their number
        // (attribute lists mostly fit), where a vector would have been
        // grown two or three times.
        let mut out: SmallVec<[S::Value; 8]> =
            SmallVec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        loop {
            let i = out.len();
            match seq.next_element_seed(self.0.clone()) {
                Ok(Some(v)) => {
                    charge(size_of::<S::Value>()).map_err(|e| at(format_args!("[{i}]"), e))?;
                    out.push(v);
                }
                Ok(None) => return Ok(out.into_vec()),
                Err(e) => return Err(at(format_args!("[{i}]"), e)),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// scalars

macro_rules! scalar_seed {
    ($name:ident, $ty:ty, $expecting:literal, { $($method:item)* }) => {
        #[derive(Clone, Copy)]
        pub(crate) struct $name;

        impl<'de> DeserializeSeed<'de> for $name {
            type Value = $ty;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<$ty, D::Error> {
                d.deserialize_any(self)
            }
        }

        impl<'de> Visitor<'de> for $name {
            type Value = $ty;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($expecting)
            }
            fn visit_unit<E: de::Error>(self) -> Result<$ty, E> {
                Ok(<$ty>::default())
            }
            $($method)*
        }
    };
}

scalar_seed!(Str, String, "a string", {
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        charge_bytes(v)?;
        Ok(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        charge_bytes(&v)?;
        Ok(v)
    }
});

/// A string or byte field: its allocation, when it has one (its bytes are
/// counted with the input's).
fn charge_bytes<E: de::Error>(text: &str) -> Result<(), E> {
    charge(cost::string_cost(text.as_bytes()))
}

scalar_seed!(Bool, bool, "a boolean", {
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }
});

/// Integers arrive as JSON numbers or decimal strings (the OTLP/JSON form
/// for 64-bit values); a number with a fraction or exponent is accepted only
/// when it is integral (proto3 JSON allows `1e3`).
macro_rules! int_seed {
    ($name:ident, $ty:ty, $what:literal) => {
        scalar_seed!($name, $ty, $what, {
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<$ty, E> {
                <$ty>::try_from(v)
                    .map_err(|_| E::custom(format_args!("{v} is out of range for {}", $what)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<$ty, E> {
                <$ty>::try_from(v)
                    .map_err(|_| E::custom(format_args!("{v} is out of range for {}", $what)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<$ty, E> {
                if v.fract() != 0.0 || !v.is_finite() || v.abs() > 1.9e19 {
                    return Err(E::custom(format_args!("expected {}, got {v}", $what)));
                }
                let wide = v as i128;
                <$ty>::try_from(wide)
                    .map_err(|_| E::custom(format_args!("{wide} is out of range for {}", $what)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                // Times and counts: digits alone, read without the wider
                // parse that signs and spaces need.
                if let Ok(n) = v.parse::<u64>() {
                    return self.visit_u64(n);
                }
                let wide: i128 = v.trim().parse().map_err(|_| {
                    E::custom(format_args!(
                        "expected {} as a decimal string, got {v:?}",
                        $what
                    ))
                })?;
                <$ty>::try_from(wide)
                    .map_err(|_| E::custom(format_args!("{wide} is out of range for {}", $what)))
            }
        });
    };
}

int_seed!(U64, u64, "an unsigned 64-bit integer");
int_seed!(I64, i64, "a signed 64-bit integer");
int_seed!(U32, u32, "an unsigned 32-bit integer");
int_seed!(I32, i32, "a signed 32-bit integer");

// Doubles: numbers, numeric strings, or "NaN" / "Infinity" / "-Infinity".
scalar_seed!(F64, f64, "a double", {
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        match v {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| E::custom(format_args!("expected a double, got {other:?}"))),
        }
    }
});

// Trace and span ids: hex in any case. Length is not checked here: an id of
// the wrong length is an invalid item (rejected through partial success),
// not an undecodable document.
scalar_seed!(Hex, Vec<u8>, "a hex string", {
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        charge_bytes(v)?;
        let bytes = v.as_bytes();
        if !bytes.len().is_multiple_of(2) {
            return Err(E::custom(format_args!(
                "id {v:?} has an odd number of hex digits"
            )));
        }
        crate::values::unhex(v).ok_or_else(|| E::custom(format_args!("id {v:?} is not hex")))
    }
});

// Other `bytes` fields: base64, standard or URL-safe, padded or not.
scalar_seed!(Base64, Vec<u8>, "a base64 string", {
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        charge_bytes(v)?;
        use base64::Engine as _;
        let trimmed = v.trim_end_matches('=');
        let engine = if trimmed.contains(['-', '_']) {
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
        } else {
            &base64::engine::general_purpose::STANDARD_NO_PAD
        };
        engine
            .decode(trimmed)
            .map_err(|e| E::custom(format_args!("invalid base64: {e}")))
    }
});

/// Enums: integers in OTLP/JSON; their proto names are accepted as well.
#[derive(Clone, Copy)]
pub(crate) struct Enum(fn(&str) -> Option<i32>);

impl<'de> DeserializeSeed<'de> for Enum {
    type Value = i32;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<i32, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Enum {
    type Value = i32;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an enum number or name")
    }
    fn visit_unit<E: de::Error>(self) -> Result<i32, E> {
        Ok(0)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i32, E> {
        I32.visit_u64(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i32, E> {
        I32.visit_i64(v)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i32, E> {
        I32.visit_f64(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i32, E> {
        if v.trim().parse::<i64>().is_ok() {
            return I32.visit_str(v);
        }
        (self.0)(v).ok_or_else(|| E::custom(format_args!("unknown enum value {v:?}")))
    }
}

fn span_kind(name: &str) -> Option<i32> {
    span::SpanKind::from_str_name(name).map(|e| e as i32)
}
fn status_code(name: &str) -> Option<i32> {
    status::StatusCode::from_str_name(name).map(|e| e as i32)
}
fn severity(name: &str) -> Option<i32> {
    SeverityNumber::from_str_name(name).map(|e| e as i32)
}
fn temporality(name: &str) -> Option<i32> {
    AggregationTemporality::from_str_name(name).map(|e| e as i32)
}

// ---------------------------------------------------------------------------
// message fields

/// Declares how each field of a message is read; a name in snake_case is
/// read as its lowerCamelCase (converted only when it is not a field's
/// name as it is), and unknown fields are skipped.
macro_rules! fields {
    ($ty:ty, |$m:ident, $map:ident| { $($name:literal => $body:expr),* $(,)? }) => {
        impl JsonMessage for $ty {
            fn field<'de, A: MapAccess<'de>>(&mut self, key: &str, $map: &mut A) -> Result<(), A::Error> {
                let $m = self;
                match key {
                    $($name => { $body; })*
                    _ if key.contains('_') => return $m.field(&camel(key), $map),
                    _ => { $map.next_value::<IgnoredAny>()?; }
                }
                Ok(())
            }
        }
    };
}

fn attributes() -> List<Msg<KeyValue>> {
    List(Msg::new())
}

/// Sets a oneof member, refusing a second one.
fn one_of<T, E: de::Error>(slot: &mut Option<T>, value: Option<T>, what: &str) -> Result<(), E> {
    if let Some(value) = value {
        if slot.is_some() {
            return Err(E::custom(format_args!("more than one {what} is set")));
        }
        *slot = Some(value);
    }
    Ok(())
}

fields!(AnyValue, |v, map| {
    "stringValue" => one_of(&mut v.value, map.next_value_seed(Opt(Str))?.map(any_value::Value::StringValue), "value kind")?,
    "boolValue" => one_of(&mut v.value, map.next_value_seed(Opt(Bool))?.map(any_value::Value::BoolValue), "value kind")?,
    "intValue" => one_of(&mut v.value, map.next_value_seed(Opt(I64))?.map(any_value::Value::IntValue), "value kind")?,
    "doubleValue" => one_of(&mut v.value, map.next_value_seed(Opt(F64))?.map(any_value::Value::DoubleValue), "value kind")?,
    "arrayValue" => one_of(&mut v.value, map.next_value_seed(Opt(Msg::<ArrayValue>::new()))?.map(any_value::Value::ArrayValue), "value kind")?,
    "kvlistValue" => one_of(&mut v.value, map.next_value_seed(Opt(Msg::<KeyValueList>::new()))?.map(any_value::Value::KvlistValue), "value kind")?,
    "bytesValue" => one_of(&mut v.value, map.next_value_seed(Opt(Base64))?.map(any_value::Value::BytesValue), "value kind")?,
    "stringValueStrindex" => one_of(&mut v.value, map.next_value_seed(Opt(I32))?.map(any_value::Value::StringValueStrindex), "value kind")?,
});

fields!(ArrayValue, |a, map| {
    "values" => a.values = map.next_value_seed(List(Msg::<AnyValue>::new()))?,
});

fields!(KeyValueList, |l, map| {
    "values" => l.values = map.next_value_seed(attributes())?,
});

fields!(KeyValue, |kv, map| {
    "key" => kv.key = map.next_value_seed(Str)?,
    "value" => kv.value = map.next_value_seed(Opt(Msg::<AnyValue>::new()))?,
    "keyStrindex" => kv.key_strindex = map.next_value_seed(I32)?,
});

fields!(InstrumentationScope, |s, map| {
    "name" => s.name = map.next_value_seed(Str)?,
    "version" => s.version = map.next_value_seed(Str)?,
    "attributes" => s.attributes = map.next_value_seed(attributes())?,
    "droppedAttributesCount" => s.dropped_attributes_count = map.next_value_seed(U32)?,
});

fields!(EntityRef, |e, map| {
    "schemaUrl" => e.schema_url = map.next_value_seed(Str)?,
    "type" => e.r#type = map.next_value_seed(Str)?,
    "idKeys" => e.id_keys = map.next_value_seed(List(Str))?,
    "descriptionKeys" => e.description_keys = map.next_value_seed(List(Str))?,
});

fields!(Resource, |r, map| {
    "attributes" => r.attributes = map.next_value_seed(attributes())?,
    "droppedAttributesCount" => r.dropped_attributes_count = map.next_value_seed(U32)?,
    "entityRefs" => r.entity_refs = map.next_value_seed(List(Msg::<EntityRef>::new()))?,
});

// traces

fields!(ExportTraceServiceRequest, |r, map| {
    "resourceSpans" => r.resource_spans = map.next_value_seed(List(Msg::<ResourceSpans>::new()))?,
});

fields!(ResourceSpans, |r, map| {
    "resource" => r.resource = map.next_value_seed(Opt(Msg::<Resource>::new()))?,
    "scopeSpans" => r.scope_spans = map.next_value_seed(List(Msg::<ScopeSpans>::new()))?,
    "schemaUrl" => r.schema_url = map.next_value_seed(Str)?,
});

fields!(ScopeSpans, |s, map| {
    "scope" => s.scope = map.next_value_seed(Opt(Msg::<InstrumentationScope>::new()))?,
    "spans" => s.spans = map.next_value_seed(List(Msg::<Span>::new()))?,
    "schemaUrl" => s.schema_url = map.next_value_seed(Str)?,
});

fields!(Span, |s, map| {
    "traceId" => s.trace_id = map.next_value_seed(Hex)?,
    "spanId" => s.span_id = map.next_value_seed(Hex)?,
    "traceState" => s.trace_state = map.next_value_seed(Str)?,
    "parentSpanId" => s.parent_span_id = map.next_value_seed(Hex)?,
    "flags" => s.flags = map.next_value_seed(U32)?,
    "name" => s.name = map.next_value_seed(Str)?,
    "kind" => s.kind = map.next_value_seed(Enum(span_kind))?,
    "startTimeUnixNano" => s.start_time_unix_nano = map.next_value_seed(U64)?,
    "endTimeUnixNano" => s.end_time_unix_nano = map.next_value_seed(U64)?,
    "attributes" => s.attributes = map.next_value_seed(attributes())?,
    "droppedAttributesCount" => s.dropped_attributes_count = map.next_value_seed(U32)?,
    "events" => s.events = map.next_value_seed(List(Msg::<span::Event>::new()))?,
    "droppedEventsCount" => s.dropped_events_count = map.next_value_seed(U32)?,
    "links" => s.links = map.next_value_seed(List(Msg::<span::Link>::new()))?,
    "droppedLinksCount" => s.dropped_links_count = map.next_value_seed(U32)?,
    "status" => s.status = map.next_value_seed(Opt(Msg::<Status>::new()))?,
});

fields!(span::Event, |e, map| {
    "timeUnixNano" => e.time_unix_nano = map.next_value_seed(U64)?,
    "name" => e.name = map.next_value_seed(Str)?,
    "attributes" => e.attributes = map.next_value_seed(attributes())?,
    "droppedAttributesCount" => e.dropped_attributes_count = map.next_value_seed(U32)?,
});

fields!(span::Link, |l, map| {
    "traceId" => l.trace_id = map.next_value_seed(Hex)?,
    "spanId" => l.span_id = map.next_value_seed(Hex)?,
    "traceState" => l.trace_state = map.next_value_seed(Str)?,
    "attributes" => l.attributes = map.next_value_seed(attributes())?,
    "droppedAttributesCount" => l.dropped_attributes_count = map.next_value_seed(U32)?,
    "flags" => l.flags = map.next_value_seed(U32)?,
});

fields!(Status, |s, map| {
    "message" => s.message = map.next_value_seed(Str)?,
    "code" => s.code = map.next_value_seed(Enum(status_code))?,
});

// metrics

fields!(ExportMetricsServiceRequest, |r, map| {
    "resourceMetrics" => r.resource_metrics = map.next_value_seed(List(Msg::<ResourceMetrics>::new()))?,
});

fields!(ResourceMetrics, |r, map| {
    "resource" => r.resource = map.next_value_seed(Opt(Msg::<Resource>::new()))?,
    "scopeMetrics" => r.scope_metrics = map.next_value_seed(List(Msg::<ScopeMetrics>::new()))?,
    "schemaUrl" => r.schema_url = map.next_value_seed(Str)?,
});

fields!(ScopeMetrics, |s, map| {
    "scope" => s.scope = map.next_value_seed(Opt(Msg::<InstrumentationScope>::new()))?,
    "metrics" => s.metrics = map.next_value_seed(List(Msg::<Metric>::new()))?,
    "schemaUrl" => s.schema_url = map.next_value_seed(Str)?,
});

fields!(Metric, |m, map| {
    "name" => m.name = map.next_value_seed(Str)?,
    "description" => m.description = map.next_value_seed(Str)?,
    "unit" => m.unit = map.next_value_seed(Str)?,
    "metadata" => m.metadata = map.next_value_seed(attributes())?,
    "gauge" => one_of(&mut m.data, map.next_value_seed(Opt(Msg::<Gauge>::new()))?.map(metric::Data::Gauge), "metric type")?,
    "sum" => one_of(&mut m.data, map.next_value_seed(Opt(Msg::<Sum>::new()))?.map(metric::Data::Sum), "metric type")?,
    "histogram" => one_of(&mut m.data, map.next_value_seed(Opt(Msg::<Histogram>::new()))?.map(metric::Data::Histogram), "metric type")?,
    "exponentialHistogram" => one_of(&mut m.data, map.next_value_seed(Opt(Msg::<ExponentialHistogram>::new()))?.map(metric::Data::ExponentialHistogram), "metric type")?,
    "summary" => one_of(&mut m.data, map.next_value_seed(Opt(Msg::<Summary>::new()))?.map(metric::Data::Summary), "metric type")?,
});

fields!(Gauge, |g, map| {
    "dataPoints" => g.data_points = map.next_value_seed(List(Msg::<NumberDataPoint>::new()))?,
});

fields!(Sum, |s, map| {
    "dataPoints" => s.data_points = map.next_value_seed(List(Msg::<NumberDataPoint>::new()))?,
    "aggregationTemporality" => s.aggregation_temporality = map.next_value_seed(Enum(temporality))?,
    "isMonotonic" => s.is_monotonic = map.next_value_seed(Bool)?,
});

fields!(Histogram, |h, map| {
    "dataPoints" => h.data_points = map.next_value_seed(List(Msg::<HistogramDataPoint>::new()))?,
    "aggregationTemporality" => h.aggregation_temporality = map.next_value_seed(Enum(temporality))?,
});

fields!(ExponentialHistogram, |h, map| {
    "dataPoints" => h.data_points = map.next_value_seed(List(Msg::<ExponentialHistogramDataPoint>::new()))?,
    "aggregationTemporality" => h.aggregation_temporality = map.next_value_seed(Enum(temporality))?,
});

fields!(Summary, |s, map| {
    "dataPoints" => s.data_points = map.next_value_seed(List(Msg::<SummaryDataPoint>::new()))?,
});

fields!(NumberDataPoint, |p, map| {
    "attributes" => p.attributes = map.next_value_seed(attributes())?,
    "startTimeUnixNano" => p.start_time_unix_nano = map.next_value_seed(U64)?,
    "timeUnixNano" => p.time_unix_nano = map.next_value_seed(U64)?,
    "asDouble" => if let Some(d) = map.next_value_seed(Opt(F64))? { p.value = Some(number_data_point::Value::AsDouble(d)) },
    "asInt" => if let Some(i) = map.next_value_seed(Opt(I64))? { p.value = Some(number_data_point::Value::AsInt(i)) },
    "exemplars" => p.exemplars = map.next_value_seed(List(Msg::<Exemplar>::new()))?,
    "flags" => p.flags = map.next_value_seed(U32)?,
});

fields!(HistogramDataPoint, |p, map| {
    "attributes" => p.attributes = map.next_value_seed(attributes())?,
    "startTimeUnixNano" => p.start_time_unix_nano = map.next_value_seed(U64)?,
    "timeUnixNano" => p.time_unix_nano = map.next_value_seed(U64)?,
    "count" => p.count = map.next_value_seed(U64)?,
    "sum" => p.sum = map.next_value_seed(Opt(F64))?,
    "bucketCounts" => p.bucket_counts = map.next_value_seed(List(U64))?,
    "explicitBounds" => p.explicit_bounds = map.next_value_seed(List(F64))?,
    "exemplars" => p.exemplars = map.next_value_seed(List(Msg::<Exemplar>::new()))?,
    "flags" => p.flags = map.next_value_seed(U32)?,
    "min" => p.min = map.next_value_seed(Opt(F64))?,
    "max" => p.max = map.next_value_seed(Opt(F64))?,
});

fields!(Buckets, |b, map| {
    "offset" => b.offset = map.next_value_seed(I32)?,
    "bucketCounts" => b.bucket_counts = map.next_value_seed(List(U64))?,
});

fields!(ExponentialHistogramDataPoint, |p, map| {
    "attributes" => p.attributes = map.next_value_seed(attributes())?,
    "startTimeUnixNano" => p.start_time_unix_nano = map.next_value_seed(U64)?,
    "timeUnixNano" => p.time_unix_nano = map.next_value_seed(U64)?,
    "count" => p.count = map.next_value_seed(U64)?,
    "sum" => p.sum = map.next_value_seed(Opt(F64))?,
    "scale" => p.scale = map.next_value_seed(I32)?,
    "zeroCount" => p.zero_count = map.next_value_seed(U64)?,
    "positive" => p.positive = map.next_value_seed(Opt(Msg::<Buckets>::new()))?,
    "negative" => p.negative = map.next_value_seed(Opt(Msg::<Buckets>::new()))?,
    "flags" => p.flags = map.next_value_seed(U32)?,
    "exemplars" => p.exemplars = map.next_value_seed(List(Msg::<Exemplar>::new()))?,
    "min" => p.min = map.next_value_seed(Opt(F64))?,
    "max" => p.max = map.next_value_seed(Opt(F64))?,
    "zeroThreshold" => p.zero_threshold = map.next_value_seed(F64)?,
});

fields!(SummaryDataPoint, |p, map| {
    "attributes" => p.attributes = map.next_value_seed(attributes())?,
    "startTimeUnixNano" => p.start_time_unix_nano = map.next_value_seed(U64)?,
    "timeUnixNano" => p.time_unix_nano = map.next_value_seed(U64)?,
    "count" => p.count = map.next_value_seed(U64)?,
    "sum" => p.sum = map.next_value_seed(F64)?,
    "quantileValues" => p.quantile_values = map.next_value_seed(List(Msg::<ValueAtQuantile>::new()))?,
    "flags" => p.flags = map.next_value_seed(U32)?,
});

fields!(ValueAtQuantile, |q, map| {
    "quantile" => q.quantile = map.next_value_seed(F64)?,
    "value" => q.value = map.next_value_seed(F64)?,
});

fields!(Exemplar, |e, map| {
    "filteredAttributes" => e.filtered_attributes = map.next_value_seed(attributes())?,
    "timeUnixNano" => e.time_unix_nano = map.next_value_seed(U64)?,
    "asDouble" => if let Some(d) = map.next_value_seed(Opt(F64))? { e.value = Some(exemplar::Value::AsDouble(d)) },
    "asInt" => if let Some(i) = map.next_value_seed(Opt(I64))? { e.value = Some(exemplar::Value::AsInt(i)) },
    "spanId" => e.span_id = map.next_value_seed(Hex)?,
    "traceId" => e.trace_id = map.next_value_seed(Hex)?,
});

// logs

fields!(ExportLogsServiceRequest, |r, map| {
    "resourceLogs" => r.resource_logs = map.next_value_seed(List(Msg::<ResourceLogs>::new()))?,
});

fields!(ResourceLogs, |r, map| {
    "resource" => r.resource = map.next_value_seed(Opt(Msg::<Resource>::new()))?,
    "scopeLogs" => r.scope_logs = map.next_value_seed(List(Msg::<ScopeLogs>::new()))?,
    "schemaUrl" => r.schema_url = map.next_value_seed(Str)?,
});

fields!(ScopeLogs, |s, map| {
    "scope" => s.scope = map.next_value_seed(Opt(Msg::<InstrumentationScope>::new()))?,
    "logRecords" => s.log_records = map.next_value_seed(List(Msg::<LogRecord>::new()))?,
    "schemaUrl" => s.schema_url = map.next_value_seed(Str)?,
});

fields!(LogRecord, |l, map| {
    "timeUnixNano" => l.time_unix_nano = map.next_value_seed(U64)?,
    "observedTimeUnixNano" => l.observed_time_unix_nano = map.next_value_seed(U64)?,
    "severityNumber" => l.severity_number = map.next_value_seed(Enum(severity))?,
    "severityText" => l.severity_text = map.next_value_seed(Str)?,
    "body" => l.body = map.next_value_seed(Opt(Msg::<AnyValue>::new()))?,
    "attributes" => l.attributes = map.next_value_seed(attributes())?,
    "droppedAttributesCount" => l.dropped_attributes_count = map.next_value_seed(U32)?,
    "flags" => l.flags = map.next_value_seed(U32)?,
    "traceId" => l.trace_id = map.next_value_seed(Hex)?,
    "spanId" => l.span_id = map.next_value_seed(Hex)?,
    "eventName" => l.event_name = map.next_value_seed(Str)?,
});

// responses (read by the replay client)

/// The `partialSuccess` of any `Export*ServiceResponse`.
#[derive(Default)]
pub(crate) struct PartialSuccess {
    pub rejected: i64,
    pub message: String,
}

#[derive(Default)]
pub(crate) struct ExportResponse {
    pub partial: PartialSuccess,
}

fields!(PartialSuccess, |p, map| {
    "rejectedSpans" => p.rejected = map.next_value_seed(I64)?,
    "rejectedDataPoints" => p.rejected = map.next_value_seed(I64)?,
    "rejectedLogRecords" => p.rejected = map.next_value_seed(I64)?,
    "errorMessage" => p.message = map.next_value_seed(Str)?,
});

fields!(ExportResponse, |r, map| {
    "partialSuccess" => r.partial = map.next_value_seed(Msg::<PartialSuccess>::new())?,
});
