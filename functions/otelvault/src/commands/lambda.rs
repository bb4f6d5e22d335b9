//! The Lambda entry: one package, three functions, chosen by
//! `OTELVAULT_FUNCTION`. `api` serves Function URL requests (OTLP ingest
//! and the query APIs); `compact` compacts ended hours when its schedule
//! invokes it (re-sending failed forwards first); `xray-import` imports
//! X-Ray traces when its schedule invokes it. Every setting comes from the
//! environment.

use std::sync::Arc;

use clap::Parser;
use futures::StreamExt as _;
use otelvault_archive::{
    CompactOptions, HourReport, Outcome, RunReport, ShardReport, ShardTask, compact_range,
    compact_shard, plan_range,
};
use otelvault_codec::HOUR_NANOS as HOUR;
use otelvault_service::emf::Emf;
use otelvault_service::emf::units::{BYTES, COUNT, MILLISECONDS};
use otelvault_service::forward::Forwarder;
use otelvault_service::{AppState, router_with};
use otelvault_storage::ObjectStore;
use serde_json::{Value, json};

use super::serve::GRACE;
use super::{check_storage, server_state};
use crate::secrets;
use crate::settings::{AuthMode, Runtime, ServeArgs};

/// Hours a scheduled compaction looks back over.
const LOOK_BACK_HOURS: u64 = 48;

/// On Lambda every setting comes from the environment.
#[derive(Debug, Parser)]
#[command(name = "bootstrap")]
pub struct LambdaCli {
    /// Which function of the package this is: `api` serves Function URL
    /// requests, `compact` compacts ended hours when its schedule invokes
    /// it, `xray-import` imports X-Ray traces when its schedule invokes it.
    #[arg(long, env = "OTELVAULT_FUNCTION", value_enum, default_value = "api")]
    function: LambdaFunction,
    #[command(flatten)]
    serve: ServeArgs,
}

/// The functions of the Lambda package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LambdaFunction {
    /// OTLP ingest and the query API behind a Function URL.
    Api,
    /// Scheduled compaction (EventBridge).
    Compact,
    /// Scheduled import of AWS X-Ray traces (EventBridge).
    XrayImport,
}

/// Runs the function until the runtime stops it.
pub async fn run(cli: LambdaCli) -> anyhow::Result<()> {
    match cli.function {
        LambdaFunction::Api => api(cli.serve).await,
        LambdaFunction::Compact => compact(cli.serve).await,
        LambdaFunction::XrayImport => xray_import(cli.serve).await,
    }
}

/// Function URL requests, through the same router as the local server.
async fn api(args: ServeArgs) -> anyhow::Result<()> {
    let (args, state) = server_state(args, Runtime::Lambda, secrets::SERVER).await?;
    let app_state = Arc::clone(&state);
    let storage = args.storage.url()?.to_string();
    tracing::info!(
        storage,
        keys = args.keys_enforced(),
        "Serving Lambda Function URL requests."
    );
    // No network during init (it is billed and bounded): the storage check
    // runs with the first request instead, once per instance.
    let checked = Arc::new(tokio::sync::OnceCell::new());
    let check_once = move |request: axum::extract::Request, next: axum::middleware::Next| {
        let (state, checked, storage) = (state.clone(), checked.clone(), storage.clone());
        async move {
            checked
                .get_or_init(|| check_storage_once(&state, &storage))
                .await;
            next.run(request).await
        }
    };
    let iam_only = args.auth == AuthMode::None;
    if iam_only {
        tracing::info!(
            "OTELVAULT_AUTH=none: only requests signed through the Function URL's AWS_IAM auth are served."
        );
    }
    let app = router_with(
        Arc::clone(&app_state),
        [otelvault_tempo::routes(), otelvault_loki::routes()],
    )
    .layer(axum::middleware::from_fn(check_once))
    .layer(axum::middleware::from_fn(move |request, next| {
        refuse_unsigned(iam_only, request, next)
    }));
    lambda_http::run(app)
        .await
        .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
}

/// With `OTELVAULT_AUTH=none` the function checks no keys: that is safe
/// only behind a Function URL in `AWS_IAM` auth mode, which puts the
/// caller's IAM identity in each event (`requestContext.authorizer.iam`,
/// "Invoking Lambda function URLs", Lambda developer guide, request payload
/// format). A request without it came through a `NONE` URL, which would
/// open the archive to anyone: it is refused, with the fix.
async fn refuse_unsigned(
    iam_only: bool,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if !iam_only || signed_by_iam(&request) {
        return next.run(request).await;
    }
    tracing::error!(
        "Refused a request that did not pass AWS_IAM auth: OTELVAULT_AUTH=none needs the Function URL's auth type AWS_IAM (or set keys and OTELVAULT_AUTH=keys)."
    );
    super::forbidden(
        "this function serves only requests signed with AWS_IAM auth: OTELVAULT_AUTH=none needs the Function URL's auth type AWS_IAM (or set keys and OTELVAULT_AUTH=keys)",
    )
}

/// Whether the event carries the IAM identity a Function URL in `AWS_IAM`
/// mode adds.
fn signed_by_iam<B>(request: &http::Request<B>) -> bool {
    use lambda_http::RequestExt as _;
    use lambda_http::request::RequestContext;
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => {
            context.authorizer.as_ref().is_some_and(|a| a.iam.is_some())
        }
        _ => false,
    }
}

/// The instance's storage check: logged, not fatal (requests then answer
/// with the cause themselves).
async fn check_storage_once(state: &AppState, storage: &str) {
    match check_storage(state, &storage).await {
        Ok(()) => tracing::info!(storage, "Storage is reachable."),
        Err(e) => tracing::error!("{e}"),
    }
}

/// What a scheduled compaction works with.
struct Compaction {
    store: Arc<dyn ObjectStore>,
    storage: String,
    options: CompactOptions,
    forwarder: Option<Arc<Forwarder>>,
    emf: Option<Arc<Emf>>,
    workers: Option<Workers>,
}

/// The function a planning run hands shards to.
struct Workers {
    client: aws_sdk_lambda::Client,
    function: String,
    shard_bytes: u64,
}

/// Shard invocations sent at once.
const DISPATCH_AT_ONCE: usize = 16;

/// What one scheduled compaction did, for its answer and its figures.
#[derive(Default)]
struct CompactionRun {
    report: RunReport,
    /// Forwarded batches re-sent, and left.
    resent: (usize, usize),
    forwarded: Option<Value>,
    /// Shards handed to workers, and those whose invocation failed.
    dispatched: (usize, usize),
    /// A worker's shard.
    shard: Option<ShardReport>,
}

/// The scheduled compaction function: each invocation compacts the hours
/// of the last two days that ended five minutes ago or more, or the range
/// an invocation names (`{"start": "2024-10-27T03:00:00Z", "end": …}`,
/// RFC 3339 or unix seconds: after a replay into older hours), and answers
/// with what it did. An hour is committed by its manifest, so a run cut
/// short by the function's timeout is continued by the next one.
async fn compact(args: ServeArgs) -> anyhow::Result<()> {
    let args = secrets::load(&args.ssm.clone(), args, secrets::SCHEDULED).await?;
    let job = Arc::new(Compaction {
        store: super::open_storage(&args.storage, &args.s3).await?,
        storage: args.storage.storage.clone(),
        options: CompactOptions {
            dry_run: false,
            delete_raw: args.compact_delete_raw,
            memory: Some(args.compact_memory.here()),
            ..CompactOptions::default()
        },
        forwarder: args.forward.forwarder()?,
        emf: args.emf.output(true)?,
        workers: match args.compact_fanout.workers() {
            Some((function, shard_bytes)) => Some(Workers {
                client: lambda_client().await,
                function: function.to_owned(),
                shard_bytes,
            }),
            None => None,
        },
    });
    tracing::info!(
        storage = job.storage,
        delete_raw = job.options.delete_raw,
        memory_mib = job.options.memory.unwrap_or_default() >> 20,
        forward = job.forwarder.is_some(),
        workers = job.workers.as_ref().map(|w| w.function.as_str()),
        shard_mib = job
            .workers
            .as_ref()
            .map(|w| w.shard_bytes as f64 / f64::from(1u32 << 20)),
        "Compacting on schedule."
    );
    let handler = lambda_http::service_fn(move |event: lambda_http::LambdaEvent<Value>| {
        let job = Arc::clone(&job);
        async move {
            let started = std::time::Instant::now();
            let mut run = CompactionRun::default();
            let outcome = job.run(&event.payload, &mut run).await;
            // A failed run reports too, with what it did before failing.
            job.figures(&run, outcome.is_err(), started);
            outcome.map_err(lambda_http::Error::from)
        }
    });
    lambda_http::lambda_runtime::run(handler)
        .await
        .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
}

/// A client of the Lambda API (`AWS_ENDPOINT_URL_LAMBDA` points it
/// elsewhere, as the Lambda emulator's tests do).
async fn lambda_client() -> aws_sdk_lambda::Client {
    let config = secrets::sdk_config(
        aws_config::timeout::TimeoutConfig::builder()
            .operation_attempt_timeout(std::time::Duration::from_secs(60))
            .build(),
    )
    .await;
    aws_sdk_lambda::Client::new(&config)
}

impl Compaction {
    /// A worker's shard (`{"compact_shard": …}`), or a scheduled run.
    async fn run(&self, event: &Value, run: &mut CompactionRun) -> Result<Value, String> {
        match ShardTask::from_event(event) {
            Some(task) => self.shard(&task?, run).await,
            None => self.scheduled(event, run).await,
        }
    }

    /// Compacts the shard a planning run handed out.
    async fn shard(&self, task: &ShardTask, run: &mut CompactionRun) -> Result<Value, String> {
        let report = compact_shard(&*self.store, task, self.options)
            .await
            .map_err(|e| {
                format!(
                    "compacting shard {} of {} {}: {e}",
                    task.shard,
                    task.signal,
                    hour_text(task.hour)
                )
            })?;
        tracing::info!(
            signal = %task.signal,
            hour = task.hour / 1_000_000_000,
            plan = task.plan,
            shard = task.shard,
            compacted = report.compacted,
            rows = report.rows,
            parts = report.parts,
            raw_bytes = report.raw_bytes,
            parquet_bytes = report.parquet_bytes,
            "Compacted a shard."
        );
        warn_unreadable(&report.unreadable);
        if let Some(hour) = &report.committed {
            log_hour(hour);
            run.report.add(hour);
        }
        let answer = json!({
            "shard": task.shard,
            "compacted": report.compacted,
            "rows": report.rows,
            "parts": report.parts,
            "unreadable": report.unreadable,
            "committed": report.committed.is_some(),
        });
        run.shard = Some(report);
        Ok(answer)
    }

    /// Re-sends failed forwards (the backend is live), then compacts or,
    /// with workers, plans and hands out shards.
    async fn scheduled(&self, event: &Value, run: &mut CompactionRun) -> Result<Value, String> {
        if let Some(forwarder) = &self.forwarder {
            let report = otelvault_service::forward::retry_pending(&*self.store, forwarder)
                .await
                .map_err(|e| format!("reading the forward markers of {}: {e}", self.storage))?;
            run.resent = (report.delivered, report.left.len());
            run.forwarded = Some(
                json!({"resent": report.delivered, "items": report.items, "left": report.left.len()}),
            );
        }
        let (start, end) = range(event, otelvault_codec::now_unix_nanos())?;
        let dispatch = match &self.workers {
            None => {
                compact_range(&*self.store, start, end, self.options, |hour, _| {
                    log_hour(hour);
                    run.report.add(hour);
                })
                .await
                .map_err(|e| format!("compacting {}: {e}", self.storage))?;
                Ok(())
            }
            Some(workers) => {
                let tasks = plan_range(
                    &*self.store,
                    start,
                    end,
                    self.options,
                    workers.shard_bytes,
                    |hour| {
                        log_hour(hour);
                        run.report.add(hour);
                    },
                )
                .await
                .map_err(|e| format!("planning the compaction of {}: {e}", self.storage))?;
                let (sent, failed) = workers.dispatch(&tasks).await;
                run.dispatched = (sent, failed.len());
                match failed.first() {
                    None => Ok(()),
                    Some(first) => Err(format!(
                        "{} of {} shard invocations of {} failed (the next scheduled run hands them out again); the first: {first}",
                        failed.len(),
                        tasks.len(),
                        workers.function
                    )),
                }
            }
        };
        let report = &run.report;
        tracing::info!(
            hours = report.compacted,
            up_to_date = report.up_to_date,
            rows = report.rows,
            deleted_raw = report.deleted_raw,
            "Compacted ended hours into Parquet."
        );
        warn_unreadable(&report.unreadable);
        dispatch?;
        Ok(json!({
            "compacted": report.compacted,
            "up_to_date": report.up_to_date,
            "planned": report.planned,
            "shards": run.dispatched.0,
            "rows": report.rows,
            "deleted_raw": report.deleted_raw,
            "unreadable": report.unreadable,
            "forward": run.forwarded,
        }))
    }

    /// The run's EMF figures, when EMF output is on.
    #[allow(clippy::cast_precision_loss)] // Counts far below 2^52.
    fn figures(&self, run: &CompactionRun, failed: bool, started: std::time::Instant) {
        let Some(emf) = &self.emf else {
            return;
        };
        let report = &run.report;
        // A worker counts what it wrote itself: its shard (the hour it may
        // commit was written by every worker of the hour).
        let (rows, raw_bytes, parquet_bytes) = match &run.shard {
            Some(shard) => (shard.rows, shard.raw_bytes, shard.parquet_bytes),
            None => (report.rows, report.raw_bytes, report.parquet_bytes),
        };
        emf.report(
            "compact",
            &[
                ("Failures", COUNT, f64::from(u8::from(failed))),
                ("HoursCompacted", COUNT, report.compacted as f64),
                ("HoursUpToDate", COUNT, report.up_to_date as f64),
                ("RowsWritten", COUNT, rows as f64),
                ("RawBytesRead", BYTES, raw_bytes as f64),
                ("ParquetBytesWritten", BYTES, parquet_bytes as f64),
                ("RawObjectsDeleted", COUNT, report.deleted_raw as f64),
                ("UnreadableObjects", COUNT, report.unreadable.len() as f64),
                ("ForwardBatchesResent", COUNT, run.resent.0 as f64),
                ("ForwardBatchesLeft", COUNT, run.resent.1 as f64),
                ("HoursPlanned", COUNT, report.planned as f64),
                ("ShardsDispatched", COUNT, run.dispatched.0 as f64),
                ("ShardDispatchFailures", COUNT, run.dispatched.1 as f64),
                (
                    "ShardsCompacted",
                    COUNT,
                    f64::from(u8::from(run.shard.as_ref().is_some_and(|s| s.compacted))),
                ),
                (
                    "Duration",
                    MILLISECONDS,
                    started.elapsed().as_secs_f64() * 1000.0,
                ),
            ],
        );
    }
}

/// The log line of an hour compacted (or committed by a worker).
fn log_hour(hour: &HourReport) {
    match hour.outcome {
        Outcome::Compacted => tracing::info!(
            signal = %hour.signal,
            hour = hour.hour / 1_000_000_000,
            rows = hour.rows,
            parts = hour.parts,
            raw_bytes = hour.raw_bytes,
            parquet_bytes = hour.parquet_bytes,
            "Compacted an hour."
        ),
        Outcome::Planned => tracing::info!(
            signal = %hour.signal,
            hour = hour.hour / 1_000_000_000,
            shards = hour.shards,
            raw_objects = hour.raw_objects,
            raw_bytes = hour.raw_bytes,
            "Planned an hour's shards."
        ),
        _ => {}
    }
}

/// A warning per raw object left out of the tier.
fn warn_unreadable(keys: &[String]) {
    for key in keys {
        tracing::warn!(
            key,
            "Left a raw object that cannot be decoded out of the Parquet tier."
        );
    }
}

/// An hour, as RFC 3339.
fn hour_text(hour: u64) -> String {
    let t = otelvault_codec::UtcMinute::from_unix_nanos(hour);
    format!(
        "{:04}-{:02}-{:02}T{:02}:00:00Z",
        t.year, t.month, t.day, t.hour
    )
}

impl Workers {
    /// Hands each shard to a worker invocation (asynchronous: the Lambda
    /// service queues it and retries a worker that fails); returns how
    /// many were handed out, and why the others were not.
    async fn dispatch(&self, tasks: &[ShardTask]) -> (usize, Vec<String>) {
        let sent: Vec<Result<(), String>> = futures::stream::iter(tasks)
            .map(|task| self.invoke(task))
            .buffer_unordered(DISPATCH_AT_ONCE)
            .collect()
            .await;
        let failed: Vec<String> = sent.into_iter().filter_map(Result::err).collect();
        (tasks.len() - failed.len(), failed)
    }

    async fn invoke(&self, task: &ShardTask) -> Result<(), String> {
        let payload = aws_sdk_lambda::primitives::Blob::new(task.to_event().to_string());
        let reply = self
            .client
            .invoke()
            .function_name(&self.function)
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .payload(payload)
            .send()
            .await
            .map_err(|e| {
                let code = e
                    .as_service_error()
                    .and_then(aws_sdk_lambda::error::ProvideErrorMetadata::code)
                    .unwrap_or_default()
                    .to_owned();
                let detail = aws_sdk_lambda::error::DisplayErrorContext(&e);
                match code.as_str() {
                    "AccessDeniedException" => format!(
                        "OTELVAULT_COMPACT_WORKERS={}: not allowed to invoke it (the compaction function's role needs lambda:InvokeFunction on it): {detail}",
                        self.function
                    ),
                    "ResourceNotFoundException" => format!(
                        "OTELVAULT_COMPACT_WORKERS={}: no such function (set it to the workers' function name or ARN): {detail}",
                        self.function
                    ),
                    _ => format!("invoking {} for shard {} of {} {}: {detail}", self.function, task.shard, task.signal, hour_text(task.hour)),
                }
            })?;
        match reply.function_error() {
            // Only a synchronous answer (as an emulator gives) says how
            // the worker did.
            Some(error) => Err(format!(
                "the worker of shard {} of {} {} failed: {error}",
                task.shard,
                task.signal,
                hour_text(task.hour)
            )),
            None => Ok(()),
        }
    }
}

/// The hours an invocation compacts: `start`/`end` of the event when it
/// has them, else the last two days; never an hour that ended less than
/// five minutes before `now`.
fn range(event: &Value, now: u64) -> Result<(u64, u64), String> {
    let time = |field: &str| -> Result<Option<u64>, String> {
        match &event[field] {
            Value::Null => Ok(None),
            Value::String(s) => otelvault_client::time::parse_time(s)
                .map(Some)
                .map_err(|e| format!("{field}: {e}")),
            Value::Number(n) => n
                .as_u64()
                .map(|s| Some(s.saturating_mul(1_000_000_000)))
                .ok_or_else(|| format!("{field}: expected unix seconds, got {n}")),
            other => Err(format!("{field}: expected a time, got {other}")),
        }
    };
    let ended = now.saturating_sub(GRACE) / HOUR * HOUR;
    let end = time("end")?.unwrap_or(ended).min(ended);
    let start = time("start")?.unwrap_or(end.saturating_sub(LOOK_BACK_HOURS * HOUR));
    if start >= end && event["start"] != Value::Null {
        return Err(format!(
            "start must be before end (and hours end five minutes before they are compacted): {event}"
        ));
    }
    Ok((start, end))
}

/// The scheduled X-Ray import: each invocation imports from where the last
/// stopped (an hour back at first) to a minute ago, and answers with what
/// it did. A run cut short by the function's timeout is continued by the
/// next one, from the checkpoint.
async fn xray_import(args: ServeArgs) -> anyhow::Result<()> {
    let (args, state) = server_state(args, Runtime::Local, secrets::SCHEDULED).await?;
    let xray = otelvault_xray::import::client(None).await;
    tracing::info!(
        storage = args.storage.storage,
        "Importing X-Ray traces on schedule."
    );
    let handler = lambda_http::service_fn(move |_event: lambda_http::LambdaEvent<Value>| {
        let (state, xray) = (Arc::clone(&state), xray.clone());
        async move {
            let started = std::time::Instant::now();
            let now = otelvault_codec::now_unix_nanos() / 1_000_000_000;
            let end = now.saturating_sub(60);
            let window = (end.saturating_sub(3600), end);
            let outcome = super::xray::import_into(&state, &xray, window, None, true)
                .await
                .map_err(|e| format!("{e:#}"));
            // A failed run reports too: its progress is in the checkpoint.
            if let Some(emf) = &state.emf {
                import_figures(emf, outcome.as_ref().ok(), started);
            }
            let report = outcome?;
            tracing::info!(
                traces = report.traces,
                spans = report.spans,
                "Imported X-Ray traces."
            );
            Ok::<Value, lambda_http::Error>(json!({
                "imported": report.traces,
                "spans": report.spans,
                "windows": report.windows,
                "already": report.already,
                "in_progress": report.in_progress,
            }))
        }
    });
    lambda_http::lambda_runtime::run(handler)
        .await
        .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
}

/// An import's EMF figures; `None` for a run that failed.
#[allow(clippy::cast_precision_loss)] // Counts far below 2^52.
fn import_figures(
    emf: &Emf,
    report: Option<&otelvault_xray::import::ImportReport>,
    started: std::time::Instant,
) {
    let failed = report.is_none();
    let report = report.cloned().unwrap_or_default();
    emf.report(
        "xray-import",
        &[
            ("Failures", COUNT, f64::from(u8::from(failed))),
            ("TracesImported", COUNT, report.traces as f64),
            ("SpansImported", COUNT, report.spans as f64),
            ("Windows", COUNT, report.windows as f64),
            ("TracesAlreadyImported", COUNT, report.already as f64),
            ("TracesInProgress", COUNT, report.in_progress as f64),
            (
                "Duration",
                MILLISECONDS,
                started.elapsed().as_secs_f64() * 1000.0,
            ),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2024-10-28T07:20:00Z, a day after the hours the tests name.
    const NOW: u64 = 1_730_100_000_000_000_000;

    #[test]
    fn a_scheduled_event_compacts_the_last_two_days_of_ended_hours() {
        let scheduled =
            json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
        let (start, end) = range(&scheduled, NOW).expect("range");
        assert_eq!(end % HOUR, 0);
        assert!(end <= NOW - GRACE && NOW - GRACE - end < HOUR);
        assert_eq!(end - start, LOOK_BACK_HOURS * HOUR);
    }

    #[test]
    fn with_auth_none_only_iam_signed_events_are_served() {
        let unsigned = include_str!("../../../../samples/events/function-url-health.json");
        let mut event: Value = serde_json::from_str(unsigned).expect("sample");
        let request = lambda_http::request::from_str(unsigned).expect("event");
        assert!(!signed_by_iam(&request));
        event["requestContext"]["authorizer"] = json!({"iam": {
            "accessKey": "AKIAIOSFODNN7EXAMPLE",
            "accountId": "123456789012",
            "callerId": "AIDACKCEVSQ6C2EXAMPLE",
            "userArn": "arn:aws:iam::123456789012:user/grafana",
            "userId": "AIDACKCEVSQ6C2EXAMPLE"
        }});
        let signed = || lambda_http::request::from_str(&event.to_string()).expect("event");
        assert!(signed_by_iam(&signed()));

        let status = |iam_only: bool, request: lambda_http::Request| {
            let app = axum::Router::new()
                .route("/health", axum::routing::get(|| async { "ok" }))
                .layer(axum::middleware::from_fn(move |request, next| {
                    refuse_unsigned(iam_only, request, next)
                }));
            let (parts, _) = request.into_parts();
            let request = http::Request::from_parts(parts, axum::body::Body::empty());
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime")
                .block_on(tower::ServiceExt::oneshot(app, request))
                .map(|r| r.status())
                .ok()
        };
        let unsigned = || lambda_http::request::from_str(unsigned).expect("event");
        assert_eq!(status(true, unsigned()), Some(http::StatusCode::FORBIDDEN));
        assert_eq!(status(true, signed()), Some(http::StatusCode::OK));
        // With keys, the keys decide.
        assert_eq!(status(false, unsigned()), Some(http::StatusCode::OK));
    }

    #[test]
    fn an_invocation_may_name_its_range() {
        let event = json!({"start": "2024-10-27T03:00:00Z", "end": 1_729_998_000 + 7200});
        assert_eq!(
            range(&event, NOW).expect("range"),
            (1_729_998_000_000_000_000, 1_730_005_200_000_000_000)
        );
        let wrong = json!({"start": "yesterday"});
        assert!(
            range(&wrong, NOW)
                .expect_err("bad time")
                .starts_with("start: ")
        );
        let backwards = json!({"start": "2024-10-27T05:00:00Z", "end": "2024-10-27T03:00:00Z"});
        assert!(range(&backwards, NOW).is_err());
    }
}
