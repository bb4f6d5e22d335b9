//! OTLP/gRPC ingest: the `Export` method of the collector's trace, metrics
//! and logs services (`opentelemetry.proto.collector.*.v1`).
//!
//! The key is checked from the call's metadata before any of the message is
//! read or decompressed. tonic frames the messages and decompresses gzip
//! (up to the transport's limit, past which the answer is a final
//! `RESOURCE_EXHAUSTED`, not tonic's retryable `OUT_OF_RANGE`); the
//! message bytes then
//! take the same path as an OTLP/HTTP protobuf body ([`ingest::store`]:
//! limits, decoding, id validation, partitioning, content-addressed
//! writes). Keys come from the `authorization: Bearer …` or
//! `oteleport-access-key` metadata. Errors map to the status codes the
//! OTLP specification gives: `INVALID_ARGUMENT` (the message names the
//! field), `UNAUTHENTICATED`, `PERMISSION_DENIED`, `RESOURCE_EXHAUSTED`
//! (too large, not to retry), and `UNAVAILABLE` or `RESOURCE_EXHAUSTED`
//! with `RetryInfo` when storage failed and a retry may succeed.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use otelvault_client::grpc::{RawCodec, status_with_retry};
use otelvault_codec::{ContentEncoding, Format, Signal};
use tonic::codec::{CompressionEncoding, EnabledCompressionEncodings};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Code, Status};

use crate::auth::Scope;
use crate::error::{ApiError, RETRY_AFTER_SECS};
use crate::{AppState, MAX_DECOMPRESSED_BYTES, RequestLog, ingest};

/// The routes of the three services, to serve with tonic's server.
pub fn routes(state: Arc<AppState>) -> tonic::service::Routes {
    tonic::service::Routes::new(Export::<Traces>::new(Arc::clone(&state)))
        .add_service(Export::<Metrics>::new(Arc::clone(&state)))
        .add_service(Export::<Logs>::new(state))
}

/// One of the three collector services.
pub trait OtlpService: Send + Sync + 'static {
    /// Its signal.
    const SIGNAL: Signal;
    /// Its full gRPC name.
    const NAME: &'static str;
}

/// `opentelemetry.proto.collector.trace.v1.TraceService`.
#[derive(Debug)]
pub enum Traces {}
/// `opentelemetry.proto.collector.metrics.v1.MetricsService`.
#[derive(Debug)]
pub enum Metrics {}
/// `opentelemetry.proto.collector.logs.v1.LogsService`.
#[derive(Debug)]
pub enum Logs {}

impl OtlpService for Traces {
    const SIGNAL: Signal = Signal::Traces;
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}
impl OtlpService for Metrics {
    const SIGNAL: Signal = Signal::Metrics;
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
}
impl OtlpService for Logs {
    const SIGNAL: Signal = Signal::Logs;
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
}

#[cfg(test)]
#[test]
fn service_names_are_the_clients() {
    use otelvault_client::grpc::service;
    assert_eq!(service(Signal::Traces), Traces::NAME);
    assert_eq!(service(Signal::Metrics), Metrics::NAME);
    assert_eq!(service(Signal::Logs), Logs::NAME);
}

/// A service: its one method, `Export`.
pub struct Export<S> {
    state: Arc<AppState>,
    service: PhantomData<fn() -> S>,
}

impl<S> Export<S> {
    fn new(state: Arc<AppState>) -> Self {
        Export {
            state,
            service: PhantomData,
        }
    }
}

impl<S> Clone for Export<S> {
    fn clone(&self) -> Self {
        Export::new(Arc::clone(&self.state))
    }
}

impl<S: OtlpService> NamedService for Export<S> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S: OtlpService> tower::Service<http::Request<tonic::body::Body>> for Export<S> {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let state = Arc::clone(&self.state);
        Box::pin(async move {
            let path = request.uri().path().to_owned();
            if path.strip_prefix('/').and_then(|p| p.strip_prefix(S::NAME)) != Some("/Export") {
                let status = Status::unimplemented(format!("no method {path}: OTLP has Export"));
                return Ok(status.into_http());
            }
            // The key is checked from the metadata before a byte of the
            // message is read or decompressed.
            let key_id = match state.auth.check(request.headers(), Scope::Ingest) {
                Ok(key_id) => key_id,
                Err(e) => {
                    let error = ApiError::from(e);
                    let log = RequestLog {
                        signal: Some(S::SIGNAL),
                        ..Default::default()
                    };
                    let refused = answer(&state, log, &path, Instant::now(), Err(error));
                    return Ok(refused
                        .err()
                        .unwrap_or_else(|| Status::internal(""))
                        .into_http());
                }
            };
            let mut accepted = EnabledCompressionEncodings::default();
            accepted.enable(CompressionEncoding::Gzip);
            let mut grpc = Grpc::new(RawCodec)
                .apply_compression_config(accepted, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(MAX_DECOMPRESSED_BYTES), None);
            let unary = Unary {
                state,
                signal: S::SIGNAL,
                path,
                key_id,
            };
            Ok(too_large_is_final(grpc.unary(unary, request).await))
        })
    }
}

/// The `Export` call: the message's bytes in, the encoded response out.
struct Unary {
    state: Arc<AppState>,
    signal: Signal,
    path: String,
    /// The key that was checked.
    key_id: Option<String>,
}

impl UnaryService<Bytes> for Unary {
    type Response = Bytes;
    type Future = BoxFuture<Result<tonic::Response<Bytes>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let (state, signal, path) = (Arc::clone(&self.state), self.signal, self.path.clone());
        let key_id = self.key_id.clone();
        Box::pin(async move {
            let started = Instant::now();
            let message = request.into_inner();
            let mut log = RequestLog {
                signal: Some(signal),
                received_bytes: message.len(),
                key_id,
                ..Default::default()
            };
            let result = ingest::store(
                &state,
                signal,
                Format::Protobuf,
                ContentEncoding::Identity,
                message,
                &mut log,
            )
            .await;
            answer(&state, log, &path, started, result)
        })
    }
}

/// Logs the call (with its gRPC status) and reports its figures, and
/// answers it.
fn answer(
    state: &AppState,
    mut log: RequestLog,
    path: &str,
    started: Instant,
    result: Result<otelvault_codec::ExportResponse, ApiError>,
) -> Result<tonic::Response<Bytes>, Status> {
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let answer = result.map_err(|error| refuse(state, log.clone(), path, latency_ms, &error))?;
    if let Some(emf) = &state.emf {
        emf.request(&log, path, 200, latency_ms);
    }
    log.grpc_status = Some(code_name(Code::Ok));
    log.emit("gRPC", path, 200, latency_ms, None);
    Ok(tonic::Response::new(Bytes::from(
        answer.encode(Format::Protobuf),
    )))
}

/// Logs and reports a refused call; its status.
fn refuse(
    state: &AppState,
    mut log: RequestLog,
    path: &str,
    latency_ms: f64,
    error: &ApiError,
) -> Status {
    let http_status = error.status().as_u16();
    if let Some(emf) = &state.emf {
        emf.request(&log, path, http_status, latency_ms);
    }
    let status = status(error);
    log.grpc_status = Some(code_name(status.code()));
    log.emit(
        "gRPC",
        path,
        http_status,
        latency_ms,
        Some(&error.to_string()),
    );
    status
}

/// tonic answers a message over its size limit with `OUT_OF_RANGE`, which
/// OTLP exporters retry: a batch that can never be taken becomes
/// `RESOURCE_EXHAUSTED` without `RetryInfo`, which they drop, as HTTP
/// answers 413. No other path of ours answers `OUT_OF_RANGE`.
fn too_large_is_final(
    mut response: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    let out_of_range = (Code::OutOfRange as i32).to_string();
    let headers = response.headers_mut();
    if headers
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == out_of_range.as_bytes())
    {
        let limit = MAX_DECOMPRESSED_BYTES >> 20;
        tracing::warn!(
            limit_mib = limit,
            "Refused a gRPC message over the size limit."
        );
        headers.insert(
            "grpc-status",
            http::HeaderValue::from(Code::ResourceExhausted as i32),
        );
        headers.insert(
            "grpc-message",
            http::HeaderValue::from_str(&format!(
                "message%20larger%20than%20{limit}%20MiB%20once%20decompressed:%20send%20fewer%20items%20per%20request"
            ))
            .unwrap_or_else(|_| http::HeaderValue::from_static("message%20too%20large")),
        );
    }
    response
}

/// The specification's name of a gRPC status code.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The gRPC status of an error. A storage fault that may pass carries
/// `RetryInfo` (in `grpc-status-details-bin` and, for clients that read it
/// there, `google.rpc.retryinfo-bin`): that is what makes OTLP exporters
/// retry `RESOURCE_EXHAUSTED`, and when.
pub fn status(error: &ApiError) -> Status {
    let message = error.to_string();
    let code = match error {
        ApiError::BadRequest(_) => Code::InvalidArgument,
        ApiError::Auth(crate::auth::AuthError::Missing) => Code::Unauthenticated,
        ApiError::Auth(_) => Code::PermissionDenied,
        ApiError::PayloadTooLarge(_) => Code::ResourceExhausted,
        ApiError::Throttled(_) => Code::ResourceExhausted,
        ApiError::Unavailable(_) | ApiError::RequestTimeout(_) => Code::Unavailable,
        ApiError::NotFound(_) => Code::NotFound,
        ApiError::MethodNotAllowed(_) | ApiError::UnsupportedMediaType(_) => Code::Unimplemented,
        ApiError::StorageFailed(_) | ApiError::Internal(_) => Code::Internal,
    };
    match error {
        ApiError::Throttled(_) | ApiError::Unavailable(_) => status_with_retry(
            code,
            message,
            std::time::Duration::from_secs(u64::from(RETRY_AFTER_SECS)),
        ),
        _ => Status::new(code, message),
    }
}
