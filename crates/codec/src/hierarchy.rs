//! The resource → scope → item hierarchy shared by all three signals, so
//! that splitting, merging and filtering are written once.

use prost::Message;

use crate::proto::logs::{LogRecord, ResourceLogs, ScopeLogs};
use crate::proto::metrics::{Metric, ResourceMetrics, ScopeMetrics};
use crate::proto::trace::{ResourceSpans, ScopeSpans, Span};

/// A message that owns a list of children (a resource owns scopes, a scope
/// owns items). Taking the children leaves a "shell" that can be cloned
/// cheaply to hold a subset of them.
pub(crate) trait Parent: Sized {
    type Child;
    fn children(&self) -> &Vec<Self::Child>;
    fn children_mut(&mut self) -> &mut Vec<Self::Child>;
    /// Bytes that are equal exactly when two shells are equal (the
    /// resource/scope message and the schema URL).
    fn identity(&self) -> Vec<u8>;

    fn take_children(&mut self) -> Vec<Self::Child> {
        std::mem::take(self.children_mut())
    }
}

fn identity<M: Message>(message: Option<&M>, schema_url: &str) -> Vec<u8> {
    let mut out = message.map(Message::encode_to_vec).unwrap_or_default();
    // A separator that cannot be confused with protobuf bytes of the message
    // ends the message part (its length is prefixed).
    let len = out.len() as u64;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(schema_url.as_bytes());
    out
}

macro_rules! parent {
    ($ty:ty, $child:ty, $field:ident, $shell:ident) => {
        impl Parent for $ty {
            type Child = $child;
            fn children(&self) -> &Vec<$child> {
                &self.$field
            }
            fn children_mut(&mut self) -> &mut Vec<$child> {
                &mut self.$field
            }
            fn identity(&self) -> Vec<u8> {
                identity(self.$shell.as_ref(), &self.schema_url)
            }
        }
    };
}

parent!(ResourceSpans, ScopeSpans, scope_spans, resource);
parent!(ScopeSpans, Span, spans, scope);
parent!(ResourceMetrics, ScopeMetrics, scope_metrics, resource);
parent!(ScopeMetrics, Metric, metrics, scope);
parent!(ResourceLogs, ScopeLogs, scope_logs, resource);
parent!(ScopeLogs, LogRecord, log_records, scope);

/// Keeps the items for which `keep` returns true, dropping scopes and
/// resources left empty. `keep` sees the resource, scope and item.
pub(crate) fn retain<R, S, I>(resources: &mut Vec<R>, mut keep: impl FnMut(&R, &S, &mut I) -> bool)
where
    R: Parent<Child = S>,
    S: Parent<Child = I>,
{
    resources.retain_mut(|r| {
        let mut scopes = r.take_children();
        scopes.retain_mut(|s| {
            let mut items = s.take_children();
            items.retain_mut(|i| keep(r, s, i));
            *s.children_mut() = items;
            !s.children().is_empty()
        });
        *r.children_mut() = scopes;
        !r.children().is_empty()
    });
}
