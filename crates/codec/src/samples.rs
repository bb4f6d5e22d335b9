//! The sample payloads of `samples/otlp`, for unit tests.

use crate::{Batch, Format, Signal};

/// The sample OTLP/JSON payload of `signal`, decoded.
pub(crate) fn sample(signal: Signal) -> Batch {
    let text = match signal {
        Signal::Traces => include_str!("../../../samples/otlp/traces.json"),
        Signal::Metrics => include_str!("../../../samples/otlp/metrics.json"),
        Signal::Logs => include_str!("../../../samples/otlp/logs.json"),
    };
    Batch::decode(signal, Format::Json, text.as_bytes()).expect("sample")
}
