//! OTLP/JSON decoder over a parsed `serde_json::Value`.
//!
//! Lenient where the OTLP specification asks receivers to be: field names in
//! lowerCamelCase or the original snake_case, 64-bit integers as strings or
//! numbers, enums as integers or their names, ids in any hex case, unknown
//! fields and `null` values ignored. Strict everywhere else, with errors that
//! name the offending field by its path.

use std::borrow::Cow;

use serde_json::Value;

use super::JsonError;
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

type Result<T> = std::result::Result<T, JsonError>;

fn type_error(expected: &str, got: &Value) -> JsonError {
    let got = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    JsonError::new(format!("expected {expected}, got {got}"))
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

/// Calls `f` for every non-null member of a JSON object, attaching the field
/// name to any error it returns.
fn fields(v: Value, mut f: impl FnMut(&str, Value) -> Result<()>) -> Result<()> {
    let Value::Object(map) = v else {
        return Err(type_error("an object", &v));
    };
    for (key, value) in map {
        if value.is_null() {
            continue;
        }
        f(&camel(&key), value).map_err(|e| e.at_field(&key))?;
    }
    Ok(())
}

fn array<T>(v: Value, mut f: impl FnMut(Value) -> Result<T>) -> Result<Vec<T>> {
    let Value::Array(items) = v else {
        return Err(type_error("an array", &v));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| f(item).map_err(|e| e.at_index(i)))
        .collect()
}

fn string(v: Value) -> Result<String> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(type_error("a string", &other)),
    }
}

fn boolean(v: Value) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(b),
        other => Err(type_error("a boolean", &other)),
    }
}

/// Integers arrive as JSON numbers or decimal strings (the OTLP/JSON form for
/// 64-bit values); a number with a fraction or exponent is accepted only when
/// it is integral (proto3 JSON allows `1e3`).
fn integer<T>(v: Value, what: &str) -> Result<T>
where
    T: TryFrom<i128>,
{
    let wide: i128 = match v {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                i128::from(u)
            } else if let Some(i) = n.as_i64() {
                i128::from(i)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() != 0.0 || !f.is_finite() || f.abs() > 1.9e19 {
                    return Err(JsonError::new(format!("expected {what}, got {n}")));
                }
                f as i128
            }
        }
        Value::String(s) => s.trim().parse::<i128>().map_err(|_| {
            JsonError::new(format!("expected {what} as a decimal string, got {s:?}"))
        })?,
        other => return Err(type_error(what, &other)),
    };
    T::try_from(wide).map_err(|_| JsonError::new(format!("{wide} is out of range for {what}")))
}

fn u64_(v: Value) -> Result<u64> {
    integer(v, "an unsigned 64-bit integer")
}
fn i64_(v: Value) -> Result<i64> {
    integer(v, "a signed 64-bit integer")
}
fn u32_(v: Value) -> Result<u32> {
    integer(v, "an unsigned 32-bit integer")
}
fn i32_(v: Value) -> Result<i32> {
    integer(v, "a signed 32-bit integer")
}

/// Doubles: numbers, numeric strings, or "NaN" / "Infinity" / "-Infinity".
fn f64_(v: Value) -> Result<f64> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| JsonError::new(format!("{n} is not a double"))),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| JsonError::new(format!("expected a double, got {other:?}"))),
        },
        other => Err(type_error("a double", &other)),
    }
}

/// Enums are integers in OTLP/JSON; their proto names are accepted as well.
fn enumeration(v: Value, by_name: impl Fn(&str) -> Option<i32>) -> Result<i32> {
    match v {
        Value::String(s) if s.parse::<i64>().is_err() => {
            by_name(&s).ok_or_else(|| JsonError::new(format!("unknown enum value {s:?}")))
        }
        other => i32_(other),
    }
}

/// Trace and span ids: hex in any case. Length is not checked here: an id of
/// the wrong length is an invalid item (rejected through partial success), not
/// an undecodable document.
fn hex_id(v: Value) -> Result<Vec<u8>> {
    let Value::String(s) = v else {
        return Err(type_error("a hex string", &v));
    };
    let bytes = s.as_bytes();
    if bytes.len() % 2 != 0 {
        return Err(JsonError::new(format!(
            "id {s:?} has an odd number of hex digits"
        )));
    }
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| JsonError::new(format!("id {s:?} is not hex")))
}

fn base64_bytes(v: Value) -> Result<Vec<u8>> {
    use base64::Engine as _;
    let Value::String(s) = v else {
        return Err(type_error("a base64 string", &v));
    };
    // proto3 JSON accepts standard or URL-safe alphabets, with or without padding.
    let trimmed = s.trim_end_matches('=');
    let engine = if trimmed.contains(['-', '_']) {
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
    } else {
        &base64::engine::general_purpose::STANDARD_NO_PAD
    };
    engine
        .decode(trimmed)
        .map_err(|e| JsonError::new(format!("invalid base64: {e}")))
}

// ---------------------------------------------------------------------------
// common

fn any_value(v: Value) -> Result<AnyValue> {
    let mut value = None;
    fields(v, |k, v| {
        let decoded = match k {
            "stringValue" => any_value::Value::StringValue(string(v)?),
            "boolValue" => any_value::Value::BoolValue(boolean(v)?),
            "intValue" => any_value::Value::IntValue(i64_(v)?),
            "doubleValue" => any_value::Value::DoubleValue(f64_(v)?),
            "arrayValue" => any_value::Value::ArrayValue(array_value(v)?),
            "kvlistValue" => any_value::Value::KvlistValue(kvlist_value(v)?),
            "bytesValue" => any_value::Value::BytesValue(base64_bytes(v)?),
            "stringValueStrindex" => any_value::Value::StringValueStrindex(i32_(v)?),
            _ => return Ok(()),
        };
        if value.is_some() {
            return Err(JsonError::new("more than one value kind is set"));
        }
        value = Some(decoded);
        Ok(())
    })?;
    Ok(AnyValue { value })
}

fn array_value(v: Value) -> Result<ArrayValue> {
    let mut out = ArrayValue::default();
    fields(v, |k, v| {
        if k == "values" {
            out.values = array(v, any_value)?;
        }
        Ok(())
    })?;
    Ok(out)
}

fn kvlist_value(v: Value) -> Result<KeyValueList> {
    let mut out = KeyValueList::default();
    fields(v, |k, v| {
        if k == "values" {
            out.values = array(v, key_value)?;
        }
        Ok(())
    })?;
    Ok(out)
}

fn key_value(v: Value) -> Result<KeyValue> {
    let mut kv = KeyValue::default();
    fields(v, |k, v| {
        match k {
            "key" => kv.key = string(v)?,
            "value" => kv.value = Some(any_value(v)?),
            "keyStrindex" => kv.key_strindex = i32_(v)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(kv)
}

fn attributes(v: Value) -> Result<Vec<KeyValue>> {
    array(v, key_value)
}

fn scope(v: Value) -> Result<InstrumentationScope> {
    let mut s = InstrumentationScope::default();
    fields(v, |k, v| {
        match k {
            "name" => s.name = string(v)?,
            "version" => s.version = string(v)?,
            "attributes" => s.attributes = attributes(v)?,
            "droppedAttributesCount" => s.dropped_attributes_count = u32_(v)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(s)
}

fn entity_ref(v: Value) -> Result<EntityRef> {
    let mut e = EntityRef::default();
    fields(v, |k, v| {
        match k {
            "schemaUrl" => e.schema_url = string(v)?,
            "type" => e.r#type = string(v)?,
            "idKeys" => e.id_keys = array(v, string)?,
            "descriptionKeys" => e.description_keys = array(v, string)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(e)
}

fn resource(v: Value) -> Result<Resource> {
    let mut r = Resource::default();
    fields(v, |k, v| {
        match k {
            "attributes" => r.attributes = attributes(v)?,
            "droppedAttributesCount" => r.dropped_attributes_count = u32_(v)?,
            "entityRefs" => r.entity_refs = array(v, entity_ref)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(r)
}

// ---------------------------------------------------------------------------
// traces

pub(crate) fn traces_request(v: Value) -> Result<ExportTraceServiceRequest> {
    let mut r = ExportTraceServiceRequest::default();
    fields(v, |k, v| {
        if k == "resourceSpans" {
            r.resource_spans = array(v, resource_spans)?;
        }
        Ok(())
    })?;
    Ok(r)
}

fn resource_spans(v: Value) -> Result<ResourceSpans> {
    let mut r = ResourceSpans::default();
    fields(v, |k, v| {
        match k {
            "resource" => r.resource = Some(resource(v)?),
            "scopeSpans" => r.scope_spans = array(v, scope_spans)?,
            "schemaUrl" => r.schema_url = string(v)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(r)
}

fn scope_spans(v: Value) -> Result<ScopeSpans> {
    let mut s = ScopeSpans::default();
    fields(v, |k, v| {
        match k {
            "scope" => s.scope = Some(scope(v)?),
            "spans" => s.spans = array(v, span)?,
            "schemaUrl" => s.schema_url = string(v)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(s)
}

fn span(v: Value) -> Result<Span> {
    let mut s = Span::default();
    fields(v, |k, v| {
        match k {
            "traceId" => s.trace_id = hex_id(v)?,
            "spanId" => s.span_id = hex_id(v)?,
            "traceState" => s.trace_state = string(v)?,
            "parentSpanId" => s.parent_span_id = hex_id(v)?,
            "flags" => s.flags = u32_(v)?,
            "name" => s.name = string(v)?,
            "kind" => {
                s.kind = enumeration(v, |n| span::SpanKind::from_str_name(n).map(|e| e as i32))?
            }
            "startTimeUnixNano" => s.start_time_unix_nano = u64_(v)?,
            "endTimeUnixNano" => s.end_time_unix_nano = u64_(v)?,
            "attributes" => s.attributes = attributes(v)?,
            "droppedAttributesCount" => s.dropped_attributes_count = u32_(v)?,
            "events" => s.events = array(v, event)?,
            "droppedEventsCount" => s.dropped_events_count = u32_(v)?,
            "links" => s.links = array(v, link)?,
            "droppedLinksCount" => s.dropped_links_count = u32_(v)?,
            "status" => s.status = Some(span_status(v)?),
            _ => {}
        }
        Ok(())
    })?;
    Ok(s)
}

fn event(v: Value) -> Result<span::Event> {
    let mut e = span::Event::default();
    fields(v, |k, v| {
        match k {
            "timeUnixNano" => e.time_unix_nano = u64_(v)?,
            "name" => e.name = string(v)?,
            "attributes" => e.attributes = attributes(v)?,
            "droppedAttributesCount" => e.dropped_attributes_count = u32_(v)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(e)
}

fn link(v: Value) -> Result<span::Link> {
    let mut l = span::Link::default();
    fields(v, |k, v| {
        match k {
            "traceId" => l.trace_id = hex_id(v)?,
            "spanId" => l.span_id = hex_id(v)?,
            "traceState" => l.trace_state = string(v)?,
            "attributes" => l.attributes = attributes(v)?,
            "droppedAttributesCount" => l.dropped_attributes_count = u32_(v)?,
            "flags" => l.flags = u32_(v)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(l)
}

fn span_status(v: Value) -> Result<Status> {
    let mut s = Status::default();
    fields(v, |k, v| {
        match k {
            "message" => s.message = string(v)?,
            "code" => {
                s.code = enumeration(v, |n| {
                    status::StatusCode::from_str_name(n).map(|e| e as i32)
                })?
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(s)
}

// ---------------------------------------------------------------------------
// metrics

pub(crate) fn metrics_request(v: Value) -> Result<ExportMetricsServiceRequest> {
    let mut r = ExportMetricsServiceRequest::default();
    fields(v, |k, v| {
        if k == "resourceMetrics" {
            r.resource_metrics = array(v, resource_metrics)?;
        }
        Ok(())
    })?;
    Ok(r)
}

fn resource_metrics(v: Value) -> Result<ResourceMetrics> {
    let mut r = ResourceMetrics::default();
    fields(v, |k, v| {
        match k {
            "resource" => r.resource = Some(resource(v)?),
            "scopeMetrics" => r.scope_metrics = array(v, scope_metrics)?,
            "schemaUrl" => r.schema_url = string(v)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(r)
}

fn scope_metrics(v: Value) -> Result<ScopeMetrics> {
    let mut s = ScopeMetrics::default();
    fields(v, |k, v| {
        match k {
            "scope" => s.scope = Some(scope(v)?),
            "metrics" => s.metrics = array(v, metric)?,
            "schemaUrl" => s.schema_url = string(v)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(s)
}

fn temporality(v: Value) -> Result<i32> {
    enumeration(v, |n| {
        AggregationTemporality::from_str_name(n).map(|e| e as i32)
    })
}

fn metric(v: Value) -> Result<Metric> {
    let mut m = Metric::default();
    fields(v, |k, v| {
        let data = match k {
            "name" => {
                m.name = string(v)?;
                return Ok(());
            }
            "description" => {
                m.description = string(v)?;
                return Ok(());
            }
            "unit" => {
                m.unit = string(v)?;
                return Ok(());
            }
            "metadata" => {
                m.metadata = attributes(v)?;
                return Ok(());
            }
            "gauge" => {
                let mut g = Gauge::default();
                fields(v, |k, v| {
                    if k == "dataPoints" {
                        g.data_points = array(v, number_point)?;
                    }
                    Ok(())
                })?;
                metric::Data::Gauge(g)
            }
            "sum" => {
                let mut s = Sum::default();
                fields(v, |k, v| {
                    match k {
                        "dataPoints" => s.data_points = array(v, number_point)?,
                        "aggregationTemporality" => s.aggregation_temporality = temporality(v)?,
                        "isMonotonic" => s.is_monotonic = boolean(v)?,
                        _ => {}
                    }
                    Ok(())
                })?;
                metric::Data::Sum(s)
            }
            "histogram" => {
                let mut h = Histogram::default();
                fields(v, |k, v| {
                    match k {
                        "dataPoints" => h.data_points = array(v, histogram_point)?,
                        "aggregationTemporality" => h.aggregation_temporality = temporality(v)?,
                        _ => {}
                    }
                    Ok(())
                })?;
                metric::Data::Histogram(h)
            }
            "exponentialHistogram" => {
                let mut h = ExponentialHistogram::default();
                fields(v, |k, v| {
                    match k {
                        "dataPoints" => h.data_points = array(v, exp_histogram_point)?,
                        "aggregationTemporality" => h.aggregation_temporality = temporality(v)?,
                        _ => {}
                    }
                    Ok(())
                })?;
                metric::Data::ExponentialHistogram(h)
            }
            "summary" => {
                let mut s = Summary::default();
                fields(v, |k, v| {
                    if k == "dataPoints" {
                        s.data_points = array(v, summary_point)?;
                    }
                    Ok(())
                })?;
                metric::Data::Summary(s)
            }
            _ => return Ok(()),
        };
        if m.data.is_some() {
            return Err(JsonError::new("more than one metric type is set"));
        }
        m.data = Some(data);
        Ok(())
    })?;
    Ok(m)
}

fn number_point(v: Value) -> Result<NumberDataPoint> {
    let mut p = NumberDataPoint::default();
    fields(v, |k, v| {
        match k {
            "attributes" => p.attributes = attributes(v)?,
            "startTimeUnixNano" => p.start_time_unix_nano = u64_(v)?,
            "timeUnixNano" => p.time_unix_nano = u64_(v)?,
            "asDouble" => p.value = Some(number_data_point::Value::AsDouble(f64_(v)?)),
            "asInt" => p.value = Some(number_data_point::Value::AsInt(i64_(v)?)),
            "exemplars" => p.exemplars = array(v, exemplar)?,
            "flags" => p.flags = u32_(v)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(p)
}

fn histogram_point(v: Value) -> Result<HistogramDataPoint> {
    let mut p = HistogramDataPoint::default();
    fields(v, |k, v| {
        match k {
            "attributes" => p.attributes = attributes(v)?,
            "startTimeUnixNano" => p.start_time_unix_nano = u64_(v)?,
            "timeUnixNano" => p.time_unix_nano = u64_(v)?,
            "count" => p.count = u64_(v)?,
            "sum" => p.sum = Some(f64_(v)?),
            "bucketCounts" => p.bucket_counts = array(v, u64_)?,
            "explicitBounds" => p.explicit_bounds = array(v, f64_)?,
            "exemplars" => p.exemplars = array(v, exemplar)?,
            "flags" => p.flags = u32_(v)?,
            "min" => p.min = Some(f64_(v)?),
            "max" => p.max = Some(f64_(v)?),
            _ => {}
        }
        Ok(())
    })?;
    Ok(p)
}

fn buckets(v: Value) -> Result<Buckets> {
    let mut b = Buckets::default();
    fields(v, |k, v| {
        match k {
            "offset" => b.offset = i32_(v)?,
            "bucketCounts" => b.bucket_counts = array(v, u64_)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(b)
}

fn exp_histogram_point(v: Value) -> Result<ExponentialHistogramDataPoint> {
    let mut p = ExponentialHistogramDataPoint::default();
    fields(v, |k, v| {
        match k {
            "attributes" => p.attributes = attributes(v)?,
            "startTimeUnixNano" => p.start_time_unix_nano = u64_(v)?,
            "timeUnixNano" => p.time_unix_nano = u64_(v)?,
            "count" => p.count = u64_(v)?,
            "sum" => p.sum = Some(f64_(v)?),
            "scale" => p.scale = i32_(v)?,
            "zeroCount" => p.zero_count = u64_(v)?,
            "positive" => p.positive = Some(buckets(v)?),
            "negative" => p.negative = Some(buckets(v)?),
            "flags" => p.flags = u32_(v)?,
            "exemplars" => p.exemplars = array(v, exemplar)?,
            "min" => p.min = Some(f64_(v)?),
            "max" => p.max = Some(f64_(v)?),
            "zeroThreshold" => p.zero_threshold = f64_(v)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(p)
}

fn summary_point(v: Value) -> Result<SummaryDataPoint> {
    let mut p = SummaryDataPoint::default();
    fields(v, |k, v| {
        match k {
            "attributes" => p.attributes = attributes(v)?,
            "startTimeUnixNano" => p.start_time_unix_nano = u64_(v)?,
            "timeUnixNano" => p.time_unix_nano = u64_(v)?,
            "count" => p.count = u64_(v)?,
            "sum" => p.sum = f64_(v)?,
            "quantileValues" => {
                p.quantile_values = array(v, |v| {
                    let mut q = ValueAtQuantile::default();
                    fields(v, |k, v| {
                        match k {
                            "quantile" => q.quantile = f64_(v)?,
                            "value" => q.value = f64_(v)?,
                            _ => {}
                        }
                        Ok(())
                    })?;
                    Ok(q)
                })?
            }
            "flags" => p.flags = u32_(v)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(p)
}

fn exemplar(v: Value) -> Result<Exemplar> {
    let mut e = Exemplar::default();
    fields(v, |k, v| {
        match k {
            "filteredAttributes" => e.filtered_attributes = attributes(v)?,
            "timeUnixNano" => e.time_unix_nano = u64_(v)?,
            "asDouble" => e.value = Some(exemplar::Value::AsDouble(f64_(v)?)),
            "asInt" => e.value = Some(exemplar::Value::AsInt(i64_(v)?)),
            "spanId" => e.span_id = hex_id(v)?,
            "traceId" => e.trace_id = hex_id(v)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(e)
}

// ---------------------------------------------------------------------------
// logs

pub(crate) fn logs_request(v: Value) -> Result<ExportLogsServiceRequest> {
    let mut r = ExportLogsServiceRequest::default();
    fields(v, |k, v| {
        if k == "resourceLogs" {
            r.resource_logs = array(v, resource_logs)?;
        }
        Ok(())
    })?;
    Ok(r)
}

fn resource_logs(v: Value) -> Result<ResourceLogs> {
    let mut r = ResourceLogs::default();
    fields(v, |k, v| {
        match k {
            "resource" => r.resource = Some(resource(v)?),
            "scopeLogs" => r.scope_logs = array(v, scope_logs)?,
            "schemaUrl" => r.schema_url = string(v)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(r)
}

fn scope_logs(v: Value) -> Result<ScopeLogs> {
    let mut s = ScopeLogs::default();
    fields(v, |k, v| {
        match k {
            "scope" => s.scope = Some(scope(v)?),
            "logRecords" => s.log_records = array(v, log_record)?,
            "schemaUrl" => s.schema_url = string(v)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(s)
}

fn log_record(v: Value) -> Result<LogRecord> {
    let mut l = LogRecord::default();
    fields(v, |k, v| {
        match k {
            "timeUnixNano" => l.time_unix_nano = u64_(v)?,
            "observedTimeUnixNano" => l.observed_time_unix_nano = u64_(v)?,
            "severityNumber" => {
                l.severity_number =
                    enumeration(v, |n| SeverityNumber::from_str_name(n).map(|e| e as i32))?
            }
            "severityText" => l.severity_text = string(v)?,
            "body" => l.body = Some(any_value(v)?),
            "attributes" => l.attributes = attributes(v)?,
            "droppedAttributesCount" => l.dropped_attributes_count = u32_(v)?,
            "flags" => l.flags = u32_(v)?,
            "traceId" => l.trace_id = hex_id(v)?,
            "spanId" => l.span_id = hex_id(v)?,
            "eventName" => l.event_name = string(v)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(l)
}

// ---------------------------------------------------------------------------
// responses (read by the replay client)

pub(crate) fn partial_success(v: Value) -> Result<(i64, String)> {
    let mut rejected = 0;
    let mut message = String::new();
    fields(v, |k, v| {
        if k == "partialSuccess" {
            fields(v, |k, v| {
                match k {
                    "rejectedSpans" | "rejectedDataPoints" | "rejectedLogRecords" => {
                        rejected = i64_(v)?
                    }
                    "errorMessage" => message = string(v)?,
                    _ => {}
                }
                Ok(())
            })?;
        }
        Ok(())
    })?;
    Ok((rejected, message))
}
