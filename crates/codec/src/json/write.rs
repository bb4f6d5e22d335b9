//! OTLP/JSON encoder: writes straight into a byte buffer, field by field in
//! protobuf field order, omitting absent messages and default values. The
//! same code measures a document without writing it ([`Counter`]).

use std::fmt;

use crate::proto::collector_logs::{ExportLogsPartialSuccess, ExportLogsServiceRequest};
use crate::proto::collector_metrics::{ExportMetricsPartialSuccess, ExportMetricsServiceRequest};
use crate::proto::collector_trace::{ExportTracePartialSuccess, ExportTraceServiceRequest};
use crate::proto::common::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use crate::proto::logs::{LogRecord, ResourceLogs, ScopeLogs};
use crate::proto::metrics::{
    Exemplar, ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, SummaryDataPoint, exemplar,
    exponential_histogram_data_point::Buckets, metric, number_data_point,
    summary_data_point::ValueAtQuantile,
};
use crate::proto::resource::Resource;
use crate::proto::trace::{ResourceSpans, ScopeSpans, Span, Status, span};

/// Where JSON text goes: a `String`, or a [`Counter`] of its length.
pub(crate) trait Out: fmt::Write {
    fn push(&mut self, c: char);
    fn push_str(&mut self, s: &str);
    fn reserve(&mut self, additional: usize);
    /// Standard base64 with padding.
    fn base64(&mut self, v: &[u8]);
}

impl Out for String {
    fn push(&mut self, c: char) {
        String::push(self, c);
    }
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s);
    }
    fn reserve(&mut self, additional: usize) {
        String::reserve(self, additional);
    }
    fn base64(&mut self, v: &[u8]) {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode_string(v, self);
    }
}

/// Counts the bytes of a document instead of writing them.
#[derive(Debug, Default)]
pub(crate) struct Counter(pub(crate) usize);

impl fmt::Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

impl Out for Counter {
    fn push(&mut self, c: char) {
        self.0 += c.len_utf8();
    }
    fn push_str(&mut self, s: &str) {
        self.0 += s.len();
    }
    fn reserve(&mut self, _additional: usize) {}
    fn base64(&mut self, v: &[u8]) {
        self.0 += v.len().div_ceil(3) * 4;
    }
}

/// Writes one JSON object; every setter skips default values.
pub(crate) struct Obj<'a, W: Out = String> {
    out: &'a mut W,
    empty: bool,
}

impl<'a, W: Out> Obj<'a, W> {
    pub(crate) fn begin(out: &'a mut W) -> Self {
        out.push('{');
        Obj { out, empty: true }
    }

    pub(crate) fn end(self) {
        self.out.push('}');
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
    }

    pub(crate) fn str(&mut self, key: &str, v: &str) {
        if !v.is_empty() {
            self.key(key);
            write_string(self.out, v);
        }
    }

    /// A 64-bit integer: a decimal string, as OTLP/JSON requires.
    pub(crate) fn u64(&mut self, key: &str, v: u64) {
        if v != 0 {
            self.key(key);
            let _ = write!(self.out, "\"{v}\"");
        }
    }

    pub(crate) fn i64(&mut self, key: &str, v: i64) {
        if v != 0 {
            self.key(key);
            let _ = write!(self.out, "\"{v}\"");
        }
    }

    pub(crate) fn u32(&mut self, key: &str, v: u32) {
        if v != 0 {
            self.key(key);
            let _ = write!(self.out, "{v}");
        }
    }

    pub(crate) fn i32(&mut self, key: &str, v: i32) {
        if v != 0 {
            self.key(key);
            let _ = write!(self.out, "{v}");
        }
    }

    pub(crate) fn f64(&mut self, key: &str, v: f64) {
        // Same rule as prost's encoder, so JSON and protobuf agree on what is omitted.
        if v != 0.0 {
            self.f64_present(key, v);
        }
    }

    /// A double with presence (`optional double`, oneof member): always written.
    pub(crate) fn f64_present(&mut self, key: &str, v: f64) {
        self.key(key);
        write_f64(self.out, v);
    }

    pub(crate) fn bool(&mut self, key: &str, v: bool) {
        if v {
            self.key(key);
            self.out.push_str("true");
        }
    }

    /// Trace and span ids: lowercase hex.
    pub(crate) fn hex(&mut self, key: &str, v: &[u8]) {
        if !v.is_empty() {
            self.key(key);
            self.out.push('"');
            write_hex(self.out, v);
            self.out.push('"');
        }
    }

    /// Any other `bytes` field: standard base64 with padding.
    pub(crate) fn base64(&mut self, key: &str, v: &[u8]) {
        self.key(key);
        self.out.push('"');
        self.out.base64(v);
        self.out.push('"');
    }

    pub(crate) fn message(&mut self, key: &str, f: impl FnOnce(&mut Obj<'_, W>)) {
        self.key(key);
        let mut inner = Obj::begin(self.out);
        f(&mut inner);
        inner.end();
    }

    pub(crate) fn opt_message<T>(
        &mut self,
        key: &str,
        v: Option<&T>,
        f: impl FnOnce(&mut Obj<'_, W>, &T),
    ) {
        if let Some(v) = v {
            self.message(key, |o| f(o, v));
        }
    }

    pub(crate) fn messages<T>(
        &mut self,
        key: &str,
        items: &[T],
        mut f: impl FnMut(&mut Obj<'_, W>, &T),
    ) {
        if items.is_empty() {
            return;
        }
        self.key(key);
        self.out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            let mut inner = Obj::begin(self.out);
            f(&mut inner, item);
            inner.end();
        }
        self.out.push(']');
    }

    fn scalars<T: Copy>(&mut self, key: &str, items: &[T], mut f: impl FnMut(&mut W, T)) {
        if items.is_empty() {
            return;
        }
        self.key(key);
        self.out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            f(self.out, *item);
        }
        self.out.push(']');
    }

    fn strings(&mut self, key: &str, items: &[String]) {
        if items.is_empty() {
            return;
        }
        self.key(key);
        self.out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            write_string(self.out, item);
        }
        self.out.push(']');
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn write_hex<W: Out>(out: &mut W, v: &[u8]) {
    out.reserve(v.len() * 2);
    for b in v {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xf) as usize] as char);
    }
}

/// proto3 JSON writes non-finite doubles as the strings "NaN", "Infinity", "-Infinity".
fn write_f64<W: Out>(out: &mut W, v: f64) {
    if v.is_nan() {
        out.push_str("\"NaN\"");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        });
    } else {
        // Debug gives the shortest representation that round-trips, with an
        // exponent for very large or small magnitudes: always a valid JSON number.
        let _ = write!(out, "{v:?}");
    }
}

pub(crate) fn write_string<W: Out>(out: &mut W, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

// ---------------------------------------------------------------------------
// common

pub(crate) fn any_value<W: Out>(o: &mut Obj<'_, W>, v: &AnyValue) {
    let AnyValue { value } = v;
    let Some(value) = value else { return };
    match value {
        // A oneof member has presence: it is written even when it holds the default.
        any_value::Value::StringValue(s) => {
            o.key("stringValue");
            write_string(o.out, s);
        }
        any_value::Value::BoolValue(b) => {
            o.key("boolValue");
            o.out.push_str(if *b { "true" } else { "false" });
        }
        any_value::Value::IntValue(i) => {
            o.key("intValue");
            let _ = write!(o.out, "\"{i}\"");
        }
        any_value::Value::DoubleValue(d) => o.f64_present("doubleValue", *d),
        any_value::Value::ArrayValue(ArrayValue { values }) => {
            o.message("arrayValue", |o| o.messages("values", values, any_value))
        }
        any_value::Value::KvlistValue(KeyValueList { values }) => {
            o.message("kvlistValue", |o| o.messages("values", values, key_value))
        }
        any_value::Value::BytesValue(b) => o.base64("bytesValue", b),
        any_value::Value::StringValueStrindex(i) => {
            o.key("stringValueStrindex");
            let _ = write!(o.out, "{i}");
        }
    }
}

pub(crate) fn key_value<W: Out>(o: &mut Obj<'_, W>, kv: &KeyValue) {
    let KeyValue {
        key,
        value,
        key_strindex,
    } = kv;
    o.str("key", key);
    o.opt_message("value", value.as_ref(), any_value);
    o.i32("keyStrindex", *key_strindex);
}

fn scope<W: Out>(o: &mut Obj<'_, W>, s: &InstrumentationScope) {
    let InstrumentationScope {
        name,
        version,
        attributes,
        dropped_attributes_count,
    } = s;
    o.str("name", name);
    o.str("version", version);
    o.messages("attributes", attributes, key_value);
    o.u32("droppedAttributesCount", *dropped_attributes_count);
}

fn entity_ref<W: Out>(o: &mut Obj<'_, W>, e: &EntityRef) {
    let EntityRef {
        schema_url,
        r#type,
        id_keys,
        description_keys,
    } = e;
    o.str("schemaUrl", schema_url);
    o.str("type", r#type);
    o.strings("idKeys", id_keys);
    o.strings("descriptionKeys", description_keys);
}

fn resource<W: Out>(o: &mut Obj<'_, W>, r: &Resource) {
    let Resource {
        attributes,
        dropped_attributes_count,
        entity_refs,
    } = r;
    o.messages("attributes", attributes, key_value);
    o.u32("droppedAttributesCount", *dropped_attributes_count);
    o.messages("entityRefs", entity_refs, entity_ref);
}

// ---------------------------------------------------------------------------
// traces

pub(crate) fn resource_spans<W: Out>(o: &mut Obj<'_, W>, rs: &ResourceSpans) {
    let ResourceSpans {
        resource: res,
        scope_spans: ss,
        schema_url,
    } = rs;
    o.opt_message("resource", res.as_ref(), resource);
    o.messages("scopeSpans", ss, scope_spans);
    o.str("schemaUrl", schema_url);
}

fn scope_spans<W: Out>(o: &mut Obj<'_, W>, ss: &ScopeSpans) {
    let ScopeSpans {
        scope: sc,
        spans,
        schema_url,
    } = ss;
    o.opt_message("scope", sc.as_ref(), scope);
    o.messages("spans", spans, span);
    o.str("schemaUrl", schema_url);
}

fn span<W: Out>(o: &mut Obj<'_, W>, s: &Span) {
    let Span {
        trace_id,
        span_id,
        trace_state,
        parent_span_id,
        flags,
        name,
        kind,
        start_time_unix_nano,
        end_time_unix_nano,
        attributes,
        dropped_attributes_count,
        events,
        dropped_events_count,
        links,
        dropped_links_count,
        status: st,
    } = s;
    o.hex("traceId", trace_id);
    o.hex("spanId", span_id);
    o.str("traceState", trace_state);
    o.hex("parentSpanId", parent_span_id);
    o.u32("flags", *flags);
    o.str("name", name);
    o.i32("kind", *kind);
    o.u64("startTimeUnixNano", *start_time_unix_nano);
    o.u64("endTimeUnixNano", *end_time_unix_nano);
    o.messages("attributes", attributes, key_value);
    o.u32("droppedAttributesCount", *dropped_attributes_count);
    o.messages("events", events, event);
    o.u32("droppedEventsCount", *dropped_events_count);
    o.messages("links", links, link);
    o.u32("droppedLinksCount", *dropped_links_count);
    o.opt_message("status", st.as_ref(), status);
}

fn event<W: Out>(o: &mut Obj<'_, W>, e: &span::Event) {
    let span::Event {
        time_unix_nano,
        name,
        attributes,
        dropped_attributes_count,
    } = e;
    o.u64("timeUnixNano", *time_unix_nano);
    o.str("name", name);
    o.messages("attributes", attributes, key_value);
    o.u32("droppedAttributesCount", *dropped_attributes_count);
}

fn link<W: Out>(o: &mut Obj<'_, W>, l: &span::Link) {
    let span::Link {
        trace_id,
        span_id,
        trace_state,
        attributes,
        dropped_attributes_count,
        flags,
    } = l;
    o.hex("traceId", trace_id);
    o.hex("spanId", span_id);
    o.str("traceState", trace_state);
    o.messages("attributes", attributes, key_value);
    o.u32("droppedAttributesCount", *dropped_attributes_count);
    o.u32("flags", *flags);
}

fn status<W: Out>(o: &mut Obj<'_, W>, s: &Status) {
    let Status { message, code } = s;
    o.str("message", message);
    o.i32("code", *code);
}

// ---------------------------------------------------------------------------
// metrics

pub(crate) fn resource_metrics<W: Out>(o: &mut Obj<'_, W>, rm: &ResourceMetrics) {
    let ResourceMetrics {
        resource: res,
        scope_metrics: sm,
        schema_url,
    } = rm;
    o.opt_message("resource", res.as_ref(), resource);
    o.messages("scopeMetrics", sm, scope_metrics);
    o.str("schemaUrl", schema_url);
}

fn scope_metrics<W: Out>(o: &mut Obj<'_, W>, sm: &ScopeMetrics) {
    let ScopeMetrics {
        scope: sc,
        metrics,
        schema_url,
    } = sm;
    o.opt_message("scope", sc.as_ref(), scope);
    o.messages("metrics", metrics, metric);
    o.str("schemaUrl", schema_url);
}

fn metric<W: Out>(o: &mut Obj<'_, W>, m: &Metric) {
    let Metric {
        name,
        description,
        unit,
        metadata,
        data,
    } = m;
    o.str("name", name);
    o.str("description", description);
    o.str("unit", unit);
    match data {
        None => {}
        Some(metric::Data::Gauge(g)) => o.message("gauge", |o| {
            o.messages("dataPoints", &g.data_points, number_point)
        }),
        Some(metric::Data::Sum(s)) => o.message("sum", |o| {
            o.messages("dataPoints", &s.data_points, number_point);
            o.i32("aggregationTemporality", s.aggregation_temporality);
            o.bool("isMonotonic", s.is_monotonic);
        }),
        Some(metric::Data::Histogram(h)) => o.message("histogram", |o| {
            o.messages("dataPoints", &h.data_points, histogram_point);
            o.i32("aggregationTemporality", h.aggregation_temporality);
        }),
        Some(metric::Data::ExponentialHistogram(h)) => o.message("exponentialHistogram", |o| {
            o.messages("dataPoints", &h.data_points, exp_histogram_point);
            o.i32("aggregationTemporality", h.aggregation_temporality);
        }),
        Some(metric::Data::Summary(s)) => o.message("summary", |o| {
            o.messages("dataPoints", &s.data_points, summary_point)
        }),
    }
    o.messages("metadata", metadata, key_value);
}

fn number_point<W: Out>(o: &mut Obj<'_, W>, p: &NumberDataPoint) {
    let NumberDataPoint {
        attributes,
        start_time_unix_nano,
        time_unix_nano,
        exemplars,
        flags,
        value,
    } = p;
    o.messages("attributes", attributes, key_value);
    o.u64("startTimeUnixNano", *start_time_unix_nano);
    o.u64("timeUnixNano", *time_unix_nano);
    match value {
        None => {}
        Some(number_data_point::Value::AsDouble(d)) => o.f64_present("asDouble", *d),
        Some(number_data_point::Value::AsInt(i)) => {
            o.key("asInt");
            let _ = write!(o.out, "\"{i}\"");
        }
    }
    o.messages("exemplars", exemplars, exemplar);
    o.u32("flags", *flags);
}

fn histogram_point<W: Out>(o: &mut Obj<'_, W>, p: &HistogramDataPoint) {
    let HistogramDataPoint {
        attributes,
        start_time_unix_nano,
        time_unix_nano,
        count,
        sum,
        bucket_counts,
        explicit_bounds,
        exemplars,
        flags,
        min,
        max,
    } = p;
    o.messages("attributes", attributes, key_value);
    o.u64("startTimeUnixNano", *start_time_unix_nano);
    o.u64("timeUnixNano", *time_unix_nano);
    o.u64("count", *count);
    if let Some(sum) = sum {
        o.f64_present("sum", *sum);
    }
    o.scalars("bucketCounts", bucket_counts, |out, v| {
        let _ = write!(out, "\"{v}\"");
    });
    o.scalars("explicitBounds", explicit_bounds, write_f64);
    o.messages("exemplars", exemplars, exemplar);
    o.u32("flags", *flags);
    if let Some(min) = min {
        o.f64_present("min", *min);
    }
    if let Some(max) = max {
        o.f64_present("max", *max);
    }
}

fn buckets<W: Out>(o: &mut Obj<'_, W>, b: &Buckets) {
    let Buckets {
        offset,
        bucket_counts,
    } = b;
    o.i32("offset", *offset);
    o.scalars("bucketCounts", bucket_counts, |out, v| {
        let _ = write!(out, "\"{v}\"");
    });
}

fn exp_histogram_point<W: Out>(o: &mut Obj<'_, W>, p: &ExponentialHistogramDataPoint) {
    let ExponentialHistogramDataPoint {
        attributes,
        start_time_unix_nano,
        time_unix_nano,
        count,
        sum,
        scale,
        zero_count,
        positive,
        negative,
        flags,
        exemplars,
        min,
        max,
        zero_threshold,
    } = p;
    o.messages("attributes", attributes, key_value);
    o.u64("startTimeUnixNano", *start_time_unix_nano);
    o.u64("timeUnixNano", *time_unix_nano);
    o.u64("count", *count);
    if let Some(sum) = sum {
        o.f64_present("sum", *sum);
    }
    o.i32("scale", *scale);
    o.u64("zeroCount", *zero_count);
    o.opt_message("positive", positive.as_ref(), buckets);
    o.opt_message("negative", negative.as_ref(), buckets);
    o.u32("flags", *flags);
    o.messages("exemplars", exemplars, exemplar);
    if let Some(min) = min {
        o.f64_present("min", *min);
    }
    if let Some(max) = max {
        o.f64_present("max", *max);
    }
    o.f64("zeroThreshold", *zero_threshold);
}

fn summary_point<W: Out>(o: &mut Obj<'_, W>, p: &SummaryDataPoint) {
    let SummaryDataPoint {
        attributes,
        start_time_unix_nano,
        time_unix_nano,
        count,
        sum,
        quantile_values,
        flags,
    } = p;
    o.messages("attributes", attributes, key_value);
    o.u64("startTimeUnixNano", *start_time_unix_nano);
    o.u64("timeUnixNano", *time_unix_nano);
    o.u64("count", *count);
    o.f64("sum", *sum);
    o.messages(
        "quantileValues",
        quantile_values,
        |o, q: &ValueAtQuantile| {
            let ValueAtQuantile { quantile, value } = q;
            o.f64("quantile", *quantile);
            o.f64("value", *value);
        },
    );
    o.u32("flags", *flags);
}

fn exemplar<W: Out>(o: &mut Obj<'_, W>, e: &Exemplar) {
    let Exemplar {
        filtered_attributes,
        time_unix_nano,
        span_id,
        trace_id,
        value,
    } = e;
    o.messages("filteredAttributes", filtered_attributes, key_value);
    o.u64("timeUnixNano", *time_unix_nano);
    match value {
        None => {}
        Some(exemplar::Value::AsDouble(d)) => o.f64_present("asDouble", *d),
        Some(exemplar::Value::AsInt(i)) => {
            o.key("asInt");
            let _ = write!(o.out, "\"{i}\"");
        }
    }
    o.hex("spanId", span_id);
    o.hex("traceId", trace_id);
}

// ---------------------------------------------------------------------------
// logs

pub(crate) fn resource_logs<W: Out>(o: &mut Obj<'_, W>, rl: &ResourceLogs) {
    let ResourceLogs {
        resource: res,
        scope_logs: sl,
        schema_url,
    } = rl;
    o.opt_message("resource", res.as_ref(), resource);
    o.messages("scopeLogs", sl, scope_logs);
    o.str("schemaUrl", schema_url);
}

fn scope_logs<W: Out>(o: &mut Obj<'_, W>, sl: &ScopeLogs) {
    let ScopeLogs {
        scope: sc,
        log_records,
        schema_url,
    } = sl;
    o.opt_message("scope", sc.as_ref(), scope);
    o.messages("logRecords", log_records, log_record);
    o.str("schemaUrl", schema_url);
}

fn log_record<W: Out>(o: &mut Obj<'_, W>, l: &LogRecord) {
    let LogRecord {
        time_unix_nano,
        observed_time_unix_nano,
        severity_number,
        severity_text,
        body,
        attributes,
        dropped_attributes_count,
        flags,
        trace_id,
        span_id,
        event_name,
    } = l;
    o.u64("timeUnixNano", *time_unix_nano);
    o.u64("observedTimeUnixNano", *observed_time_unix_nano);
    o.i32("severityNumber", *severity_number);
    o.str("severityText", severity_text);
    o.opt_message("body", body.as_ref(), any_value);
    o.messages("attributes", attributes, key_value);
    o.u32("droppedAttributesCount", *dropped_attributes_count);
    o.u32("flags", *flags);
    o.hex("traceId", trace_id);
    o.hex("spanId", span_id);
    o.str("eventName", event_name);
}

// ---------------------------------------------------------------------------
// requests and responses

pub(crate) fn traces_request<W: Out>(out: &mut W, r: &ExportTraceServiceRequest) {
    let mut o = Obj::begin(out);
    o.messages("resourceSpans", &r.resource_spans, resource_spans);
    o.end();
}

pub(crate) fn metrics_request<W: Out>(out: &mut W, r: &ExportMetricsServiceRequest) {
    let mut o = Obj::begin(out);
    o.messages("resourceMetrics", &r.resource_metrics, resource_metrics);
    o.end();
}

pub(crate) fn logs_request<W: Out>(out: &mut W, r: &ExportLogsServiceRequest) {
    let mut o = Obj::begin(out);
    o.messages("resourceLogs", &r.resource_logs, resource_logs);
    o.end();
}

pub(crate) fn traces_partial<W: Out>(o: &mut Obj<'_, W>, p: &ExportTracePartialSuccess) {
    o.i64("rejectedSpans", p.rejected_spans);
    o.str("errorMessage", &p.error_message);
}

pub(crate) fn metrics_partial<W: Out>(o: &mut Obj<'_, W>, p: &ExportMetricsPartialSuccess) {
    o.i64("rejectedDataPoints", p.rejected_data_points);
    o.str("errorMessage", &p.error_message);
}

pub(crate) fn logs_partial<W: Out>(o: &mut Obj<'_, W>, p: &ExportLogsPartialSuccess) {
    o.i64("rejectedLogRecords", p.rejected_log_records);
    o.str("errorMessage", &p.error_message);
}

// ---------------------------------------------------------------------------
// items on their own

/// An item (span, log record, data point) written as one JSON object.
pub(crate) trait JsonObject {
    fn write<W: Out>(&self, o: &mut Obj<'_, W>);
}

macro_rules! json_object {
    ($($ty:ty => $f:ident),* $(,)?) => {
        $(impl JsonObject for $ty {
            fn write<W: Out>(&self, o: &mut Obj<'_, W>) {
                $f(o, self)
            }
        })*
    };
}
json_object!(
    Span => span,
    LogRecord => log_record,
    NumberDataPoint => number_point,
    HistogramDataPoint => histogram_point,
    ExponentialHistogramDataPoint => exp_histogram_point,
    SummaryDataPoint => summary_point,
);

/// The length of `item`'s JSON object, counted without writing it.
pub(crate) fn object_len(item: &impl JsonObject) -> usize {
    let mut counter = Counter::default();
    let mut o = Obj::begin(&mut counter);
    item.write(&mut o);
    o.end();
    counter.0
}
