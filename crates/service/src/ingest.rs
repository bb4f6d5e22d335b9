//! OTLP/HTTP ingest: `POST /v1/traces`, `/v1/metrics`, `/v1/logs`; and
//! [`store`], which OTLP/gRPC shares.
//!
//! Order of checks: key, media type, encoding, size (while streaming the
//! body), decompression (capped), decoding, id validation. Then the archive
//! writes the batch (split by partition, content-addressed, compressed,
//! written concurrently). The 200 is sent only after every write
//! succeeded; any storage failure answers 503 (429 when throttled) so the
//! client retries, and retries rewrite the same content-addressed keys.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use otelvault_archive::{Archive, Encoded};
use otelvault_codec::compression::decompress;
use otelvault_codec::{
    Batch, CodecError, ContentEncoding, ExportResponse, Format, Signal, validate_ids,
};

use crate::auth::Scope;
use crate::body::read_limited;
use crate::error::ApiError;
use crate::{AppState, RequestLog};

/// Largest request body accepted as received (the Lambda Function URL
/// payload limit is 6 MB).
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;
/// Largest body after decompression.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;
/// A client has this long to send its body.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// A decoded request, encoded for the archive and ready to be written.
struct Prepared {
    encoded: Encoded,
    /// The batch as the forwarder sends it, when it is forwarded.
    forward: Option<Result<Bytes, String>>,
    items: usize,
    rejected: i64,
    message: String,
    /// The batch, kept to convert to EMF once it is stored.
    emf: Option<otelvault_codec::proto::collector_metrics::ExportMetricsServiceRequest>,
}

pub(crate) async fn handle(state: Arc<AppState>, signal: Signal, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let mut log = RequestLog {
        signal: Some(signal),
        ..Default::default()
    };
    // Answer in the request's encoding when it is one we speak.
    let format = media_type(&parts.headers).ok().flatten();
    let result = ingest(&state, signal, &parts.headers, body, &mut log).await;
    log.attach(result, format.unwrap_or(Format::Json))
}

/// The request's OTLP format: `Ok(None)` when the header is missing.
fn media_type(headers: &HeaderMap) -> Result<Option<Format>, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("");
    Format::from_media_type(text).map(Some).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!(
            "unsupported Content-Type {text:?}: send application/x-protobuf or application/json"
        ))
    })
}

async fn ingest(
    state: &AppState,
    signal: Signal,
    headers: &HeaderMap,
    body: Body,
    log: &mut RequestLog,
) -> Result<Response, ApiError> {
    log.key_id = state.auth.check(headers, Scope::Ingest)?;
    let format = media_type(headers)?.ok_or_else(|| {
        ApiError::UnsupportedMediaType(
            "missing Content-Type: send application/x-protobuf or application/json".into(),
        )
    })?;
    let encoding = match headers.get(header::CONTENT_ENCODING) {
        None => ContentEncoding::Identity,
        Some(v) => {
            let text = v.to_str().unwrap_or("");
            ContentEncoding::from_header(text).ok_or_else(|| {
                ApiError::UnsupportedMediaType(format!(
                    "unsupported Content-Encoding {text:?}: send gzip, zstd, deflate or none"
                ))
            })?
        }
    };
    let raw = read_body(headers, body).await?;
    log.received_bytes = raw.len();
    let answer = store(state, signal, format, encoding, raw, log).await?;
    let mut response = (StatusCode::OK, answer.encode(format)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    Ok(response)
}

/// Decodes, validates, encodes and writes one export request: the path
/// every protocol (OTLP/HTTP, OTLP/gRPC) takes once it has the message.
/// `Ok` means the data is durably stored.
pub(crate) async fn store(
    state: &AppState,
    signal: Signal,
    format: Format,
    encoding: ContentEncoding,
    raw: Bytes,
    log: &mut RequestLog,
) -> Result<ExportResponse, ApiError> {
    let archive = state.archive.clone();
    let now = otelvault_codec::now_unix_nanos();
    let limit = state.max_request_bytes;
    let forwarder = state.forward.clone();
    let exporter = forwarder.as_ref().and_then(|f| f.exporter(signal)).cloned();
    let emf = state.emf.clone().filter(|e| e.converts());
    let keep_for_emf = emf.is_some();
    // Memory is reserved before the body is decompressed (for what it may
    // inflate to) and trued up to the decoded-size estimate before it is
    // decoded; it is held until the objects are written.
    let inflating = match encoding {
        ContentEncoding::Identity => 0,
        _ => raw
            .len()
            .saturating_mul(INFLATION)
            .min(MAX_DECOMPRESSED_BYTES),
    };
    let mut reserved = reserve_memory(state, raw.len() + inflating, None).await?;
    let received = raw.len();
    let (data, cost) = blocking(log, move || {
        let decompressed =
            decompress(encoding, &raw, MAX_DECOMPRESSED_BYTES).map_err(|e| match e {
                CodecError::TooLarge { .. } => ApiError::PayloadTooLarge(format!(
                    "request body exceeds {MAX_DECOMPRESSED_BYTES} bytes after decompression"
                )),
                other => ApiError::BadRequest(other.to_string()),
            })?;
        // An identity body is the received bytes themselves: no copy.
        let data = match decompressed {
            std::borrow::Cow::Owned(data) => Bytes::from(data),
            std::borrow::Cow::Borrowed(_) => raw.clone(),
        };
        let cost = otelvault_codec::decoded_cost(signal, format, &data, limit);
        Ok((data, cost))
    })
    .await?;
    reserved = reserve_memory(state, received + cost, Some(reserved)).await?;
    let _reserved = reserved;
    let prepared = blocking(log, move || {
        prepare(
            &archive,
            signal,
            format,
            &data,
            now,
            limit,
            exporter.as_ref(),
            keep_for_emf,
        )
    })
    .await?;
    log.items = prepared.items;
    log.rejected = prepared.rejected;
    log.objects = prepared.encoded.objects();
    log.stored_bytes = prepared.encoded.bytes();
    let put = timed(state.archive.put(prepared.encoded));
    // Archived and forwarded at once; the answer depends on the archive.
    let ((stored, storage_ms), forwarded) = match (&forwarder, prepared.forward) {
        (Some(forwarder), Some(Ok(body))) if prepared.items > 0 => {
            let (stored, (forwarded, forward_ms)) =
                tokio::join!(put, timed(forwarder.forward(signal, body)));
            log.forward_ms = Some(forward_ms);
            (stored, Some(forwarded.map(|_| ())))
        }
        (_, Some(Err(e))) => (put.await, Some(Err(e))),
        _ => (put.await, None),
    };
    log.storage_ms = Some(storage_ms);
    let report = stored.inspect_err(|e| log.detail = Some(e.detail()))?;
    if let (Some(emf), Some(batch)) = (emf, prepared.emf) {
        // Stored: CloudWatch may have it (a retried request would repeat it).
        let _ = tokio::task::spawn_blocking(move || emf.metrics(&batch)).await;
    }
    match (forwarded, &forwarder) {
        (Some(Ok(())), _) => log.forward = Some("ok".into()),
        (Some(Err(why)), Some(forwarder)) => {
            // The batch is safe: the client gets its 200, and a marker has
            // it re-sent from the archive.
            forwarder
                .failed(state.archive.store().as_ref(), signal, &report.keys, &why)
                .await;
            log.forward = Some(why);
        }
        _ => {}
    }
    Ok(ExportResponse {
        signal,
        rejected: prepared.rejected,
        message: prepared.message,
    })
}

/// A future's output and how long it took, in milliseconds.
async fn timed<T>(future: impl Future<Output = T>) -> (T, f64) {
    let started = std::time::Instant::now();
    let output = future.await;
    (output, started.elapsed().as_secs_f64() * 1000.0)
}

/// Reads the body, refusing more than [`MAX_BODY_BYTES`] as it streams in
/// (chunked bodies have no Content-Length to check up front).
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    read_limited(
        headers,
        body,
        MAX_BODY_BYTES,
        BODY_TIMEOUT,
        "send smaller batches",
    )
    .await
}

/// How long an ingest request waits for room in the memory budget before
/// it is answered 503.
const MEMORY_WAIT: Duration = Duration::from_secs(2);

/// How much larger than its compressed bytes a body is assumed to inflate
/// before it is decompressed (the reservation is trued up afterwards).
const INFLATION: usize = 64;

/// Reserves `bytes` of the ingest memory budget (rounded up to MiB, and at
/// most the whole budget, so that any request the per-request limit lets
/// through can run, alone if need be), waiting up to [`MEMORY_WAIT`]; with
/// `held`, what is already reserved is grown or shrunk to that.
async fn reserve_memory(
    state: &AppState,
    bytes: usize,
    held: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    let mib = bytes
        .div_ceil(1 << 20)
        .clamp(1, (state.ingest_memory_mib as usize).max(1));
    let busy = || {
        ApiError::Unavailable(format!(
            "the server is busy: requests in flight take its ingest memory ({} MiB); retry later",
            state.ingest_memory_mib
        ))
    };
    if let Some(mut held) = held {
        let have = held.num_permits();
        if have >= mib {
            drop(held.split(have - mib));
            return Ok(held);
        }
        let more = u32::try_from(mib - have).unwrap_or(u32::MAX);
        let permit = Arc::clone(&state.ingest_memory).acquire_many_owned(more);
        let more = tokio::time::timeout(MEMORY_WAIT, permit)
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(busy)?;
        held.merge(more);
        return Ok(held);
    }
    let all = u32::try_from(mib).unwrap_or(u32::MAX);
    let permit = Arc::clone(&state.ingest_memory).acquire_many_owned(all);
    tokio::time::timeout(MEMORY_WAIT, permit)
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(busy)
}

/// Runs CPU work on a blocking thread. A panic in the codec is a bug; the
/// task boundary keeps the process serving.
async fn blocking<T: Send + 'static>(
    log: &mut RequestLog,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => {
            log.detail = Some(format!("ingest task failed: {e}"));
            Err(ApiError::Internal(
                "the request could not be processed".into(),
            ))
        }
    }
}

/// Decodes, validates and encodes for the archive (and the forwarder): all
/// the CPU work, on one blocking thread.
#[allow(clippy::too_many_arguments)]
fn prepare(
    archive: &Archive,
    signal: Signal,
    format: Format,
    data: &[u8],
    now: u64,
    limit: usize,
    forward: Option<&otelvault_client::exporter::Exporter>,
    keep_for_emf: bool,
) -> Result<Prepared, ApiError> {
    let mut batch = Batch::decode_limited(signal, format, data, limit).map_err(|e| match e {
        CodecError::DecodedTooLarge { limit } => ApiError::PayloadTooLarge(format!(
            "the request would take more than {} MiB of memory once decoded (OTELVAULT_MAX_REQUEST_MIB): send fewer {} per request",
            limit >> 20,
            signal.item_noun()
        )),
        other => ApiError::BadRequest(other.to_string()),
    })?;
    let rejected = validate_ids(&mut batch);
    let items = batch.item_count();
    let forward = forward.map(|exporter| exporter.encode(&batch).map_err(|e| e.to_string()));
    let emf = match &batch {
        Batch::Metrics(request) if keep_for_emf && items > 0 => Some(request.clone()),
        _ => None,
    };
    let encoded = archive.encode(batch, now)?;
    Ok(Prepared {
        encoded,
        forward,
        items,
        rejected: rejected.count,
        message: rejected.message(signal.item_noun()),
        emf,
    })
}

/// OTLP/HTTP ingest: `POST /v1/{traces,metrics,logs}`.
pub(crate) fn routes() -> axum::Router<Arc<AppState>> {
    use axum::extract::State;
    let ingest = |signal: Signal| {
        axum::routing::post(move |State(state): State<Arc<AppState>>, req: Request| {
            handle(state, signal, req)
        })
        .fallback(crate::method_not_allowed)
    };
    axum::Router::new()
        .route("/v1/traces", ingest(Signal::Traces))
        .route("/v1/metrics", ingest(Signal::Metrics))
        .route("/v1/logs", ingest(Signal::Logs))
}
