//! Clients of an otelvault archive.
//!
//! - [`api`]: page through a deployment's fetch API.
//! - [`exporter`]: send OTLP/HTTP requests the way SDKs do, configured by the
//!   standard `OTEL_EXPORTER_OTLP_*` variables, with retries.
//! - [`replay`]: read a time range from a deployment or straight from an
//!   archive (ours or one the Collector wrote) and re-send it.
//! - [`time`]: the time flags (`--since 15m`, RFC 3339, unix times).

pub mod api;
pub mod exporter;
pub mod grpc;
pub mod http;
pub mod replay;
pub mod time;

/// A client-side failure, with a message for the command line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Bad flags or environment.
    #[error("{0}")]
    Config(String),
    /// The network or the remote end failed.
    #[error("{0}")]
    Http(String),
    /// The remote answered with an error status.
    #[error("{url} answered {status}: {message}")]
    Status {
        /// Request URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The error message from the body.
        message: String,
    },
    /// The remote answered a gRPC call with an error status.
    #[error("{url} answered {code}: {message}")]
    Grpc {
        /// The server.
        url: String,
        /// The gRPC status code's name.
        code: String,
        /// Its message.
        message: String,
    },
    /// A response could not be decoded.
    #[error("{0}")]
    Decode(String),
    /// Reading the archive failed.
    #[error("{0}")]
    Storage(String),
}
