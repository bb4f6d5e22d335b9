//! The binary's settings: each an environment variable with a matching
//! flag, declared once here in a group that every command using it
//! flattens, so a variable reads the same way everywhere. The libraries
//! take plain values ([`otelvault_archive::Layout`],
//! [`otelvault_service::forward::ForwardConfig`], …): what a variable is
//! called, and how a mistake in it is told, is the binary's business.
//!
//! A value that does not parse fails at start with one line that names the
//! variable (see [`name_the_variable`]); a combination that cannot work is
//! a [`ConfigError`], which also names one.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use clap::Args;
use otelvault_archive::{Layout, PartitionTime, Partitioning};
use otelvault_codec::{Compression, Format, Granularity, Signal};
use otelvault_service::auth::KeySet;
use otelvault_service::forward::ForwardConfig;
use otelvault_storage::{ObjectStore, S3Timeouts, StorageUrl};

/// The log filter's variable, read by every command before its command
/// line is parsed (so that parsing can log).
pub const LOG: &str = "OTELVAULT_LOG";

/// What [`LOG`] holds, for the configuration reference.
pub const LOG_HELP: &str = "Log filter: a level (error, warn, info, debug, trace) or target=level pairs such as otelvault_service=debug; a bare word that is not a level is refused.";

/// A setting that cannot work: the variable to change and why, one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}{}: {problem}", value.as_ref().map(|v| format!("={v}")).unwrap_or_default())]
pub struct ConfigError {
    /// The variable to change.
    pub variable: &'static str,
    /// Its value, when showing it helps (never for a secret).
    pub value: Option<String>,
    /// What is wrong, and the fix.
    pub problem: String,
}

impl ConfigError {
    fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        ConfigError {
            variable,
            value: None,
            problem: problem.into(),
        }
    }

    fn with_value(mut self, value: impl ToString) -> Self {
        self.value = Some(value.to_string());
        self
    }
}

/// Where the process runs, which changes what a safe configuration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// `otelvault serve`, and the commands that write an archive.
    Local,
    /// AWS Lambda behind a Function URL (and `otelvault check`, which reads
    /// the configuration as the function does).
    Lambda,
}

/// Where the archive is.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Where the archive lives: s3://bucket/prefix, file:///abs/path or a path.
    #[arg(
        long,
        visible_alias = "from",
        env = "OTELVAULT_STORAGE",
        default_value = "./otelvault-data"
    )]
    pub storage: String,
}

impl StorageArgs {
    /// The storage location, parsed.
    pub fn url(&self) -> Result<StorageUrl, ConfigError> {
        self.storage
            .parse()
            .map_err(|e: String| ConfigError::new("OTELVAULT_STORAGE", e))
    }
}

/// How to reach an S3-compatible service: shared by every command that
/// opens an archive, so they all read the same variables the same way.
#[derive(Debug, Clone, Default, Args)]
pub struct S3Args {
    /// Endpoint URL of an S3-compatible service.
    #[arg(long, env = "OTELVAULT_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// Path-style S3 addressing (most S3-compatible servers need it).
    #[arg(long, env = "OTELVAULT_S3_FORCE_PATH_STYLE", default_value_t = false, action = clap::ArgAction::Set, value_parser = parse_bool)]
    pub s3_force_path_style: bool,

    /// Longest an S3 call may take, retries included (6s, 1500ms): a stalled store answers 503 by then.
    #[arg(long, env = "OTELVAULT_S3_TIMEOUT", default_value = "6s", value_parser = parse_duration)]
    pub s3_timeout: Duration,

    /// Longest one attempt of an S3 call may take.
    #[arg(long, env = "OTELVAULT_S3_ATTEMPT_TIMEOUT", default_value = "3s", value_parser = parse_duration)]
    pub s3_attempt_timeout: Duration,

    /// Attempts of an S3 call in all (the first included), within OTELVAULT_S3_TIMEOUT.
    #[arg(long, env = "OTELVAULT_S3_MAX_ATTEMPTS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub s3_max_attempts: u32,
}

impl S3Args {
    /// The endpoint, unless unset or empty.
    pub fn endpoint(&self) -> Option<String> {
        self.s3_endpoint.clone().filter(|e| !e.trim().is_empty())
    }

    /// The endpoint must be a URL: without a scheme the SDK would fail
    /// every call as if the store were down.
    fn check_endpoint(&self) -> Result<(), ConfigError> {
        match self.endpoint() {
            Some(e) if !(e.starts_with("http://") || e.starts_with("https://")) => {
                Err(ConfigError::new(
                    "OTELVAULT_S3_ENDPOINT",
                    format!("not a URL: give its scheme, as http://{e}"),
                )
                .with_value(e))
            }
            _ => Ok(()),
        }
    }

    /// The call timeouts; the error names the variables when they disagree.
    pub fn timeouts(&self) -> Result<S3Timeouts, ConfigError> {
        if self.s3_attempt_timeout > self.s3_timeout {
            return Err(ConfigError::new(
                "OTELVAULT_S3_ATTEMPT_TIMEOUT",
                format!(
                    "longer than OTELVAULT_S3_TIMEOUT ({:?}), which bounds the whole call: shorten the first or lengthen the second",
                    self.s3_timeout
                ),
            )
            .with_value(format!("{:?}", self.s3_attempt_timeout)));
        }
        Ok(S3Timeouts {
            attempt: self.s3_attempt_timeout,
            operation: self.s3_timeout,
            max_attempts: self.s3_max_attempts,
        })
    }

    /// Opens `storage` with these settings (no network call happens here).
    pub async fn open(&self, storage: &StorageUrl) -> anyhow::Result<Arc<dyn ObjectStore>> {
        let timeouts = self.timeouts()?;
        self.check_endpoint()?;
        Ok(storage
            .open(self.endpoint(), self.s3_force_path_style, timeouts)
            .await?)
    }
}

/// How an archive is partitioned: what writing needs, and what reading an
/// archive directly needs (whose width is read from the archive itself).
#[derive(Debug, Clone, Copy, Args)]
pub struct PartitionArgs {
    /// Partition width: minute or hour [default: minute; an archive read directly (--from): the width it holds].
    #[arg(long, env = "OTELVAULT_PARTITION")]
    pub partition: Option<Granularity>,

    /// Partition by each item's event time, or by receive time (Collector archives): event or receive.
    #[arg(long, env = "OTELVAULT_PARTITION_TIME", default_value = "event")]
    pub partition_time: PartitionTime,
}

/// How objects are partitioned and encoded, when an archive is written.
#[derive(Debug, Clone, Copy, Args)]
pub struct LayoutArgs {
    #[command(flatten)]
    pub partitioning: PartitionArgs,

    /// Stored object format: json or proto.
    #[arg(long, env = "OTELVAULT_FORMAT", default_value = "json")]
    pub format: Format,

    /// Stored object compression: gzip, zstd or none.
    #[arg(long, env = "OTELVAULT_COMPRESSION", default_value = "gzip")]
    pub compression: Compression,
}

impl LayoutArgs {
    /// The archive's layout.
    pub fn layout(&self) -> Layout {
        Layout {
            partitioning: Partitioning {
                granularity: self.partitioning.partition.unwrap_or(Granularity::Minute),
                time: self.partitioning.partition_time,
            },
            format: self.format,
            compression: self.compression,
        }
    }
}

/// The SSM path secrets are read from.
#[derive(Debug, Clone, Default, Args)]
pub struct SsmArgs {
    /// SSM path (such as /otelvault) whose SecureString parameters ingest-keys, query-keys, cursor-key and forward-headers are read at start, each in place of its variable (OTELVAULT_INGEST_KEYS, …): secrets then live in Parameter Store, not in the environment.
    #[arg(long, env = "OTELVAULT_SECRETS_SSM_PREFIX")]
    pub secrets_ssm_prefix: Option<String>,
}

/// A query key, for commands that read from a deployment.
#[derive(Debug, Clone, Default, Args)]
pub struct AccessKeyArgs {
    /// Query key of the deployment.
    #[arg(long, env = "OTELVAULT_ACCESS_KEY", hide_env_values = true)]
    pub access_key: Option<String>,
}

/// What a command that works on an archive outside the server and
/// forwards needs: where the archive is, and where batches are also sent.
#[derive(Debug, Clone, Args)]
pub struct WriterArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub s3: S3Args,
    #[command(flatten)]
    pub forward: ForwardArgs,
    #[command(flatten)]
    pub ssm: SsmArgs,
}

/// Authentication mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AuthMode {
    /// Requests present a key from the configured key sets.
    #[default]
    Keys,
    /// No key checks (for a Function URL with `AWS_IAM` auth, or a trusted network).
    None,
}

/// Where the OTLP/gRPC receiver listens: an address, or `off` (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcListen(pub Option<SocketAddr>);

impl std::str::FromStr for GrpcListen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("off") {
            return Ok(GrpcListen(None));
        }
        listen_address(text, 4317)
            .map(|addr| GrpcListen(Some(addr)))
            .map_err(|e| format!("{e}, or off"))
    }
}

/// A listen address: `ip:port`, or `host:port` with a name that resolves
/// (`localhost:4318`), its first address then.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    listen_address(text, 4318)
}

/// [`parse_listen`], with `port` in the examples of its errors.
fn listen_address(text: &str, port: u16) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs as _;
    let example = port;
    let text = text.trim();
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let shape = || {
        format!(
            "{text:?} is not an address (host:port, as 127.0.0.1:{example} or localhost:{example})"
        )
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(shape)?;
    let port: u16 = port.parse().map_err(|_| shape())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(shape());
    }
    let mut addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| {
            format!("{host:?} does not resolve ({e}): give an IP address such as 127.0.0.1:{port}")
        })?
        .collect();
    // IPv4 first: `localhost` means 127.0.0.1 to most clients.
    addrs.sort_by_key(|a| !a.is_ipv4());
    addrs.first().copied().ok_or_else(|| {
        format!("{host:?} has no address: give an IP address such as 127.0.0.1:{port}")
    })
}

impl std::fmt::Display for GrpcListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(addr) => addr.fmt(f),
            None => f.write_str("off"),
        }
    }
}

/// Whether the local server compacts in the background.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompactMode {
    /// On for a directory, off for S3.
    Auto,
    /// Always.
    On,
    /// Never.
    Off,
}

/// The server's settings (`otelvault serve`, `otelvault check`, and the
/// Lambda functions).
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address of the local server.
    #[arg(long, env = "OTELVAULT_LISTEN", default_value = "127.0.0.1:4318", value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// Address of the local OTLP/gRPC receiver, or off.
    #[arg(long, env = "OTELVAULT_GRPC_LISTEN", default_value = "127.0.0.1:4317")]
    pub grpc_listen: GrpcListen,

    #[command(flatten)]
    pub storage: StorageArgs,

    #[command(flatten)]
    pub layout: LayoutArgs,

    /// keys (check OTELVAULT_INGEST_KEYS / OTELVAULT_QUERY_KEYS) or none.
    #[arg(long, env = "OTELVAULT_AUTH", value_enum, default_value = "keys")]
    pub auth: AuthMode,

    /// Comma-separated secrets (or id:secret) allowed to ingest.
    #[arg(
        long,
        env = "OTELVAULT_INGEST_KEYS",
        hide_env_values = true,
        default_value = ""
    )]
    pub ingest_keys: KeySet,

    /// Comma-separated secrets (or id:secret) allowed to query.
    #[arg(
        long,
        env = "OTELVAULT_QUERY_KEYS",
        hide_env_values = true,
        default_value = ""
    )]
    pub query_keys: KeySet,

    /// Base64 of 32 bytes sealing query cursors (derived from the query keys, or random per process, when unset).
    #[arg(long, env = "OTELVAULT_CURSOR_KEY", hide_env_values = true, default_value = "", hide_default_value = true, value_parser = parse_cursor_key)]
    pub cursor_key: CursorKey,

    #[command(flatten)]
    pub ssm: SsmArgs,

    #[command(flatten)]
    pub s3: S3Args,

    /// Memory one ingest request may take once decoded, in MiB, estimated before decoding; larger requests are answered 413 [default: 128, or a quarter of the Lambda function's memory when that is less].
    #[arg(long, env = "OTELVAULT_MAX_REQUEST_MIB", value_parser = clap::value_parser!(u32).range(8..=16384))]
    pub max_request_mib: Option<u32>,

    /// Memory all ingest requests in flight may take at once, in MiB of their decoded-size estimates; a request that does not fit within 2 s is answered 503 with Retry-After (gRPC UNAVAILABLE), never an out-of-memory kill [default: 512, or half the Lambda function's memory].
    #[arg(long, env = "OTELVAULT_INGEST_MEMORY_MIB", value_parser = clap::value_parser!(u32).range(64..=1_048_576))]
    pub ingest_memory_mib: Option<u32>,

    /// Local server: longest a client may take to send a request head (1500ms, 10s); a connection that sends nothing is closed then.
    #[arg(long, env = "OTELVAULT_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// Local server: open OTLP/HTTP connections at most; at the cap the oldest connection serving no request is closed to make room [default: the descriptor limit less 128].
    #[arg(long, env = "OTELVAULT_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(8..=65_536))]
    pub max_connections: Option<u32>,

    /// Queries (fetch pages, trace lookups) one instance runs at once; more are answered 429 (a Lambda instance serves one request at a time).
    #[arg(long, env = "OTELVAULT_MAX_QUERIES", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub max_queries: u32,

    /// Local server: compact ended hours into Parquet in the background. auto is on for a directory and off for s3:// (run `otelvault compact` or the scheduled compaction function there).
    #[arg(long, env = "OTELVAULT_COMPACT", value_enum, default_value = "auto")]
    pub compact: CompactMode,

    /// Local server: background compaction deletes the raw objects of the hours it compacts.
    #[arg(long, env = "OTELVAULT_COMPACT_DELETE_RAW", default_value_t = false, action = clap::ArgAction::Set, value_parser = parse_bool)]
    pub compact_delete_raw: bool,

    #[command(flatten)]
    pub compact_memory: CompactMemoryArgs,

    #[command(flatten)]
    pub compact_fanout: CompactFanoutArgs,

    /// Local server: seconds between background compactions (the first runs at start, over the whole archive; later ones over the last two days).
    #[arg(long, env = "OTELVAULT_COMPACT_INTERVAL_SECS", default_value_t = DEFAULT_COMPACT_INTERVAL_SECS, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub compact_interval_secs: u32,

    #[command(flatten)]
    pub forward: ForwardArgs,

    /// Local server: how often batches whose forwarding failed are re-sent from the archive.
    #[arg(id = "forward-retry-interval", long = "forward-retry-interval", env = "OTELVAULT_FORWARD_RETRY_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub forward_retry_interval: Duration,

    #[command(flatten)]
    pub emf: EmfArgs,
}

/// How much memory a compaction may take: the local server's background
/// compaction, the compaction function and `otelvault compact` read it
/// alike.
#[derive(Debug, Clone, Default, Args)]
pub struct CompactMemoryArgs {
    /// Memory a compaction may take for the items it holds and encodes, in MiB, whatever the hours' sizes; it sets how many shards compact at once (one per core at most, one per 64 MiB) and how large their parts are; the process peaks above it (on a busy hour of traces, by about 100 to 120 MiB: see the performance page) [default: 128, or half the Lambda function's memory].
    #[arg(long, env = "OTELVAULT_COMPACT_MEMORY_MIB", value_parser = clap::value_parser!(u32).range(32..=1_048_576))]
    pub compact_memory_mib: Option<u32>,
}

impl CompactMemoryArgs {
    /// The budget in bytes: the setting; else 128 MiB, or half the Lambda
    /// function's memory (`lambda_memory_mb`, from
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`).
    pub fn bytes(&self, lambda_memory_mb: Option<&str>) -> usize {
        let mib = self.compact_memory_mib.unwrap_or_else(|| {
            lambda_memory_mb
                .and_then(|mb| mb.trim().parse::<u32>().ok())
                .map_or(DEFAULT_COMPACT_MEMORY_MIB, |mb| (mb / 2).max(32))
        });
        usize::try_from(mib)
            .unwrap_or(usize::MAX)
            .saturating_mul(1 << 20)
    }

    /// [`CompactMemoryArgs::bytes`] in this process's environment.
    pub fn here(&self) -> usize {
        self.bytes(
            std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
                .ok()
                .as_deref(),
        )
    }
}

/// How the scheduled compaction function hands hours out to workers.
#[derive(Debug, Clone, Default, Args)]
pub struct CompactFanoutArgs {
    /// Compaction function: the Lambda function (name or ARN) that the scheduled compaction hands each hour's shards to, one asynchronous invocation per shard; the last shard of an hour writes its manifest, and the next scheduled run commits or hands out again what a failed worker left; unset: the function compacts every hour itself.
    #[arg(long, env = "OTELVAULT_COMPACT_WORKERS")]
    pub compact_workers: Option<String>,

    /// Compaction function, with OTELVAULT_COMPACT_WORKERS: stored raw MiB per shard, one worker invocation each (decimals allowed); size it so that a worker finishes well within its timeout (see the capacity table on the performance page).
    #[arg(long, env = "OTELVAULT_COMPACT_SHARD_MIB", default_value_t = DEFAULT_COMPACT_SHARD_MIB, value_parser = parse_shard_mib)]
    pub compact_shard_mib: f64,
}

impl CompactFanoutArgs {
    /// The workers' function and the bytes of a shard, when fanning out.
    pub fn workers(&self) -> Option<(&str, u64)> {
        let workers = self
            .compact_workers
            .as_deref()
            .filter(|w| !w.trim().is_empty())?;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        // Checked positive and at most 1 TiB.
        let bytes = (self.compact_shard_mib * f64::from(1u32 << 20)).ceil() as u64;
        Some((workers.trim(), bytes.max(1)))
    }
}

/// [`CompactFanoutArgs::compact_shard_mib`] when unset.
pub const DEFAULT_COMPACT_SHARD_MIB: f64 = 256.0;

fn parse_shard_mib(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(mib) if mib.is_finite() && mib > 0.0 && mib <= 1_048_576.0 => Ok(mib),
        _ => Err(format!(
            "expected MiB of stored raw per shard, more than 0 and at most 1048576 (such as 256 or 0.5), got {text:?}"
        )),
    }
}

/// [`CompactMemoryArgs::compact_memory_mib`] when unset, off Lambda.
pub const DEFAULT_COMPACT_MEMORY_MIB: u32 = 128;

/// [`ServeArgs::compact_interval_secs`] when unset.
pub const DEFAULT_COMPACT_INTERVAL_SECS: u32 = 300;

/// [`ServeArgs::max_request_mib`] when unset.
pub const DEFAULT_MAX_REQUEST_MIB: u32 = 128;

impl ServeArgs {
    /// Whether the local server compacts in the background.
    pub fn compacts(&self, storage: &StorageUrl) -> bool {
        match self.compact {
            CompactMode::On => true,
            CompactMode::Off => false,
            CompactMode::Auto => !matches!(storage, StorageUrl::S3 { .. }),
        }
    }

    /// True when requests must present keys.
    pub fn keys_enforced(&self) -> bool {
        self.auth == AuthMode::Keys && !(self.ingest_keys.is_empty() && self.query_keys.is_empty())
    }

    /// Checks the combination of settings; the error names the variable
    /// to change.
    pub fn validate(&self, runtime: Runtime) -> Result<(), ConfigError> {
        self.validate_keys(runtime)?;
        self.forward.config()?;
        self.emf.converter_config()?;
        if runtime == Runtime::Lambda && self.emf.emf_file.is_some() {
            return Err(ConfigError::new(
                "OTELVAULT_EMF_FILE",
                "set, but on Lambda EMF events go to the function's log, where CloudWatch reads them: unset it",
            ));
        }
        self.s3.timeouts()?;
        self.validate_half_configured(runtime)
    }

    /// Settings that only mean something with another are refused without
    /// it, naming the one missing: a setting silently ignored is a
    /// deployment that does not do what its author thinks.
    fn validate_half_configured(&self, runtime: Runtime) -> Result<(), ConfigError> {
        let storage = self.storage.url()?;
        let s3 = matches!(storage, StorageUrl::S3 { .. });
        if self.s3.endpoint().is_some() && !s3 {
            return Err(ConfigError::new(
                "OTELVAULT_S3_ENDPOINT",
                "set, but OTELVAULT_STORAGE is not an s3:// location: unset it",
            ));
        }
        if self.s3.s3_force_path_style && !s3 {
            return Err(ConfigError::new(
                "OTELVAULT_S3_FORCE_PATH_STYLE",
                "set, but OTELVAULT_STORAGE is not an s3:// location: unset it",
            ));
        }
        if self.auth == AuthMode::None
            && !(self.ingest_keys.is_empty() && self.query_keys.is_empty())
        {
            return Err(ConfigError::new(
                "OTELVAULT_AUTH",
                "none, but keys are set (OTELVAULT_INGEST_KEYS/OTELVAULT_QUERY_KEYS), which it would ignore: set OTELVAULT_AUTH=keys, or unset the keys",
            )
            .with_value("none"));
        }
        self.forward.validate_half_configured()?;
        let self_metrics = match self.emf.self_metrics {
            SelfMetrics::Auto => runtime == Runtime::Lambda,
            SelfMetrics::On => true,
            SelfMetrics::Off => false,
        };
        if self.emf.emf_file.is_some() && !self_metrics && !self.emf.emf {
            return Err(ConfigError::new(
                "OTELVAULT_EMF_FILE",
                "set, but no EMF output is on: set OTELVAULT_SELF_METRICS=on (otelvault's figures) or OTELVAULT_EMF=on (converted OTLP metrics), or unset it",
            ));
        }
        Ok(())
    }

    /// The local server's background compaction settings need it on.
    pub fn validate_local_compaction(&self, storage: &StorageUrl) -> Result<(), ConfigError> {
        if self.compacts(storage) {
            return Ok(());
        }
        let problem = |variable| {
            ConfigError::new(
                variable,
                "set, but the server does not compact in the background (OTELVAULT_COMPACT is off, or auto with an s3:// store): set OTELVAULT_COMPACT=on, or unset it",
            )
        };
        if self.compact_delete_raw {
            return Err(problem("OTELVAULT_COMPACT_DELETE_RAW"));
        }
        if self.compact_interval_secs != DEFAULT_COMPACT_INTERVAL_SECS {
            return Err(problem("OTELVAULT_COMPACT_INTERVAL_SECS"));
        }
        Ok(())
    }

    fn validate_keys(&self, runtime: Runtime) -> Result<(), ConfigError> {
        let no_keys = self.ingest_keys.is_empty() && self.query_keys.is_empty();
        if self.auth != AuthMode::Keys || !no_keys {
            return Ok(());
        }
        match runtime {
            Runtime::Lambda => Err(ConfigError::new(
                "OTELVAULT_INGEST_KEYS",
                "empty, and so is OTELVAULT_QUERY_KEYS: refusing to serve a Function URL without keys (set keys, in SSM parameters under OTELVAULT_SECRETS_SSM_PREFIX or in those variables, or OTELVAULT_AUTH=none when the URL uses AWS_IAM auth)",
            )),
            Runtime::Local if !self.listen.ip().is_loopback() => Err(ConfigError::new(
                "OTELVAULT_LISTEN",
                "not a loopback address and no keys are set: set OTELVAULT_INGEST_KEYS/OTELVAULT_QUERY_KEYS (or OTELVAULT_AUTH=none to serve without keys)",
            )
            .with_value(self.listen)),
            Runtime::Local if self.grpc_listen.0.is_some_and(|a| !a.ip().is_loopback()) => {
                Err(ConfigError::new(
                    "OTELVAULT_GRPC_LISTEN",
                    "not a loopback address and no keys are set: set OTELVAULT_INGEST_KEYS (or OTELVAULT_AUTH=none to serve without keys, or OTELVAULT_GRPC_LISTEN=off)",
                )
                .with_value(self.grpc_listen))
            }
            Runtime::Local => Ok(()),
        }
    }

    /// The memory budget of all ingest requests in flight, in MiB: the
    /// setting; else 512, or half the Lambda function's memory
    /// (`lambda_memory_mb`).
    pub fn ingest_memory_mib(&self, lambda_memory_mb: Option<&str>) -> u32 {
        self.ingest_memory_mib.unwrap_or_else(|| {
            lambda_memory_mb
                .and_then(|mb| mb.trim().parse::<u32>().ok())
                .map_or(otelvault_service::DEFAULT_INGEST_MEMORY_MIB, |mb| {
                    (mb / 2).max(64)
                })
        })
    }

    /// The decoded-memory limit of one ingest request, in bytes: the
    /// setting; else 128 MiB, or a quarter of the Lambda function's memory
    /// (`lambda_memory_mb`, from `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`) when
    /// that is less.
    pub fn max_request_bytes(&self, lambda_memory_mb: Option<&str>) -> usize {
        let lambda_quarter = lambda_memory_mb
            .and_then(|mb| mb.trim().parse::<u32>().ok())
            .map(|mb| (mb / 4).max(8));
        let mib = self.max_request_mib.unwrap_or_else(|| {
            lambda_quarter.map_or(DEFAULT_MAX_REQUEST_MIB, |q| q.min(DEFAULT_MAX_REQUEST_MIB))
        });
        usize::try_from(mib)
            .unwrap_or(usize::MAX)
            .saturating_mul(1 << 20)
    }
}

/// Whether otelvault prints its own figures as EMF events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SelfMetrics {
    /// On Lambda, not locally.
    Auto,
    /// Always.
    On,
    /// Never.
    Off,
}

/// CloudWatch Embedded Metric Format (EMF) output: otelvault's own figures,
/// and ingested OTLP metrics converted as ADOT's awsemfexporter does.
#[derive(Debug, Clone, Args)]
pub struct EmfArgs {
    /// One EMF event of otelvault's own figures per request (per invocation on Lambda): auto is on on Lambda, off locally.
    #[arg(
        long,
        env = "OTELVAULT_SELF_METRICS",
        value_enum,
        default_value = "auto"
    )]
    pub self_metrics: SelfMetrics,
    /// Also convert every ingested OTLP metrics batch to EMF events, once it is stored.
    #[arg(long, env = "OTELVAULT_EMF", default_value_t = false, action = clap::ArgAction::Set, value_parser = parse_switch)]
    pub emf: bool,
    /// Settings of the OTLP conversion: JSON with the awsemfexporter's keys (namespace, dimension_rollup_option, metric_declarations, metric_descriptors, retain_initial_value_of_delta_metric) and resource_dimensions; inline, or the path of a file.
    #[arg(long, env = "OTELVAULT_EMF_CONFIG")]
    pub emf_config: Option<String>,
    /// CloudWatch namespace of otelvault's own figures.
    #[arg(long, env = "OTELVAULT_EMF_NAMESPACE", default_value = "otelvault")]
    pub emf_namespace: String,
    /// Local server: append EMF events to this file instead of standard output (on Lambda they go to the function's log).
    #[arg(long, env = "OTELVAULT_EMF_FILE")]
    pub emf_file: Option<PathBuf>,
}

impl EmfArgs {
    /// The conversion's settings, when OTLP metrics are converted.
    pub fn converter_config(&self) -> Result<Option<otelvault_emf::Config>, ConfigError> {
        const VARIABLE: &str = "OTELVAULT_EMF_CONFIG";
        let text = self
            .emf_config
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        if !self.emf {
            return match text {
                Some(_) => Err(ConfigError::new(
                    VARIABLE,
                    "set, but OTELVAULT_EMF is off: set OTELVAULT_EMF=on to convert OTLP metrics to EMF",
                )),
                None => Ok(None),
            };
        }
        let Some(text) = text else {
            return Ok(Some(otelvault_emf::Config::default()));
        };
        let json = if text.starts_with('{') {
            text.to_owned()
        } else {
            std::fs::read_to_string(text).map_err(|e| {
                ConfigError::new(
                    VARIABLE,
                    format!(
                        "cannot read the file ({e}); give JSON inline or the path of a JSON file"
                    ),
                )
                .with_value(text)
            })?
        };
        otelvault_emf::Config::parse(&json).map(Some).map_err(|e| {
            let error = ConfigError::new(VARIABLE, e.to_string());
            if text.starts_with('{') {
                error
            } else {
                error.with_value(text)
            }
        })
    }

    /// The EMF output these settings ask for, if any.
    pub fn output(
        &self,
        on_lambda: bool,
    ) -> Result<Option<Arc<otelvault_service::emf::Emf>>, ConfigError> {
        let self_metrics = match self.self_metrics {
            SelfMetrics::Auto => on_lambda,
            SelfMetrics::On => true,
            SelfMetrics::Off => false,
        };
        let config = otelvault_service::emf::EmfConfig {
            self_metrics,
            converter: self.converter_config()?,
            namespace: self.emf_namespace.clone(),
            file: self.emf_file.clone().filter(|_| !on_lambda),
            max_series: None,
        };
        otelvault_service::emf::Emf::new(config).map_err(|e| {
            let file = self.emf_file.as_deref().unwrap_or(std::path::Path::new(""));
            ConfigError::new("OTELVAULT_EMF_FILE", e.to_string()).with_value(file.display())
        })
    }
}

/// Forwarding (dual export): every accepted batch is archived and also
/// sent to a live OTLP backend, configured like `OTEL_EXPORTER_OTLP_*`.
#[derive(Debug, Clone, Args)]
pub struct ForwardArgs {
    /// Base URL of an OTLP receiver that every accepted batch is also sent to (/v1/{signal} is appended over HTTP; over gRPC, the server's URL).
    #[arg(
        id = "forward-endpoint",
        long = "forward-endpoint",
        env = "OTELVAULT_FORWARD_ENDPOINT"
    )]
    pub endpoint: Option<String>,
    /// URL traces are forwarded to, as is (instead of OTELVAULT_FORWARD_ENDPOINT's).
    #[arg(
        id = "forward-traces-endpoint",
        long = "forward-traces-endpoint",
        env = "OTELVAULT_FORWARD_TRACES_ENDPOINT"
    )]
    pub traces_endpoint: Option<String>,
    /// URL metrics are forwarded to, as is.
    #[arg(
        id = "forward-metrics-endpoint",
        long = "forward-metrics-endpoint",
        env = "OTELVAULT_FORWARD_METRICS_ENDPOINT"
    )]
    pub metrics_endpoint: Option<String>,
    /// URL logs are forwarded to, as is.
    #[arg(
        id = "forward-logs-endpoint",
        long = "forward-logs-endpoint",
        env = "OTELVAULT_FORWARD_LOGS_ENDPOINT"
    )]
    pub logs_endpoint: Option<String>,
    /// Headers of every forwarded request, key=value pairs separated by commas (values URL-encoded), such as x-honeycomb-team=KEY.
    #[arg(
        id = "forward-headers",
        long = "forward-headers",
        env = "OTELVAULT_FORWARD_HEADERS",
        hide_env_values = true
    )]
    pub headers: Option<String>,
    /// http/protobuf, http/json or grpc.
    #[arg(
        id = "forward-protocol",
        long = "forward-protocol",
        env = "OTELVAULT_FORWARD_PROTOCOL",
        default_value = FORWARD_PROTOCOL
    )]
    pub protocol: String,
    /// gzip or none.
    #[arg(
        id = "forward-compression",
        long = "forward-compression",
        env = "OTELVAULT_FORWARD_COMPRESSION",
        default_value = FORWARD_COMPRESSION
    )]
    pub compression: String,
    /// Longest forwarding one request may take, retries included: the ingest answer waits for it (but not on its outcome).
    #[arg(id = "forward-timeout", long = "forward-timeout", env = "OTELVAULT_FORWARD_TIMEOUT", default_value = FORWARD_TIMEOUT, value_parser = parse_duration)]
    pub timeout: Duration,
}

impl ForwardArgs {
    fn endpoint_of(&self, signal: Signal) -> &Option<String> {
        match signal {
            Signal::Traces => &self.traces_endpoint,
            Signal::Metrics => &self.metrics_endpoint,
            Signal::Logs => &self.logs_endpoint,
        }
    }

    /// The target of `signal`, if it is forwarded: these settings read as
    /// the `OTEL_EXPORTER_OTLP_*` variables they mirror, by the exporter
    /// `replay` uses.
    fn target(
        &self,
        signal: Signal,
    ) -> Result<Option<otelvault_client::exporter::Target>, ConfigError> {
        let own = self.endpoint_of(signal);
        let nonempty = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        if nonempty(own).is_none() && nonempty(&self.endpoint).is_none() {
            return Ok(None);
        }
        let upper = signal.as_str().to_ascii_uppercase();
        let env = |name: &str| -> Option<String> {
            match name.strip_prefix("OTEL_EXPORTER_OTLP_") {
                Some("ENDPOINT") => nonempty(&self.endpoint),
                Some("HEADERS") => nonempty(&self.headers),
                Some("PROTOCOL") => Some(self.protocol.clone()),
                Some("COMPRESSION") => Some(self.compression.clone()),
                Some("TIMEOUT") => Some(self.timeout.as_millis().to_string()),
                Some(rest) if rest == format!("{upper}_ENDPOINT") => nonempty(own),
                _ => None,
            }
        };
        otelvault_client::exporter::Target::from_env(signal, None, &env)
            .map(Some)
            .map_err(|e| {
                // The exporter names the variables these settings mirror.
                let problem = format!("forwarding {signal}: {e}")
                    .replace("OTEL_EXPORTER_OTLP_", "OTELVAULT_FORWARD_");
                let variable = FORWARD_VARIABLES
                    .iter()
                    .find(|v| problem.contains(&format!("{v}=")))
                    .copied()
                    .unwrap_or("OTELVAULT_FORWARD_ENDPOINT");
                ConfigError::new(variable, problem)
            })
    }

    /// Forwarding settings without an endpoint to forward to are refused,
    /// naming the endpoint (a value other than the default means intent).
    fn validate_half_configured(&self) -> Result<(), ConfigError> {
        let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
        let endpoints = [
            &self.endpoint,
            &self.traces_endpoint,
            &self.metrics_endpoint,
            &self.logs_endpoint,
        ];
        if endpoints.into_iter().any(set) {
            return Ok(());
        }
        let changed = [
            ("OTELVAULT_FORWARD_HEADERS", set(&self.headers)),
            (
                "OTELVAULT_FORWARD_PROTOCOL",
                self.protocol != FORWARD_PROTOCOL,
            ),
            (
                "OTELVAULT_FORWARD_COMPRESSION",
                self.compression != FORWARD_COMPRESSION,
            ),
            (
                "OTELVAULT_FORWARD_TIMEOUT",
                parse_duration(FORWARD_TIMEOUT).is_ok_and(|default| self.timeout != default),
            ),
        ];
        match changed.iter().find(|(_, changed)| *changed) {
            Some((variable, _)) => Err(ConfigError::new(
                "OTELVAULT_FORWARD_ENDPOINT",
                format!(
                    "unset, but {variable} is set, which means nothing without it: set OTELVAULT_FORWARD_ENDPOINT (or a per-signal endpoint), or unset {variable}"
                ),
            )),
            None => Ok(()),
        }
    }

    /// What is forwarded, and where; `None` when nothing is.
    pub fn config(&self) -> Result<Option<ForwardConfig>, ConfigError> {
        let config = ForwardConfig {
            traces: self.target(Signal::Traces)?,
            metrics: self.target(Signal::Metrics)?,
            logs: self.target(Signal::Logs)?,
            timeout: self.timeout,
        };
        Ok(config.forwards().then_some(config))
    }

    /// The forwarder these settings configure, if they forward anything.
    pub fn forwarder(&self) -> anyhow::Result<Option<Arc<otelvault_service::forward::Forwarder>>> {
        match self.config()? {
            Some(config) => Ok(Some(otelvault_service::forward::Forwarder::new(config)?)),
            None => Ok(None),
        }
    }
}

/// Forwarding's defaults: a value other than these means it was set.
const FORWARD_PROTOCOL: &str = "http/protobuf";
const FORWARD_COMPRESSION: &str = "gzip";
const FORWARD_TIMEOUT: &str = "3s";

/// The forwarding variables whose values the exporter's errors quote.
const FORWARD_VARIABLES: [&str; 3] = [
    "OTELVAULT_FORWARD_PROTOCOL",
    "OTELVAULT_FORWARD_COMPRESSION",
    "OTELVAULT_FORWARD_HEADERS",
];

/// The 32-byte AES-256-GCM key that seals query cursors; `None` when unset
/// (an empty variable counts as unset).
#[derive(Clone, PartialEq, Eq)]
pub struct CursorKey(pub Option<[u8; 32]>);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(<redacted>)")
    }
}

/// Parses a cursor key: base64 of 32 bytes, or empty for none.
pub fn parse_cursor_key(s: &str) -> Result<CursorKey, String> {
    if s.trim().is_empty() {
        return Ok(CursorKey(None));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| "not valid base64".to_string())?;
    let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
        format!(
            "must be 32 bytes of base64 (`openssl rand -base64 32`), got {} bytes",
            b.len()
        )
    })?;
    Ok(CursorKey(Some(key)))
}

/// A duration setting, in the one syntax of every flag (`1500ms`, `6s`,
/// `2m`, `1h`, `7d`, or plain seconds); never zero.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let nanos = otelvault_client::time::parse_duration(s)?;
    if nanos == 0 {
        return Err("must be longer than zero".to_owned());
    }
    Ok(Duration::from_nanos(nanos))
}

/// `on`/`off` (or true/false).
fn parse_switch(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" | "" => Ok(false),
        other => Err(format!("expected on or off, got {other:?}")),
    }
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        other => Err(format!("expected true or false, got {other:?}")),
    }
}

/// clap's error for a value it refused, rewritten to name the variable the
/// value may have come from (clap names only the flag), in one line a log
/// can hold: `OTELVAULT_FORMAT (--format): invalid value "xml": expected
/// json or proto`. Other errors are returned as they are.
pub fn name_the_variable(command: &clap::Command, error: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        error.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return error;
    }
    let text = |kind| match error.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let (Some(flag), Some(value)) = (
        text(ContextKind::InvalidArg),
        text(ContextKind::InvalidValue),
    ) else {
        return error;
    };
    let long = flag.split_whitespace().next().unwrap_or_default();
    let Some(variable) = env_of(command, long.trim_start_matches("--")) else {
        return error;
    };
    let reason = match (
        std::error::Error::source(&error),
        error.get(ContextKind::ValidValue),
    ) {
        (Some(source), _) => source.to_string(),
        (None, Some(ContextValue::Strings(valid))) => format!("expected {}", valid.join(", ")),
        _ => "not a valid value".to_owned(),
    };
    let mut command = command.clone();
    clap::Error::raw(
        error.kind(),
        format!("{variable} ({long}): invalid value {value:?}: {reason}"),
    )
    .format(&mut command)
}

/// The variable of the flag `--long`, in `command` or its subcommands.
fn env_of(command: &clap::Command, long: &str) -> Option<String> {
    command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .or_else(|| command.get_subcommands().find_map(|s| env_of(s, long)))
}

/// `OTELVAULT_*` names that are not settings of the binary: the test
/// suite's switches and the settings of its Node client. A shell that tests
/// may hold them when it runs the binary.
pub const NOT_SETTINGS: &[&str] = &[
    "OTELVAULT_BLESS",
    "OTELVAULT_MOTO_SERVER",
    "OTELVAULT_UPDATE_SAMPLES",
    "OTELVAULT_GRPC_URL",
    "OTELVAULT_KEY",
    "OTELVAULT_URL",
];

/// The environment variables `command` and its subcommands read.
pub fn env_settings(command: &clap::Command) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = command
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    for sub in command.get_subcommands() {
        names.extend(env_settings(sub));
    }
    names
}

/// One line naming each `OTELVAULT_*` variable in `vars` that is not one of
/// `settings` (a typo would otherwise leave its setting at the default,
/// silently), with the settings it most likely meant. Names are compared
/// without regard to case: `otelvault_storage` is a mistake too.
pub fn unknown_settings(
    settings: &BTreeSet<String>,
    vars: impl IntoIterator<Item = OsString>,
) -> Option<String> {
    const PREFIX: &str = "OTELVAULT_";
    let mut unknown: Vec<String> = vars
        .into_iter()
        .map(|v| v.to_string_lossy().into_owned())
        .filter(|v| {
            v.get(..PREFIX.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(PREFIX))
                && !settings.contains(v)
                && !NOT_SETTINGS.contains(&v.as_str())
        })
        .collect();
    if unknown.is_empty() {
        return None;
    }
    unknown.sort();
    let described: Vec<String> = unknown
        .iter()
        .map(
            |name| match near_settings(settings, &name[PREFIX.len()..], PREFIX)[..] {
                [] => format!("{name} is not an otelvault setting"),
                [one] => format!("{name} is not an otelvault setting (did you mean {one}?)"),
                [one, two, ..] => {
                    format!("{name} is not an otelvault setting (did you mean {one} or {two}?)")
                }
            },
        )
        .collect();
    let it = if described.len() == 1 { "it" } else { "them" };
    Some(format!(
        "{}: rename or unset {it}; `otelvault serve --help` and the configuration reference (docs/src/reference.md) list the settings",
        described.join("; ")
    ))
}

/// Settings near `rest` (a name without its prefix) in spelling, or the
/// same words with some added or left out (OTELVAULT_HTTP_LISTEN for
/// OTELVAULT_LISTEN), nearest first.
fn near_settings<'a>(settings: &'a BTreeSet<String>, rest: &str, prefix: &str) -> Vec<&'a str> {
    let rest = rest.to_ascii_uppercase();
    let tokens = |name: &str| -> BTreeSet<String> { name.split('_').map(str::to_owned).collect() };
    let mut near: Vec<(usize, &str)> = settings
        .iter()
        .filter_map(|s| {
            let known = s.strip_prefix(prefix)?;
            let distance = strsim::levenshtein(&rest, known);
            let (a, b) = (tokens(&rest), tokens(known));
            (distance <= (known.len() / 3).max(2) || a.is_subset(&b) || b.is_subset(&a))
                .then_some((distance, s.as_str()))
        })
        .collect();
    near.sort();
    near.into_iter().map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests;
