use crate::json::JsonError;

/// Everything that can go wrong turning bytes into a batch or back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The protobuf bytes are not a valid message of the expected type.
    #[error("invalid protobuf {message}: {source}")]
    Protobuf {
        /// The message type that was expected.
        message: &'static str,
        /// What prost reported.
        #[source]
        source: prost::DecodeError,
    },
    /// The JSON document is not valid OTLP/JSON.
    #[error("invalid OTLP/JSON: {0}")]
    Json(#[from] JsonError),
    /// The compressed body is corrupt or truncated.
    #[error("invalid {encoding} data: {source}")]
    Decompress {
        /// The content encoding being decoded.
        encoding: &'static str,
        /// What the decoder reported.
        #[source]
        source: std::io::Error,
    },
    /// Decompressing would exceed the configured cap: the body is refused
    /// without inflating it further.
    #[error("body exceeds {limit} bytes after {encoding} decompression")]
    TooLarge {
        /// The content encoding being decoded.
        encoding: &'static str,
        /// The cap in bytes.
        limit: usize,
    },
    /// Decoding would take more memory than the limit allows (see
    /// [`crate::cost`]): the request is refused before or while decoding.
    #[error("the request takes more than {limit} bytes of memory once decoded")]
    DecodedTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Compressing failed (only I/O-level failures of the encoder).
    #[error("{encoding} compression failed: {source}")]
    Compress {
        /// The encoding being produced.
        encoding: &'static str,
        /// What the encoder reported.
        #[source]
        source: std::io::Error,
    },
}
