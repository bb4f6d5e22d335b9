//! Reading request bodies with a size and time limit. A body over the limit
//! is refused, but what the client is still sending is read and discarded
//! first (up to a bound): a server that closes the connection mid-upload
//! leaves clients such as Python's `urllib` with a broken pipe instead of
//! the 413 and its message.

use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, header};
use http_body_util::BodyExt;

use crate::error::ApiError;

/// Read and discarded after a refusal at most; past it the connection is closed.
const DRAIN_BYTES: usize = 64 * 1024 * 1024;
/// Time given to the discarding.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Why a body was not read.
#[derive(Debug)]
enum BodyError {
    /// Over the limit (declared or as it streamed in).
    TooLarge,
    /// It did not arrive in time.
    Timeout,
    /// The connection failed.
    Read(String),
}

/// Reads `body`, at most `limit` bytes within `time`; `advice` follows the
/// 413's message (what to send instead).
pub(crate) async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    time: Duration,
    advice: &str,
) -> Result<Bytes, ApiError> {
    read(headers, body, limit, time).await.map_err(|e| match e {
        BodyError::TooLarge => {
            ApiError::PayloadTooLarge(format!("request body exceeds {limit} bytes; {advice}"))
        }
        BodyError::Timeout => ApiError::RequestTimeout(format!(
            "the request body did not arrive within {} seconds",
            time.as_secs()
        )),
        BodyError::Read(e) => ApiError::BadRequest(format!("could not read the request body: {e}")),
    })
}

async fn read(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
    time: Duration,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        drain(body).await;
        return Err(BodyError::TooLarge);
    }
    let read = async {
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| BodyError::Read(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(BodyError::TooLarge);
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf.freeze())
    };
    match tokio::time::timeout(time, read).await {
        Err(_) => Err(BodyError::Timeout),
        Ok(Err(BodyError::TooLarge)) => {
            drain(body).await;
            Err(BodyError::TooLarge)
        }
        Ok(result) => result,
    }
}

/// Reads and discards the rest of `body`, within [`DRAIN_BYTES`] and [`DRAIN_TIME`].
async fn drain(mut body: Body) {
    let discard = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                seen += data.len();
                if seen > DRAIN_BYTES {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
}
