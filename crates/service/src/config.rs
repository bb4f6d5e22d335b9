//! Configuration: environment variables with matching command-line flags.
//! Every invalid value fails at start with one line naming the variable.

use std::net::SocketAddr;

use base64::Engine as _;
use clap::{Args, ValueEnum};
use otelvault_archive::{Layout, parse_with};
use otelvault_storage::StorageUrl;

use crate::auth::KeySet;

/// Authentication mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum AuthMode {
    /// Requests present a key from the configured key sets.
    #[default]
    Keys,
    /// No key checks (for a Function URL with `AWS_IAM` auth, or a trusted network).
    None,
}

/// The server's settings (`otelvault serve`, and the Lambda function).
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address of the local server.
    #[arg(long, env = "OTELVAULT_LISTEN", default_value = "127.0.0.1:4318")]
    pub listen: SocketAddr,

    /// Where the archive lives: s3://bucket/prefix, file:///abs/path or a path.
    #[arg(long, env = "OTELVAULT_STORAGE", default_value = "./otelvault-data", value_parser = parse_with::<StorageUrl>("OTELVAULT_STORAGE"))]
    pub storage: StorageUrl,

    /// How objects are partitioned and encoded.
    #[command(flatten)]
    pub layout: Layout,

    /// keys (check OTELVAULT_INGEST_KEYS / OTELVAULT_QUERY_KEYS) or none.
    #[arg(long, env = "OTELVAULT_AUTH", value_enum, default_value = "keys")]
    pub auth: AuthMode,

    /// Comma-separated secrets (or id:secret) allowed to ingest.
    #[arg(long, env = "OTELVAULT_INGEST_KEYS", hide_env_values = true, value_parser = parse_with::<KeySet>("OTELVAULT_INGEST_KEYS"), default_value = "")]
    pub ingest_keys: KeySet,

    /// Comma-separated secrets (or id:secret) allowed to query.
    #[arg(long, env = "OTELVAULT_QUERY_KEYS", hide_env_values = true, value_parser = parse_with::<KeySet>("OTELVAULT_QUERY_KEYS"), default_value = "")]
    pub query_keys: KeySet,

    /// Base64 of 32 bytes sealing query cursors (derived from the query keys, or random per process, when unset).
    #[arg(long, env = "OTELVAULT_CURSOR_KEY", hide_env_values = true, default_value = "", hide_default_value = true, value_parser = parse_cursor_key)]
    pub cursor_key: CursorKey,

    /// How to reach S3 when the storage is an s3:// location.
    #[command(flatten)]
    pub s3: S3Args,
}

/// How to reach an S3-compatible service: shared by every command that
/// opens an archive, so they all read the same variables the same way.
#[derive(Debug, Clone, Default, Args)]
pub struct S3Args {
    /// Endpoint URL of an S3-compatible service.
    #[arg(long, env = "OTELVAULT_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// Path-style S3 addressing (most S3-compatible servers need it).
    #[arg(long, env = "OTELVAULT_S3_FORCE_PATH_STYLE", default_value_t = false, action = clap::ArgAction::Set, value_parser = parse_bool("OTELVAULT_S3_FORCE_PATH_STYLE"))]
    pub s3_force_path_style: bool,
}

impl S3Args {
    /// `OTELVAULT_S3_ENDPOINT`, unless unset or empty.
    pub fn endpoint(&self) -> Option<String> {
        self.s3_endpoint.clone().filter(|e| !e.trim().is_empty())
    }

    /// Opens `storage` with these settings (no network call happens here).
    pub async fn open(
        &self,
        storage: &StorageUrl,
    ) -> Result<std::sync::Arc<dyn otelvault_storage::ObjectStore>, otelvault_storage::StorageError>
    {
        storage
            .open(self.endpoint(), self.s3_force_path_style)
            .await
    }
}

fn parse_bool(
    var: &'static str,
) -> impl Fn(&str) -> Result<bool, String> + Clone + Send + Sync + 'static {
    move |s: &str| match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        other => Err(format!("{var}: expected true or false, got {other:?}")),
    }
}

/// The 32-byte AES-256-GCM key that seals query cursors; `None` when unset
/// (an empty variable counts as unset).
#[derive(Clone, PartialEq, Eq)]
pub struct CursorKey(pub Option<[u8; 32]>);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(<redacted>)")
    }
}

fn parse_cursor_key(s: &str) -> Result<CursorKey, String> {
    if s.trim().is_empty() {
        return Ok(CursorKey(None));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| "OTELVAULT_CURSOR_KEY: not valid base64".to_string())?;
    let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
        format!("OTELVAULT_CURSOR_KEY: must be 32 bytes of base64 (`openssl rand -base64 32`), got {} bytes", b.len())
    })?;
    Ok(CursorKey(Some(key)))
}

/// Where the process runs, which changes what a safe configuration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// `otelvault serve`.
    Local,
    /// AWS Lambda behind a Function URL.
    Lambda,
}

impl ServeArgs {
    /// Checks the combination of settings; the error is one line that names
    /// the variable to change.
    pub fn validate(&self, runtime: Runtime) -> Result<(), String> {
        let no_keys = self.ingest_keys.is_empty() && self.query_keys.is_empty();
        if self.auth == AuthMode::Keys && no_keys {
            match runtime {
                Runtime::Lambda => {
                    return Err("OTELVAULT_INGEST_KEYS and OTELVAULT_QUERY_KEYS are both empty: refusing to serve a Function URL without keys (set keys, or OTELVAULT_AUTH=none when the URL uses AWS_IAM auth)".into());
                }
                Runtime::Local if !self.listen.ip().is_loopback() => {
                    return Err(format!(
                        "OTELVAULT_LISTEN={} is not a loopback address and no keys are set: set OTELVAULT_INGEST_KEYS/OTELVAULT_QUERY_KEYS (or OTELVAULT_AUTH=none to serve without keys)",
                        self.listen
                    ));
                }
                Runtime::Local => {}
            }
        }
        if self.s3.endpoint().is_some() && !matches!(self.storage, StorageUrl::S3 { .. }) {
            return Err(
                "OTELVAULT_S3_ENDPOINT is set but OTELVAULT_STORAGE is not an s3:// location"
                    .into(),
            );
        }
        Ok(())
    }

    /// True when requests must present keys.
    pub fn keys_enforced(&self) -> bool {
        self.auth == AuthMode::Keys && !(self.ingest_keys.is_empty() && self.query_keys.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use otelvault_archive::PartitionTime;
    use otelvault_codec::{Compression, Format, Granularity};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn parse(args: &[&str]) -> Result<ServeArgs, String> {
        let mut argv = vec!["otelvault"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)
            .map(|c| c.serve)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_match_the_spec() {
        let a = parse(&[]).expect("defaults");
        assert_eq!(a.listen, "127.0.0.1:4318".parse().expect("addr"));
        assert_eq!(a.storage, StorageUrl::Fs("./otelvault-data".into()));
        assert_eq!(
            (
                a.layout.format,
                a.layout.compression,
                a.layout.partitioning.granularity
            ),
            (Format::Json, Compression::Gzip, Granularity::Minute)
        );
        assert_eq!(
            (a.layout.partitioning.time, a.auth),
            (PartitionTime::Event, AuthMode::Keys)
        );
        assert!(a.ingest_keys.is_empty() && a.query_keys.is_empty() && a.cursor_key.0.is_none());
        assert!(!a.s3.s3_force_path_style);
        assert!(a.validate(Runtime::Local).is_ok());
        assert!(!a.keys_enforced());
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (args, var) in [
            (vec!["--format", "xml"], "OTELVAULT_FORMAT"),
            (vec!["--compression", "brotli"], "OTELVAULT_COMPRESSION"),
            (vec!["--partition", "day"], "OTELVAULT_PARTITION"),
            (vec!["--storage", "gs://bucket"], "OTELVAULT_STORAGE"),
            (vec!["--cursor-key", "c2hvcnQ="], "OTELVAULT_CURSOR_KEY"),
            (vec!["--ingest-keys", "a,,b"], "OTELVAULT_INGEST_KEYS"),
            (
                vec!["--s3-force-path-style", "maybe"],
                "OTELVAULT_S3_FORCE_PATH_STYLE",
            ),
        ] {
            let err = parse(&args).err().unwrap_or_default();
            assert!(err.contains(var), "{args:?}: {err}");
        }
    }

    #[test]
    fn unsafe_combinations_are_refused() {
        let lambda = parse(&[]).expect("parse");
        let err = lambda
            .validate(Runtime::Lambda)
            .expect_err("no keys on lambda");
        assert!(err.contains("OTELVAULT_INGEST_KEYS"), "{err}");
        let open = parse(&["--auth", "none"]).expect("parse");
        assert!(open.validate(Runtime::Lambda).is_ok());
        let public = parse(&["--listen", "0.0.0.0:4318"]).expect("parse");
        assert!(
            public
                .validate(Runtime::Local)
                .expect_err("public, no keys")
                .contains("OTELVAULT_LISTEN")
        );
        let keyed =
            parse(&["--listen", "0.0.0.0:4318", "--ingest-keys", "s3cr3t-value"]).expect("parse");
        assert!(keyed.validate(Runtime::Local).is_ok());
        assert!(keyed.keys_enforced());
        let cursor = parse(&[
            "--cursor-key",
            &base64::engine::general_purpose::STANDARD.encode([7u8; 32]),
        ])
        .expect("parse");
        assert_eq!(cursor.cursor_key, CursorKey(Some([7; 32])));
        let empty = parse(&["--cursor-key", "", "--s3-endpoint", ""]).expect("empty means unset");
        assert_eq!(
            (empty.s3.endpoint(), empty.cursor_key),
            (None, CursorKey(None))
        );
    }
}
