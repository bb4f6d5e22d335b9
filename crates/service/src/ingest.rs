//! OTLP/HTTP ingest: `POST /v1/traces`, `/v1/metrics`, `/v1/logs`.
//!
//! Order of checks: key, media type, encoding, size (while streaming the
//! body), decompression (capped), decoding, id validation. Then the batch is
//! split by partition, each part encoded, hashed and compressed, and all
//! parts are written concurrently. The 200 is sent only after every write
//! succeeded; any storage failure answers 503 (429 when throttled) so the
//! client retries, and retries rewrite the same content-addressed keys.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use otelvault_codec::compression::decompress;
use otelvault_codec::{
    Batch, CodecError, Compression, ContentEncoding, Format, Response as ExportResponse, Signal,
    split_by_partition, validate_ids,
};
use otelvault_storage::{PartitionKey, PutOptions, content_id};

use crate::auth::Scope;
use crate::config::PartitionTime;
use crate::error::ApiError;
use crate::{AppState, RequestLog, WriteSettings};

/// Largest request body accepted as received (the Lambda Function URL
/// payload limit is 6 MB).
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;
/// Largest body after decompression.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;
/// A client has this long to send its body.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// Partition objects written at once for one request.
const WRITE_CONCURRENCY: usize = 16;

/// One object to write.
struct Object {
    key: String,
    body: Bytes,
}

/// A decoded request, ready to be written.
struct Prepared {
    objects: Vec<Object>,
    items: usize,
    rejected: i64,
    message: String,
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

    let write = state.write;
    let now = otelvault_codec::now_unix_nanos();
    let prepared = match tokio::task::spawn_blocking(move || {
        prepare(signal, format, encoding, &raw, write, now)
    })
    .await
    {
        Ok(prepared) => prepared?,
        Err(e) => {
            // A panic in the codec is a bug; the task boundary keeps the
            // process serving.
            log.detail = Some(format!("ingest task failed: {e}"));
            return Err(ApiError::Internal(
                "the request could not be processed".into(),
            ));
        }
    };
    log.items = prepared.items;
    log.rejected = prepared.rejected;
    log.objects = prepared.objects.len();
    log.stored_bytes = prepared.objects.iter().map(|o| o.body.len()).sum();

    let options = PutOptions {
        content_type: Some(write.format.content_type().to_owned()),
        content_encoding: match write.compression {
            Compression::None => None,
            c => Some(c.content_encoding().as_str().to_owned()),
        },
    };
    let store = &state.store;
    let options = &options;
    let written = futures::stream::iter(prepared.objects)
        .map(|o| async move { store.put(&o.key, o.body, options).await })
        .buffer_unordered(WRITE_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await;
    if let Err(e) = written {
        log.detail = Some(e.to_string());
        return Err(e.into());
    }

    let answer = ExportResponse {
        signal,
        rejected: prepared.rejected,
        message: prepared.message,
    };
    let mut response = (StatusCode::OK, answer.encode(format)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    Ok(response)
}

/// Reads the body, refusing more than [`MAX_BODY_BYTES`] as it streams in
/// (chunked bodies have no Content-Length to check up front).
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "request body exceeds {MAX_BODY_BYTES} bytes; send smaller batches"
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_BODY_BYTES).collect()).await {
        Err(_) => Err(ApiError::RequestTimeout(format!(
            "the request body did not arrive within {} seconds",
            BODY_TIMEOUT.as_secs()
        ))),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => Err(ApiError::BadRequest(format!(
            "could not read the request body: {e}"
        ))),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// Decompresses, decodes, validates, splits and encodes: all the CPU work.
fn prepare(
    signal: Signal,
    format: Format,
    encoding: ContentEncoding,
    raw: &[u8],
    write: WriteSettings,
    now: u64,
) -> Result<Prepared, ApiError> {
    let data = decompress(encoding, raw, MAX_DECOMPRESSED_BYTES).map_err(|e| match e {
        CodecError::TooLarge { .. } => ApiError::PayloadTooLarge(format!(
            "request body exceeds {MAX_DECOMPRESSED_BYTES} bytes after decompression"
        )),
        other => ApiError::BadRequest(other.to_string()),
    })?;
    let mut batch =
        Batch::decode(signal, format, &data).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    drop(data);
    let rejected = validate_ids(&mut batch);
    let items = batch.item_count();
    let parts = match write.partition_time {
        PartitionTime::Event => split_by_partition(batch, write.granularity, now),
        PartitionTime::Receive if batch.is_empty() => Vec::new(),
        PartitionTime::Receive => vec![(write.granularity.truncate(now), batch)],
    };
    let objects = parts
        .into_iter()
        .map(|(start, part)| {
            let encoded = part.encode(write.format);
            let key = PartitionKey::new(
                start,
                write.granularity,
                signal,
                content_id(&encoded),
                write.format,
                write.compression,
            );
            let body = write
                .compression
                .compress(&encoded)
                .map_err(|e| ApiError::Internal(format!("could not compress the batch: {e}")))?;
            Ok(Object {
                key: key.to_string(),
                body: Bytes::from(body),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Prepared {
        objects,
        items,
        rejected: rejected.count,
        message: rejected.message(signal.item_noun()),
    })
}
