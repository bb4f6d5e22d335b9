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
//! carries `otelvault-truncated: true`. Compacted hours wholly in the range
//! answer from their indexes instead: a search from the trace summaries
//! (with one pass over the columns of conditions they cannot decide, then
//! reading the spans of the traces it answers only), tags from the tag
//! index.
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
use otelvault_archive::{SpanNeeds, SummarizedSpans, SummaryUse, Tag};
use otelvault_codec::proto::common::{AnyValue, KeyValue, any_value};
use otelvault_codec::values::{hex, string_attribute};
use otelvault_codec::view::{SpanView, first};
use otelvault_codec::{Format, Signal};
use otelvault_service::method_not_allowed;
use serde_json::{Value, json};

use otelvault_service::error::ApiError;
use otelvault_service::query::{
    DEFAULT_TRACE_WINDOW_SECS, accepted, lookup_trace, query_slot, seconds_param,
};
use otelvault_service::{AppState, RequestLog};
use traceql::{Condition, Field, Filter, SummaryTest};

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
/// Traces a search answers by default, and at most.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1000;
/// Spans shown per matching trace by default (`spss`).
const DEFAULT_SPSS: usize = 3;
/// Traces one search keeps track of from their spans; past it, new traces
/// are not counted.
const MAX_TRACES: usize = 200_000;
/// Traces one search keeps track of from summaries (a few dozen bytes
/// each); past it, new traces are not counted.
const MAX_SUMMARIZED_TRACES: usize = 2_000_000;
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
/// takes its query slot once its parameters are read). Errors are plain
/// text whatever the `Accept`, as Tempo's are: Grafana shows the body of a
/// failed request as it is.
async fn handle(
    state: Arc<AppState>,
    headers: HeaderMap,
    body: impl AsyncFnOnce(&AppState, &mut RequestLog) -> Result<Response, ApiError>,
) -> Response {
    otelvault_service::query_api(state, headers, Signal::Traces, body).await
}

/// `GET /api/echo`: what Grafana's "Save & test" calls.
async fn echo(state: Arc<AppState>, headers: HeaderMap) -> Response {
    handle(state, headers, async |_, _| {
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
    handle(state, headers, async |state, log| {
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
    bytes: usize,
    /// The range was not read to its end (time budget, or `each` asked to
    /// stop).
    truncated: bool,
}

/// What of a compacted hour's tag index answers a scan.
#[derive(Debug, Clone, Copy)]
enum FromIndex<'a> {
    /// Nothing: every span is read.
    Nothing,
    /// Every name.
    Names,
    /// The values of this name.
    Values(&'a str),
}

/// Reads every span of `[start, end)`, in no particular order, and hands
/// each to `each`; `each` returns false to stop. Spans of compacted hours
/// are read from their columns (their attributes only when `needs` says),
/// or, for hours wholly in the range, from their tag index as `index`
/// says, each row to `each_tag`.
async fn scan(
    state: &AppState,
    (start, end): (u64, u64),
    needs: SpanNeeds,
    index: FromIndex<'_>,
    log: &mut RequestLog,
    mut each: impl FnMut(&dyn SpanView) -> bool,
    each_tag: impl FnMut(&Tag<'_>) -> bool,
) -> Result<Scan, ApiError> {
    let now = otelvault_codec::now_unix_nanos();
    let time = state.page_time * 2;
    let archive = &state.archive;
    let visit = match index {
        FromIndex::Nothing => {
            archive
                .visit_spans(start, end, now, time, needs, &mut each)
                .await
        }
        FromIndex::Names | FromIndex::Values(_) => {
            let key = match index {
                FromIndex::Values(key) => Some(key),
                _ => None,
            };
            archive
                .visit_tags(start, end, now, time, needs, key, &mut each, each_tag)
                .await
        }
    }
    .inspect_err(|e| log.detail = Some(e.detail()))?;
    log.objects += visit.stats.objects;
    log.read_bytes += visit.stats.bytes_read;
    Ok(Scan {
        bytes: visit.stats.bytes_read,
        truncated: !visit.complete,
    })
}

/// What a search knows of one trace from its spans.
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

/// What a search knows of one trace from the summaries of the hours it
/// read whole: times to the microsecond, and whether a span there matches.
#[derive(Debug)]
struct Summed {
    /// The earliest start, rounded down to the microsecond.
    start: u64,
    /// The latest end, rounded down likewise.
    end: u64,
    /// A span in those hours meets the span conditions.
    matches: bool,
    root: SummedRoot,
}

/// The root spans summaries name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SummedRoot {
    None,
    /// One hour's root: service and name, as interned.
    One(u32, u32),
    /// Roots in several hours: which comes first takes the spans.
    Several,
}

/// Strings kept once, by number.
#[derive(Debug, Default)]
struct Interned {
    strings: Vec<String>,
    numbers: HashMap<String, u32>,
}

impl Interned {
    fn number(&mut self, s: &str) -> u32 {
        if let Some(n) = self.numbers.get(s) {
            return *n;
        }
        let n = u32::try_from(self.strings.len()).unwrap_or(u32::MAX);
        self.strings.push(s.to_owned());
        self.numbers.insert(s.to_owned(), n);
        n
    }

    fn get(&self, n: u32) -> &str {
        self.strings.get(n as usize).map_or("", String::as_str)
    }
}

/// A search's conditions, as applied to each span read.
struct Matcher<'a> {
    span_conditions: &'a [&'a Condition],
    tags: &'a [(String, String)],
    /// The attributes shown with a matched span.
    named: &'a [&'a Field],
    spss: usize,
}

impl Matcher<'_> {
    /// Whether `span` meets every span condition.
    fn matches(&self, span: &dyn SpanView) -> bool {
        self.span_conditions.iter().all(|c| c.matches_span(span))
            && traceql::matches_tags(self.tags, span)
    }

    /// Adds what `span` tells to its trace's `found`.
    fn add(&self, found: &mut Found, span: &dyn SpanView) {
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
        if self.matches(span) {
            found.matched += 1;
            let at = (start, span.span_id());
            let position = found
                .spans
                .partition_point(|s| (s.start, s.span_id.as_slice()) <= at);
            if position < self.spss {
                found.spans.insert(position, Shown::of(span, self.named));
                found.spans.truncate(self.spss);
            }
        }
    }
}

fn new_found() -> Found {
    Found {
        start: u64::MAX,
        ..Found::default()
    }
}

/// A trace that may be an answer, before its spans in summarized hours
/// are read: its latest possible start, and its id.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Candidate {
    latest_start: std::cmp::Reverse<u64>,
    id: Vec<u8>,
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
    handle(state, headers, async |state, log| {
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
    let matcher = Matcher {
        span_conditions: &span_conditions,
        tags: &tags,
        named: &named,
        spss,
    };
    let needs = SpanNeeds {
        attributes: !tags.is_empty()
            || span_conditions
                .iter()
                .any(|c| matches!(c.field, Field::Span(_) | Field::Any(_))),
    };
    // Hours read whole answer from their trace summaries (one row per
    // trace: start, end, root): whether a trace matches comes from them
    // when they can decide the span conditions, else from a read of the
    // columns the conditions name. The spans of the traces answered are
    // read afterwards.
    let test = if tags.is_empty() {
        SummaryTest::of(&span_conditions)
    } else {
        None
    };
    let summaries = Some(SummaryUse {
        services: matches!(test, Some(SummaryTest::Service(_))),
    });
    let mut traces: HashMap<Vec<u8>, Found> = HashMap::new();
    let mut summed: HashMap<[u8; 16], Summed> = HashMap::new();
    let mut interned = Interned::default();
    let (mut full, mut full_summed) = (false, false);
    let now = otelvault_codec::now_unix_nanos();
    let time = state.page_time * 2;
    let visit = state
        .archive
        .visit_traces(
            start,
            end,
            now,
            time,
            needs,
            summaries,
            |span| {
                let id = span.trace_id();
                // One lookup for a trace seen before, as most spans' are.
                let at_most = traces.len() >= MAX_TRACES;
                let found = match traces.get_mut(id) {
                    Some(found) => found,
                    None if at_most => {
                        full = true;
                        return true;
                    }
                    None => traces.entry(id.to_vec()).or_insert_with(new_found),
                };
                matcher.add(found, span);
                true
            },
            |id, summary| {
                let matches = match &test {
                    Some(SummaryTest::Every) => true,
                    Some(SummaryTest::Service(name)) => summary.has_service(name) == Some(true),
                    Some(SummaryTest::Error) => summary.errors > 0,
                    None => false,
                };
                let root = if summary.has_root {
                    SummedRoot::One(
                        interned.number(summary.root_service),
                        interned.number(summary.root_name),
                    )
                } else {
                    SummedRoot::None
                };
                let at_most = summed.len() >= MAX_SUMMARIZED_TRACES;
                match summed.get_mut(&id) {
                    Some(s) => {
                        s.start = s.start.min(summary.start);
                        s.end = s.end.max(summary.end);
                        s.matches |= matches;
                        s.root = match (s.root, root) {
                            (r, SummedRoot::None) | (SummedRoot::None, r) => r,
                            _ => SummedRoot::Several,
                        };
                    }
                    None if at_most => full_summed = true,
                    None => {
                        summed.insert(
                            id,
                            Summed {
                                start: summary.start,
                                end: summary.end,
                                matches,
                                root,
                            },
                        );
                    }
                }
                true
            },
        )
        .await
        .inspect_err(|e| log.detail = Some(e.detail()))?;
    let mut stats = visit.visit.stats;
    let mut truncated = !visit.visit.complete;
    let inspected_spans = visit.visit.items;
    if test.is_none() && !visit.summarized.is_empty() && !truncated {
        // Which summarized traces have a matching span: one pass in which
        // the reader tests the columns the conditions name, and decodes a
        // trace id only for a span that passes (no per-trace state beyond
        // the summaries' own).
        let test = traceql::span_test(&span_conditions, &tags);
        let read = state
            .archive
            .visit_summarized(
                &visit.summarized,
                SummarizedSpans::Passing(&test),
                time,
                needs,
                |span| {
                    if let Ok(id) = <[u8; 16]>::try_from(span.trace_id())
                        && let Some(s) = summed.get_mut(&id)
                    {
                        s.matches = true;
                    }
                    true
                },
            )
            .await
            .inspect_err(|e| log.detail = Some(e.detail()))?;
        truncated |= !add_read(&mut stats, &read);
    }
    // Whether a trace known from its spans alone is an answer.
    let answers = |f: &Found| {
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
    };
    // Every trace that may be an answer, newest first: exactly known ones
    // by their start, summarized ones by the latest their start can be.
    let mut inspected = traces.len();
    let mut candidates: Vec<Candidate> = Vec::new();
    for (id, s) in &summed {
        let found = traces.get(id.as_slice());
        if found.is_none() {
            inspected += 1;
        }
        if let Some(c) = summed_candidate(id, s, found, &interned, &trace_conditions, (min, max)) {
            candidates.push(c);
        }
    }
    for (id, f) in &traces {
        let summarized =
            <[u8; 16]>::try_from(id.as_slice()).is_ok_and(|key| summed.contains_key(&key));
        if !summarized && answers(f) {
            candidates.push(Candidate {
                latest_start: std::cmp::Reverse(f.start),
                id: id.clone(),
            });
        }
    }
    candidates.sort_unstable();
    // Newest first: the spans of summarized traces are read a few at a
    // time, until `limit` answers are known and no candidate left can
    // start later than the last of them.
    let mut hits: Vec<(Vec<u8>, u64)> = Vec::new();
    let mut next = 0;
    while next < candidates.len() {
        if hits.len() >= limit && candidates[next].latest_start.0 < hits[limit - 1].1 {
            break;
        }
        let take = limit.saturating_sub(hits.len()).max(1);
        let batch = &candidates[next..(next + take).min(candidates.len())];
        next += batch.len();
        let unread: Vec<[u8; 16]> = batch
            .iter()
            .filter_map(|c| <[u8; 16]>::try_from(c.id.as_slice()).ok())
            .filter(|id| summed.contains_key(id))
            .collect();
        if !unread.is_empty() {
            for id in &unread {
                traces.entry(id.to_vec()).or_insert_with(new_found);
                summed.remove(id);
            }
            let read = state
                .archive
                .visit_summarized(
                    &visit.summarized,
                    SummarizedSpans::Traces(&unread),
                    time,
                    needs,
                    |span| {
                        if let Some(found) = traces.get_mut(span.trace_id()) {
                            matcher.add(found, span);
                        }
                        true
                    },
                )
                .await
                .inspect_err(|e| log.detail = Some(e.detail()))?;
            truncated |= !add_read(&mut stats, &read);
        }
        for c in batch {
            if let Some(f) = traces.get(&c.id)
                && answers(f)
            {
                hits.push((c.id.clone(), f.start));
            }
        }
        // Newest first; the trace id breaks ties so answers are stable.
        hits.sort_by(|(a_id, a), (b_id, b)| b.cmp(a).then_with(|| a_id.cmp(b_id)));
    }
    hits.truncate(limit);
    log.objects += stats.objects;
    log.read_bytes += stats.bytes_read;
    log.items = hits.len();
    let traces: Vec<Value> = hits
        .into_iter()
        .filter_map(|(id, _)| traces.remove(&id).map(|f| (id, f)))
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
            "inspectedBytes": stats.bytes_read.to_string(),
            "inspectedSpans": inspected_spans.to_string(),
            "completedJobs": 1,
            "totalJobs": 1,
        },
    });
    Ok(json_response(&answer, truncated || full || full_summed))
}

/// Adds the work of a read of summarized hours to a search's; whether
/// the read was complete.
fn add_read(stats: &mut otelvault_archive::Stats, read: &otelvault_archive::Visit) -> bool {
    stats.parquet_requests += read.stats.parquet_requests;
    stats.bytes_read += read.stats.bytes_read;
    read.complete
}

/// A trace with spans in summarized hours (`s`), and maybe others
/// (`found`), as a candidate answer: unless what is known rules it out
/// (no span can match, or its duration or root cannot meet the
/// conditions), with the latest start it can have.
fn summed_candidate(
    id: &[u8; 16],
    s: &Summed,
    found: Option<&Found>,
    interned: &Interned,
    trace_conditions: &[&Condition],
    (min, max): (Option<u64>, Option<u64>),
) -> Option<Candidate> {
    let (found_start, found_end, found_matched) =
        found.map_or((u64::MAX, 0, 0), |f| (f.start, f.end, f.matched));
    if found_matched == 0 && !s.matches {
        return None;
    }
    // Summaries round times down to the microsecond.
    let starts = (
        found_start.min(s.start),
        found_start.min(s.start.saturating_add(999)),
    );
    let ends = (
        found_end.max(s.end),
        found_end.max(s.end.saturating_add(999)),
    );
    let durations = (
        ends.0.saturating_sub(starts.1),
        ends.1.saturating_sub(starts.0),
    );
    if min.is_some_and(|m| durations.1 < m) || max.is_some_and(|m| durations.0 > m) {
        return None;
    }
    // The root, when one source alone names it.
    let root = match (s.root, found.and_then(|f| f.root.as_ref())) {
        (SummedRoot::None, None) => Some((NO_ROOT, "")),
        (SummedRoot::None, Some((_, service, name))) => Some((service.as_str(), name.as_str())),
        (SummedRoot::One(service, name), None) => Some((interned.get(service), interned.get(name))),
        _ => None,
    };
    let may = trace_conditions.iter().all(|c| match (&c.field, root) {
        (Field::TraceDuration, _) if durations.0 == durations.1 => {
            c.matches_trace(durations.0, "", "")
        }
        (Field::RootName | Field::RootServiceName, Some((service, name))) => {
            c.matches_trace(0, name, service)
        }
        _ => true,
    });
    may.then(|| Candidate {
        latest_start: std::cmp::Reverse(starts.1),
        id: id.to_vec(),
    })
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
    let add = |set: &mut BTreeSet<String>, key: &str| {
        if set.len() < MAX_TAGS && !set.contains(key) {
            set.insert(key.to_owned());
        }
    };
    // From spans, and from tag indexes: put together once read.
    let (mut names, mut indexed) = (Names::default(), Names::default());
    let needs = SpanNeeds { attributes: true };
    let scan = scan(
        state,
        (start, end),
        needs,
        FromIndex::Names,
        log,
        |span| {
            for kv in span.resource() {
                add(&mut names.resource, &kv.key);
            }
            span.attribute_keys(&mut |key| add(&mut names.span, key));
            true
        },
        |tag| {
            match tag.scope {
                "resource" => add(&mut indexed.resource, tag.key),
                "span" => add(&mut indexed.span, tag.key),
                _ => {}
            }
            true
        },
    )
    .await?;
    for key in &indexed.resource {
        add(&mut names.resource, key);
    }
    for key in &indexed.span {
        add(&mut names.span, key);
    }
    Ok((names, scan))
}

/// `GET /api/v2/search/tags?scope=resource|span|intrinsic`.
async fn tags_v2(
    state: Arc<AppState>,
    params: HashMap<String, String>,
    headers: HeaderMap,
) -> Response {
    handle(state, headers, async |state, log| {
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
    handle(state, headers, async |state, log| {
        let (names, scan) = tag_names(state, &params, log).await?;
        let all: BTreeSet<&String> = names.resource.iter().chain(&names.span).collect();
        scanned(json!({"tagNames": all}), &scan)
    })
    .await
}

/// Tag values and their TraceQL types, sorted by value.
type Values = BTreeMap<String, &'static str>;

/// Adds a value to a list of tag values (a value too long to pick from a
/// list is no autocomplete).
fn add(values: &mut Values, value: &str, kind: &'static str) {
    if values.len() < MAX_TAGS && value.len() <= MAX_TAG_VALUE && !values.contains_key(value) {
        values.insert(value.to_owned(), kind);
    }
}

/// The span conditions of `q` (Grafana's query builder sends the
/// conditions already chosen), which narrow the values listed to those of
/// spans that meet them all; trace-level conditions do not narrow.
fn narrowing(params: &HashMap<String, String>) -> Result<Filter, ApiError> {
    let filter = match params.get("q").map(|q| q.trim()).filter(|q| !q.is_empty()) {
        Some(q) => traceql::parse(q)
            .map_err(|e| ApiError::BadRequest(format!("q: invalid TraceQL query: {e}")))?,
        None => Filter::default(),
    };
    Ok(Filter {
        conditions: filter
            .conditions
            .into_iter()
            .filter(|c| !c.field.is_trace_level())
            .collect(),
    })
}

/// The values a field takes over the spans in range that meet every
/// condition of `narrow`, with their TraceQL types. Durations list none;
/// `rootName` and `rootServiceName` are those of the root spans (of
/// summaries, in hours read whole), whatever `narrow` says.
async fn tag_values(
    state: &AppState,
    field: &Field,
    narrow: &Filter,
    params: &HashMap<String, String>,
    log: &mut RequestLog,
) -> Result<(Values, Scan), ApiError> {
    let (start, end) = range(params, DEFAULT_SEARCH_WINDOW_SECS)?;
    match field {
        // Any number is a duration: nothing to pick from a list.
        Field::Duration | Field::TraceDuration => return Ok((Values::new(), Scan::default())),
        Field::RootName | Field::RootServiceName => {
            let _running = query_slot(state)?;
            return root_values(state, field, (start, end), log).await;
        }
        _ => {}
    }
    let _running = query_slot(state)?;
    let add_value = |values: &mut Values, value: &AnyValue| match &value.value {
        Some(any_value::Value::StringValue(text)) => add(values, text, "string"),
        Some(other) => {
            let kind = match other {
                any_value::Value::IntValue(_) => "int",
                any_value::Value::DoubleValue(_) => "float",
                any_value::Value::BoolValue(_) => "bool",
                _ => "string",
            };
            add(
                values,
                &otelvault_codec::values::as_string(Some(value)),
                kind,
            );
        }
        None => add(values, "", "string"),
    };
    // From spans, and from tag indexes: put together once read.
    let (mut values, mut indexed) = (Values::new(), Values::new());
    let needs = SpanNeeds {
        attributes: [field]
            .into_iter()
            .chain(narrow.conditions.iter().map(|c| &c.field))
            .any(|f| matches!(f, Field::Span(_) | Field::Any(_))),
    };
    // Tag indexes list attributes' values, not intrinsics', and know
    // nothing of the spans a value is on.
    let (index, scopes): (FromIndex<'_>, &[&str]) = match field {
        _ if !narrow.conditions.is_empty() => (FromIndex::Nothing, &[]),
        Field::Resource(k) => (FromIndex::Values(k), &["resource"]),
        Field::Span(k) => (FromIndex::Values(k), &["span"]),
        Field::Any(k) => (FromIndex::Values(k), &["span", "resource"]),
        _ => (FromIndex::Nothing, &[]),
    };
    let scan = scan(
        state,
        (start, end),
        needs,
        index,
        log,
        |span| {
            if !narrow.conditions.iter().all(|c| c.matches_span(span)) {
                return true;
            }
            let resource = |key: &str| first(span.resource(), key);
            let values = &mut values;
            match field {
                Field::Resource(k) => {
                    if let Some(v) = resource(k) {
                        add_value(values, v);
                    }
                }
                Field::Span(k) => {
                    if let Some(v) = span.attribute(k) {
                        add_value(values, &v);
                    }
                }
                // Unscoped: the values of both scopes, as Tempo lists them.
                Field::Any(k) => {
                    if let Some(v) = span.attribute(k) {
                        add_value(values, &v);
                    }
                    if let Some(v) = resource(k) {
                        add_value(values, v);
                    }
                }
                Field::Name => add(values, span.name(), "string"),
                Field::StatusMessage if !span.status_message().is_empty() => {
                    add(values, span.status_message(), "string");
                }
                Field::Status => {
                    add(
                        values,
                        traceql::status_keyword(span.status_code()),
                        "keyword",
                    );
                }
                Field::Kind => add(values, traceql::kind_keyword(span.kind()), "keyword"),
                _ => {}
            }
            true
        },
        |tag| {
            if scopes.contains(&tag.scope) {
                let kind = match tag.kind {
                    "int" => "int",
                    "float" => "float",
                    "bool" => "bool",
                    _ => "string",
                };
                add(&mut indexed, tag.value, kind);
            }
            true
        },
    )
    .await?;
    for (value, kind) in indexed {
        add(&mut values, &value, kind);
    }
    Ok((values, scan))
}

/// The services or names of the root spans in range: hours read whole
/// answer from their trace summaries (one root per trace and hour).
async fn root_values(
    state: &AppState,
    field: &Field,
    (start, end): (u64, u64),
    log: &mut RequestLog,
) -> Result<(Values, Scan), ApiError> {
    let services = matches!(field, Field::RootServiceName);
    // From spans, and from summaries: put together once read.
    let (mut values, mut summed) = (Values::new(), Values::new());
    let now = otelvault_codec::now_unix_nanos();
    let visit = state
        .archive
        .visit_traces(
            start,
            end,
            now,
            state.page_time * 2,
            SpanNeeds::default(),
            Some(SummaryUse { services: false }),
            |span| {
                if span.is_root() {
                    let value = if services {
                        string_attribute(span.resource(), "service.name").unwrap_or_default()
                    } else {
                        span.name()
                    };
                    add(&mut values, value, "string");
                }
                true
            },
            |_, summary| {
                if summary.has_root {
                    let value = if services {
                        summary.root_service
                    } else {
                        summary.root_name
                    };
                    add(&mut summed, value, "string");
                }
                true
            },
        )
        .await
        .inspect_err(|e| log.detail = Some(e.detail()))?;
    for value in summed.keys() {
        add(&mut values, value, "string");
    }
    log.objects += visit.visit.stats.objects;
    log.read_bytes += visit.visit.stats.bytes_read;
    let scan = Scan {
        bytes: visit.visit.stats.bytes_read,
        truncated: !visit.visit.complete,
    };
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
    handle(state, headers, async |state, log| {
        let field = Field::parse(&name).map_err(|e| ApiError::BadRequest(format!("tag: {e}")))?;
        let narrow = narrowing(&params)?;
        let (values, scan) = tag_values(state, &field, &narrow, &params, log).await?;
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
    handle(state, headers, async |state, log| {
        let field = match name.as_str() {
            "name" => Field::Name,
            "status.code" | "status" => Field::Status,
            other => Field::Any(other.to_owned()),
        };
        let (values, scan) = tag_values(state, &field, &Filter::default(), &params, log).await?;
        let values: Vec<&String> = values.keys().collect();
        scanned(json!({"tagValues": values}), &scan)
    })
    .await
}
