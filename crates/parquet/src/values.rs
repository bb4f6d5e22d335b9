//! Ids as the ClickHouse exporter writes them; attribute values come from
//! `otelvault_codec::values`.

use std::fmt::Write as _;

use arrow_array::builder::StringBuilder;
use otelvault_codec::proto::common::{AnyValue, any_value};

pub(crate) use otelvault_codec::values::{
    NIBBLES, as_string, as_text, hex, string_attribute, unhex, write_hex,
};

/// Appends [`hex`] of `bytes` as a value of `column`, written into it.
pub(crate) fn append_hex(column: &mut StringBuilder, bytes: &[u8]) {
    // Writing into a string builder cannot fail.
    let _ = write_hex(bytes, column);
    column.append_value("");
}

/// Appends [`as_text`] of `value` as a value of `column`: ints and bools
/// are written into the column, not into a string of their own.
pub(crate) fn append_text(column: &mut StringBuilder, value: Option<&AnyValue>) {
    use any_value::Value as V;
    // Writing into a string builder cannot fail.
    let _ = match value.and_then(|v| v.value.as_ref()) {
        Some(V::IntValue(i)) => write!(column, "{i}"),
        Some(V::BoolValue(b)) => write!(column, "{b}"),
        _ => return column.append_value(as_text(value)),
    };
    column.append_value("");
}

/// About the bytes [`append_text`] writes for `value`: exact for strings,
/// which most attribute values are.
pub(crate) fn text_len(value: Option<&AnyValue>) -> usize {
    use any_value::Value as V;
    match value.and_then(|v| v.value.as_ref()) {
        None => 0,
        Some(V::StringValue(s)) => s.len(),
        Some(V::BoolValue(_)) => 5,
        Some(V::BytesValue(b)) => b.len().div_ceil(3) * 4,
        Some(_) => 16,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_lowercase_hex_both_ways() {
        assert_eq!(hex(&[0x5b, 0x8e, 0x00]), "5b8e00");
        assert_eq!(unhex("5b8e00"), Some(vec![0x5b, 0x8e, 0x00]));
        assert_eq!(unhex("5b8"), None);
        let mut column = StringBuilder::new();
        for id in [&[0x5b, 0x8e, 0x00][..], &[], &[0xab; 40]] {
            append_hex(&mut column, id);
        }
        let column = column.finish();
        assert_eq!(column.value(0), "5b8e00");
        assert_eq!(column.value(1), "");
        assert_eq!(column.value(2), "ab".repeat(40));
    }

    #[test]
    fn values_written_into_a_column_read_as_their_text() {
        use any_value::Value as V;
        let values = [
            Some(V::IntValue(-42)),
            Some(V::BoolValue(true)),
            Some(V::StringValue("GET".into())),
            Some(V::DoubleValue(0.5)),
            None,
        ]
        .map(|v| AnyValue { value: v });
        let mut column = StringBuilder::new();
        for value in &values {
            append_text(&mut column, Some(value));
        }
        append_text(&mut column, None);
        let column = column.finish();
        let texts: Vec<&str> = column.iter().map(Option::unwrap_or_default).collect();
        assert_eq!(texts, ["-42", "true", "GET", "0.5", "", ""]);
        for (i, value) in values.iter().enumerate() {
            assert_eq!(column.value(i), as_text(Some(value)));
        }
    }
}
