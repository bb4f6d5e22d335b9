//! Parsing `OTELVAULT_STORAGE` and opening the store it names.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use crate::{FsStore, MemoryStore, ObjectStore, S3Options, S3Store, S3Timeouts, StorageError};

/// Where the archive lives: `s3://bucket/prefix`, `file:///abs/path`, a
/// plain path, or `memory:` (tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// An S3 bucket and key prefix.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix, without surrounding `/`.
        prefix: String,
    },
    /// A local directory.
    Fs(PathBuf),
    /// A process-local in-memory store.
    Memory,
}

impl FromStr for StorageUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let valid_bucket = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                });
            if !valid_bucket {
                return Err(format!("{s:?}: {bucket:?} is not a valid S3 bucket name"));
            }
            let prefix = prefix.trim_matches('/');
            if !prefix.is_empty() {
                crate::ObjectKey::new(prefix).map_err(|e| format!("{s:?}: {e}"))?;
            }
            return Ok(StorageUrl::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
            });
        }
        if let Some(path) = s.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(format!(
                    "{s:?}: file:// URLs need an absolute path (file:///var/lib/otelvault)"
                ));
            }
            return Ok(StorageUrl::Fs(PathBuf::from(path)));
        }
        if s == "memory:" {
            return Ok(StorageUrl::Memory);
        }
        if s.is_empty() {
            return Err("storage location is empty".into());
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(format!(
                "{s:?}: unsupported scheme {scheme:?} (use s3://, file:// or a path)"
            ));
        }
        // `s3:/bucket` or `file:/data` is a typo of a URL, not a directory
        // to create; a directory with such a name can be written `./s3:x`.
        if let Some((scheme, _)) = s.split_once(':')
            && scheme.len() > 1
            && scheme.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(format!(
                "{s:?} looks like a URL missing \"//\" after \"{scheme}:\" (use s3://bucket/prefix, file:///abs/path or a path; write ./{s} for a directory of that name)"
            ));
        }
        Ok(StorageUrl::Fs(PathBuf::from(s)))
    }
}

impl fmt::Display for StorageUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageUrl::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            StorageUrl::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            StorageUrl::Fs(path) => write!(f, "{}", path.display()),
            StorageUrl::Memory => f.write_str("memory:"),
        }
    }
}

impl StorageUrl {
    /// Opens the store. `endpoint`, `force_path_style` and `timeouts` apply
    /// to S3 only.
    pub async fn open(
        &self,
        endpoint: Option<String>,
        force_path_style: bool,
        timeouts: S3Timeouts,
    ) -> Result<Arc<dyn ObjectStore>, StorageError> {
        Ok(match self {
            StorageUrl::S3 { bucket, prefix } => Arc::new(
                S3Store::new(S3Options {
                    bucket: bucket.clone(),
                    prefix: prefix.clone(),
                    endpoint,
                    force_path_style,
                    static_credentials: None,
                    timeouts,
                })
                .await?,
            ),
            StorageUrl::Fs(path) => Arc::new(FsStore::new(path)?),
            StorageUrl::Memory => Arc::new(MemoryStore::new()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_locations_parse() {
        assert_eq!(
            "s3://my-bucket/otel/archive/".parse(),
            Ok(StorageUrl::S3 {
                bucket: "my-bucket".into(),
                prefix: "otel/archive".into()
            })
        );
        assert_eq!(
            "s3://my-bucket".parse(),
            Ok(StorageUrl::S3 {
                bucket: "my-bucket".into(),
                prefix: String::new()
            })
        );
        assert_eq!(
            "file:///var/lib/x".parse(),
            Ok(StorageUrl::Fs("/var/lib/x".into()))
        );
        assert_eq!(
            "./otelvault-data".parse(),
            Ok(StorageUrl::Fs("./otelvault-data".into()))
        );
        assert_eq!("memory:".parse(), Ok(StorageUrl::Memory));
        assert_eq!("./s3:x".parse(), Ok(StorageUrl::Fs("./s3:x".into())));
        for bad in [
            "s3://",
            "s3://UPPER",
            "s3://b/../x",
            "file://relative",
            "gs://bucket",
            "s3:/bucket",
            "s3:bucket/prefix",
            "file:/var/lib/x",
            "",
        ] {
            assert!(bad.parse::<StorageUrl>().is_err(), "{bad:?} accepted");
        }
    }
}
