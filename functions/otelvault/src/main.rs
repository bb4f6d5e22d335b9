//! `otelvault`: one binary for the Lambda function (when
//! `AWS_LAMBDA_RUNTIME_API` is set) and the local server (`otelvault serve`).
//! It only parses configuration, builds the shared state and runs the router.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;

mod cli;
mod compaction;
mod reference;
mod secrets;
mod smoke;
mod xray;

use anyhow::Context as _;
use clap::{CommandFactory, Parser, Subcommand};
use futures::future::Either;
use otelvault_service::{AppState, Runtime, ServeArgs, router};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "otelvault",
    version,
    about = "Archive OpenTelemetry traces, metrics and logs in object storage and serve them back.",
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the OTLP/HTTP server locally (default 127.0.0.1:4318, storage ./otelvault-data).
    Serve(ServeArgs),
    /// Print the book's configuration reference (docs/src/reference.md).
    #[command(hide = true)]
    Reference,
    /// Query a deployment and print OTLP/JSON.
    Fetch(cli::FetchArgs),
    /// Send archived data (from a deployment, s3:// or a directory) to an OTLP/HTTP endpoint.
    Replay(cli::ReplayArgs),
    /// Show what an archive holds: objects, bytes and items per day and signal.
    Stats(cli::StatsArgs),
    /// Compact ended hours of an archive into Parquet under parquet/, for SQL engines.
    Compact(cli::CompactArgs),
    /// Print the SQL that declares the compacted tier's tables for Athena, Spark or DuckDB
    /// (and, with --queries, the named queries).
    Schema(cli::SchemaArgs),
    /// Check a deployment: with --url, from outside (send a span with the ingest
    /// key, fetch it back with the query key, one line per step); without, its
    /// configuration as the Lambda function reads it (the same variables) and
    /// that its storage can be reached and listed.
    Check(CheckArgs),
    /// Import traces from AWS X-Ray into the archive, as OTLP.
    #[command(subcommand)]
    Xray(cli::XrayCommand),
    /// Re-send, from the archive, the batches whose forwarding failed
    /// (OTELVAULT_FORWARD_*), and clear their markers.
    ForwardRetry(ServeArgs),
}

/// `otelvault check`.
#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// Check the deployment at this URL end to end (the Function URL, or
    /// http://127.0.0.1:4318) instead of the local configuration.
    #[arg(long)]
    url: Option<String>,
    /// With --url: an ingest key, for the span the check sends.
    #[arg(long, env = "OTELVAULT_CHECK_INGEST_KEY", hide_env_values = true)]
    ingest_key: Option<String>,
    /// With --url: a query key, to fetch the span back.
    #[arg(long, env = "OTELVAULT_ACCESS_KEY", hide_env_values = true)]
    access_key: Option<String>,
    #[command(flatten)]
    serve: ServeArgs,
}

/// On Lambda every setting comes from the environment.
#[derive(Debug, Parser)]
#[command(name = "bootstrap")]
struct LambdaCli {
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

/// The filter of `OTELVAULT_LOG` (default `info`). tracing takes a bare
/// word for a target to log at every level, which silences everything
/// else: here a bare word must be a level, so a typo such as `verbose`
/// fails at start with the fix instead.
fn log_filter(value: Option<&str>) -> Result<EnvFilter, String> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(EnvFilter::new("info"));
    };
    let fix =
        "use error, warn, info, debug or trace, or target=level such as otelvault_service=debug";
    for directive in value.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if !directive.contains('=') && !LEVELS.contains(&directive.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "OTELVAULT_LOG={value}: {directive:?} is not a log level ({fix})"
            ));
        }
    }
    EnvFilter::try_new(value).map_err(|e| format!("OTELVAULT_LOG={value}: {e} ({fix})"))
}

#[allow(clippy::print_stderr)] // The CLI's own error output.
fn init_logging(json: bool) {
    let filter = match log_filter(std::env::var("OTELVAULT_LOG").ok().as_deref()) {
        Ok(filter) => filter,
        Err(e) => {
            eprintln!("otelvault: {e}");
            std::process::exit(2);
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if json {
        // Lambda adds its own timestamps; CloudWatch Logs Insights parses JSON fields.
        builder.json().flatten_event(true).without_time().init();
    } else {
        builder.init();
    }
}

/// Parses the command line; on a mistake prints clap's whole message (what
/// is wrong, the usage, where to get help) and exits 2. On Lambda, whose
/// configuration is all environment, the message is one line for the log.
#[allow(clippy::print_stderr)] // The CLI's own error output.
fn parse_or_exit<T: Parser>(
    args: impl IntoIterator<Item = std::ffi::OsString>,
    one_line: bool,
) -> T {
    match T::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if !one_line || !e.use_stderr() => e.exit(),
        Err(e) => {
            let rendered = e.to_string();
            let line = rendered.lines().next().unwrap_or("invalid configuration");
            eprintln!("otelvault: {}", line.trim_start_matches("error: "));
            std::process::exit(2);
        }
    }
}

/// Exits 2 with one line when an `OTELVAULT_*` variable is set that no
/// command reads: a misspelt setting would otherwise be left at its default
/// without a word. The same names count in every command, so a shell that
/// sets the server's variables can still run `fetch` or `replay`.
#[allow(clippy::print_stderr)] // The CLI's own error output.
fn exit_on_unknown_settings() {
    let mut settings = otelvault_service::config::env_settings(&Cli::command());
    settings.extend(otelvault_service::config::env_settings(
        &LambdaCli::command(),
    ));
    // Read before the command line is parsed (init_logging).
    settings.insert("OTELVAULT_LOG".to_owned());
    // Empty variables count as unset, as settings do.
    let names = std::env::vars_os()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, _)| name);
    if let Some(line) = otelvault_service::config::unknown_settings(&settings, names) {
        eprintln!("otelvault: {line}");
        std::process::exit(2);
    }
}

/// True when the error is the reader of our output going away (`| head`):
/// not a failure of the command.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// glibc gives threads up to eight malloc arenas per core, and memory freed
/// in one arena is seldom returned: the decoding of a large object on one
/// blocking thread after another left the peak RSS of a paging fetch three
/// times higher than with one arena per core. `MALLOC_ARENA_MAX` still wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only sets an allocator parameter; it is called before
    // any other thread exists.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

#[allow(clippy::print_stderr)] // The CLI's own error output.
fn main() -> ExitCode {
    limit_malloc_arenas();
    let on_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let result = if on_lambda {
        init_logging(true);
        let cli: LambdaCli = parse_or_exit(["bootstrap".into()], true);
        exit_on_unknown_settings();
        runtime().and_then(|rt| {
            rt.block_on(match cli.function {
                LambdaFunction::Api => Either::Left(run_lambda(cli.serve)),
                LambdaFunction::Compact => {
                    Either::Right(Either::Left(compaction::run_lambda(cli.serve)))
                }
                LambdaFunction::XrayImport => {
                    Either::Right(Either::Right(xray::run_lambda(cli.serve)))
                }
            })
        })
    } else {
        let cli: Cli = parse_or_exit(std::env::args_os(), false);
        exit_on_unknown_settings();
        init_logging(false);
        match cli.command {
            Command::Serve(args) => runtime().and_then(|rt| rt.block_on(serve(args))),
            Command::Fetch(args) => runtime().and_then(|rt| rt.block_on(cli::fetch(args))),
            Command::Check(args) => runtime().and_then(|rt| rt.block_on(check(args))),
            Command::Xray(cli::XrayCommand::Import(args)) => {
                runtime().and_then(|rt| rt.block_on(xray_import(args)))
            }
            Command::ForwardRetry(args) => {
                runtime().and_then(|rt| rt.block_on(forward_retry(args)))
            }
            Command::Stats(args) => runtime().and_then(|rt| rt.block_on(cli::stats(args))),
            Command::Compact(args) => runtime().and_then(|rt| rt.block_on(cli::compact(args))),
            Command::Schema(args) => cli::schema(args),
            Command::Reference => {
                reference::print(&reference::render(&Cli::command(), &LambdaCli::command()));
                Ok(())
            }
            Command::Replay(args) => {
                match runtime().and_then(|rt| rt.block_on(cli::replay(args))) {
                    Ok(true) => Ok(()),
                    // The summary says what was lost; exit non-zero without repeating it.
                    Ok(false) => return ExitCode::from(3),
                    Err(e) => Err(e),
                }
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("otelvault: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn state(args: &ServeArgs, runtime: Runtime) -> anyhow::Result<Arc<AppState>> {
    args.validate(runtime).map_err(anyhow::Error::msg)?;
    let state = AppState::from_args(args)
        .await
        .with_context(|| format!("opening storage {}", args.storage))?;
    Ok(Arc::new(state))
}

/// One cheap call to the store, so that a wrong bucket, credentials or
/// endpoint stops the process with the cause instead of failing every request.
async fn check_storage(state: &AppState, storage: &impl std::fmt::Display) -> anyhow::Result<()> {
    state
        .archive
        .store()
        .check()
        .await
        .map_err(|e| anyhow::anyhow!("storage {storage} cannot be used: {e}"))
}

#[allow(clippy::print_stdout)] // The command's report.
async fn check(args: CheckArgs) -> anyhow::Result<()> {
    if let Some(url) = &args.url {
        return smoke::run(smoke::Target {
            url,
            ingest_key: args.ingest_key.as_deref(),
            access_key: args.access_key.as_deref(),
        })
        .await;
    }
    let args = secrets::load(args.serve, secrets::SERVER).await?;
    let state = state(&args, Runtime::Lambda).await?;
    check_storage(&state, &args.storage).await?;
    let layout = args.layout;
    println!(
        "ok: storage {} is reachable; {} ingest and {} query keys ({}); objects {} + {}, {} partitions by {} time",
        args.storage,
        args.ingest_keys.len(),
        args.query_keys.len(),
        if args.keys_enforced() {
            "enforced"
        } else {
            "not enforced: OTELVAULT_AUTH=none"
        },
        layout.format,
        layout.compression,
        layout.partitioning.granularity,
        match layout.partitioning.time {
            otelvault_archive::PartitionTime::Event => "event",
            otelvault_archive::PartitionTime::Receive => "receive",
        },
    );
    Ok(())
}

#[allow(clippy::print_stdout)] // The command's report.
async fn forward_retry(args: ServeArgs) -> anyhow::Result<()> {
    let args = secrets::load(args, secrets::SCHEDULED).await?;
    let state = state(&args, Runtime::Local).await?;
    let forwarder = state.forward.clone().context(
        "nothing to forward to: set OTELVAULT_FORWARD_ENDPOINT (or OTELVAULT_FORWARD_TRACES_ENDPOINT, …)",
    )?;
    let store = Arc::clone(state.archive.store());
    let report = otelvault_service::forward::retry_pending(&*store, &forwarder)
        .await
        .with_context(|| format!("reading the forward markers of {}", args.storage))?;
    println!(
        "re-sent {} batches ({} objects, {} items); {} left",
        report.delivered,
        report.objects,
        report.items,
        report.left.len()
    );
    for (marker, why) in &report.left {
        println!("left {marker}: {why}");
    }
    if !report.left.is_empty() {
        anyhow::bail!(
            "{} batches could not be re-sent; their markers stay: run forward-retry again once the backend answers",
            report.left.len()
        );
    }
    Ok(())
}

#[allow(clippy::print_stdout)] // The command's report.
async fn xray_import(mut args: cli::XrayImportArgs) -> anyhow::Result<()> {
    args.serve = secrets::load(args.serve, secrets::SCHEDULED).await?;
    let state = state(&args.serve, Runtime::Local).await?;
    check_storage(&state, &args.serve.storage).await?;
    let (start, end, resume) = args.range()?;
    let client = otelvault_xray::import::client(args.xray_endpoint.as_deref()).await;
    let report = xray::import_into(
        &state,
        &client,
        (start, end),
        args.filter_expression.as_deref(),
        resume,
    )
    .await?;
    println!(
        "imported {} traces ({} spans) over {} windows; {} already imported; {} still in progress, left for a later run",
        report.traces, report.spans, report.windows, report.already, report.in_progress
    );
    Ok(())
}

/// Re-sends batches whose forwarding failed, every `every`, for as long as
/// the server runs.
async fn forward_in_background(
    store: Arc<dyn otelvault_storage::ObjectStore>,
    forwarder: Arc<otelvault_service::forward::Forwarder>,
    every: std::time::Duration,
) {
    loop {
        match otelvault_service::forward::retry_pending(&*store, &forwarder).await {
            Ok(report) if report.delivered > 0 || !report.left.is_empty() => {
                tracing::info!(
                    delivered = report.delivered,
                    objects = report.objects,
                    items = report.items,
                    left = report.left.len(),
                    "Re-sent batches whose forwarding had failed."
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "Could not read the forward markers; trying again later.")
            }
        }
        tokio::time::sleep(every).await;
    }
}

async fn run_lambda(args: ServeArgs) -> anyhow::Result<()> {
    let args = secrets::load(args, secrets::SERVER).await?;
    let state = state(&args, Runtime::Lambda).await?;
    tracing::info!(storage = %args.storage, keys = args.keys_enforced(), "Serving Lambda Function URL requests.");
    // No network during init (it is billed and bounded): the storage check
    // runs with the first request instead, once per instance.
    let checked = Arc::new(tokio::sync::OnceCell::new());
    let storage = args.storage.to_string();
    let app = router(state.clone()).layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let (state, checked, storage) = (state.clone(), checked.clone(), storage.clone());
            async move {
                checked
                    .get_or_init(|| check_storage_once(&state, &storage))
                    .await;
                next.run(request).await
            }
        },
    ));
    lambda_http::run(app)
        .await
        .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
}

/// The Lambda instance's storage check: logged, not fatal (requests then
/// answer with the cause themselves).
async fn check_storage_once(state: &AppState, storage: &str) {
    match check_storage(state, &storage).await {
        Ok(()) => tracing::info!(storage, "Storage is reachable."),
        Err(e) => tracing::error!("{e}"),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let args = secrets::load(args, secrets::SERVER).await?;
    let state = state(&args, Runtime::Local).await?;
    check_storage(&state, &args.storage).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding OTELVAULT_LISTEN={}", args.listen))?;
    let local = listener.local_addr().context("reading the bound address")?;
    if !args.keys_enforced() {
        tracing::warn!(listen = %local, "No API keys configured: accepting requests without keys (loopback only unless OTELVAULT_AUTH=none).");
    }
    let layout = args.layout;
    tracing::info!(listen = %local, storage = %args.storage, format = %layout.format, compression = %layout.compression, partition = %layout.partitioning.granularity, "Serving OTLP/HTTP.");
    if args.compacts() {
        let options = otelvault_archive::CompactOptions {
            dry_run: false,
            delete_raw: args.compact_delete_raw,
        };
        let every = std::time::Duration::from_secs(args.compact_interval_secs.into());
        tokio::spawn(compaction::in_background(
            state.archive.clone(),
            options,
            every,
        ));
    }
    if let Some(forwarder) = state.forward.clone() {
        tracing::info!(
            traces = forwarder
                .exporter(otelvault_codec::Signal::Traces)
                .map(|e| e.target().url.as_str()),
            metrics = forwarder
                .exporter(otelvault_codec::Signal::Metrics)
                .map(|e| e.target().url.as_str()),
            logs = forwarder
                .exporter(otelvault_codec::Signal::Logs)
                .map(|e| e.target().url.as_str()),
            "Forwarding accepted batches."
        );
        tokio::spawn(forward_in_background(
            Arc::clone(state.archive.store()),
            forwarder,
            args.forward.retry_interval,
        ));
    }
    // One stop signal for both servers.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let grpc = match args.grpc_listen.0 {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
                format!("binding OTELVAULT_GRPC_LISTEN={addr} (set it to another port, or off)")
            })?;
            let local = listener.local_addr().context("reading the bound address")?;
            tracing::info!(listen = %local, "Serving OTLP/gRPC.");
            let server = tonic::transport::Server::builder()
                .add_routes(otelvault_service::grpc::routes(Arc::clone(&state)))
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    until_stopped(),
                );
            Some(tokio::spawn(server))
        }
        None => None,
    };
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    axum::serve(listener, router(state))
        .with_graceful_shutdown(until_stopped())
        .await
        .context("serving")?;
    if let Some(grpc) = grpc {
        grpc.await
            .context("the gRPC server stopped")?
            .context("serving OTLP/gRPC")?;
    }
    tracing::info!("Stopped.");
    Ok(())
}

/// Ctrl-C or SIGTERM: stop accepting, let in-flight requests finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("Shutting down: finishing in-flight requests.");
}
