//! What a read selects: a signal, a time range and filters, and the rule
//! that decides whether an item matches.

use otelvault_codec::Signal;
use otelvault_codec::filter::ItemRef;
use otelvault_codec::partition::FUTURE_TOLERANCE_NANOS;
use otelvault_codec::proto::common::{KeyValue, any_value};
use sha2::{Digest, Sha256};

use crate::Partitioning;

/// Items per page when no limit is given.
pub const DEFAULT_LIMIT: usize = 1000;
/// The largest page limit.
pub const MAX_LIMIT: usize = 10_000;

/// An attribute value to match: strings, integers, doubles and booleans.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// Matches `stringValue` (and the text form of other scalars).
    Str(String),
    /// Matches `intValue` (and an integral `doubleValue`).
    Int(i64),
    /// Matches `doubleValue` (and `intValue` of the same value).
    Double(f64),
    /// Matches `boolValue`.
    Bool(bool),
}

impl AttrValue {
    fn canonical(&self) -> String {
        match self {
            AttrValue::Str(s) => format!("s:{s}"),
            AttrValue::Int(i) => format!("i:{i}"),
            AttrValue::Double(d) => format!("d:{d:?}"),
            AttrValue::Bool(b) => format!("b:{b}"),
        }
    }

    /// The texts a matching value has in a `map<string,string>` attribute
    /// column of the compacted tier (strings as they are, integers and
    /// booleans in their usual text, doubles as Rust prints them); empty
    /// when they cannot be listed (a double also matches integers).
    pub(crate) fn texts(&self) -> Vec<String> {
        match self {
            AttrValue::Str(s) => vec![s.clone()],
            AttrValue::Bool(b) => vec![b.to_string()],
            // A double equal to the integer prints as it does, or as -0.
            AttrValue::Int(i) => vec![i.to_string(), (*i as f64).to_string(), "-0".into()],
            AttrValue::Double(_) => Vec::new(),
        }
    }

    fn matches(&self, value: Option<&any_value::Value>) -> bool {
        use any_value::Value;
        match (value, self) {
            (value, AttrValue::Str(w)) => str_matches(value, w),
            (Some(Value::BoolValue(b)), AttrValue::Bool(w)) => b == w,
            (Some(Value::IntValue(i)), AttrValue::Int(w)) => i == w,
            (Some(Value::IntValue(i)), AttrValue::Double(w)) => (*i as f64) == *w,
            (Some(Value::DoubleValue(d)), AttrValue::Double(w)) => d == w,
            (Some(Value::DoubleValue(d)), AttrValue::Int(w)) => *d == (*w as f64),
            _ => false,
        }
    }
}

/// A string filter matches a string value, and also the text form of other
/// scalars, so `{"http.status_code": "200"}` finds an int attribute.
fn str_matches(value: Option<&any_value::Value>, want: &str) -> bool {
    use any_value::Value;
    match value {
        Some(Value::StringValue(s)) => s == want,
        Some(Value::IntValue(i)) => i.to_string() == want,
        Some(Value::BoolValue(b)) => b.to_string() == want,
        _ => false,
    }
}

/// A read of the archive: one signal, a time range and filters that
/// combine with AND.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The signal read.
    pub signal: Signal,
    /// Inclusive start, unix nanoseconds.
    pub start: u64,
    /// Exclusive end (0: now, fixed on the first page).
    pub end: u64,
    /// Items per page.
    pub limit: usize,
    /// Filter on `service.name`.
    pub service_name: Option<String>,
    /// Filter on trace id (16 bytes).
    pub trace_id: Option<Vec<u8>>,
    /// Attribute filters (resource or item attributes), sorted by key.
    pub attributes: Vec<(String, AttrValue)>,
    /// Logs: minimum severity number.
    pub min_severity: Option<i32>,
    /// Metrics: metric name.
    pub metric_name: Option<String>,
    /// Logs: texts the body must each contain, the body read as text the
    /// way the `Body` column holds it (strings as they are, other values
    /// as `values::as_string` renders them).
    pub body_contains: Vec<String>,
    /// What of each item the reader needs.
    pub fields: Fields,
}

/// What of each item a read gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fields {
    /// Items whole, exactly as they were sent.
    #[default]
    Whole,
    /// Logs: at least each record's time (in `time_unix_nano`: its time,
    /// else when it was observed), severity and body (as text, a string),
    /// under its resource: what a log line shows. Records of compacted
    /// hours then come without scope, attributes, ids, flags or event
    /// name, read from fewer columns. A query with attribute or trace id
    /// filters, which the records must be whole to decide, reads them
    /// whole.
    LogLines,
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    otelvault_codec::view::first(attrs, key).and_then(|v| v.value.as_ref())
}

impl Query {
    /// A query of `signal` with no range or filter yet.
    pub fn new(signal: Signal) -> Query {
        Query {
            signal,
            start: 0,
            end: 0,
            limit: DEFAULT_LIMIT,
            service_name: None,
            trace_id: None,
            attributes: Vec::new(),
            min_severity: None,
            metric_name: None,
            body_contains: Vec::new(),
            fields: Fields::Whole,
        }
    }

    /// Binds a cursor to this query: the signal and every parameter that
    /// selects items (not `limit`).
    pub fn fingerprint(&self) -> Vec<u8> {
        let mut h = Sha256::new();
        let mut field = |name: &str, value: &[u8]| {
            h.update((name.len() as u64).to_be_bytes());
            h.update(name.as_bytes());
            h.update((value.len() as u64).to_be_bytes());
            h.update(value);
        };
        field("signal", self.signal.as_str().as_bytes());
        field("start", &self.start.to_be_bytes());
        field("end", &self.end.to_be_bytes());
        field(
            "service",
            self.service_name.as_deref().unwrap_or("\u{0}").as_bytes(),
        );
        field("trace", self.trace_id.as_deref().unwrap_or(b"\x00none"));
        for (k, v) in &self.attributes {
            field("attr", k.as_bytes());
            field("value", v.canonical().as_bytes());
        }
        field("severity", &self.min_severity.unwrap_or(-1).to_be_bytes());
        field(
            "metric",
            self.metric_name.as_deref().unwrap_or("\u{0}").as_bytes(),
        );
        for text in &self.body_contains {
            field("body", text.as_bytes());
        }
        let mut out = self.signal.as_str().as_bytes().to_vec();
        out.push(b':');
        out.extend_from_slice(&h.finalize());
        out
    }

    /// Does `item`, stored in the partition starting at `partition`, match
    /// the query over `[start, end)`?
    pub(crate) fn matches(
        &self,
        item: &ItemRef<'_>,
        partition: u64,
        end: u64,
        partitioning: Partitioning,
    ) -> bool {
        let t = effective_time(item.time, partition, partitioning);
        if t < self.start || t >= end {
            return false;
        }
        let resource_attrs: &[KeyValue] = item
            .resource
            .map(|r| r.attributes.as_slice())
            .unwrap_or(&[]);
        if let Some(service) = &self.service_name
            && !str_matches(attr(resource_attrs, "service.name"), service)
        {
            return false;
        }
        if let Some(trace_id) = &self.trace_id
            && item.trace_id != trace_id.as_slice()
        {
            return false;
        }
        if let Some(min) = self.min_severity
            && item.severity_number < min
        {
            return false;
        }
        if let Some(name) = &self.metric_name
            && item.metric_name != Some(name.as_str())
        {
            return false;
        }
        if !self.body_contains.is_empty() {
            let body = otelvault_codec::values::as_text(item.body);
            if !self
                .body_contains
                .iter()
                .all(|text| body.contains(text.as_str()))
            {
                return false;
            }
        }
        self.attributes.iter().all(|(key, want)| {
            want.matches(attr(item.attributes, key)) || want.matches(attr(resource_attrs, key))
        })
    }
}

/// The time an item counts as having, for range matching: its event time,
/// or its partition's start when the event time is missing or was too far
/// in the future to have been used for partitioning.
pub(crate) fn effective_time(t: u64, partition: u64, partitioning: Partitioning) -> u64 {
    let partition_end = partition.saturating_add(partitioning.granularity.nanos());
    if t == 0 || t > partition_end.saturating_add(FUTURE_TOLERANCE_NANOS) {
        partition
    } else {
        t
    }
}
