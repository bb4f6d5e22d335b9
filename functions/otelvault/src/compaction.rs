//! Compaction outside the command line: in the background of the local
//! server, and as the package's scheduled Lambda function (which also
//! re-sends batches whose forwarding failed).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use otelvault_archive::{
    Archive, CompactOptions, HourReport, Outcome, compact_hour, compact_range,
};
use otelvault_codec::Signal;
use otelvault_service::ServeArgs;
use serde_json::{Value, json};

use otelvault_codec::HOUR_NANOS as HOUR;
/// An hour is compacted once it ended this long ago: exporters that batch
/// and retry deliver most late items within it (later ones are appended by
/// a later run).
const GRACE: u64 = 300_000_000_000;
/// Hours a scheduled run looks back over.
const LOOK_BACK_HOURS: u64 = 48;

/// What compacting some hours did.
#[derive(Debug, Default)]
struct Tally {
    compacted: usize,
    up_to_date: usize,
    rows: usize,
    deleted_raw: usize,
    unreadable: Vec<String>,
}

impl Tally {
    fn add(&mut self, report: &HourReport) {
        match report.outcome {
            Outcome::Compacted => {
                self.compacted += 1;
                self.rows += report.rows;
            }
            Outcome::UpToDate => self.up_to_date += 1,
            Outcome::WouldCompact | Outcome::Empty => {}
        }
        self.deleted_raw += report.deleted_raw;
        self.unreadable.extend(report.unreadable.iter().cloned());
    }
}

/// The local server's compaction: at start over the whole archive, then
/// every `every` over the hours this server has written to since, once
/// they ended at least five minutes ago (a late arrival after that is
/// appended by a later run). Failures are logged and the hours retried at
/// the next run; a run cut short by shutdown leaves every hour readable
/// (the manifest is the commit point).
pub(crate) async fn in_background(archive: Archive, options: CompactOptions, every: Duration) {
    let store = Arc::clone(archive.store());
    let mut first = true;
    let mut waiting: BTreeSet<u64> = BTreeSet::new();
    loop {
        let now = otelvault_codec::now_unix_nanos();
        let ended = now.saturating_sub(GRACE) / HOUR * HOUR;
        let mut tally = Tally::default();
        let mut count = |report: &HourReport, _| tally.add(report);
        waiting.extend(archive.take_written_hours());
        let result = if first {
            compact_range(&*store, 0, ended, options, &mut count).await
        } else {
            let due: Vec<u64> = waiting.range(..ended).copied().collect();
            let mut result = Ok(());
            for hour in due {
                let mut done = true;
                for signal in Signal::ALL {
                    match compact_hour(&*store, signal, hour, options).await {
                        Ok(report) => count(&report, (0, 0)),
                        Err(e) => {
                            done = false;
                            result = Err(e);
                        }
                    }
                }
                // An hour that failed is tried again at the next run.
                if done {
                    waiting.remove(&hour);
                }
            }
            result
        };
        match result {
            Ok(()) => {
                first = false;
                if tally.compacted > 0 || tally.deleted_raw > 0 {
                    tracing::info!(
                        hours = tally.compacted,
                        rows = tally.rows,
                        deleted_raw = tally.deleted_raw,
                        "Compacted ended hours into Parquet."
                    );
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "Background compaction failed; it runs again later.")
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// The scheduled compaction function: each invocation compacts the hours
/// of the last two days that ended five minutes ago or more, or the range
/// an invocation names (`{"start": "2024-10-27T03:00:00Z", "end": …}`,
/// RFC 3339 or unix seconds: after a replay into older hours), and answers
/// with what it did. An hour is committed by its manifest, so a run cut
/// short by the function's timeout is continued by the next one.
pub(crate) async fn run_lambda(args: ServeArgs) -> anyhow::Result<()> {
    let args = crate::secrets::load(args, crate::secrets::SCHEDULED).await?;
    let store = args
        .s3
        .open(&args.storage)
        .await
        .with_context(|| format!("opening storage {}", args.storage))?;
    let options = CompactOptions {
        dry_run: false,
        delete_raw: args.compact_delete_raw,
    };
    let storage = args.storage.to_string();
    let forwarder = otelvault_service::forward::Forwarder::from_args(&args.forward)
        .map_err(anyhow::Error::msg)?;
    let emf =
        otelvault_service::emf::Emf::from_args(&args.emf, true).map_err(anyhow::Error::msg)?;
    tracing::info!(
        storage,
        delete_raw = options.delete_raw,
        forward = forwarder.is_some(),
        "Compacting on schedule."
    );
    let handler = lambda_http::service_fn(move |event: lambda_http::LambdaEvent<Value>| {
        let store = Arc::clone(&store);
        let storage = storage.clone();
        let forwarder = forwarder.clone();
        let emf = emf.clone();
        async move {
            let started = std::time::Instant::now();
            let mut resent = (0, 0);
            let mut tally = Tally::default();
            let outcome = async {
                // Batches whose forwarding failed go first: the backend is live.
                let forwarded = match &forwarder {
                    Some(forwarder) => {
                        let report = otelvault_service::forward::retry_pending(&*store, forwarder)
                            .await
                            .map_err(|e| format!("reading the forward markers of {storage}: {e}"))?;
                        resent = (report.delivered, report.left.len());
                        Some(
                            json!({"resent": report.delivered, "items": report.items, "left": report.left.len()}),
                        )
                    }
                    None => None,
                };
                let (start, end) = range(&event.payload, otelvault_codec::now_unix_nanos())?;
                compact_range(&*store, start, end, options, |r, _| tally.add(r))
                    .await
                    .map_err(|e| format!("compacting {storage}: {e}"))?;
                tracing::info!(
                    hours = tally.compacted,
                    up_to_date = tally.up_to_date,
                    rows = tally.rows,
                    deleted_raw = tally.deleted_raw,
                    "Compacted ended hours into Parquet."
                );
                for key in &tally.unreadable {
                    tracing::warn!(
                        key,
                        "Left a raw object that cannot be decoded out of the Parquet tier."
                    );
                }
                Ok::<Value, String>(json!({
                    "compacted": tally.compacted,
                    "up_to_date": tally.up_to_date,
                    "rows": tally.rows,
                    "deleted_raw": tally.deleted_raw,
                    "unreadable": tally.unreadable,
                    "forward": forwarded,
                }))
            }
            .await;
            // A failed run reports too, with what it did before failing.
            if let Some(emf) = &emf {
                use otelvault_service::emf::units::{COUNT, MILLISECONDS};
                #[allow(clippy::cast_precision_loss)] // Counts far below 2^52.
                emf.report(
                    "compact",
                    &[
                        ("Failures", COUNT, f64::from(u8::from(outcome.is_err()))),
                        ("HoursCompacted", COUNT, tally.compacted as f64),
                        ("HoursUpToDate", COUNT, tally.up_to_date as f64),
                        ("RowsWritten", COUNT, tally.rows as f64),
                        ("RawObjectsDeleted", COUNT, tally.deleted_raw as f64),
                        ("UnreadableObjects", COUNT, tally.unreadable.len() as f64),
                        ("ForwardBatchesResent", COUNT, resent.0 as f64),
                        ("ForwardBatchesLeft", COUNT, resent.1 as f64),
                        (
                            "Duration",
                            MILLISECONDS,
                            started.elapsed().as_secs_f64() * 1000.0,
                        ),
                    ],
                );
            }
            outcome.map_err(lambda_http::Error::from)
        }
    });
    lambda_http::lambda_runtime::run(handler)
        .await
        .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"))
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
