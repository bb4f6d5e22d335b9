//! Ids as the ClickHouse exporter writes them; attribute values come from
//! `otelvault_codec::values`.

pub(crate) use otelvault_codec::values::{as_string, as_text, hex, string_attribute};

/// The bytes of lowercase hex written by [`hex`].
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_lowercase_hex_both_ways() {
        assert_eq!(hex(&[0x5b, 0x8e, 0x00]), "5b8e00");
        assert_eq!(unhex("5b8e00"), Some(vec![0x5b, 0x8e, 0x00]));
        assert_eq!(unhex("5b8"), None);
    }
}
