//! `otelvault`: one binary for the Lambda function (when
//! `AWS_LAMBDA_RUNTIME_API` is set) and the local server (`otelvault serve`).
//! It only parses configuration, builds the shared state and runs the router.

use std::io::IsTerminal as _;
use std::process::ExitCode;

mod commands;
mod reference;
mod secrets;
mod settings;

use anyhow::Context as _;
use clap::{CommandFactory, Parser, Subcommand};
use commands::lambda::LambdaCli;
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
    Serve(settings::ServeArgs),
    /// Print the book's configuration reference (docs/src/reference.md).
    #[command(hide = true)]
    Reference,
    /// Query a deployment and print OTLP/JSON.
    Fetch(commands::fetch::FetchArgs),
    /// Send archived data (from a deployment, s3:// or a directory) to an OTLP/HTTP endpoint.
    Replay(commands::replay::ReplayArgs),
    /// Show what an archive holds: objects, bytes and items per day and signal.
    Stats(commands::stats::StatsArgs),
    /// Compact ended hours of an archive into Parquet under parquet/, for SQL engines
    /// (without --since or --start: the hours of the last 24 that have ended).
    Compact(commands::compact::CompactArgs),
    /// Print the SQL that declares the compacted tier's tables for Athena, Spark or DuckDB
    /// (and, with --queries, the named queries).
    Schema(commands::schema::SchemaArgs),
    /// Check a deployment: with --url, from outside (send a span with the ingest
    /// key, fetch it back with the query key, one line per step); without, its
    /// configuration as the Lambda function reads it (the same variables) and
    /// that its storage can be reached and listed.
    Check(commands::check::CheckArgs),
    /// Import traces from AWS X-Ray into the archive, as OTLP.
    #[command(subcommand)]
    Xray(commands::xray::XrayCommand),
    /// Re-send, from the archive, the batches whose forwarding failed
    /// (OTELVAULT_FORWARD_*), and clear their markers.
    ForwardRetry(commands::forward_retry::ForwardRetryArgs),
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
                "{}={value}: {directive:?} is not a log level ({fix})",
                settings::LOG
            ));
        }
    }
    EnvFilter::try_new(value).map_err(|e| format!("{}={value}: {e} ({fix})", settings::LOG))
}

#[allow(clippy::print_stderr)] // The CLI's own error output.
fn init_logging(json: bool) {
    let filter = match log_filter(std::env::var(settings::LOG).ok().as_deref()) {
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
        Err(e) => {
            let e = settings::name_the_variable(&T::command(), e);
            if !one_line || !e.use_stderr() {
                e.exit()
            }
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
fn exit_on_unknown_settings(cli: &clap::Command) {
    let mut settings = settings::env_settings(cli);
    settings.extend(settings::env_settings(&LambdaCli::command()));
    // Read before the command line is parsed (init_logging).
    settings.insert(settings::LOG.to_owned());
    // Empty variables count as unset, as settings do.
    let names = std::env::vars_os()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, _)| name);
    if let Some(line) = settings::unknown_settings(&settings, names) {
        eprintln!("otelvault: {line}");
        std::process::exit(2);
    }
}

/// Secrets given as flags are visible to every user of the machine (`ps`,
/// `/proc/*/cmdline`): a warning names them and the safer ways. A secret
/// setting is one whose value its help hides.
fn warn_of_secrets_on_the_command_line(
    command: &clap::Command,
    args: impl Iterator<Item = String>,
) {
    fn secrets(command: &clap::Command, out: &mut Vec<(String, String)>) {
        for arg in command
            .get_arguments()
            .filter(|a| a.is_hide_env_values_set())
        {
            if let (Some(long), Some(env)) = (arg.get_long(), arg.get_env()) {
                out.push((format!("--{long}"), env.to_string_lossy().into_owned()));
            }
        }
        command.get_subcommands().for_each(|sub| secrets(sub, out));
    }
    let mut known = Vec::new();
    secrets(command, &mut known);
    for arg in args {
        let flag = arg.split_once('=').map_or(arg.as_str(), |(flag, _)| flag);
        if let Some((flag, env)) = known.iter().find(|(f, _)| f == flag) {
            tracing::warn!(
                "{flag} puts a secret on the command line, where every user of the machine can read it (ps): set {env} instead, or keep it in SSM (OTELVAULT_SECRETS_SSM_PREFIX)."
            );
        }
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

/// jemalloc, not glibc's malloc. Compacting the busy hour of the
/// performance page took about a fifth less CPU for the same peak RSS:
/// with glibc, two shards compacting side by side waited on each other's
/// malloc arena locks (decoders allocating where encoders freed) and
/// faulted in fresh pages for every large block, since the memory goal
/// needed blocks past 128 KiB returned at once.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read when it starts (`_RJEM_MALLOC_CONF` still
/// wins): an arena per CPU, whichever threads run there, so that threads
/// neither contend for an arena nor leave memory in one of their own;
/// and freed pages given back after 1 s, not 10 s, which bounds what a
/// compaction holds to what it is using (measured on the busy hour: 10 s
/// held 480 MiB at its peak, 1 s 220-237 MiB, about what glibc did;
/// 300 ms held as much and faulted in twice the pages).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // jemalloc looks the symbol up by name.
#[unsafe(export_name = "_rjem_malloc_conf")]
static ALLOCATOR_SETTINGS: AllocatorSettings =
    AllocatorSettings(c"percpu_arena:percpu,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr());

/// A C string for jemalloc to read.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[repr(transparent)]
struct AllocatorSettings(*const std::ffi::c_char);

// SAFETY: the pointer is to a static, immutable C string.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
unsafe impl Sync for AllocatorSettings {}

/// Empty `OTELVAULT_*` variables count as unset (templated deployments
/// write `""` for a setting they leave alone): they are removed before
/// the settings are read, so each takes its default.
fn unset_empty_settings() {
    let empty: Vec<std::ffi::OsString> = std::env::vars_os()
        .filter(|(name, value)| {
            value.is_empty()
                && name.to_str().is_some_and(|n| {
                    n.get(..10)
                        .is_some_and(|p| p.eq_ignore_ascii_case("OTELVAULT_"))
                })
        })
        .map(|(name, _)| name)
        .collect();
    for name in empty {
        // SAFETY: called first thing in `main`, before any other thread
        // exists, so nothing reads the environment meanwhile.
        #[allow(unsafe_code)]
        unsafe {
            std::env::remove_var(name);
        }
    }
}

#[allow(clippy::print_stderr)] // The CLI's own error output.
fn main() -> ExitCode {
    unset_empty_settings();
    let result = if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        init_logging(true);
        let cli: LambdaCli = parse_or_exit(["bootstrap".into()], true);
        exit_on_unknown_settings(&Cli::command());
        runtime().and_then(|rt| rt.block_on(commands::lambda::run(cli)))
    } else {
        let cli: Cli = parse_or_exit(std::env::args_os(), false);
        let command = Cli::command();
        exit_on_unknown_settings(&command);
        init_logging(false);
        warn_of_secrets_on_the_command_line(&command, std::env::args());
        match dispatch(cli.command) {
            // The summary said what was lost; exit non-zero without repeating it.
            Ok(false) => return ExitCode::from(3),
            Ok(true) => Ok(()),
            Err(e) => Err(e),
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("otelvault: {e:#}");
            // A setting that cannot work is a usage error, as clap's are.
            if e.chain().any(|cause| cause.is::<settings::ConfigError>()) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Runs the command; `Ok(false)` when it ran but lost data (replay).
fn dispatch(command: Command) -> anyhow::Result<bool> {
    use commands::*;
    let done = |result: anyhow::Result<()>| result.map(|()| true);
    match command {
        Command::Serve(args) => done(block_on(serve::run(args))),
        Command::Fetch(args) => done(block_on(fetch::run(args))),
        Command::Replay(args) => block_on(replay::run(args)),
        Command::Stats(args) => done(block_on(stats::run(args))),
        Command::Compact(args) => done(block_on(compact::run(args))),
        Command::Schema(args) => done(schema::run(args)),
        Command::Check(args) => done(block_on(check::run(args))),
        Command::Xray(command) => done(block_on(xray::run(command))),
        Command::ForwardRetry(args) => done(block_on(forward_retry::run(args))),
        Command::Reference => {
            reference::print(&reference::render(&Cli::command(), &LambdaCli::command()));
            Ok(true)
        }
    }
}

/// Runs `future` to its end on a new multi-threaded runtime.
fn block_on<T>(future: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    runtime()?.block_on(future)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
