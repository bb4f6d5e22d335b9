//! Encoded sizes of single items, to cut a batch at a byte budget without
//! encoding it again for every candidate cut.

use prost::Message;

use crate::json::write::{JsonObject, object_len};
use crate::points::match_data;
use crate::{Batch, Format};

fn size<T: Message + JsonObject>(item: &T, format: Format) -> usize {
    match format {
        Format::Json => object_len(item),
        // The field key (one byte: every item field number is below 16),
        // the length prefix and the message.
        Format::Protobuf => {
            let len = item.encoded_len();
            1 + prost::encoding::encoded_len_varint(len as u64) + len
        }
    }
}

/// The encoded size in `format` of each item of `batch` (span, log record
/// or data point) on its own, in the order the item filters count them.
///
/// For any prefix of the items (as `truncate_items` keeps it), its encoded
/// size is at most the encoded size of the whole batch, less the sizes of
/// all items, plus the sizes of the prefix's items: a prefix has no more
/// resource, scope and metric shells, separators or length prefixes than
/// the whole.
pub fn item_sizes(batch: &Batch, format: Format) -> Vec<usize> {
    let mut out = Vec::with_capacity(batch.item_count());
    match batch {
        Batch::Traces(r) => out.extend(
            r.resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
                .map(|span| size(span, format)),
        ),
        Batch::Logs(r) => out.extend(
            r.resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .flat_map(|s| &s.log_records)
                .map(|log| size(log, format)),
        ),
        Batch::Metrics(r) => {
            for data in r
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .filter_map(|m| m.data.as_ref())
            {
                match_data!(data, |d, _wrap| out
                    .extend(d.data_points.iter().map(|p| size(p, format))));
            }
        }
    }
    out
}

/// The encoded size of `batch` in `format`, counted without encoding it.
pub fn encoded_len(batch: &Batch, format: Format) -> usize {
    match (format, batch) {
        (Format::Json, b) => crate::json::encoded_len(b),
        (Format::Protobuf, Batch::Traces(r)) => r.encoded_len(),
        (Format::Protobuf, Batch::Metrics(r)) => r.encoded_len(),
        (Format::Protobuf, Batch::Logs(r)) => r.encoded_len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Signal;
    use crate::filter::truncate_items;
    use crate::samples::sample;

    #[test]
    fn prefix_sizes_are_bounded_by_the_item_sizes() {
        for signal in Signal::ALL {
            let batch = sample(signal);
            for format in [Format::Json, Format::Protobuf] {
                let sizes = item_sizes(&batch, format);
                assert_eq!(sizes.len(), batch.item_count(), "{signal} {format}");
                let total = encoded_len(&batch, format);
                assert_eq!(total, batch.encode(format).len());
                let overhead = total - sizes.iter().sum::<usize>();
                for k in 0..=sizes.len() {
                    let mut prefix = batch.clone();
                    truncate_items(&mut prefix, k);
                    let bound = overhead + sizes[..k].iter().sum::<usize>();
                    let actual = encoded_len(&prefix, format);
                    assert!(
                        actual <= bound,
                        "{signal} {format} k={k}: {actual} > {bound}"
                    );
                }
                assert_eq!(overhead + sizes.iter().sum::<usize>(), total);
            }
        }
    }
}
