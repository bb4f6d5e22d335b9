//! OTLP codec for otelvault.
//!
//! Everything that turns bytes into OpenTelemetry batches and back lives here:
//! protobuf and OTLP/JSON encoding of the `Export*ServiceRequest` messages for
//! traces, metrics and logs ([`Batch`]), decompression through one capped
//! reader ([`compression`]), item time and partition splitting ([`partition`]),
//! merging of equal resources and scopes ([`merge`]), item filters
//! ([`filter`]), encoded sizes of batches and single items ([`size`]) and
//! validation of ids ([`validate`]).
//!
//! The prost message types come from `opentelemetry-proto`; the JSON mapping
//! is owned by this crate (see [`json`]) because the OTLP/JSON rules (hex ids,
//! 64-bit integers as strings, integer enums, omitted defaults) differ from
//! plain proto3 JSON.

pub mod batch;
pub mod compression;
pub mod filter;
pub mod json;
pub mod merge;
pub mod partition;
pub mod size;
pub mod status;
pub mod validate;
pub mod values;
pub mod view;

mod cost;
pub use cost::{JSON_EXPANSION, estimate as decoded_cost};
mod error;
mod hierarchy;
mod points;
#[cfg(test)]
mod samples;
mod signal;

pub use batch::{Batch, ExportResponse, Format};
pub use compression::{Compression, ContentEncoding};
pub use error::CodecError;
pub use merge::merge;
pub use partition::{
    DAY_NANOS, Granularity, HOUR_NANOS, MINUTE_NANOS, UtcMinute, now_unix_nanos, split_by_partition,
};
pub use signal::Signal;
pub use validate::{Rejected, validate_ids};

/// The `opentelemetry-proto` prost types this crate works with, re-exported so
/// that users of the codec need no direct dependency on it.
pub mod proto {
    pub use opentelemetry_proto::tonic::collector::logs::v1 as collector_logs;
    pub use opentelemetry_proto::tonic::collector::metrics::v1 as collector_metrics;
    pub use opentelemetry_proto::tonic::collector::trace::v1 as collector_trace;
    pub use opentelemetry_proto::tonic::common::v1 as common;
    pub use opentelemetry_proto::tonic::logs::v1 as logs;
    pub use opentelemetry_proto::tonic::metrics::v1 as metrics;
    pub use opentelemetry_proto::tonic::resource::v1 as resource;
    pub use opentelemetry_proto::tonic::trace::v1 as trace;
}
