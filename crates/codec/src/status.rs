//! `google.rpc.Status`, the error body OTLP/HTTP servers send.

/// The `google.rpc.Status` message (details are never sent by otelvault and
/// ignored when read).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct RpcStatus {
    /// A `google.rpc.Code` value.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// What went wrong, for a person.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// The `google.rpc.Code` values otelvault uses.
pub mod code {
    /// Malformed request.
    pub const INVALID_ARGUMENT: i32 = 3;
    /// Unknown route.
    pub const NOT_FOUND: i32 = 5;
    /// Wrong key.
    pub const PERMISSION_DENIED: i32 = 7;
    /// Throttled.
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    /// Wrong method, media type or encoding.
    pub const UNIMPLEMENTED: i32 = 12;
    /// Unexpected server fault.
    pub const INTERNAL: i32 = 13;
    /// Storage unavailable; retry.
    pub const UNAVAILABLE: i32 = 14;
    /// Missing key.
    pub const UNAUTHENTICATED: i32 = 16;
}
