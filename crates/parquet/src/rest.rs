//! The lossless remainder of a row (`OtlpRest`, parts of manifest version
//! 3): what the row's SQL columns cannot say about its item, and nothing
//! they can.
//!
//! An attribute map column (`SpanAttributes`, `LogAttributes`) says every
//! key, in order, and every value as a string. A string value is said
//! exactly; an int, bool or double is said exactly when its string parses
//! back to the same value, and then the remainder holds only its type
//! (two or three bytes); any other value (bytes, arrays, kvlists, no value
//! at all, a double that does not print back) is kept whole, by position.

use arrow_array::cast::AsArray as _;
use arrow_array::{Array, MapArray, RecordBatch, StringArray};
use otelvault_codec::proto::common::{AnyValue, KeyValue, any_value};

use crate::CompactError;
use crate::values::as_string;

/// An attribute (or body) whose value its string column cannot say alone.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Typed {
    /// Its position in the item's attributes.
    #[prost(uint32, tag = "1")]
    pub position: u32,
    /// How to read the string: [`WHOLE`] (the value is `value`), [`INT`],
    /// [`BOOL`] or [`DOUBLE`].
    #[prost(uint32, tag = "2")]
    pub kind: u32,
    /// The whole value, for [`WHOLE`] (absent when the attribute had none).
    #[prost(message, optional, tag = "3")]
    pub value: Option<AnyValue>,
    /// The attribute's `key_strindex`, when it has one.
    #[prost(int32, tag = "4")]
    pub key_strindex: i32,
}

pub(crate) const WHOLE: u32 = 0;
pub(crate) const INT: u32 = 1;
pub(crate) const BOOL: u32 = 2;
pub(crate) const DOUBLE: u32 = 3;
/// A string value (kept only for its attribute's `key_strindex`).
pub(crate) const STRING: u32 = 4;

/// The value a string column says, read as `kind`.
fn parse(kind: u32, text: &str) -> Option<any_value::Value> {
    use any_value::Value as V;
    match kind {
        STRING => Some(V::StringValue(text.to_owned())),
        INT => text.parse().ok().map(V::IntValue),
        BOOL => text.parse().ok().map(V::BoolValue),
        DOUBLE => text.parse().ok().map(V::DoubleValue),
        _ => None,
    }
}

/// Exactly equal, doubles to the bit.
fn same(a: &any_value::Value, b: &any_value::Value) -> bool {
    use any_value::Value as V;
    match (a, b) {
        (V::DoubleValue(x), V::DoubleValue(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

/// How a value at `position` is kept: `None` when its string says it (a
/// string value).
pub(crate) fn typed(position: usize, value: Option<&AnyValue>) -> Option<Typed> {
    use any_value::Value as V;
    let inner = value.and_then(|v| v.value.as_ref());
    let kind = match inner {
        Some(V::StringValue(_)) => return None,
        // The text of an int or a bool always reads back as it.
        Some(V::IntValue(_)) => INT,
        Some(V::BoolValue(_)) => BOOL,
        Some(double @ V::DoubleValue(_))
            if parse(DOUBLE, &as_string(value)).is_some_and(|said| same(double, &said)) =>
        {
            DOUBLE
        }
        _ => WHOLE,
    };
    Some(Typed {
        position: u32::try_from(position).unwrap_or(u32::MAX),
        kind,
        value: (kind == WHOLE).then(|| value.cloned()).flatten(),
        key_strindex: 0,
    })
}

/// The attributes a map column cannot say alone.
pub(crate) fn typed_attributes(attributes: &[KeyValue]) -> Vec<Typed> {
    attributes
        .iter()
        .enumerate()
        .filter_map(|(i, kv)| match typed(i, kv.value.as_ref()) {
            _ if kv.key_strindex != 0 => Some(Typed {
                key_strindex: kv.key_strindex,
                ..typed(i, kv.value.as_ref()).unwrap_or(Typed {
                    position: u32::try_from(i).unwrap_or(u32::MAX),
                    kind: STRING,
                    value: None,
                    key_strindex: 0,
                })
            }),
            t => t,
        })
        .collect()
}

/// The value of `text` kept as `typed` (`None`: a string).
pub(crate) fn value(text: &str, typed: Option<&Typed>) -> Option<AnyValue> {
    match typed {
        None => Some(AnyValue {
            value: Some(any_value::Value::StringValue(text.to_owned())),
        }),
        Some(t) if t.kind == WHOLE => t.value.clone(),
        Some(t) => Some(AnyValue {
            value: parse(t.kind, text),
        }),
    }
}

/// Row `i` of map column `name`: the attributes it says, with the values
/// `typed` (sorted by position) keeps.
pub(crate) fn attributes(
    batch: &RecordBatch,
    table: &'static str,
    name: &str,
    i: usize,
    typed: &[Typed],
) -> Result<Vec<KeyValue>, CompactError> {
    let (keys, values, range) = map_row(batch, table, name, i)?;
    let mut typed = typed.iter().peekable();
    let mut out = Vec::with_capacity(range.len());
    for (position, j) in range.enumerate() {
        let kept = typed.next_if(|t| t.position as usize == position);
        out.push(KeyValue {
            key: keys.value(j).to_owned(),
            value: value(values.value(j), kept),
            key_strindex: kept.map_or(0, |t| t.key_strindex),
        });
    }
    Ok(out)
}

/// The keys, values and entry range of row `i` of map column `name`.
fn map_row<'a>(
    batch: &'a RecordBatch,
    table: &'static str,
    name: &str,
    i: usize,
) -> Result<(&'a StringArray, &'a StringArray, std::ops::Range<usize>), CompactError> {
    let schema = |problem: String| CompactError::Schema { table, problem };
    let map: &MapArray = batch
        .column_by_name(name)
        .and_then(|c| c.as_map_opt())
        .ok_or_else(|| schema(format!("{name} is not a map column")))?;
    let keys = map.keys().as_string_opt::<i32>();
    let values = map.values().as_string_opt::<i32>();
    let (Some(keys), Some(values)) = (keys, values) else {
        return Err(schema(format!("{name} is not a map of strings")));
    };
    let offsets = map.value_offsets();
    let range = offsets[i] as usize..offsets[i + 1] as usize;
    Ok((keys, values, range))
}

/// Row `i` of a `list<string>` column.
pub(crate) fn strings<'a>(
    batch: &'a RecordBatch,
    table: &'static str,
    name: &str,
    i: usize,
) -> Result<Vec<&'a str>, CompactError> {
    let list = batch
        .column_by_name(name)
        .and_then(|c| c.as_list_opt::<i32>())
        .ok_or_else(|| CompactError::Schema {
            table,
            problem: format!("{name} is not a list column"),
        })?;
    let values = list
        .values()
        .as_string_opt::<i32>()
        .ok_or_else(|| CompactError::Schema {
            table,
            problem: format!("{name} is not a list of strings"),
        })?;
    let offsets = list.value_offsets();
    let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
    if list.is_null(i) {
        return Ok(Vec::new());
    }
    Ok((start..end).map(|j| values.value(j)).collect())
}

/// Mutations of an encoded remainder for tests: the message without each
/// of its fields in turn, and (for field `nested`, a message) without each
/// of that message's fields.
#[cfg(test)]
pub(crate) fn without_each_field(bytes: &[u8], nested: u32) -> Vec<Vec<u8>> {
    let fields = fields(bytes);
    let mut out = Vec::new();
    for &(number, start, end, body) in &fields {
        let others = |mid: &[u8]| {
            let mut v = bytes[..start].to_vec();
            v.extend_from_slice(mid);
            v.extend_from_slice(&bytes[end..]);
            v
        };
        out.push(others(&[]));
        if number == nested {
            for inner in without_each_field(&bytes[body..end], 0) {
                let mut field = bytes[start..body].to_vec();
                // The length prefix changes: rebuild the field.
                field.truncate(1);
                prost::encoding::encode_varint(inner.len() as u64, &mut field);
                field.extend(inner);
                out.push(others(&field));
            }
        }
    }
    out
}

/// The fields of an encoded message: number, start, end, start of the
/// value (past a length prefix).
#[cfg(test)]
fn fields(bytes: &[u8]) -> Vec<(u32, usize, usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let mut buf = &bytes[at..];
        let key = prost::encoding::decode_varint(&mut buf).expect("key");
        at = bytes.len() - buf.len();
        let mut body = at;
        match key & 7 {
            0 => {
                prost::encoding::decode_varint(&mut buf).expect("varint");
                at = bytes.len() - buf.len();
            }
            1 => at += 8,
            5 => at += 4,
            2 => {
                let len = prost::encoding::decode_varint(&mut buf).expect("length") as usize;
                body = bytes.len() - buf.len();
                at = body + len;
            }
            other => panic!("wire type {other}"),
        }
        out.push(((key >> 3) as u32, start, at, body));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use any_value::Value as V;

    fn any(v: V) -> Option<AnyValue> {
        Some(AnyValue { value: Some(v) })
    }

    #[test]
    fn values_their_string_says_keep_only_a_type_and_the_rest_stay_whole() {
        assert_eq!(typed(0, any(V::StringValue("x".into())).as_ref()), None);
        for (v, kind) in [
            (V::IntValue(-42), INT),
            (V::BoolValue(true), BOOL),
            (V::DoubleValue(0.1), DOUBLE),
            (V::DoubleValue(-0.0), DOUBLE),
            (V::DoubleValue(f64::NAN), DOUBLE),
            (V::DoubleValue(f64::from_bits(0x7ff8_0000_0000_0001)), WHOLE),
            (V::DoubleValue(1e300), DOUBLE),
            (V::BytesValue(vec![1, 2]), WHOLE),
            (V::StringValueStrindex(3), WHOLE),
        ] {
            let original = any(v);
            let t = typed(5, original.as_ref()).expect("kept");
            assert_eq!(t.kind, kind, "{original:?}");
            let text = as_string(original.as_ref());
            let back = value(&text, Some(&t)).expect("a value");
            let (Some(a), Some(b)) = (
                &back.value,
                &original.as_ref().and_then(|o| o.value.clone()),
            ) else {
                panic!("no value")
            };
            assert!(same(a, b), "{original:?} came back as {back:?}");
        }
        // No value at all, and an empty value, come back as they were.
        for original in [None, Some(AnyValue { value: None })] {
            let t = typed(1, original.as_ref()).expect("kept");
            assert_eq!(value("", Some(&t)), original);
        }
    }
}
