//! OTLP attribute values as strings (the Collector's `AsString`): how the
//! compacted tier's `map<string,string>` columns and CloudWatch dimensions
//! spell them.

use std::borrow::Cow;

use crate::proto::common::{AnyValue, KeyValue, any_value};
use base64::Engine as _;
use serde_json::{Map, Value};

/// Strings as they are, booleans and numbers in their usual text, bytes in
/// base64, arrays and key-value lists as JSON.
pub fn as_string(value: Option<&AnyValue>) -> String {
    as_text(value).into_owned()
}

/// [`as_string`], borrowing a string value instead of copying it.
pub fn as_text(value: Option<&AnyValue>) -> Cow<'_, str> {
    use any_value::Value as V;
    Cow::Owned(match value.and_then(|v| v.value.as_ref()) {
        None => return Cow::Borrowed(""),
        Some(V::StringValue(s)) => return Cow::Borrowed(s),
        Some(V::BoolValue(b)) => b.to_string(),
        Some(V::IntValue(i)) => i.to_string(),
        Some(V::DoubleValue(d)) => d.to_string(),
        Some(V::StringValueStrindex(i)) => i.to_string(),
        Some(V::BytesValue(b)) => base64::engine::general_purpose::STANDARD.encode(b),
        Some(other @ (V::ArrayValue(_) | V::KvlistValue(_))) => as_json(Some(&AnyValue {
            value: Some(other.clone()),
        }))
        .to_string(),
    })
}

fn as_json(value: Option<&AnyValue>) -> Value {
    use any_value::Value as V;
    match value.and_then(|v| v.value.as_ref()) {
        None => Value::Null,
        Some(V::StringValue(s)) => Value::String(s.clone()),
        Some(V::BoolValue(b)) => Value::Bool(*b),
        Some(V::IntValue(i)) => Value::from(*i),
        Some(V::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(d.to_string())),
        Some(V::StringValueStrindex(i)) => Value::from(*i),
        Some(V::BytesValue(b)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(V::ArrayValue(a)) => Value::Array(a.values.iter().map(|v| as_json(Some(v))).collect()),
        Some(V::KvlistValue(kv)) => Value::Object(object(&kv.values)),
    }
}

fn object(attributes: &[KeyValue]) -> Map<String, Value> {
    attributes
        .iter()
        .map(|kv| (kv.key.clone(), as_json(kv.value.as_ref())))
        .collect()
}

/// Lowercase hex: how OTLP/JSON, the ClickHouse exporter and Tempo spell
/// trace and span ids.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    // Writing into a string cannot fail.
    let _ = write_hex(bytes, &mut out);
    out
}

/// [`hex`] written into `out` (a string, or a column being built).
/// Called for every id of every item a part holds, so a byte's two digits
/// at a time from a table rather than through `fmt` (a tenth of the cost).
pub fn write_hex(bytes: &[u8], out: &mut impl std::fmt::Write) -> std::fmt::Result {
    for &b in bytes {
        let at = 2 * usize::from(b);
        out.write_str(&HEX_PAIRS[at..at + 2])?;
    }
    Ok(())
}

/// The bytes of hex in either case, sized once; `None` for an odd number
/// of digits or a character that is not one.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    // A table look-up per digit, and one check at the end: every span's
    // three ids pass here when OTLP/JSON is decoded.
    let mut invalid = 0;
    let out = bytes
        .chunks_exact(2)
        .map(|pair| {
            let (high, low) = (NIBBLES[usize::from(pair[0])], NIBBLES[usize::from(pair[1])]);
            invalid |= high | low;
            high << 4 | low
        })
        .collect();
    (invalid & NOT_HEX == 0).then_some(out)
}

/// A nibble table's mark for a character that is not a hex digit: above
/// every digit's value, and a bit none of them has.
const NOT_HEX: u8 = 0x10;

/// Each byte's value as a hex digit (either case), or a value above 15
/// for a character that is not one.
pub const NIBBLES: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// `00`, `01`, … `ff`: the digits of every byte.
const HEX_PAIRS: &str = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    const PAIRS: [u8; 512] = {
        let mut pairs = [0u8; 512];
        let mut b = 0;
        while b < 256 {
            pairs[2 * b] = DIGITS[b >> 4];
            pairs[2 * b + 1] = DIGITS[b & 0x0f];
            b += 1;
        }
        pairs
    };
    match std::str::from_utf8(&PAIRS) {
        Ok(pairs) => pairs,
        Err(_) => panic!("hex digits are ASCII"),
    }
};

/// An attribute: `key` and `value`.
pub fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// A string attribute.
pub fn text_attribute(key: &str, value: &str) -> KeyValue {
    attribute(key, any_value::Value::StringValue(value.into()))
}

/// The value of the string attribute `key`, if there is one.
pub fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use crate::proto::common::{ArrayValue, KeyValueList};

    use super::*;

    fn v(value: any_value::Value) -> AnyValue {
        AnyValue { value: Some(value) }
    }

    #[test]
    fn hex_reads_every_digit_in_either_case_and_nothing_else() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&all)).as_deref(), Some(&all[..]));
        assert_eq!(unhex(&hex(&all).to_uppercase()).as_deref(), Some(&all[..]));
        assert_eq!(unhex("").as_deref(), Some(&[][..]));
        for bad in ["0g", "g0", "0 ", "-1", "0x", "é", "0\u{0}", "abc"] {
            assert_eq!(unhex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn values_read_as_the_clickhouse_exporter_writes_them() {
        use any_value::Value as V;
        assert_eq!(as_string(Some(&v(V::StringValue("a b".into())))), "a b");
        assert_eq!(as_string(Some(&v(V::BoolValue(true)))), "true");
        assert_eq!(as_string(Some(&v(V::IntValue(-42)))), "-42");
        assert_eq!(as_string(Some(&v(V::DoubleValue(1.5)))), "1.5");
        assert_eq!(as_string(Some(&v(V::BytesValue(vec![0, 1, 2])))), "AAEC");
        assert_eq!(as_string(None), "");
        let list = v(V::ArrayValue(ArrayValue {
            values: vec![v(V::IntValue(1)), v(V::StringValue("x".into()))],
        }));
        assert_eq!(as_string(Some(&list)), r#"[1,"x"]"#);
        let map = v(V::KvlistValue(KeyValueList {
            values: vec![KeyValue {
                key: "k".into(),
                value: Some(v(V::BoolValue(false))),
                ..Default::default()
            }],
        }));
        assert_eq!(as_string(Some(&map)), r#"{"k":false}"#);
    }
}
