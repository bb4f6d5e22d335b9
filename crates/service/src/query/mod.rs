//! The query API: `POST /api/{signal}/fetch` (oteleport-compatible time
//! range fetch with sealed cursors) and `GET /api/traces/{traceId}`.

pub mod cursor;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query as UrlQuery, Request};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use otelvault_api::{FetchPage, FetchRequest, parse_trace_id};
use otelvault_archive::{Budget, Query};
use otelvault_codec::{Format, Signal};

use crate::auth::Scope;
use crate::body::read_limited;
use crate::error::ApiError;
use crate::{AppState, RequestLog};

/// Largest fetch request body.
const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// A client has this long to send a fetch request.
const REQUEST_TIME: Duration = Duration::from_secs(30);
/// A page's items stop before their encoding passes this, leaving room for
/// the cursor and envelope under the 6 MB Function URL response limit.
pub const PAGE_BYTES: usize = 5 * 1024 * 1024 - 16 * 1024;
/// Binary (protobuf) responses travel base64-encoded in the Lambda response
/// payload, 4/3 of their size: their pages stop here to stay under 6 MB.
pub const PAGE_BYTES_BINARY: usize = 4 * 1024 * 1024 - 16 * 1024;

/// The page budget for a response format.
pub fn page_bytes(format: Format) -> usize {
    match format {
        Format::Json => PAGE_BYTES,
        Format::Protobuf => PAGE_BYTES_BINARY,
    }
}
/// Work one page may take before it returns with a cursor (a trace lookup
/// may take twice this).
pub const PAGE_TIME: Duration = Duration::from_secs(20);
/// Window a trace lookup searches without `start` (`GET /api/traces/{id}`
/// and Tempo's v2 route alike): the last day. Tempo would search every
/// block; each raw hour costs a listing.
pub const DEFAULT_TRACE_WINDOW_SECS: u64 = 24 * 3600;
/// Spans returned by one trace lookup at most.
const MAX_TRACE_SPANS: usize = 100_000;

/// The response format asked for with `Accept`.
pub fn accepted(headers: &HeaderMap) -> Format {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .any(|part| Format::from_media_type(part) == Some(Format::Protobuf))
        })
        .map_or(Format::Json, |pb| {
            if pb { Format::Protobuf } else { Format::Json }
        })
}

async fn read_request(headers: &HeaderMap, body: Body) -> Result<bytes::Bytes, ApiError> {
    read_limited(
        headers,
        body,
        MAX_REQUEST_BYTES,
        REQUEST_TIME,
        "a fetch request is a small JSON or protobuf document",
    )
    .await
}

/// A place among the queries running at once, or 429.
pub fn query_slot(state: &AppState) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
    state.queries.try_acquire().map_err(|_| {
        ApiError::Throttled(format!(
            "{} queries are already running on this server; retry later",
            state.query_slots
        ))
    })
}

fn respond(status: StatusCode, body: Vec<u8>, format: Format) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response
}

pub(crate) async fn fetch(state: Arc<AppState>, signal: Signal, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let format = accepted(&parts.headers);
    let mut log = RequestLog {
        signal: Some(signal),
        ..Default::default()
    };
    let result = run_fetch(&state, signal, &parts.headers, body, format, &mut log).await;
    log.attach(result, format)
}

async fn run_fetch(
    state: &AppState,
    signal: Signal,
    headers: &HeaderMap,
    body: Body,
    format: Format,
    log: &mut RequestLog,
) -> Result<Response, ApiError> {
    log.key_id = state.auth.check(headers, Scope::Query)?;
    // Taken once the body is in, so a slow upload holds no slot.
    let raw = read_request(headers, body).await?;
    let _running = query_slot(state)?;
    log.received_bytes = raw.len();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let request = match Format::from_media_type(content_type) {
        Some(Format::Protobuf) => FetchRequest::from_protobuf(signal, &raw)?,
        Some(Format::Json) => FetchRequest::from_json(signal, &raw)?,
        None => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "unsupported Content-Type {content_type:?}: send application/json or application/x-protobuf"
            )));
        }
    };
    let query = &request.query;
    let context = query.fingerprint();
    let resume = match &request.cursor {
        None => None,
        Some(c) => Some(state.sealer.open(c, &context).ok_or_else(|| {
            ApiError::BadRequest(
                "cursor: invalid for this query (altered, issued for another query or signal, sealed with another OTELVAULT_CURSOR_KEY, or more than a day old: start the query again)".into(),
            )
        })?),
    };
    let page = state
        .archive
        .read(
            query,
            resume,
            otelvault_codec::now_unix_nanos(),
            format,
            Budget {
                bytes: page_bytes(format),
                time: state.page_time,
            },
        )
        .await
        .inspect_err(|e| log.detail = Some(e.detail()))?;
    log.items = page.batch.item_count();
    log.objects = page.stats.objects;
    log.read_bytes = page.stats.bytes_read;
    let cursor = page.next.as_ref().map(|p| state.sealer.seal(p, &context));
    Ok(respond(
        StatusCode::OK,
        FetchPage::new(page, cursor).encode(format),
        format,
    ))
}

/// The spans of one trace in `[start, end)` (unix nanoseconds), within
/// twice a page's time; `404` naming the window when there are none, and
/// saying how far the search got when its time ran out.
pub async fn lookup_trace(
    state: &AppState,
    id: Vec<u8>,
    (start, end): (u64, u64),
    format: Format,
    log: &mut RequestLog,
) -> Result<otelvault_archive::Page, ApiError> {
    const NANOS: u64 = 1_000_000_000;
    if end <= start {
        return Err(ApiError::BadRequest("end: must be after start".into()));
    }
    let hex = otelvault_codec::values::hex(&id);
    let query = Query {
        start,
        end,
        trace_id: Some(id),
        limit: MAX_TRACE_SPANS,
        ..Query::new(Signal::Traces)
    };
    let page = state
        .archive
        .read(
            &query,
            None,
            otelvault_codec::now_unix_nanos(),
            format,
            Budget {
                bytes: page_bytes(format),
                time: state.page_time * 2,
            },
        )
        .await
        .inspect_err(|e| log.detail = Some(e.detail()))?;
    log.items = page.batch.item_count();
    log.objects = page.stats.objects;
    log.read_bytes = page.stats.bytes_read;
    if page.batch.is_empty() {
        let (from, to) = (start / NANOS, end / NANOS);
        return Err(ApiError::NotFound(match &page.next {
            None => format!(
                "trace {hex} not found between {from} and {to} (unix seconds; widen with ?start=&end=)"
            ),
            // The time budget ran out: say how far the search got.
            Some(stopped) => {
                let at = (stopped.unit_start / NANOS).min(to);
                format!(
                    "trace {hex} not found between {from} and {at}; the search stopped there when its time ran out, so {at} to {to} was not searched (unix seconds; search it with ?start={at}&end={to})"
                )
            }
        }));
    }
    Ok(page)
}

pub(crate) async fn trace_by_id(
    state: Arc<AppState>,
    Path(trace_id): Path<String>,
    UrlQuery(params): UrlQuery<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let format = accepted(&headers);
    let mut log = RequestLog {
        signal: Some(Signal::Traces),
        ..Default::default()
    };
    let result = run_trace_by_id(&state, &trace_id, &params, &headers, format, &mut log).await;
    // Errors in JSON whatever the `Accept`: Grafana's Tempo data source
    // asks this route for protobuf and shows a failure's body as text.
    log.attach(result, Format::Json)
}

/// A time parameter in unix seconds (`start`, `end`), as nanoseconds; the
/// error names the parameter.
pub fn seconds_param(
    params: &HashMap<String, String>,
    name: &str,
) -> Result<Option<u64>, ApiError> {
    params
        .get(name)
        .map(|v| {
            v.trim().parse::<u64>().map_err(|_| {
                ApiError::BadRequest(format!("{name}: expected unix seconds, got {v:?}"))
            })
        })
        .transpose()
}

async fn run_trace_by_id(
    state: &AppState,
    trace_id: &str,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    format: Format,
    log: &mut RequestLog,
) -> Result<Response, ApiError> {
    log.key_id = state.auth.check(headers, Scope::Query)?;
    let id = parse_trace_id("traceId", trace_id)?;
    let _running = query_slot(state)?;
    const NANOS: u64 = 1_000_000_000;
    let now = otelvault_codec::now_unix_nanos();
    // `end=0` is now, as Tempo reads it.
    let end = seconds_param(params, "end")?
        .filter(|s| *s > 0)
        .map_or(now, |s| s.saturating_mul(NANOS));
    let start = seconds_param(params, "start")?
        .map_or(end.saturating_sub(DEFAULT_TRACE_WINDOW_SECS * NANOS), |s| {
            s.saturating_mul(NANOS)
        });
    let page = lookup_trace(state, id, (start, end), format, log).await?;
    let mut response = respond(StatusCode::OK, page.batch.encode(format), format);
    if page.next.is_some() {
        // More spans than one response can hold (or the time budget ran out).
        response
            .headers_mut()
            .insert("otelvault-truncated", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// The query API: `POST /api/{signal}/fetch` and `GET /api/traces/{id}`.
pub(crate) fn routes() -> axum::Router<Arc<AppState>> {
    use axum::extract::State;
    let fetch_route = |signal: Signal| {
        axum::routing::post(move |State(state): State<Arc<AppState>>, req: Request| {
            fetch(state, signal, req)
        })
        .fallback(crate::method_not_allowed)
    };
    axum::Router::new()
        .route("/api/traces/fetch", fetch_route(Signal::Traces))
        .route("/api/metrics/fetch", fetch_route(Signal::Metrics))
        .route("/api/logs/fetch", fetch_route(Signal::Logs))
        .route(
            "/api/traces/{trace_id}",
            axum::routing::get(
                |State(state): State<Arc<AppState>>, path, params, headers| {
                    trace_by_id(state, path, params, headers)
                },
            )
            .fallback(crate::method_not_allowed),
        )
}
