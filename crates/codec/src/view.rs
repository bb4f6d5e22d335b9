//! A span as a search sees it, whichever tier it is read from: a span of a
//! decoded OTLP request ([`OtlpSpan`]), or a row of a compacted hour's
//! columns (`otelvault-parquet`), which answers from the columns and
//! decodes the rest of the row only when asked for what they cannot say.
//! Code that searches through this trait answers the same over both.

use crate::proto::common::{AnyValue, KeyValue};
use crate::proto::trace::{Span, span, status};

/// What a search reads of a span and its resource.
pub trait SpanView {
    /// The trace id's bytes.
    fn trace_id(&self) -> &[u8];
    /// The span id's bytes.
    fn span_id(&self) -> &[u8];
    /// Whether the span has no parent.
    fn is_root(&self) -> bool;
    /// The span's name.
    fn name(&self) -> &str;
    /// Start, unix nanoseconds.
    fn start(&self) -> u64;
    /// End, unix nanoseconds.
    fn end(&self) -> u64;
    /// The kind (`span::SpanKind`); one OTLP does not define reads as
    /// unspecified (0).
    fn kind(&self) -> i32;
    /// The status code (`status::StatusCode`); unset (0) without a status
    /// or for a code OTLP does not define.
    fn status_code(&self) -> i32;
    /// The status message, empty without a status.
    fn status_message(&self) -> &str;
    /// The value of the span's first attribute named `key`.
    fn attribute(&self, key: &str) -> Option<AnyValue>;
    /// The name of each of the span's attributes, in order.
    fn attribute_keys(&self, each: &mut dyn FnMut(&str));
    /// The resource's attributes.
    fn resource(&self) -> &[KeyValue];
}

/// A span of a decoded request, with its resource's attributes.
#[derive(Debug, Clone, Copy)]
pub struct OtlpSpan<'a> {
    /// The resource's attributes.
    pub resource: &'a [KeyValue],
    /// The span.
    pub span: &'a Span,
}

impl SpanView for OtlpSpan<'_> {
    fn trace_id(&self) -> &[u8] {
        &self.span.trace_id
    }
    fn span_id(&self) -> &[u8] {
        &self.span.span_id
    }
    fn is_root(&self) -> bool {
        self.span.parent_span_id.is_empty()
    }
    fn name(&self) -> &str {
        &self.span.name
    }
    fn start(&self) -> u64 {
        self.span.start_time_unix_nano
    }
    fn end(&self) -> u64 {
        self.span.end_time_unix_nano
    }
    fn kind(&self) -> i32 {
        match span::SpanKind::try_from(self.span.kind) {
            Ok(kind) => kind as i32,
            Err(_) => 0,
        }
    }
    fn status_code(&self) -> i32 {
        let code = self.span.status.as_ref().map_or(0, |s| s.code);
        match status::StatusCode::try_from(code) {
            Ok(code) => code as i32,
            Err(_) => 0,
        }
    }
    fn status_message(&self) -> &str {
        self.span.status.as_ref().map_or("", |s| s.message.as_str())
    }
    fn attribute(&self, key: &str) -> Option<AnyValue> {
        first(&self.span.attributes, key).cloned()
    }
    fn attribute_keys(&self, each: &mut dyn FnMut(&str)) {
        for kv in &self.span.attributes {
            each(&kv.key);
        }
    }
    fn resource(&self) -> &[KeyValue] {
        self.resource
    }
}

/// The value of the first attribute of `attributes` named `key`.
pub fn first<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}
