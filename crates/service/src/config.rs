//! Configuration: environment variables with matching command-line flags.
//! Every invalid value fails at start with one line naming the variable.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use clap::{Args, ValueEnum};
use otelvault_archive::{Layout, parse_with};
use otelvault_storage::{S3Timeouts, StorageUrl};

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

/// Where the OTLP/gRPC receiver listens: an address, or `off` (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcListen(pub Option<SocketAddr>);

impl std::str::FromStr for GrpcListen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("off") {
            return Ok(GrpcListen(None));
        }
        text.parse()
            .map(|addr| GrpcListen(Some(addr)))
            .map_err(|_| {
                format!("{text:?} is not an address (host:port, as 127.0.0.1:4317) or off")
            })
    }
}

impl std::fmt::Display for GrpcListen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(addr) => addr.fmt(f),
            None => f.write_str("off"),
        }
    }
}

/// The server's settings (`otelvault serve`, and the Lambda function).
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address of the local server.
    #[arg(long, env = "OTELVAULT_LISTEN", default_value = "127.0.0.1:4318")]
    pub listen: SocketAddr,

    /// Address of the local OTLP/gRPC receiver, or off.
    #[arg(long, env = "OTELVAULT_GRPC_LISTEN", default_value = "127.0.0.1:4317", value_parser = parse_with::<GrpcListen>("OTELVAULT_GRPC_LISTEN"))]
    pub grpc_listen: GrpcListen,

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

    /// SSM path (such as /otelvault) whose SecureString parameters ingest-keys, query-keys, cursor-key and forward-headers are read at start, each in place of its variable (OTELVAULT_INGEST_KEYS, …): secrets then live in Parameter Store, not in the environment.
    #[arg(long, env = "OTELVAULT_SECRETS_SSM_PREFIX")]
    pub secrets_ssm_prefix: Option<String>,

    /// How to reach S3 when the storage is an s3:// location.
    #[command(flatten)]
    pub s3: S3Args,

    /// Memory one ingest request may take once decoded, in MiB, estimated before decoding; larger requests are answered 413 [default: 128, or a quarter of the Lambda function's memory when that is less].
    #[arg(long, env = "OTELVAULT_MAX_REQUEST_MIB", value_parser = parse_count("OTELVAULT_MAX_REQUEST_MIB", 8, 16384))]
    pub max_request_mib: Option<u32>,

    /// Queries (fetch pages, trace lookups) one instance runs at once; more are answered 429 (a Lambda instance serves one request at a time).
    #[arg(long, env = "OTELVAULT_MAX_QUERIES", default_value_t = 4, value_parser = parse_count("OTELVAULT_MAX_QUERIES", 1, 256))]
    pub max_queries: u32,

    /// Local server: compact ended hours into Parquet in the background. auto is on for a directory and off for s3:// (run `otelvault compact` or the scheduled compaction function there).
    #[arg(long, env = "OTELVAULT_COMPACT", value_enum, default_value = "auto")]
    pub compact: CompactMode,

    /// Local server: background compaction deletes the raw objects of the hours it compacts.
    #[arg(long, env = "OTELVAULT_COMPACT_DELETE_RAW", default_value_t = false, action = clap::ArgAction::Set, value_parser = parse_bool("OTELVAULT_COMPACT_DELETE_RAW"))]
    pub compact_delete_raw: bool,

    /// Local server: seconds between background compactions (the first runs at start, over the whole archive; later ones over the last two days).
    #[arg(long, env = "OTELVAULT_COMPACT_INTERVAL_SECS", default_value_t = 300, value_parser = parse_count("OTELVAULT_COMPACT_INTERVAL_SECS", 1, 86_400))]
    pub compact_interval_secs: u32,

    /// Where accepted batches are also sent.
    #[command(flatten)]
    pub forward: ForwardArgs,

    /// CloudWatch Embedded Metric Format output.
    #[command(flatten)]
    pub emf: EmfArgs,
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
    #[arg(long, env = "OTELVAULT_EMF", default_value_t = false, action = clap::ArgAction::Set, value_parser = parse_switch("OTELVAULT_EMF"))]
    pub emf: bool,
    /// Settings of the OTLP conversion: JSON with the awsemfexporter's keys (namespace, dimension_rollup_option, metric_declarations, metric_descriptors, retain_initial_value_of_delta_metric) and resource_dimensions; inline, or the path of a file.
    #[arg(long, env = "OTELVAULT_EMF_CONFIG")]
    pub emf_config: Option<String>,
    /// CloudWatch namespace of otelvault's own figures.
    #[arg(long, env = "OTELVAULT_EMF_NAMESPACE", default_value = "otelvault")]
    pub emf_namespace: String,
    /// Local server: append EMF events to this file instead of standard output (on Lambda they go to the function's log).
    #[arg(long, env = "OTELVAULT_EMF_FILE")]
    pub emf_file: Option<std::path::PathBuf>,
}

impl EmfArgs {
    /// The conversion's settings, when OTLP metrics are converted; the
    /// error is one line naming the variable and the field.
    pub fn converter_config(&self) -> Result<Option<otelvault_emf::Config>, String> {
        let text = self
            .emf_config
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        if !self.emf {
            return match text {
                Some(_) => Err("OTELVAULT_EMF_CONFIG is set but OTELVAULT_EMF is off: set OTELVAULT_EMF=on to convert OTLP metrics to EMF".into()),
                None => Ok(None),
            };
        }
        let Some(text) = text else {
            return Ok(Some(otelvault_emf::Config::default()));
        };
        let (json, origin) = if text.starts_with('{') {
            (text.to_owned(), String::new())
        } else {
            let json = std::fs::read_to_string(text).map_err(|e| {
                format!("OTELVAULT_EMF_CONFIG={text}: cannot read the file ({e}); give JSON inline or the path of a JSON file")
            })?;
            (json, format!(" ({text})"))
        };
        otelvault_emf::Config::parse(&json)
            .map(Some)
            .map_err(|e| format!("OTELVAULT_EMF_CONFIG{origin}: {e}"))
    }

    /// Whether otelvault's own figures are printed.
    pub fn self_metrics_on(&self, on_lambda: bool) -> bool {
        match self.self_metrics {
            SelfMetrics::Auto => on_lambda,
            SelfMetrics::On => true,
            SelfMetrics::Off => false,
        }
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
        default_value = "http/protobuf"
    )]
    pub protocol: String,
    /// gzip or none.
    #[arg(
        id = "forward-compression",
        long = "forward-compression",
        env = "OTELVAULT_FORWARD_COMPRESSION",
        default_value = "gzip"
    )]
    pub compression: String,
    /// Longest forwarding one request may take, retries included: the ingest answer waits for it (but not on its outcome).
    #[arg(id = "forward-timeout", long = "forward-timeout", env = "OTELVAULT_FORWARD_TIMEOUT", default_value = "3s", value_parser = parse_duration("OTELVAULT_FORWARD_TIMEOUT"))]
    pub timeout: Duration,
    /// Local server: how often batches whose forwarding failed are re-sent from the archive.
    #[arg(id = "forward-retry-interval", long = "forward-retry-interval", env = "OTELVAULT_FORWARD_RETRY_INTERVAL", default_value = "60s", value_parser = parse_duration("OTELVAULT_FORWARD_RETRY_INTERVAL"))]
    pub retry_interval: Duration,
}

impl ForwardArgs {
    /// Whether anything is forwarded.
    pub fn enabled(&self) -> bool {
        [
            &self.endpoint,
            &self.traces_endpoint,
            &self.metrics_endpoint,
            &self.logs_endpoint,
        ]
        .iter()
        .any(|e| e.as_deref().is_some_and(|e| !e.trim().is_empty()))
    }

    /// The target of `signal`, if it is forwarded: these settings read as
    /// the `OTEL_EXPORTER_OTLP_*` variables they mirror, by the exporter
    /// `replay` uses. The error names the variable to fix.
    pub fn target(
        &self,
        signal: otelvault_codec::Signal,
    ) -> Result<Option<otelvault_client::exporter::Target>, String> {
        let own = match signal {
            otelvault_codec::Signal::Traces => &self.traces_endpoint,
            otelvault_codec::Signal::Metrics => &self.metrics_endpoint,
            otelvault_codec::Signal::Logs => &self.logs_endpoint,
        };
        let nonempty = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        if nonempty(own).is_none() && nonempty(&self.endpoint).is_none() {
            return Ok(None);
        }
        let upper = signal.as_str().to_ascii_uppercase();
        let env = |name: &str| -> Option<String> {
            let general = name.strip_prefix("OTEL_EXPORTER_OTLP_");
            match general {
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
                // The exporter names the variables it mirrors.
                format!("forwarding {signal}: {e}")
                    .replace("OTEL_EXPORTER_OTLP_", "OTELVAULT_FORWARD_")
            })
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

impl ServeArgs {
    /// Whether the local server compacts in the background.
    pub fn compacts(&self) -> bool {
        match self.compact {
            CompactMode::On => true,
            CompactMode::Off => false,
            CompactMode::Auto => !matches!(self.storage, StorageUrl::S3 { .. }),
        }
    }
}

/// [`ServeArgs::max_request_mib`] when unset.
pub const DEFAULT_MAX_REQUEST_MIB: u32 = 128;

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

    /// Longest an S3 call may take, retries included (6s, 1500ms): a stalled store answers 503 by then.
    #[arg(long, env = "OTELVAULT_S3_TIMEOUT", default_value = "6s", value_parser = parse_duration("OTELVAULT_S3_TIMEOUT"))]
    pub s3_timeout: Duration,

    /// Longest one attempt of an S3 call may take.
    #[arg(long, env = "OTELVAULT_S3_ATTEMPT_TIMEOUT", default_value = "3s", value_parser = parse_duration("OTELVAULT_S3_ATTEMPT_TIMEOUT"))]
    pub s3_attempt_timeout: Duration,

    /// Attempts of an S3 call in all (the first included), within OTELVAULT_S3_TIMEOUT.
    #[arg(long, env = "OTELVAULT_S3_MAX_ATTEMPTS", default_value_t = 3, value_parser = parse_count("OTELVAULT_S3_MAX_ATTEMPTS", 1, 10))]
    pub s3_max_attempts: u32,
}

impl S3Args {
    /// `OTELVAULT_S3_ENDPOINT`, unless unset or empty.
    pub fn endpoint(&self) -> Option<String> {
        self.s3_endpoint.clone().filter(|e| !e.trim().is_empty())
    }

    /// The call timeouts; the error names the variables when they disagree.
    pub fn timeouts(&self) -> Result<S3Timeouts, String> {
        if self.s3_attempt_timeout > self.s3_timeout {
            return Err(format!(
                "OTELVAULT_S3_ATTEMPT_TIMEOUT ({:?}) is longer than OTELVAULT_S3_TIMEOUT ({:?}), which bounds the whole call: shorten the first or lengthen the second",
                self.s3_attempt_timeout, self.s3_timeout
            ));
        }
        Ok(S3Timeouts {
            attempt: self.s3_attempt_timeout,
            operation: self.s3_timeout,
            max_attempts: self.s3_max_attempts,
        })
    }

    /// Opens `storage` with these settings (no network call happens here).
    pub async fn open(
        &self,
        storage: &StorageUrl,
    ) -> Result<std::sync::Arc<dyn otelvault_storage::ObjectStore>, OpenError> {
        let timeouts = self.timeouts().map_err(OpenError::Config)?;
        storage
            .open(self.endpoint(), self.s3_force_path_style, timeouts)
            .await
            .map_err(OpenError::Storage)
    }
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The settings disagree.
    #[error("{0}")]
    Config(String),
    /// The store refused.
    #[error(transparent)]
    Storage(#[from] otelvault_storage::StorageError),
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
pub fn env_settings(command: &clap::Command) -> std::collections::BTreeSet<String> {
    let mut names: std::collections::BTreeSet<String> = command
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
    settings: &std::collections::BTreeSet<String>,
    vars: impl IntoIterator<Item = std::ffi::OsString>,
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
    let tokens = |name: &str| -> std::collections::BTreeSet<String> {
        name.split('_').map(str::to_owned).collect()
    };
    let described: Vec<String> = unknown
        .iter()
        .map(|name| {
            let upper = name.to_ascii_uppercase();
            let rest = &upper[PREFIX.len()..];
            // Near in spelling, or the same words with some added or
            // left out (OTELVAULT_HTTP_LISTEN for OTELVAULT_LISTEN).
            let mut near: Vec<(usize, &String)> = settings
                .iter()
                .filter_map(|s| {
                    let known = s.strip_prefix(PREFIX)?;
                    let distance = strsim::levenshtein(rest, known);
                    let (a, b) = (tokens(rest), tokens(known));
                    (distance <= (known.len() / 3).max(2) || a.is_subset(&b) || b.is_subset(&a))
                        .then_some((distance, s))
                })
                .collect();
            near.sort();
            match near.as_slice() {
                [] => format!("{name} is not an otelvault setting"),
                [(_, one)] => format!("{name} is not an otelvault setting (did you mean {one}?)"),
                [(_, one), (_, two), ..] => {
                    format!("{name} is not an otelvault setting (did you mean {one} or {two}?)")
                }
            }
        })
        .collect();
    let it = if described.len() == 1 { "it" } else { "them" };
    Some(format!(
        "{}: rename or unset {it}; `otelvault serve --help` and the configuration reference (docs/src/reference.md) list the settings",
        described.join("; ")
    ))
}

/// Durations as `6s`, `1500ms`, `2m` or plain seconds.
fn parse_duration(
    var: &'static str,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        let t = s.trim();
        let (number, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
            Some(i) => t.split_at(i),
            None => (t, "s"),
        };
        let n: u64 = number
            .parse()
            .map_err(|_| format!("{var}: expected a duration such as 6s or 1500ms, got {s:?}"))?;
        match unit {
            "ms" => Ok(Duration::from_millis(n)),
            "s" => Ok(Duration::from_secs(n)),
            "m" => Ok(Duration::from_secs(n * 60)),
            _ => Err(format!(
                "{var}: expected a duration such as 6s or 1500ms, got {s:?}"
            )),
        }
        .and_then(|d| {
            if d.is_zero() {
                Err(format!("{var}: must be longer than zero"))
            } else {
                Ok(d)
            }
        })
    }
}

/// A whole number in `min..=max`; the error names the variable and the range.
fn parse_count(
    var: &'static str,
    min: u32,
    max: u32,
) -> impl Fn(&str) -> Result<u32, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        s.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| format!("{var}: expected a whole number from {min} to {max}, got {s:?}"))
    }
}

/// `on`/`off` (or true/false).
fn parse_switch(
    var: &'static str,
) -> impl Fn(&str) -> Result<bool, String> + Clone + Send + Sync + 'static {
    move |s: &str| match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" | "" => Ok(false),
        other => Err(format!("{var}: expected on or off, got {other:?}")),
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

/// Parses a cursor key: base64 of 32 bytes, or empty for none.
pub fn parse_cursor_key(s: &str) -> Result<CursorKey, String> {
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
                    return Err("OTELVAULT_INGEST_KEYS and OTELVAULT_QUERY_KEYS are both empty: refusing to serve a Function URL without keys (set keys, in SSM parameters under OTELVAULT_SECRETS_SSM_PREFIX or in those variables, or OTELVAULT_AUTH=none when the URL uses AWS_IAM auth)".into());
                }
                Runtime::Local if !self.listen.ip().is_loopback() => {
                    return Err(format!(
                        "OTELVAULT_LISTEN={} is not a loopback address and no keys are set: set OTELVAULT_INGEST_KEYS/OTELVAULT_QUERY_KEYS (or OTELVAULT_AUTH=none to serve without keys)",
                        self.listen
                    ));
                }
                Runtime::Local
                    if self
                        .grpc_listen
                        .0
                        .is_some_and(|addr| !addr.ip().is_loopback()) =>
                {
                    return Err(format!(
                        "OTELVAULT_GRPC_LISTEN={} is not a loopback address and no keys are set: set OTELVAULT_INGEST_KEYS (or OTELVAULT_AUTH=none to serve without keys, or OTELVAULT_GRPC_LISTEN=off)",
                        self.grpc_listen
                    ));
                }
                Runtime::Local => {}
            }
        }
        for signal in otelvault_codec::Signal::ALL {
            self.forward.target(signal)?;
        }
        self.emf.converter_config()?;
        if runtime == Runtime::Lambda && self.emf.emf_file.is_some() {
            return Err("OTELVAULT_EMF_FILE is set, but on Lambda EMF events go to the function's log, where CloudWatch reads them: unset it".into());
        }
        if self.s3.endpoint().is_some() && !matches!(self.storage, StorageUrl::S3 { .. }) {
            return Err(
                "OTELVAULT_S3_ENDPOINT is set but OTELVAULT_STORAGE is not an s3:// location"
                    .into(),
            );
        }
        Ok(())
    }

    /// The decoded-memory limit of one ingest request, in bytes: the
    /// setting; else 128 MiB, or a quarter of the Lambda function's memory
    /// (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, set by Lambda) when that is less.
    pub fn max_request_bytes(&self) -> usize {
        self.max_request_bytes_in(
            std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
                .ok()
                .as_deref(),
        )
    }

    fn max_request_bytes_in(&self, lambda_memory_mb: Option<&str>) -> usize {
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
        assert_eq!(
            a.grpc_listen,
            GrpcListen(Some("127.0.0.1:4317".parse().expect("addr")))
        );
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
            (vec!["--s3-timeout", "fast"], "OTELVAULT_S3_TIMEOUT"),
            (vec!["--s3-timeout", "0s"], "OTELVAULT_S3_TIMEOUT"),
            (
                vec!["--s3-attempt-timeout", "3h"],
                "OTELVAULT_S3_ATTEMPT_TIMEOUT",
            ),
        ] {
            let err = parse(&args).err().unwrap_or_default();
            assert!(err.contains(var), "{args:?}: {err}");
        }
    }

    #[test]
    fn storage_timeouts_parse_and_must_agree() {
        let a = parse(&[]).expect("defaults");
        assert_eq!(
            a.s3.timeouts(),
            Ok(S3Timeouts {
                attempt: Duration::from_secs(3),
                operation: Duration::from_secs(6),
                max_attempts: 3
            })
        );
        let a = parse(&[
            "--s3-timeout",
            "1500ms",
            "--s3-attempt-timeout",
            "1",
            "--s3-max-attempts",
            "2",
        ])
        .expect("parse");
        assert_eq!(
            a.s3.timeouts()
                .map(|t| (t.operation, t.attempt, t.max_attempts)),
            Ok((Duration::from_millis(1500), Duration::from_secs(1), 2))
        );
        let a = parse(&["--s3-timeout", "2s", "--s3-attempt-timeout", "5s"]).expect("parse");
        let err = a.s3.timeouts().expect_err("attempt longer than the call");
        assert!(
            err.contains("OTELVAULT_S3_ATTEMPT_TIMEOUT") && err.contains("OTELVAULT_S3_TIMEOUT"),
            "{err}"
        );
        assert!(parse(&["--s3-max-attempts", "0"]).is_err());
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
        // The gRPC receiver too; off, or on loopback, it needs no keys.
        let grpc = parse(&["--grpc-listen", "0.0.0.0:4317"]).expect("parse");
        assert!(
            grpc.validate(Runtime::Local)
                .expect_err("public, no keys")
                .contains("OTELVAULT_GRPC_LISTEN")
        );
        // Forwarding mistakes name the variable.
        let forward = parse(&[
            "--forward-endpoint",
            "http://backend:4318",
            "--forward-protocol",
            "grpc/json",
        ])
        .expect("parse");
        let err = forward.validate(Runtime::Local).expect_err("bad protocol");
        assert!(
            err.contains("OTELVAULT_FORWARD_PROTOCOL=grpc/json"),
            "{err}"
        );
        let forward = parse(&["--forward-logs-endpoint", "backend:4318"]).expect("parse");
        let err = forward.validate(Runtime::Local).expect_err("not a URL");
        assert!(
            err.contains("forwarding logs") && err.contains("http://"),
            "{err}"
        );
        let off = parse(&["--grpc-listen", "OFF"]).expect("parse");
        assert_eq!(off.grpc_listen, GrpcListen(None));
        assert!(off.validate(Runtime::Local).is_ok());
        let err = parse(&["--grpc-listen", "4317"]).err().unwrap_or_default();
        assert!(
            err.contains("OTELVAULT_GRPC_LISTEN") && err.contains("127.0.0.1:4317"),
            "{err}"
        );
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

    #[test]
    fn the_request_memory_limit_follows_the_lambda_memory_unless_set() {
        let default = parse(&[]).expect("defaults");
        assert_eq!(default.max_request_bytes_in(None), 128 << 20);
        assert_eq!(default.max_request_bytes_in(Some("256")), 64 << 20);
        assert_eq!(default.max_request_bytes_in(Some("4096")), 128 << 20);
        let set = parse(&["--max-request-mib", "512"]).expect("set");
        assert_eq!(set.max_request_bytes_in(Some("256")), 512 << 20);
        let err = parse(&["--max-request-mib", "4"]).expect_err("too small");
        assert!(
            err.contains("OTELVAULT_MAX_REQUEST_MIB: expected a whole number from 8 to 16384"),
            "{err}"
        );
        assert!(parse(&["--max-queries", "0"]).is_err());
        assert_eq!(default.max_queries, 4);
    }

    #[test]
    fn misspelt_variables_are_named_with_the_settings_they_may_mean() {
        let settings = env_settings(&<Cli as clap::CommandFactory>::command());
        assert!(settings.contains("OTELVAULT_STORAGE") && settings.contains("OTELVAULT_LISTEN"));
        let check = |names: &[&str]| unknown_settings(&settings, names.iter().map(Into::into));

        // Settings, other tools' variables and the names of other programs pass.
        assert_eq!(
            check(&[
                "OTELVAULT_STORAGE",
                "OTELVAULT_BLESS",
                "PATH",
                "OTEL_SERVICE_NAME"
            ]),
            None
        );
        let line = check(&["OTELVAULT_STORGE"]).expect("a typo");
        assert!(
            line.starts_with(
                "OTELVAULT_STORGE is not an otelvault setting (did you mean OTELVAULT_STORAGE?)"
            ),
            "{line}"
        );
        assert!(line.contains("unset it") && !line.contains('\n'), "{line}");
        // Words added or left out, and the wrong case.
        let line = check(&["OTELVAULT_HTTP_LISTEN"]).expect("an added word");
        assert!(line.contains("did you mean OTELVAULT_LISTEN?"), "{line}");
        let line = check(&["otelvault_storage"]).expect("lower case");
        assert!(line.contains("did you mean OTELVAULT_STORAGE?"), "{line}");
        // Each mistake is named, in one line; a name like no setting gets no guess.
        let line = check(&["OTELVAULT_ZZZZZZZZ", "OTELVAULT_INGEST_KEY"]).expect("two");
        assert!(
            line.contains("OTELVAULT_ZZZZZZZZ is not an otelvault setting: rename")
                && line.contains("OTELVAULT_INGEST_KEY is not an otelvault setting (did you mean OTELVAULT_INGEST_KEYS?)")
                && line.contains("unset them"),
            "{line}"
        );
    }
}
