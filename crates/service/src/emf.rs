//! CloudWatch Embedded Metric Format output: otelvault's own figures (one
//! event per request, so one per invocation on Lambda) and, with
//! conversion on, every stored OTLP metrics batch as the
//! awsemfexporter would send it.
//!
//! Events are JSON lines on standard output, which Lambda sends to the
//! function's log group, where CloudWatch extracts the metrics; locally
//! they can go to a file to see what CloudWatch
//! would get.

use std::io::Write as _;
use std::sync::{Arc, Mutex};

use otelvault_codec::Signal;
use otelvault_codec::proto::collector_metrics::ExportMetricsServiceRequest;
use otelvault_emf::{Converter, Event};

use crate::RequestLog;

/// What EMF output to write, and where.
#[derive(Debug, Clone, Default)]
pub struct EmfConfig {
    /// Whether otelvault's own figures are written.
    pub self_metrics: bool,
    /// How OTLP metrics are converted, when they are.
    pub converter: Option<otelvault_emf::Config>,
    /// CloudWatch namespace of otelvault's own figures.
    pub namespace: String,
    /// A file events are appended to, instead of standard output.
    pub file: Option<std::path::PathBuf>,
    /// Distinct dimension value sets of converted OTLP metrics sent at
    /// most ([`MAX_SERIES`] unless set).
    pub max_series: Option<usize>,
}

/// Where events are written, and what is written.
#[derive(Debug)]
pub struct Emf {
    sink: Sink,
    namespace: String,
    self_metrics: bool,
    converter: Option<Converter>,
    /// The dimension value sets converted OTLP metrics were sent with.
    series: Mutex<std::collections::HashSet<u64>>,
    series_hasher: std::collections::hash_map::RandomState,
    max_series: usize,
}

/// Distinct dimension value sets of converted OTLP metrics one process
/// sends at most; events of new ones past it are dropped and counted.
pub const MAX_SERIES: usize = 10_000;

#[derive(Debug)]
enum Sink {
    Stdout,
    File(Mutex<std::fs::File>),
}

/// CloudWatch units of otelvault's figures.
const COUNT: &str = "Count";
const BYTES: &str = "Bytes";
const MILLISECONDS: &str = "Milliseconds";

impl Emf {
    /// The output `config` asks for; `None` when it asks for nothing. The
    /// error is the file's, when it cannot be opened.
    pub fn new(config: EmfConfig) -> std::io::Result<Option<Arc<Emf>>> {
        let converter = config.converter.map(Converter::new);
        if !config.self_metrics && converter.is_none() {
            return Ok(None);
        }
        let sink = match &config.file {
            Some(path) => Sink::File(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            )),
            None => Sink::Stdout,
        };
        Ok(Some(Arc::new(Emf {
            sink,
            namespace: config.namespace,
            self_metrics: config.self_metrics,
            converter,
            series: Mutex::default(),
            series_hasher: std::collections::hash_map::RandomState::new(),
            max_series: config.max_series.unwrap_or(MAX_SERIES),
        })))
    }

    /// Keeps the events whose dimension values were sent before, or that
    /// fit under [`MAX_SERIES`] new ones; how many were dropped. Dimension
    /// values come from clients, and each distinct set is a custom metric
    /// CloudWatch bills.
    fn within_cardinality(&self, events: &mut Vec<Event>) -> usize {
        use std::hash::BuildHasher as _;
        let Ok(mut seen) = self.series.lock() else {
            return 0;
        };
        let before = events.len();
        events.retain(|event| {
            let series = self.series_hasher.hash_one(&event.labels);
            seen.contains(&series) || (seen.len() < self.max_series && seen.insert(series))
        });
        before - events.len()
    }

    /// Whether ingested metrics are converted.
    pub fn converts(&self) -> bool {
        self.converter.is_some()
    }

    /// Writes events, each a line, in one write (lines of concurrent
    /// requests never interleave).
    pub fn write(&self, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        let mut text = String::new();
        for event in events {
            text.push_str(&event.to_line());
            text.push('\n');
        }
        let result = match &self.sink {
            Sink::Stdout => std::io::stdout().lock().write_all(text.as_bytes()),
            Sink::File(file) => file
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .write_all(text.as_bytes()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "Could not write EMF events.");
        }
    }

    /// Converts a stored metrics batch and writes its events; what could
    /// not be sent is logged.
    pub(crate) fn metrics(&self, request: &ExportMetricsServiceRequest) {
        let Some(converter) = &self.converter else {
            return;
        };
        let mut out = converter.convert(request);
        let dropped = self.within_cardinality(&mut out.events);
        if dropped > 0 {
            tracing::warn!(
                dropped,
                cap = self.max_series,
                "EMF events of new dimension values were dropped: this process already sends that many distinct ones (each is a billable CloudWatch metric); narrow metric_declarations or the dimensions."
            );
        }
        self.write(&out.events);
        let left_out = out.invalid_points + out.unselected_points + out.too_large;
        if left_out > 0 || out.wide_dimension_sets > 0 {
            tracing::debug!(
                events = out.events.len(),
                points = out.points,
                first_points = out.first_points,
                invalid = out.invalid_points,
                unselected = out.unselected_points,
                too_large = out.too_large,
                wide_dimension_sets = out.wide_dimension_sets,
                "Some OTLP metric points were not sent as EMF."
            );
        }
    }

    /// The event of one request's figures, with dimensions `signal` (when
    /// the route has one) and `route`.
    #[allow(clippy::cast_precision_loss)] // Counts far below 2^52.
    pub(crate) fn request(&self, log: &RequestLog, route: &str, status: u16, latency_ms: f64) {
        if !self.self_metrics {
            return;
        }
        let mut metrics = vec![
            ("Requests", COUNT, 1.0),
            (
                "ClientErrors",
                COUNT,
                f64::from(u8::from((400..500).contains(&status))),
            ),
            ("ServerErrors", COUNT, f64::from(u8::from(status >= 500))),
            ("Latency", MILLISECONDS, latency_ms),
            ("BytesReceived", BYTES, log.received_bytes as f64),
        ];
        if route.starts_with("/v1/") || route.starts_with("/opentelemetry.") {
            let accepted = if status == 200 { log.items } else { 0 };
            metrics.extend([
                ("ItemsAccepted", COUNT, accepted as f64),
                ("ItemsRejected", COUNT, log.rejected.max(0) as f64),
                ("BytesStored", BYTES, log.stored_bytes as f64),
                ("ObjectsWritten", COUNT, log.objects as f64),
            ]);
        } else if log.read_bytes > 0 || log.items > 0 {
            metrics.extend([
                ("ItemsReturned", COUNT, log.items as f64),
                ("BytesRead", BYTES, log.read_bytes as f64),
            ]);
        }
        if let Some(ms) = log.storage_ms {
            metrics.push(("StorageLatency", MILLISECONDS, ms));
        }
        if let Some(ms) = log.forward_ms {
            let failed = log.forward.as_deref().is_some_and(|f| f != "ok");
            metrics.push(("ForwardLatency", MILLISECONDS, ms));
            metrics.push(("ForwardFailures", COUNT, f64::from(u8::from(failed))));
        }
        let signal = log.signal.map(Signal::as_str);
        let mut labels = Vec::with_capacity(2);
        if let Some(signal) = signal {
            labels.push(("signal", signal));
        }
        labels.push(("route", route));
        self.report_with(&labels, &metrics);
    }

    /// The event of a scheduled function's run (`route` is the function:
    /// `compact`, `xray-import`).
    pub fn report(&self, route: &str, metrics: &[(&str, &'static str, f64)]) {
        if self.self_metrics {
            self.report_with(&[("route", route)], metrics);
        }
    }

    fn report_with(&self, labels: &[(&str, &str)], metrics: &[(&str, &'static str, f64)]) {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        self.write(&[Event::single(&self.namespace, now_ms, labels, metrics)]);
    }
}

/// Units for the figures of scheduled functions.
pub mod units {
    /// A count.
    pub const COUNT: &str = super::COUNT;
    /// Bytes.
    pub const BYTES: &str = super::BYTES;
    /// Milliseconds.
    pub const MILLISECONDS: &str = super::MILLISECONDS;
}
