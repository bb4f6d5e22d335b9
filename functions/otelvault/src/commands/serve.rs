//! `otelvault serve`: the local server (OTLP/HTTP, OTLP/gRPC and the query
//! APIs on the embedded store or S3), with compaction and the re-sending of
//! failed forwards in the background.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use otelvault_archive::{Archive, CompactOptions, RunReport, compact_hour, compact_range};
use otelvault_codec::{HOUR_NANOS as HOUR, Signal};
use otelvault_service::{AppState, router_with};

use super::{check_storage, server_state};
use crate::secrets;
use crate::settings::{Runtime, ServeArgs};

/// An hour is compacted once it ended this long ago: exporters that batch
/// and retry deliver most late items within it (later ones are appended by
/// a later run).
pub const GRACE: u64 = 300_000_000_000;

/// Concurrent gRPC streams of one connection.
const GRPC_STREAMS: u32 = 64;
/// Longest a gRPC call may take, its message's upload included.
const GRPC_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let (args, state) = server_state(args, Runtime::Local, secrets::SERVER).await?;
    let storage = args.storage.url()?;
    args.validate_local_compaction(&storage)?;
    check_storage(&state, &storage).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding OTELVAULT_LISTEN={}", args.listen))?;
    let local = listener.local_addr().context("reading the bound address")?;
    if !args.keys_enforced() {
        tracing::warn!(listen = %local, "No API keys configured: accepting requests without keys (loopback only unless OTELVAULT_AUTH=none).");
    }
    let layout = state.archive.layout();
    tracing::info!(listen = %local, storage = %storage, format = %layout.format, compression = %layout.compression, partition = %layout.partitioning.granularity, "Serving OTLP/HTTP.");
    if args.compacts(&storage) {
        let options = CompactOptions {
            dry_run: false,
            delete_raw: args.compact_delete_raw,
            memory: Some(args.compact_memory.here()),
            ..CompactOptions::default()
        };
        let every = Duration::from_secs(args.compact_interval_secs.into());
        tokio::spawn(compact_in_background(state.archive.clone(), options, every));
    }
    if let Some(forwarder) = state.forward.clone() {
        let url = |signal| forwarder.exporter(signal).map(|e| e.target().url.as_str());
        tracing::info!(
            traces = url(Signal::Traces),
            metrics = url(Signal::Metrics),
            logs = url(Signal::Logs),
            "Forwarding accepted batches."
        );
        tokio::spawn(forward_in_background(
            Arc::clone(state.archive.store()),
            Arc::clone(&forwarder),
            args.forward_retry_interval,
        ));
    }
    let limits = super::http_server::Limits {
        // Without keys, on loopback: only requests addressed to a loopback
        // name, so a web page cannot reach the server by DNS rebinding.
        loopback_only: !args.keys_enforced() && args.listen.ip().is_loopback(),
        header_timeout: args.header_timeout,
        max_connections: args
            .max_connections
            .map_or_else(super::http_server::default_max_connections, |n| n as usize),
    };
    serve_until_stopped(listener, limits, args.grpc_listen.0, state).await
}

/// Serves OTLP/HTTP on `listener` and OTLP/gRPC on `grpc` (when on) until
/// a stop signal, then lets in-flight requests finish.
async fn serve_until_stopped(
    listener: tokio::net::TcpListener,
    limits: super::http_server::Limits,
    grpc: Option<std::net::SocketAddr>,
    state: Arc<AppState>,
) -> anyhow::Result<()> {
    // One stop signal for both servers.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let grpc = match grpc {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
                format!("binding OTELVAULT_GRPC_LISTEN={addr} (set it to another port, or off)")
            })?;
            let local = listener.local_addr().context("reading the bound address")?;
            tracing::info!(listen = %local, "Serving OTLP/gRPC.");
            // Limits a client cannot get around: streams per connection,
            // the time a call may take, and dead peers found by keepalive.
            let server = tonic::transport::Server::builder()
                .max_concurrent_streams(Some(GRPC_STREAMS))
                .timeout(GRPC_CALL_TIMEOUT)
                .http2_keepalive_interval(Some(Duration::from_secs(30)))
                .http2_keepalive_timeout(Some(Duration::from_secs(10)))
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
    let mut app = router_with(state, [otelvault_tempo::routes(), otelvault_loki::routes()]);
    if limits.loopback_only {
        app = app.layer(axum::middleware::from_fn(loopback_hosts_only));
    }
    super::http_server::serve(listener, app, limits, until_stopped())
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

/// Refuses a request whose `Host` is not a loopback name: a browser tricked
/// by DNS rebinding sends the attacker's domain there, and a server without
/// keys must not answer it.
async fn loopback_hosts_only(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok());
    if host.is_none_or(is_loopback_host) {
        return next.run(request).await;
    }
    super::forbidden(
        "this server has no keys and answers only requests addressed to 127.0.0.1, [::1] or localhost: set OTELVAULT_INGEST_KEYS/OTELVAULT_QUERY_KEYS to serve other names",
    )
}

/// `localhost`, `127.0.0.1`, `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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

/// Re-sends batches whose forwarding failed, every `every`, for as long as
/// the server runs.
async fn forward_in_background(
    store: Arc<dyn otelvault_storage::ObjectStore>,
    forwarder: Arc<otelvault_service::forward::Forwarder>,
    every: Duration,
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

/// The local server's compaction: at start over the whole archive, then
/// every `every` over the hours this server has written to since, once
/// they ended at least [`GRACE`] ago (a late arrival after that is
/// appended by a later run). Failures are logged and the hours retried at
/// the next run; a run cut short by shutdown leaves every hour readable
/// (the manifest is the commit point).
async fn compact_in_background(archive: Archive, options: CompactOptions, every: Duration) {
    let mut first = true;
    let mut waiting: BTreeSet<u64> = BTreeSet::new();
    loop {
        let ended = otelvault_codec::now_unix_nanos().saturating_sub(GRACE) / HOUR * HOUR;
        let mut report = RunReport::default();
        waiting.extend(archive.take_written_hours());
        let result = if first {
            compact_range(&**archive.store(), 0, ended, options, |hour, _| {
                report.add(hour)
            })
            .await
        } else {
            compact_waiting(&archive, &mut waiting, ended, options, &mut report).await
        };
        match result {
            Ok(()) => {
                first = false;
                if report.compacted > 0 || report.deleted_raw > 0 {
                    tracing::info!(
                        hours = report.compacted,
                        rows = report.rows,
                        deleted_raw = report.deleted_raw,
                        "Compacted ended hours into Parquet."
                    );
                }
            }
            Err(e @ otelvault_parquet::CompactError::Busy { .. }) => {
                tracing::info!(reason = %e, "Another compaction of this archive is running; this one runs again later.")
            }
            Err(e) => {
                tracing::warn!(error = %e, "Background compaction failed; it runs again later.")
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// Compacts the hours in `waiting` that ended before `ended`, and forgets
/// those that are done (an hour that failed is tried again at the next run).
async fn compact_waiting(
    archive: &Archive,
    waiting: &mut BTreeSet<u64>,
    ended: u64,
    options: CompactOptions,
    report: &mut RunReport,
) -> Result<(), otelvault_parquet::CompactError> {
    let due: Vec<u64> = waiting.range(..ended).copied().collect();
    if due.is_empty() {
        return Ok(());
    }
    let store = &**archive.store();
    let lease = otelvault_archive::Lease::acquire(store).await?;
    let mut result = Ok(());
    for hour in due {
        let mut done = true;
        for signal in Signal::ALL {
            match compact_hour(store, signal, hour, options).await {
                Ok(hour) => report.add(&hour),
                Err(e) => {
                    done = false;
                    result = Err(e);
                }
            }
        }
        if done {
            waiting.remove(&hour);
        }
    }
    result.and(lease.release(store).await)
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn loopback_names_are_told_from_a_rebound_domain() {
        for host in [
            "localhost",
            "LOCALHOST:4318",
            "127.0.0.1",
            "127.0.0.1:4318",
            "[::1]:4318",
            "[::1]",
            "127.1.2.3:80",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:4318",
            "localhost.evil.example",
            "10.0.0.1:4318",
            "[2001:db8::1]:4318",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
