//! OTLP/gRPC ingest: the `Export` method of the collector's trace, metrics
//! and logs services (`opentelemetry.proto.collector.*.v1`).
//!
//! tonic frames the messages and decompresses gzip; the message bytes then
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
            let mut accepted = EnabledCompressionEncodings::default();
            accepted.enable(CompressionEncoding::Gzip);
            let mut grpc = Grpc::new(RawCodec)
                .apply_compression_config(accepted, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(MAX_DECOMPRESSED_BYTES), None);
            let unary = Unary {
                state,
                signal: S::SIGNAL,
                path,
            };
            Ok(grpc.unary(unary, request).await)
        })
    }
}

/// The `Export` call: the message's bytes in, the encoded response out.
struct Unary {
    state: Arc<AppState>,
    signal: Signal,
    path: String,
}

impl UnaryService<Bytes> for Unary {
    type Response = Bytes;
    type Future = BoxFuture<Result<tonic::Response<Bytes>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let (state, signal, path) = (Arc::clone(&self.state), self.signal, self.path.clone());
        Box::pin(async move {
            let started = Instant::now();
            let (metadata, _, message) = request.into_parts();
            let headers = metadata.into_headers();
            let mut log = RequestLog {
                signal: Some(signal),
                received_bytes: message.len(),
                ..Default::default()
            };
            let result = async {
                log.key_id = state.auth.check(&headers, Scope::Ingest)?;
                ingest::store(
                    &state,
                    signal,
                    Format::Protobuf,
                    ContentEncoding::Identity,
                    message,
                    &mut log,
                )
                .await
            }
            .await;
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            if let Some(emf) = &state.emf {
                let status = result
                    .as_ref()
                    .map_or_else(|e| e.status().as_u16(), |_| 200);
                emf.request(&log, &path, status, latency_ms);
            }
            match result {
                Ok(answer) => {
                    log.emit("gRPC", &path, 200, latency_ms, None);
                    Ok(tonic::Response::new(Bytes::from(
                        answer.encode(Format::Protobuf),
                    )))
                }
                Err(error) => {
                    let text = error.to_string();
                    log.emit(
                        "gRPC",
                        &path,
                        error.status().as_u16(),
                        latency_ms,
                        Some(&text),
                    );
                    Err(status(&error))
                }
            }
        })
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
