//! A Tempo-compatible query API, so Grafana's Tempo data source browses
//! the archive: trace by id (`/api/v2/traces/{id}`, and the older
//! `/api/traces/{id}` the query module serves), search (`/api/search`:
//! TraceQL's equality-and-`&&` subset, Tempo's `tags`, duration bounds),
//! tag names and values (`/api/v2/search/tags`, `/api/v2/search/tag/{name}
//! /values`, and the v1 forms), and `/api/echo`. Query keys are accepted as
//! `Authorization: Bearer`, as Grafana sends them.
//!
//! Search and tags visit every span of their time range once
//! (`Archive::visit_spans`: compacted hours by column, raw objects
//! decoded), within the query time budget; an answer cut short by it
//! carries `otelvault-truncated: true`.
//!
//! The API is a set of [`routes`] the service's router takes beside its own
//! (`otelvault_service::router_with`); handlers use the service's state,
//! key checks, query slots and request log like its own handlers do.

#[cfg(test)]
mod tests;
mod traceql;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query as UrlQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use otelvault_archive::SpanNeeds;
use otelvault_codec::proto::common::{KeyValue, any_value};
use otelvault_codec::values::{hex, string_attribute};
use otelvault_codec::view::{SpanView, first};
use otelvault_codec::{Format, Signal};
use otelvault_service::method_not_allowed;
use serde_json::{Value, json};

use otelvault_service::auth::Scope;
use otelvault_service::error::ApiError;
use otelvault_service::query::{accepted, lookup_trace, query_slot, seconds_param};
use otelvault_service::{AppState, RequestLog};
use traceql::{Field, Filter};

/// Query parameters of a request.
type Params = UrlQuery<HashMap<String, String>>;

/// The Tempo API's routes, for `otelvault_service::router_with`.
pub fn routes() -> Router<Arc<AppState>> {
    type St = State<Arc<AppState>>;
    Router::new()
        .route(
            "/api/v2/traces/{trace_id}",
            get(
                |State(s): St, Path(id): Path<String>, UrlQuery(p): Params, h: HeaderMap| {
                    trace_v2(s, id, p, h)
                },
            ),
        )
        .route(
            "/api/search",
            get(|State(s): St, UrlQuery(p): Params, h: HeaderMap| search(s, p, h)),
        )
        .route(
            "/api/search/tags",
            get(|State(s): St, UrlQuery(p): Params, h: HeaderMap| tags_v1(s, p, h)),
        )
        .route(
            "/api/v2/search/tags",
            get(|State(s): St, UrlQuery(p): Params, h: HeaderMap| tags_v2(s, p, h)),
        )
        .route(
            "/api/search/tag/{name}/values",
            get(
                |State(s): St, Path(name): Path<String>, UrlQuery(p): Params, h: HeaderMap| {
                    tag_values_v1(s, name, p, h)
                },
            ),
        )
        .route(
            "/api/v2/search/tag/{name}/values",
            get(
                |State(s): St, Path(name): Path<String>, UrlQuery(p): Params, h: HeaderMap| {
                    tag_values_v2(s, name, p, h)
                },
            ),
        )
        .route("/api/echo", get(|State(s): St, h: HeaderMap| echo(s, h)))
        .method_not_allowed_fallback(method_not_allowed)
}

const NANOS: u64 = 1_000_000_000;
/// Window of a search, or of tags, without `start`/`end`: Grafana always
/// sends its time picker's range; Tempo would search only recent data.
pub const DEFAULT_SEARCH_WINDOW_SECS: u64 = 3600;
/// Window of `/api/v2/traces/{id}` without `start`/`end` (Tempo searches
/// every block; the archive's raw hours cost a read each).
pub const DEFAULT_TRACE_WINDOW_SECS: u64 = 24 * 3600;
/// Traces a search answers by default, and at most.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1000;
/// Spans shown per matching trace by default (`spss`).
const DEFAULT_SPSS: usize = 3;
/// Traces one search keeps track of; past it, new traces are not counted.
const MAX_TRACES: usize = 200_000;
/// Tag names (per scope) or values one answer lists at most.
const MAX_TAGS: usize = 1000;
/// Longest tag value listed (longer ones are left out of the list).
const MAX_TAG_VALUE: usize = 1024;
/// What Tempo calls a trace whose root span is not in the range read.
const NO_ROOT: &str = "<root span not yet received>";
/// The intrinsics Tempo lists for autocomplete.
const INTRINSICS: [&str; 8] = [
    "duration",
    "kind",
    "name",
    "rootName",
    "rootServiceName",
    "status",
    "statusMessage",
    "traceDuration",
];

/// The request's range: `start`/`end` in unix seconds (`end=0` is now),
/// else the last `default_secs` before the end.
fn range(params: &HashMap<String, String>, default_secs: u64) -> Result<(u64, u64), ApiError> {
    let now = otelvault_codec::now_unix_nanos();
    let end = seconds_param(params, "end")?
        .filter(|s| *s > 0)
        .map_or(now, |s| s.saturating_mul(NANOS));
    // An explicit start, 0 included, is the range asked for: a wide range
    // is read whole (days without data cost nothing to skip), never
    // silently narrowed to the default window.
    let start = seconds_param(params, "start")?
        .map_or(end.saturating_sub(default_secs * NANOS), |s| {
            s.saturating_mul(NANOS)
        });
    if end <= start {
        return Err(ApiError::BadRequest("end: must be after start".into()));
    }
    Ok((start, end))
}

fn count_param(
    params: &HashMap<String, String>,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(0) => Ok(default),
            Ok(n) => Ok(n.min(max)),
            Err(_) => Err(ApiError::BadRequest(format!(
                "{name}: expected a whole number, got {v:?}"
            ))),
        },
    }
}

fn duration_param(params: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    match params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => traceql::go_duration(v).map(Some).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{name}: expected a duration such as 100ms, 1.5s or 2m, got {v:?}"
            ))
        }),
    }
}

/// A trace id as Grafana may show it: up to 32 hex digits, leading zeros
/// left out.
fn parse_trace_id(text: &str) -> Result<Vec<u8>, ApiError> {
    let text = text.trim();
    if text.is_empty() || text.len() > 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::BadRequest(format!(
            "traceID: expected up to 32 hex digits, got {text:?}"
        )));
    }
    let padded = format!("{text:0>32}");
    otelvault_api::parse_trace_id("traceID", &padded).map_err(ApiError::from)
}

fn json_response(value: &Value, truncated: bool) -> Response {
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response();
    if truncated {
        response
            .headers_mut()
            .insert("otelvault-truncated", HeaderValue::from_static("true"));
    }
    response
}

/// A scan's answer, with Tempo's `metrics`; marked when it was cut short.
fn scanned(mut answer: Value, scan: &Scan) -> Result<Response, ApiError> {
    answer["metrics"]["inspectedBytes"] = json!(scan.bytes.to_string());
    Ok(json_response(&answer, scan.truncated))
}

/// A handler's frame: the request log and the key check (each handler
/// takes its query slot once its parameters are read).
async fn handle(
    state: Arc<AppState>,
    headers: HeaderMap,
    format: Format,
    body: impl AsyncFnOnce(&AppState, &mut RequestLog) -> Result<Response, ApiError>,
) -> Response {
    let mut log = RequestLog {
        signal: Some(Signal::Traces),
        ..Default::default()
    };
    match state.auth.check(&headers, Scope::Query) {
        Ok(key) => log.key_id = key,
        Err(e) => return log.attach(Err(e.into()), format),
    }
    let result = body(&state, &mut log).await;
    log.attach(result, format)
}

/// `GET /api/echo`: what Grafana's "Save & test" calls.
async fn echo(state: Arc<AppState>, headers: HeaderMap) -> Response {
    handle(state, headers, Format::Json, async |_, _| {
        Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "echo",
        )
            .into_response())
    })
    .await
}

/// `GET /api/v2/traces/{id}`: Tempo's `TraceByIDResponse`, whose `trace` is
/// the OTLP `TracesData` of the trace (protobuf with `Accept:
/// application/protobuf`, else JSON).
async fn trace_v2(
    state: Arc<AppState>,
    trace_id: String,
    params: HashMap<String, String>,
    headers: HeaderMap,
) -> Response {
    let format = accepted(&headers);
    handle(state, headers, format, async |state, log| {
        trace_v2_body(state, &trace_id, &params, format, log).await
    })
    .await
}

async fn trace_v2_body(
    state: &AppState,
    trace_id: &str,
    params: &HashMap<String, String>,
    format: Format,
    log: &mut RequestLog,
) -> Result<Response, ApiError> {
    let id = parse_trace_id(trace_id)?;
    let window = range(params, DEFAULT_TRACE_WINDOW_SECS)?;
    let _running = query_slot(state)?;
    let page = lookup_trace(state, id, window, format, log).await?;
    // PARTIAL when the trace has more spans than one answer holds, or the
    // time ran out.
    let partial = page.next.is_some();
    let message = "the trace has more spans than one answer holds, or its search ran out of time; narrow start and end";
    let mut response = match format {
        Format::Protobuf => {
            use prost::encoding::{WireType, encode_key, encode_varint};
            let trace = page.batch.encode(Format::Protobuf);
            let mut body = Vec::with_capacity(trace.len() + 16);
            encode_key(1, WireType::LengthDelimited, &mut body);
            encode_varint(trace.len() as u64, &mut body);
            body.extend_from_slice(&trace);
            if partial {
                encode_key(3, WireType::Varint, &mut body);
                encode_varint(1, &mut body);
                prost::encoding::string::encode(4, &message.to_owned(), &mut body);
            }
            (
                StatusCode::OK,
                // What Tempo answers (Grafana asks for it by this name).
                [(header::CONTENT_TYPE, "application/protobuf")],
                body,
            )
                .into_response()
        }
        Format::Json => {
            let trace: Value = serde_json::from_slice(&page.batch.encode(Format::Json))
                .map_err(|e| ApiError::Internal(format!("encoding the trace: {e}")))?;
            let mut answer =
                json!({"trace": trace, "status": if partial { "PARTIAL" } else { "COMPLETE" }});
            if partial {
                answer["message"] = json!(message);
            }
            json_response(&answer, false)
        }
    };
    if partial {
        response
            .headers_mut()
            .insert("otelvault-truncated", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// What a scan read.
#[derive(Debug, Default)]
struct Scan {
    spans: usize,
    bytes: usize,
    /// The range was not read to its end (time budget, or `each` asked to
    /// stop).
    truncated: bool,
}

/// Reads every span of `[start, end)`, in no particular order, and hands
/// each to `each`; `each` returns false to stop. Spans of compacted hours
/// are read from their columns (their attributes only when `needs` says).
async fn scan(
    state: &AppState,
    start: u64,
    end: u64,
    needs: SpanNeeds,
    log: &mut RequestLog,
    mut each: impl FnMut(&dyn SpanView) -> bool,
) -> Result<Scan, ApiError> {
    let now = otelvault_codec::now_unix_nanos();
    let visit = state
        .archive
        .visit_spans(start, end, now, state.page_time * 2, needs, &mut each)
        .await
        .inspect_err(|e| log.detail = Some(e.detail()))?;
    log.objects += visit.stats.objects;
    log.read_bytes += visit.stats.bytes_read;
    Ok(Scan {
        spans: visit.items,
        bytes: visit.stats.bytes_read,
        truncated: !visit.complete,
    })
}

/// What a search knows of one trace.
#[derive(Debug, Default)]
struct Found {
    start: u64,
    end: u64,
    /// The root span's service and name; of several roots, the first by
    /// start, service and name, so that the order spans are read in does
    /// not matter.
    root: Option<(u64, String, String)>,
    matched: usize,
    /// The first `spss` matching spans by start and span id, with what is
    /// shown of them.
    spans: Vec<Shown>,
}

fn key_value_json(kv: &KeyValue) -> Value {
    serde_json::from_str(&otelvault_codec::json::encode_key_value(kv)).unwrap_or(Value::Null)
}

/// What a spanset shows of a matched span: id, name, times, and the
/// attributes the query named, each from where it looked for it (with the
/// resource's `service.name`). Kept as read, and written as JSON only for
/// the traces answered.
#[derive(Debug)]
struct Shown {
    start: u64,
    span_id: Vec<u8>,
    name: String,
    end: u64,
    attributes: Vec<KeyValue>,
}

impl Shown {
    fn of(span: &dyn SpanView, named: &[&Field]) -> Shown {
        let service = Field::Resource("service.name".to_owned());
        let mut attributes: Vec<KeyValue> = Vec::new();
        for field in named.iter().copied().chain([&service]) {
            let Some(key) = field.attribute() else {
                continue;
            };
            let resource = || first(span.resource(), key).cloned();
            let found = match field {
                Field::Resource(_) => resource(),
                Field::Span(_) => span.attribute(key),
                _ => span.attribute(key).or_else(resource),
            };
            if let Some(value) = found
                && !attributes.iter().any(|a| a.key == key)
            {
                attributes.push(KeyValue {
                    key: key.to_owned(),
                    value: Some(value),
                    key_strindex: 0,
                });
            }
        }
        Shown {
            start: span.start(),
            span_id: span.span_id().to_vec(),
            name: span.name().to_owned(),
            end: span.end(),
            attributes,
        }
    }

    fn json(&self) -> Value {
        json!({
            "spanID": hex(&self.span_id),
            "name": self.name,
            "startTimeUnixNano": self.start.to_string(),
            "durationNanos": self.end.saturating_sub(self.start).to_string(),
            "attributes": self.attributes.iter().map(key_value_json).collect::<Vec<_>>(),
        })
    }
}

/// `GET /api/search`: traces with a span matching `q` (TraceQL) or `tags`
/// (logfmt), within `minDuration`/`maxDuration`, newest first.
async fn search(
    state: Arc<AppState>,
    params: HashMap<String, String>,
    headers: HeaderMap,
) -> Response {
    handle(state, headers, Format::Json, async |state, log| {
        search_body(state, &params, log).await
    })
    .await
}

async fn search_body(
    state: &AppState,
    params: &HashMap<String, String>,
    log: &mut RequestLog,
) -> Result<Response, ApiError> {
    let filter = match params.get("q").map(|q| q.trim()).filter(|q| !q.is_empty()) {
        Some(q) => traceql::parse(q)
            .map_err(|e| ApiError::BadRequest(format!("q: invalid TraceQL query: {e}")))?,
        None => Filter::default(),
    };
    let tags = match params.get("tags") {
        Some(t) => traceql::parse_tags(t).map_err(ApiError::BadRequest)?,
        None => Vec::new(),
    };
    let min = duration_param(params, "minDuration")?;
    let max = duration_param(params, "maxDuration")?;
    let limit = count_param(params, "limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let spss = count_param(params, "spss", DEFAULT_SPSS, 100)?;
    let (start, end) = range(params, DEFAULT_SEARCH_WINDOW_SECS)?;
    let _running = query_slot(state)?;
    let (span_conditions, trace_conditions): (Vec<_>, Vec<_>) = filter
        .conditions
        .iter()
        .partition(|c| !c.field.is_trace_level());
    // The attributes shown with a matched span, each where the query
    // looked for it.
    let tagged: Vec<Field> = tags.iter().map(|(k, _)| Field::Any(k.clone())).collect();
    let named: Vec<&Field> = filter
        .conditions
        .iter()
        .map(|c| &c.field)
        .filter(|f| f.attribute().is_some())
        .chain(&tagged)
        .collect();
    let mut traces: HashMap<Vec<u8>, Found> = HashMap::new();
    let mut full = false;
    let needs = SpanNeeds {
        attributes: !tags.is_empty()
            || span_conditions
                .iter()
                .any(|c| matches!(c.field, Field::Span(_) | Field::Any(_))),
    };
    let scan = scan(state, start, end, needs, log, |span| {
        let id = span.trace_id();
        // One lookup for a trace seen before, as most spans' are.
        let at_most = traces.len() >= MAX_TRACES;
        let found = match traces.get_mut(id) {
            Some(found) => found,
            None if at_most => {
                full = true;
                return true;
            }
            None => traces.entry(id.to_vec()).or_insert(Found {
                start: u64::MAX,
                ..Found::default()
            }),
        };
        let (start, end) = (span.start(), span.end());
        found.start = found.start.min(start);
        found.end = found.end.max(end);
        if span.is_root() {
            let service = string_attribute(span.resource(), "service.name").unwrap_or_default();
            let earlier = |r: &(u64, String, String)| {
                (start, service, span.name()) < (r.0, r.1.as_str(), r.2.as_str())
            };
            if found.root.as_ref().is_none_or(earlier) {
                found.root = Some((start, service.to_owned(), span.name().to_owned()));
            }
        }
        let matches = span_conditions.iter().all(|c| c.matches_span(span))
            && traceql::matches_tags(&tags, span);
        if matches {
            found.matched += 1;
            let at = (start, span.span_id());
            let position = found
                .spans
                .partition_point(|s| (s.start, s.span_id.as_slice()) <= at);
            if position < spss {
                found.spans.insert(position, Shown::of(span, &named));
                found.spans.truncate(spss);
            }
        }
        true
    })
    .await?;
    let inspected = traces.len();
    let mut hits: Vec<(Vec<u8>, Found)> = traces
        .into_iter()
        .filter(|(_, f)| {
            let duration = f.end.saturating_sub(f.start);
            let (root_service, root_name) = f
                .root
                .as_ref()
                .map_or((NO_ROOT, ""), |(_, s, n)| (s.as_str(), n.as_str()));
            f.matched > 0
                && min.is_none_or(|m| duration >= m)
                && max.is_none_or(|m| duration <= m)
                && trace_conditions
                    .iter()
                    .all(|c| c.matches_trace(duration, root_name, root_service))
        })
        .collect();
    // Newest first; the trace id breaks ties so answers are stable.
    hits.sort_by(|(a_id, a), (b_id, b)| b.start.cmp(&a.start).then_with(|| a_id.cmp(b_id)));
    hits.truncate(limit);
    log.items = hits.len();
    let traces: Vec<Value> = hits
        .into_iter()
        .map(|(id, f)| {
            let (root_service, root_name) = f
                .root
                .map_or_else(|| (NO_ROOT.to_owned(), String::new()), |(_, s, n)| (s, n));
            let spans: Vec<Value> = f.spans.iter().map(Shown::json).collect();
            let spanset = json!({"spans": spans, "matched": f.matched});
            json!({
                "traceID": hex(&id),
                "rootServiceName": root_service,
                "rootTraceName": root_name,
                "startTimeUnixNano": f.start.to_string(),
                "durationMs": f.end.saturating_sub(f.start) / 1_000_000,
                "spanSet": spanset,
                "spanSets": [spanset],
            })
        })
        .collect();
    let answer = json!({
        "traces": traces,
        "metrics": {
            "inspectedTraces": inspected,
            "inspectedBytes": scan.bytes.to_string(),
            "inspectedSpans": scan.spans.to_string(),
            "completedJobs": 1,
            "totalJobs": 1,
        },
    });
    Ok(json_response(&answer, scan.truncated || full))
}

/// The attribute names of the spans in range, by scope.
#[derive(Debug, Default)]
struct Names {
    resource: BTreeSet<String>,
    span: BTreeSet<String>,
}

async fn tag_names(
    state: &AppState,
    params: &HashMap<String, String>,
    log: &mut RequestLog,
) -> Result<(Names, Scan), ApiError> {
    let (start, end) = range(params, DEFAULT_SEARCH_WINDOW_SECS)?;
    let _running = query_slot(state)?;
    let mut names = Names::default();
    let needs = SpanNeeds { attributes: true };
    let scan = scan(state, start, end, needs, log, |span| {
        let add = |set: &mut BTreeSet<String>, key: &str| {
            if set.len() < MAX_TAGS && !set.contains(key) {
                set.insert(key.to_owned());
            }
        };
        for kv in span.resource() {
            add(&mut names.resource, &kv.key);
        }
        span.attribute_keys(&mut |key| add(&mut names.span, key));
        true
    })
    .await?;
    Ok((names, scan))
}

/// `GET /api/v2/search/tags?scope=resource|span|intrinsic`.
async fn tags_v2(
    state: Arc<AppState>,
    params: HashMap<String, String>,
    headers: HeaderMap,
) -> Response {
    handle(state, headers, Format::Json, async |state, log| {
        let scope = params.get("scope").map_or("all", |s| s.as_str());
        if !["all", "", "resource", "span", "intrinsic"].contains(&scope) {
            return Err(ApiError::BadRequest(format!(
                "scope: expected resource, span or intrinsic, got {scope:?}"
            )));
        }
        let (names, scan) = if scope == "intrinsic" {
            (Names::default(), Scan::default())
        } else {
            tag_names(state, &params, log).await?
        };
        let mut scopes = Vec::new();
        if matches!(scope, "all" | "" | "resource") {
            scopes.push(json!({"name": "resource", "tags": names.resource}));
        }
        if matches!(scope, "all" | "" | "span") {
            scopes.push(json!({"name": "span", "tags": names.span}));
        }
        if matches!(scope, "all" | "" | "intrinsic") {
            scopes.push(json!({"name": "intrinsic", "tags": INTRINSICS}));
        }
        scanned(json!({"scopes": scopes}), &scan)
    })
    .await
}

/// `GET /api/search/tags`: every attribute name, resource and span.
async fn tags_v1(
    state: Arc<AppState>,
    params: HashMap<String, String>,
    headers: HeaderMap,
) -> Response {
    handle(state, headers, Format::Json, async |state, log| {
        let (names, scan) = tag_names(state, &params, log).await?;
        let all: BTreeSet<&String> = names.resource.iter().chain(&names.span).collect();
        scanned(json!({"tagNames": all}), &scan)
    })
    .await
}

/// The values a field takes over the spans in range, with their TraceQL
/// types.
async fn tag_values(
    state: &AppState,
    field: &Field,
    params: &HashMap<String, String>,
    log: &mut RequestLog,
) -> Result<(BTreeMap<String, &'static str>, Scan), ApiError> {
    if matches!(
        field,
        Field::Duration | Field::TraceDuration | Field::RootName | Field::RootServiceName
    ) {
        return Err(ApiError::BadRequest(
            "tag values: durations and trace-level intrinsics have no values to list; ask for an attribute, name, status, statusMessage or kind".into(),
        ));
    }
    let (start, end) = range(params, DEFAULT_SEARCH_WINDOW_SECS)?;
    let _running = query_slot(state)?;
    let mut values: BTreeMap<String, &'static str> = BTreeMap::new();
    let needs = SpanNeeds {
        attributes: matches!(field, Field::Span(_) | Field::Any(_)),
    };
    let scan = scan(state, start, end, needs, log, |span| {
        let mut add = |value: &str, kind: &'static str| {
            // A value too long to pick from a list is no autocomplete.
            if values.len() < MAX_TAGS
                && value.len() <= MAX_TAG_VALUE
                && !values.contains_key(value)
            {
                values.insert(value.to_owned(), kind);
            }
        };
        let resource = |key: &str| first(span.resource(), key);
        let owned;
        let value = match field {
            Field::Resource(k) => resource(k),
            Field::Span(k) => {
                owned = span.attribute(k);
                owned.as_ref()
            }
            Field::Any(k) => {
                owned = span.attribute(k);
                owned.as_ref().or_else(|| resource(k))
            }
            Field::Name => {
                add(span.name(), "string");
                None
            }
            Field::StatusMessage => {
                if !span.status_message().is_empty() {
                    add(span.status_message(), "string");
                }
                None
            }
            Field::Status => {
                add(traceql::status_keyword(span.status_code()), "keyword");
                None
            }
            Field::Kind => {
                add(traceql::kind_keyword(span.kind()), "keyword");
                None
            }
            _ => None,
        };
        match value.and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(text)) => add(text, "string"),
            Some(other) => {
                let kind = match other {
                    any_value::Value::IntValue(_) => "int",
                    any_value::Value::DoubleValue(_) => "float",
                    any_value::Value::BoolValue(_) => "bool",
                    _ => "string",
                };
                add(&otelvault_codec::values::as_string(value), kind);
            }
            None if value.is_some() => add("", "string"),
            None => {}
        }
        true
    })
    .await?;
    Ok((values, scan))
}

/// `GET /api/v2/search/tag/{name}/values`: `name` is a TraceQL identifier
/// (`resource.service.name`, `span.http.method`, `.region`, `name`,
/// `status`, `kind`).
async fn tag_values_v2(
    state: Arc<AppState>,
    name: String,
    params: HashMap<String, String>,
    headers: HeaderMap,
) -> Response {
    handle(state, headers, Format::Json, async |state, log| {
        let field = Field::parse(&name).map_err(|e| ApiError::BadRequest(format!("tag: {e}")))?;
        let (values, scan) = tag_values(state, &field, &params, log).await?;
        let values: Vec<Value> = values
            .into_iter()
            .map(|(value, kind)| json!({"type": kind, "value": value}))
            .collect();
        scanned(json!({"tagValues": values}), &scan)
    })
    .await
}

/// `GET /api/search/tag/{name}/values`: `name` is an attribute name, of
/// the span or its resource.
async fn tag_values_v1(
    state: Arc<AppState>,
    name: String,
    params: HashMap<String, String>,
    headers: HeaderMap,
) -> Response {
    handle(state, headers, Format::Json, async |state, log| {
        let field = match name.as_str() {
            "name" => Field::Name,
            "status.code" | "status" => Field::Status,
            other => Field::Any(other.to_owned()),
        };
        let (values, scan) = tag_values(state, &field, &params, log).await?;
        let values: Vec<&String> = values.keys().collect();
        scanned(json!({"tagValues": values}), &scan)
    })
    .await
}
