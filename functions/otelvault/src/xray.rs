//! X-Ray import outside the command line: the package's scheduled Lambda
//! function (`OTELVAULT_FUNCTION=xray-import`), and the import both share.

use std::sync::Arc;

use otelvault_service::{AppState, Runtime, ServeArgs};
use otelvault_xray::import::{ImportReport, client, import};
use serde_json::{Value, json};

/// Imports `[start, end)` (unix seconds) into the archive of `state`,
/// every trace through the ingest pipeline.
pub(crate) async fn import_into(
    state: &AppState,
    xray: &aws_sdk_xray::Client,
    (start, end): (u64, u64),
    filter: Option<&str>,
    resume: bool,
) -> anyhow::Result<ImportReport> {
    let store = Arc::clone(state.archive.store());
    let report = import(
        xray,
        &*store,
        start,
        end,
        filter,
        resume,
        |request| async move {
            otelvault_service::ingest_batch(
                state,
                otelvault_codec::Batch::Traces(request),
                "xray import",
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
        },
    )
    .await?;
    Ok(report)
}

/// The scheduled function: each invocation imports from where the last
/// stopped (an hour back at first) to a minute ago, and answers with what
/// it did. A run cut short by the function's timeout is continued by the
/// next one, from the checkpoint.
pub(crate) async fn run_lambda(args: ServeArgs) -> anyhow::Result<()> {
    let args = crate::secrets::load(args, crate::secrets::SCHEDULED).await?;
    let state = crate::state(&args, Runtime::Local).await?;
    let xray = client(None).await;
    tracing::info!(storage = %args.storage, "Importing X-Ray traces on schedule.");
    let handler = lambda_http::service_fn(move |_event: lambda_http::LambdaEvent<Value>| {
        let (state, xray) = (Arc::clone(&state), xray.clone());
        async move {
            let started = std::time::Instant::now();
            let now = otelvault_codec::now_unix_nanos() / 1_000_000_000;
            let end = now.saturating_sub(60);
            let outcome = import_into(&state, &xray, (end.saturating_sub(3600), end), None, true)
                .await
                .map_err(|e| format!("{e:#}"));
            // A failed run reports too: its progress is in the checkpoint.
            if let Some(emf) = &state.emf {
                let failed = outcome.is_err();
                let report = outcome.as_ref().cloned().unwrap_or_default();
                use otelvault_service::emf::units::{COUNT, MILLISECONDS};
                #[allow(clippy::cast_precision_loss)] // Counts far below 2^52.
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
