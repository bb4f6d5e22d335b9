//! Every API error and its HTTP status, in one place.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use otelvault_api::RequestError;
use otelvault_archive::ArchiveError;
use otelvault_codec::Format;
use otelvault_codec::status::{RpcStatus, code};
use otelvault_storage::StorageError;
use prost::Message as _;

use crate::auth::AuthError;

/// Seconds a client should wait before retrying after a 429 or 503.
pub const RETRY_AFTER_SECS: u32 = 5;

/// An error answer. The message is for the client: it says what was wrong
/// with the request, or that storage failed (never internal details).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 400: undecodable or invalid request.
    #[error("{0}")]
    BadRequest(String),
    /// 401 or 403.
    #[error("{0}")]
    Auth(AuthError),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 408: the body did not arrive in time.
    #[error("{0}")]
    RequestTimeout(String),
    /// 413.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429: storage throttled us.
    #[error("{0}")]
    Throttled(String),
    /// 503: storage is unreachable or failed in a way that may pass.
    #[error("{0}")]
    Unavailable(String),
    /// 500: storage refused the operation in a way retrying will not fix
    /// (a missing bucket, denied access, bad credentials); the message
    /// names the bucket or directory and the cause, for the operator.
    #[error("{0}")]
    StorageFailed(String),
    /// 500: a fault of the server itself (a bug); details are logged.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Auth(AuthError::Missing) => StatusCode::UNAUTHORIZED,
            ApiError::Auth(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) | ApiError::StorageFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn rpc_code(&self) -> i32 {
        match self {
            ApiError::BadRequest(_) => code::INVALID_ARGUMENT,
            ApiError::PayloadTooLarge(_) => code::RESOURCE_EXHAUSTED,
            ApiError::Auth(AuthError::Missing) => code::UNAUTHENTICATED,
            ApiError::Auth(_) => code::PERMISSION_DENIED,
            ApiError::NotFound(_) => code::NOT_FOUND,
            ApiError::MethodNotAllowed(_) | ApiError::UnsupportedMediaType(_) => {
                code::UNIMPLEMENTED
            }
            ApiError::Throttled(_) => code::RESOURCE_EXHAUSTED,
            ApiError::RequestTimeout(_) | ApiError::Unavailable(_) => code::UNAVAILABLE,
            ApiError::Internal(_) | ApiError::StorageFailed(_) => code::INTERNAL,
        }
    }

    /// The response: a `google.rpc.Status` body in `format`, and
    /// `Retry-After` on 429 and 503.
    pub fn into_response_as(self, format: Format) -> Response {
        let status = RpcStatus {
            code: self.rpc_code(),
            message: self.to_string(),
        };
        let body = match format {
            Format::Json => otelvault_codec::json::encode_status(&status).into_bytes(),
            Format::Protobuf => status.encode_to_vec(),
        };
        self.with_body(body, format.content_type())
    }

    /// The response with the message alone as its body, in plain text
    /// (what Tempo's API answers, and Grafana shows as it is), and
    /// `Retry-After` on 429 and 503.
    pub fn into_text_response(self) -> Response {
        let body = self.to_string().into_bytes();
        self.with_body(body, "text/plain; charset=utf-8")
    }

    fn with_body(self, body: Vec<u8>, content_type: &'static str) -> Response {
        let mut response = (self.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if matches!(self, ApiError::Throttled(_) | ApiError::Unavailable(_)) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response.extensions_mut().insert(self);
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_response_as(Format::Json)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        ApiError::Auth(e)
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        ApiError::BadRequest(e.0)
    }
}

impl From<ArchiveError> for ApiError {
    fn from(e: ArchiveError) -> Self {
        // The client learns that storage failed and when to retry; the
        // details go to the server log (see the request log line).
        match e.storage_error() {
            Some(StorageError::Throttled { .. }) => {
                ApiError::Throttled("storage is throttling requests; retry later".into())
            }
            Some(e) if e.is_retryable() => {
                ApiError::Unavailable("storage is unavailable; retry later".into())
            }
            // The operator's mistake, said as the store said it (one line:
            // the bucket or directory and the cause); retrying cannot help.
            Some(e) => ApiError::StorageFailed(e.to_string()),
            None if matches!(e, ArchiveError::Rewritten(_)) => ApiError::BadRequest(e.to_string()),
            None => ApiError::Internal(e.to_string()),
        }
    }
}
