//! One module per command, each with its own arguments; `main` parses the
//! command line and calls [`run`](serve::run) of the chosen one. What
//! several commands share (a time range, opening an archive, the server's
//! state) is here.

pub mod check;
pub mod compact;
pub mod fetch;
pub mod forward_retry;
pub mod http_server;
pub mod lambda;
pub mod replay;
pub mod schema;
pub mod serve;
pub mod stats;
pub mod xray;

use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Args;
use otelvault_archive::{Archive, Layout, Partitioning};
use otelvault_client::time::{parse_duration, parse_time};
use otelvault_service::AppState;
use otelvault_service::auth::Auth;
use otelvault_storage::{ObjectStore, StorageUrl};

use crate::secrets;
use crate::settings::{PartitionArgs, Runtime, S3Args, ServeArgs, StorageArgs, WriterArgs};

/// A time range: `--since`, or `--start` and `--end`.
#[derive(Debug, Clone, Args)]
pub struct Range {
    /// How far back to start, ending now (90s, 15m, 2h, 7d).
    #[arg(long, conflicts_with = "start", value_parser = parse_duration)]
    pub since: Option<u64>,
    /// Start: RFC 3339 (2024-10-27T03:33:20Z) or unix seconds.
    #[arg(long, value_parser = parse_time)]
    pub start: Option<u64>,
    /// End (exclusive): RFC 3339 or unix seconds; default now.
    #[arg(long, value_parser = parse_time)]
    pub end: Option<u64>,
}

impl Range {
    /// True when no start was given.
    pub fn is_open(&self) -> bool {
        self.since.is_none() && self.start.is_none()
    }

    /// Start and end, unix nanoseconds.
    pub fn resolve(&self) -> anyhow::Result<(u64, u64)> {
        let now = otelvault_codec::now_unix_nanos();
        let end = self.end.unwrap_or(now);
        let start = match (self.since, self.start) {
            (Some(since), _) => end.saturating_sub(since),
            (None, Some(start)) => start,
            (None, None) => bail!("give a range: --since 15m, or --start (and --end)"),
        };
        if end <= start {
            bail!("--end must be after the start of the range");
        }
        Ok((start, end))
    }
}

/// Following an archive as it grows (`--follow`).
#[derive(Debug, Clone, Args)]
pub struct FollowArgs {
    /// Keep reading past the end of the range as new items arrive, until Ctrl-C: each new item once (reading stays --follow-lag behind now, so late items are not missed).
    #[arg(long, conflicts_with = "end")]
    pub follow: bool,
    /// With --follow: how far behind now reading stays; an item that arrives later than this after its own time is missed.
    #[arg(long, default_value = "30s", value_parser = parse_duration, requires = "follow")]
    pub follow_lag: u64,
}

/// Longest wait between two rounds of `--follow` that found nothing.
const FOLLOW_MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs `round(start, end)` over windows that follow each other without
/// overlap, so each item is read once: the first from `start` to `lag`
/// before now, each next from where the last ended. Between rounds it waits
/// a second, doubling up to [`FOLLOW_MAX_WAIT`] while rounds find nothing.
/// Ctrl-C ends it, at once and cleanly.
pub async fn follow(
    start: u64,
    lag: u64,
    mut round: impl AsyncFnMut(u64, u64) -> anyhow::Result<usize>,
) -> anyhow::Result<()> {
    let mut from = start;
    let mut wait = std::time::Duration::from_secs(1);
    let stopped = tokio::signal::ctrl_c();
    tokio::pin!(stopped);
    loop {
        let to = otelvault_codec::now_unix_nanos().saturating_sub(lag);
        if to > from {
            let found = tokio::select! {
                _ = &mut stopped => return Ok(()),
                found = round(from, to) => found?,
            };
            from = to;
            wait = match found {
                0 => (wait * 2).min(FOLLOW_MAX_WAIT),
                _ => std::time::Duration::from_secs(1),
            };
        }
        tokio::select! {
            _ = &mut stopped => return Ok(()),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// How to read an archive directly (`--from` a directory or s3://).
#[derive(Debug, Args)]
pub struct ReadArchiveArgs {
    #[command(flatten)]
    pub partitioning: PartitionArgs,
    #[command(flatten)]
    pub s3: S3Args,
}

/// Opens the store at `from`, which must exist: a directory is never
/// created for reading.
pub async fn open_existing(
    from: &str,
    s3: &S3Args,
) -> anyhow::Result<(StorageUrl, Arc<dyn ObjectStore>)> {
    let url: StorageUrl = from.parse().map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    if let StorageUrl::Fs(path) = &url
        && !path.is_dir()
    {
        bail!(
            "--from {}: no such directory (give an archive directory, s3://bucket/prefix or, where it applies, a deployment URL)",
            path.display()
        );
    }
    let store = s3
        .open(&url)
        .await
        .with_context(|| format!("opening {url}"))?;
    Ok((url, store))
}

/// Opens the archive at `from` for reading: the location must exist and
/// hold objects in the archive layout, whose partition width is read from
/// them (and must agree with `--partition` when that is given).
pub async fn open_archive(from: &str, args: &ReadArchiveArgs) -> anyhow::Result<Archive> {
    let (url, store) = open_existing(from, &args.s3).await?;
    let detected = Archive::detect_granularity(&*store)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.detail()))
        .with_context(|| format!("reading {url}"))?;
    let compacted_only = detected.is_none()
        && Archive::has_compacted_tier(&*store)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.detail()))
            .with_context(|| format!("reading {url}"))?;
    let granularity = match (detected, args.partitioning.partition) {
        // Every hour is compacted and its raw objects deleted: the tier
        // reads alike at any width.
        (None, given) if compacted_only => given.unwrap_or(otelvault_codec::Granularity::Hour),
        (None, _) => bail!(
            "--from {url}: holds no archive objects (year=YYYY/month=MM/day=DD/hour=HH[/minute=mm]/{{signal}}_{{id}}.json|binpb[.gz|.zst])"
        ),
        (Some(found), Some(given)) if found != given => bail!(
            "--from {url}: the archive is partitioned by {found}, not {given}: drop --partition (or OTELVAULT_PARTITION)"
        ),
        (Some(found), _) => found,
    };
    Ok(Archive::new(
        store,
        Layout::from(Partitioning {
            granularity,
            time: args.partitioning.partition_time,
        }),
    ))
}

/// Opens the archive's storage (no network call happens here).
pub async fn open_storage(
    storage: &StorageArgs,
    s3: &S3Args,
) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let url = storage.url()?;
    s3.open(&url)
        .await
        .with_context(|| format!("opening storage {url}"))
}

/// The server's state from its settings (validated for `runtime`), with
/// the secrets of `wanted` read from SSM when a prefix is set. No network
/// call happens here but SSM's.
pub async fn server_state(
    args: ServeArgs,
    runtime: Runtime,
    wanted: &[secrets::Secret],
) -> anyhow::Result<(ServeArgs, Arc<AppState>)> {
    let args = secrets::load(&args.ssm.clone(), args, wanted).await?;
    args.validate(runtime)?;
    let store = open_storage(&args.storage, &args.s3).await?;
    let auth = Auth::new(
        args.keys_enforced(),
        args.ingest_keys.clone(),
        args.query_keys.clone(),
    );
    let cursor_key = args
        .cursor_key
        .0
        .or_else(|| otelvault_service::derived_cursor_key(&args.query_keys))
        .unwrap_or_else(|| {
            tracing::warn!(
                "OTELVAULT_CURSOR_KEY is not set and there are no query keys: cursors are sealed with a random key and only work on this process."
            );
            otelvault_service::random_cursor_key()
        });
    let on_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let lambda_memory = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").ok();
    let mut state = AppState::new(Archive::new(store, args.layout.layout()), auth, &cursor_key)
        .with_query_slots(args.max_queries as usize)
        .with_ingest_memory(args.ingest_memory_mib(lambda_memory.as_deref()));
    state.max_request_bytes = args.max_request_bytes(lambda_memory.as_deref());
    state.forward = args.forward.forwarder()?;
    state.emf = args.emf.output(on_lambda)?;
    Ok((args, Arc::new(state)))
}

/// The state of a command that writes an archive outside the server (no
/// keys, no queries): the X-Ray import, the forwarding retry.
pub async fn writer_state(
    args: WriterArgs,
    layout: Layout,
) -> anyhow::Result<(WriterArgs, Arc<AppState>)> {
    let mut args = args;
    args.forward = secrets::load(&args.ssm, args.forward, secrets::SCHEDULED).await?;
    let store = open_storage(&args.storage, &args.s3).await?;
    let mut state = AppState::new(
        Archive::new(store, layout),
        Auth::new(false, Default::default(), Default::default()),
        &otelvault_service::random_cursor_key(),
    );
    state.forward = args.forward.forwarder()?;
    Ok((args, Arc::new(state)))
}

/// One cheap call to the store, so that a wrong bucket, credentials or
/// endpoint stops the process with the cause instead of failing every request.
pub async fn check_storage(
    state: &AppState,
    storage: &impl std::fmt::Display,
) -> anyhow::Result<()> {
    state
        .archive
        .store()
        .check()
        .await
        .map_err(|e| anyhow::anyhow!("storage {storage} cannot be used: {e}"))
}

/// A `403` whose JSON body says why and what to do.
pub fn forbidden(message: &str) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    (
        http::StatusCode::FORBIDDEN,
        [(http::header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "error": message }).to_string(),
    )
        .into_response()
}

/// Bytes for people: KiB below a MiB, else MiB.
pub fn size(bytes: u64) -> String {
    if bytes < 1 << 20 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / 1048576.0)
    }
}
