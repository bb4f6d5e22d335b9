//! Typed object keys and listing prefixes, validated once when they are
//! made, so that no backend has to check them again: a value of these types
//! can never name anything outside the store's root.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use crate::StorageError;

/// The longest key accepted (S3's limit).
const MAX_KEY_BYTES: usize = 1024;

/// A safe, `/`-separated object key relative to a store's root: not empty,
/// at most 1024 bytes, no leading `/`, no empty, `.`, `..` or dot-leading
/// segments, no backslash or control characters. Such a key can never name
/// a file outside the root, nor one of the fs store's temporary files.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey(String);

/// A listing prefix: empty (the whole store), or like an [`ObjectKey`]
/// that may end in `/` and need not end at a segment boundary.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyPrefix(String);

fn invalid(key: &str, reason: &'static str) -> StorageError {
    StorageError::InvalidKey {
        key: key.to_owned(),
        reason,
    }
}

fn validate_path(key: &str) -> Result<(), StorageError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(invalid(key, "longer than 1024 bytes"));
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return Err(invalid(key, "control character or backslash"));
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return Err(invalid(
                key,
                "empty path segment (leading, trailing or double '/')",
            ));
        }
        if segment.starts_with('.') {
            return Err(invalid(key, "path segment starts with '.'"));
        }
    }
    Ok(())
}

impl ObjectKey {
    /// Validates `key`.
    pub fn new(key: impl Into<String>) -> Result<Self, StorageError> {
        let key = key.into();
        if key.is_empty() {
            return Err(invalid(&key, "empty key"));
        }
        validate_path(&key)?;
        Ok(ObjectKey(key))
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl KeyPrefix {
    /// The empty prefix: every object of the store.
    pub const ROOT: KeyPrefix = KeyPrefix(String::new());

    /// Validates `prefix`.
    pub fn new(prefix: impl Into<String>) -> Result<Self, StorageError> {
        let prefix = prefix.into();
        match prefix.strip_suffix('/') {
            _ if prefix.is_empty() => {}
            Some(dir) if !dir.is_empty() => validate_path(dir)?,
            Some(_) => return Err(invalid(&prefix, "prefix starts with '/'")),
            None => validate_path(&prefix)?,
        }
        Ok(KeyPrefix(prefix))
    }

    /// The prefix text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The deepest directory the prefix names (`a/b` for `a/b/c`), empty at the root.
    pub(crate) fn directory(&self) -> &str {
        self.0.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
    }
}

macro_rules! text_impls {
    ($ty:ident) => {
        impl Deref for $ty {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $ty {
            type Err = StorageError;
            fn from_str(s: &str) -> Result<Self, StorageError> {
                $ty::new(s)
            }
        }
        impl TryFrom<String> for $ty {
            type Error = StorageError;
            fn try_from(s: String) -> Result<Self, StorageError> {
                $ty::new(s)
            }
        }
        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}
text_impls!(ObjectKey);
text_impls!(KeyPrefix);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_keys_are_rejected() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a/./b",
            "a//b",
            "a/",
            ".hidden",
            "a/.tmp-1",
            "a\\b",
            "a\u{0}b",
            "a\nb",
            "..",
        ] {
            assert!(ObjectKey::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(ObjectKey::new("a".repeat(1025)).is_err());
        for good in ["a", "year=2024/month=01/traces_1.json", "a b/c-d_e.f"] {
            assert!(ObjectKey::new(good).is_ok(), "{good:?} rejected");
        }
        for good in ["", "year=2024/", "year=2024/month=0", "traces_"] {
            assert!(KeyPrefix::new(good).is_ok(), "{good:?} rejected");
        }
        for bad in ["/", "/a", "../", "a//", "a/../", ".."] {
            assert!(KeyPrefix::new(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(KeyPrefix::new("a/b/c").expect("p").directory(), "a/b");
        assert_eq!(KeyPrefix::new("a/b/").expect("p").directory(), "a/b");
        assert_eq!(KeyPrefix::ROOT.directory(), "");
    }
}
