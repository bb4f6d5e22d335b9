//! A Loki-compatible query API over the archive's logs, so that Grafana's
//! Loki data source reads archived logs: `query_range` (log queries, GET
//! or POST), `labels`, `label/{name}/values` and `status/buildinfo` under
//! `/loki/api/v1/`. Query keys are accepted as `Authorization: Bearer`, as
//! Grafana sends them.
//!
//! Records are labelled as Loki labels OTLP logs ([`labels`]) and decided
//! by the LogQL subset of [`logql`]. A query reads its range through the
//! archive's fetch path (raw objects and compacted hours alike, `=` on
//! `service_name` narrowing what is read), so the lines returned for a
//! range are the records the fetch API returns for it; within the query
//! time budget, an answer cut short carries `otelvault-truncated: true`.

pub mod labels;
pub mod logql;

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Form, Path, Query as UrlQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, header};
use otelvault_archive::{Budget, Fields, Query};
use otelvault_codec::proto::common::{InstrumentationScope, KeyValue};
use otelvault_codec::proto::logs::LogRecord;
use otelvault_codec::{Batch, Format, Signal};
use otelvault_service::error::ApiError;
use otelvault_service::query::query_slot;
use otelvault_service::{AppState, RequestLog};
use serde::ser::{Serialize, SerializeMap as _, SerializeSeq as _, Serializer};
use serde_json::{Value, json};

use logql::{Expr, LogQuery, MetricQuery, RangeFunction};

type Params = HashMap<String, String>;

const NANOS: u64 = 1_000_000_000;
/// Lines returned when `limit` is not given, as in Loki.
const DEFAULT_LIMIT: usize = 100;
/// Loki's default `max_entries_limit_per_query`.
const MAX_LIMIT: usize = 5000;
/// Records a page of the archive's read holds.
const PAGE_ITEMS: usize = 20_000;
/// The header with which Grafana asks for structured metadata apart.
const ENCODING_FLAGS: &str = "x-loki-response-encoding-flags";

/// The Loki API's routes, for `otelvault_service::router_with`.
pub fn routes() -> Router<Arc<AppState>> {
    type St = State<Arc<AppState>>;
    Router::new()
        .route(
            "/loki/api/v1/query_range",
            get(|State(s): St, UrlQuery(p): UrlQuery<Params>, h: HeaderMap| query_range(s, p, h))
                .post(|State(s): St, h: HeaderMap, Form(p): Form<Params>| query_range(s, p, h)),
        )
        .route(
            "/loki/api/v1/query",
            get(|State(s): St, UrlQuery(p): UrlQuery<Params>, h: HeaderMap| instant(s, p, h))
                .post(|State(s): St, h: HeaderMap, Form(p): Form<Params>| instant(s, p, h)),
        )
        .route(
            "/loki/api/v1/labels",
            get(
                |State(s): St, UrlQuery(p): UrlQuery<Params>, h: HeaderMap| {
                    label_names(s, p, h, None)
                },
            ),
        )
        .route(
            "/loki/api/v1/label/{name}/values",
            get(
                |State(s): St,
                 Path(name): Path<String>,
                 UrlQuery(p): UrlQuery<Params>,
                 h: HeaderMap| { label_names(s, p, h, Some(name)) },
            ),
        )
        .route(
            "/loki/api/v1/series",
            get(|State(s): St, UrlQuery(p): UrlQuery<Params>, h: HeaderMap| series(s, p, h))
                .post(|State(s): St, h: HeaderMap, Form(p): Form<Params>| series(s, p, h)),
        )
        .route(
            "/loki/api/v1/index/stats",
            get(|State(s): St, UrlQuery(p): UrlQuery<Params>, h: HeaderMap| index_stats(s, p, h)),
        )
        .route(
            "/loki/api/v1/index/volume",
            get(|State(s): St, UrlQuery(p): UrlQuery<Params>, h: HeaderMap| volume(s, p, h, false)),
        )
        .route(
            "/loki/api/v1/index/volume_range",
            get(|State(s): St, UrlQuery(p): UrlQuery<Params>, h: HeaderMap| volume(s, p, h, true)),
        )
        .route(
            "/loki/api/v1/status/buildinfo",
            get(|State(s): St, h: HeaderMap| buildinfo(s, h)),
        )
}

/// Checks the query key and logs the request; errors are plain text, as
/// Grafana shows Loki's.
async fn handle(
    state: Arc<AppState>,
    headers: HeaderMap,
    body: impl AsyncFnOnce(&AppState, &mut RequestLog) -> Result<Response, ApiError>,
) -> Response {
    otelvault_service::query_api(state, headers, Signal::Logs, body).await
}

/// `GET /loki/api/v1/status/buildinfo`: what Grafana reads to learn the
/// features of the server.
async fn buildinfo(state: Arc<AppState>, headers: HeaderMap) -> Response {
    handle(state, headers, async |_, _| {
        Ok(json_response(&json!({
            "version": "3.0.0",
            "revision": concat!("otelvault-", env!("CARGO_PKG_VERSION")),
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        })))
    })
    .await
}

/// A time parameter as Loki reads it: unix nanoseconds, unix seconds (ten
/// digits or fewer, or with a fraction), or RFC 3339.
fn time_param(params: &Params, name: &str) -> Result<Option<u64>, ApiError> {
    let Some(value) = params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::BadRequest(format!(
            "{name}: expected unix nanoseconds, unix seconds or an RFC 3339 time, got {value:?}"
        ))
    };
    if value.contains(['T', 't']) {
        return otelvault_codec::partition::parse_rfc3339(value)
            .map(Some)
            .ok_or_else(bad);
    }
    if value.contains('.') {
        let seconds: f64 = value.parse().map_err(|_| bad())?;
        if !(0.0..1e11).contains(&seconds) {
            return Err(bad());
        }
        return Ok(Some((seconds * 1e9) as u64));
    }
    let n: u64 = value.parse().map_err(|_| bad())?;
    Ok(Some(if value.len() <= 10 {
        n.saturating_mul(NANOS)
    } else {
        n
    }))
}

/// `[start, end)` from `start`, `end` and `since` (the range before `end`
/// when there is no `start`; an hour when neither is given), as Loki.
fn range(params: &Params) -> Result<(u64, u64), ApiError> {
    let end = time_param(params, "end")?.unwrap_or_else(otelvault_codec::now_unix_nanos);
    let since = match params
        .get("since")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        None => 3600 * NANOS,
        Some(v) => logql::duration(v).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "since: expected a duration such as 15m or 1h, got {v:?}"
            ))
        })?,
    };
    let start = time_param(params, "start")?.unwrap_or(end.saturating_sub(since));
    // Loki's end is inclusive; the archive's is not.
    let end = end.saturating_add(1);
    if end <= start {
        return Err(ApiError::BadRequest("end: must not be before start".into()));
    }
    Ok((start, end))
}

fn query_text(params: &Params) -> Result<&str, ApiError> {
    params
        .get("query")
        .map(|q| q.trim())
        .filter(|q| !q.is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest(
                "query: missing (a LogQL query such as {service_name=\"cart\"} |= \"error\")"
                    .into(),
            )
        })
}

fn parse_query(params: &Params) -> Result<LogQuery, ApiError> {
    logql::parse(query_text(params)?).map_err(|e| ApiError::BadRequest(format!("query: {e}")))
}

fn parse_expr(params: &Params) -> Result<Expr, ApiError> {
    logql::parse_expr(query_text(params)?).map_err(|e| ApiError::BadRequest(format!("query: {e}")))
}

/// Newest first (`backward`, the default) or oldest first (`forward`).
fn backward(params: &Params) -> Result<bool, ApiError> {
    match params
        .get("direction")
        .map(|d| d.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("" | "backward") => Ok(true),
        Some("forward") => Ok(false),
        Some(other) => Err(ApiError::BadRequest(format!(
            "direction: expected forward or backward, got {other:?}"
        ))),
    }
}

fn limit(params: &Params) -> Result<usize, ApiError> {
    match params
        .get("limit")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => match v.parse::<usize>() {
            Ok(0) => Ok(DEFAULT_LIMIT),
            Ok(n) if n <= MAX_LIMIT => Ok(n),
            Ok(n) => Err(ApiError::BadRequest(format!(
                "limit: {n} is more than the {MAX_LIMIT} lines a query returns at most"
            ))),
            Err(_) => Err(ApiError::BadRequest(format!(
                "limit: expected a whole number, got {v:?}"
            ))),
        },
    }
}

/// A matching record.
struct Entry {
    time: u64,
    /// The order it was read in, for ties.
    seq: u64,
    stream: Arc<BTreeMap<String, String>>,
    metadata: BTreeMap<String, String>,
    line: String,
}

/// What a pass over a range found.
#[derive(Default)]
struct Scan {
    entries: Vec<Entry>,
    lines: u64,
    bytes: u64,
    truncated: bool,
}

/// A record a query selected, as a pass hands it on: its stream labels,
/// time and line, and its other labels worked out only when asked for.
struct Found<'a> {
    stream: &'a Arc<BTreeMap<String, String>>,
    resource: &'a [KeyValue],
    scope: Option<&'a InstrumentationScope>,
    record: &'a LogRecord,
    metadata: OnceCell<BTreeMap<String, String>>,
    time: u64,
    line: Cow<'a, str>,
}

impl<'a> Found<'a> {
    fn new(
        stream: &'a Arc<BTreeMap<String, String>>,
        resource: &'a [KeyValue],
        scope: Option<&'a InstrumentationScope>,
        record: &'a LogRecord,
    ) -> Self {
        Found {
            stream,
            resource,
            scope,
            record,
            metadata: OnceCell::new(),
            time: labels::time(record),
            line: labels::line(record),
        }
    }

    /// Its structured metadata, `detected_level` included.
    fn metadata(&self) -> &BTreeMap<String, String> {
        self.metadata
            .get_or_init(|| metadata_of(self.resource, self.scope, self.record))
    }

    fn into_metadata(self) -> BTreeMap<String, String> {
        let (resource, scope, record) = (self.resource, self.scope, self.record);
        self.metadata
            .into_inner()
            .unwrap_or_else(|| metadata_of(resource, scope, record))
    }

    /// The value of one of its labels: a stream label, `detected_level`
    /// (without building the rest), or structured metadata.
    fn label(&self, name: &str) -> Option<&str> {
        match self.stream.get(name) {
            Some(value) => Some(value),
            None if name == "detected_level" => Some(labels::detected_level(self.record)),
            None => self.metadata().get(name).map(String::as_str),
        }
    }
}

/// A record's structured metadata, with `detected_level`.
fn metadata_of(
    resource: &[KeyValue],
    scope: Option<&InstrumentationScope>,
    record: &LogRecord,
) -> BTreeMap<String, String> {
    let mut metadata = labels::structured_metadata(resource, scope, record);
    metadata.insert(
        "detected_level".to_owned(),
        labels::detected_level(record).to_owned(),
    );
    metadata
}

/// What a pass must read of each record when it looks at the labels of
/// `query` and `more` (and at stream labels, times and lines): records
/// read as lines ([`Fields::LogLines`]) when those labels are all known
/// from one, else whole.
fn fields_for<'a>(query: Option<&'a LogQuery>, more: impl IntoIterator<Item = &'a str>) -> Fields {
    let mut names = query
        .into_iter()
        .flat_map(LogQuery::label_names)
        .chain(more);
    match names.all(labels::known_from_line) {
        true => Fields::LogLines,
        false => Fields::Whole,
    }
}

/// Reads `[start, end)` of the logs once, within twice a page's time,
/// handing every record that `query` selects (all of them without one) to
/// `found`; returns the records read, their lines' bytes, and whether the
/// time ran out first. With [`Fields::LogLines`], the records found have
/// their stream labels, times, lines and `detected_level` only: no
/// structured metadata.
async fn visit(
    state: &AppState,
    query: Option<&LogQuery>,
    (start, end): (u64, u64),
    fields: Fields,
    log: &mut RequestLog,
    mut found: impl FnMut(Found<'_>),
) -> Result<(u64, u64, bool), ApiError> {
    let started = Instant::now();
    let time = state.page_time * 2;
    let read = Query {
        start,
        end,
        limit: PAGE_ITEMS,
        service_name: query
            .and_then(|q| q.selected("service_name"))
            .filter(|s| *s != "unknown_service")
            .map(str::to_owned),
        // Positive line filters are exact on the body as text, so the
        // archive tests them on the `Body` column before decoding a row.
        body_contains: query.map_or_else(Vec::new, LogQuery::required_texts),
        fields,
        ..Query::new(Signal::Logs)
    };
    let (mut lines, mut bytes) = (0u64, 0u64);
    let mut resume = None;
    loop {
        let left = time.saturating_sub(started.elapsed());
        let page = state
            .archive
            .read(
                &read,
                resume,
                otelvault_codec::now_unix_nanos(),
                Format::Json,
                Budget {
                    bytes: usize::MAX,
                    time: left,
                },
            )
            .await
            .inspect_err(|e| log.detail = Some(e.detail()))?;
        log.objects += page.stats.objects;
        log.read_bytes += page.stats.bytes_read;
        if let Batch::Logs(request) = &page.batch {
            for resource_logs in &request.resource_logs {
                let resource = resource_logs
                    .resource
                    .as_ref()
                    .map_or(&[][..], |r| &r.attributes);
                let stream = Arc::new(labels::stream_labels(resource));
                for scope_logs in &resource_logs.scope_logs {
                    for record in &scope_logs.log_records {
                        let record =
                            Found::new(&stream, resource, scope_logs.scope.as_ref(), record);
                        lines += 1;
                        bytes += record.line.len() as u64;
                        // Most records fail the selector or a line filter
                        // on stream labels and the line alone.
                        if query.is_none_or(|q| q.passes(|name| record.label(name), &record.line)) {
                            found(record);
                        }
                    }
                }
            }
        }
        match page.next {
            None => return Ok((lines, bytes, false)),
            Some(_) if started.elapsed() >= time => return Ok((lines, bytes, true)),
            next => resume = next,
        }
    }
}

/// The `limit` entries of `[start, end)` that `query` selects, newest or
/// oldest first.
async fn scan(
    state: &AppState,
    query: &LogQuery,
    range: (u64, u64),
    backward: bool,
    limit: usize,
    log: &mut RequestLog,
) -> Result<Scan, ApiError> {
    let mut entries: Vec<Entry> = Vec::new();
    let order = |entries: &mut Vec<Entry>| {
        if backward {
            entries.sort_by(|a, b| b.time.cmp(&a.time).then(a.seq.cmp(&b.seq)));
        } else {
            entries.sort_by(|a, b| a.time.cmp(&b.time).then(a.seq.cmp(&b.seq)));
        }
        entries.truncate(limit);
    };
    let mut seq = 0;
    let (lines, bytes, truncated) = visit(state, Some(query), range, Fields::Whole, log, |found| {
        seq += 1;
        entries.push(Entry {
            time: found.time,
            seq,
            stream: Arc::clone(found.stream),
            line: found.line.clone().into_owned(),
            metadata: found.into_metadata(),
        });
        // Only the `limit` first in the answer's order are kept.
        if entries.len() >= limit.saturating_mul(2).max(1024) {
            order(&mut entries);
        }
    })
    .await?;
    order(&mut entries);
    log.items = entries.len();
    Ok(Scan {
        entries,
        lines,
        bytes,
        truncated,
    })
}

/// Loki's `stats` of an answer: its summary.
fn stats(scan: &Scan, started: Instant) -> Value {
    let seconds = started.elapsed().as_secs_f64();
    let per_second = |n: u64| {
        if seconds > 0.0 {
            (n as f64 / seconds) as u64
        } else {
            0
        }
    };
    json!({
        "summary": {
            "bytesProcessedPerSecond": per_second(scan.bytes),
            "linesProcessedPerSecond": per_second(scan.lines),
            "totalBytesProcessed": scan.bytes,
            "totalLinesProcessed": scan.lines,
            "execTime": seconds,
            "totalEntriesReturned": scan.entries.len(),
        }
    })
}

fn json_response(value: &impl Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => ApiError::Internal(format!("writing the answer failed: {e}")).into_response(),
    }
}

/// Loki's envelope: `{"status": "success", "data": …}`.
fn answer(data: impl Serialize, truncated: bool) -> Response {
    struct Success<T>(T);
    impl<T: Serialize> Serialize for Success<T> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(2))?;
            map.serialize_entry("status", "success")?;
            map.serialize_entry("data", &self.0)?;
            map.end()
        }
    }
    let mut response = json_response(&Success(data));
    if truncated {
        response
            .headers_mut()
            .insert("otelvault-truncated", HeaderValue::from_static("true"));
    }
    response
}

/// `/loki/api/v1/query_range`: a log query's lines as `streams`, a metric
/// query's series as a `matrix`.
async fn query_range(state: Arc<AppState>, params: Params, headers: HeaderMap) -> Response {
    let categorize = headers
        .get(ENCODING_FLAGS)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|f| f.trim() == "categorize-labels"));
    handle(state, headers, async |state, log| {
        let started = Instant::now();
        let expr = parse_expr(&params)?;
        let range = range(&params)?;
        match expr {
            Expr::Log(query) => {
                let (backward, limit) = (backward(&params)?, limit(&params)?);
                let _running = query_slot(state)?;
                let scan = scan(state, &query, range, backward, limit, log).await?;
                Ok(answer(
                    streams(&scan, categorize, stats(&scan, started)),
                    scan.truncated,
                ))
            }
            Expr::Metric(metric) => {
                let step = step(&params, range)?;
                let _running = query_slot(state)?;
                let (start, end) = (range.0, range.1 - 1);
                let steps: Vec<u64> = (0..)
                    .map(|i: u64| start + i * step)
                    .take_while(|t| *t <= end)
                    .collect();
                let (series, scan) = evaluate(state, &metric, &steps, log).await?;
                let result: Vec<Value> = series
                    .into_iter()
                    .map(|(labels, points)| {
                        let values: Vec<Value> = points
                            .into_iter()
                            .map(|(t, v)| json!([seconds(t), number(v)]))
                            .collect();
                        json!({ "metric": labels, "values": values })
                    })
                    .collect();
                Ok(answer(
                    json!({ "resultType": "matrix", "result": result, "stats": stats(&scan, started) }),
                    scan.truncated,
                ))
            }
            Expr::Constant(value) => {
                let (start, end) = (range.0, range.1 - 1);
                let step = step(&params, range)?;
                let values: Vec<Value> = (0..)
                    .map(|i: u64| start + i * step)
                    .take_while(|t| *t <= end)
                    .map(|t| json!([seconds(t), number(value)]))
                    .collect();
                Ok(answer(
                    json!({ "resultType": "matrix", "result": [{ "metric": {}, "values": values }] }),
                    false,
                ))
            }
        }
    })
    .await
}

/// `/loki/api/v1/query`: a metric query (or a constant, as Grafana's
/// "Save & test" sends) at one time, as a `vector`.
async fn instant(state: Arc<AppState>, params: Params, headers: HeaderMap) -> Response {
    handle(state, headers, async |state, log| {
        let started = Instant::now();
        let expr = parse_expr(&params)?;
        let time = time_param(&params, "time")?.unwrap_or_else(otelvault_codec::now_unix_nanos);
        match expr {
            Expr::Log(_) => Err(ApiError::BadRequest(
                "query: a log query cannot be an instant query; use query_range, or count its lines with count_over_time".into(),
            )),
            Expr::Constant(value) => Ok(answer(
                json!({ "resultType": "vector", "result": [{ "metric": {}, "value": [seconds(time), number(value)] }] }),
                false,
            )),
            Expr::Metric(metric) => {
                let _running = query_slot(state)?;
                let (series, scan) = evaluate(state, &metric, &[time], log).await?;
                let result: Vec<Value> = series
                    .into_iter()
                    .filter_map(|(labels, points)| {
                        let (t, v) = points.into_iter().next()?;
                        Some(json!({ "metric": labels, "value": [seconds(t), number(v)] }))
                    })
                    .collect();
                Ok(answer(
                    json!({ "resultType": "vector", "result": result, "stats": stats(&scan, started) }),
                    scan.truncated,
                ))
            }
        }
    })
    .await
}

/// Unix seconds, as Loki writes a sample's time.
fn seconds(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}

/// A sample's value, as Loki writes it: a string.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        value.to_string()
    }
}

/// Labels, by name.
type LabelSet = BTreeMap<String, String>;

/// A series: its labels, and its points (unix nanoseconds, value).
type Series = (BTreeMap<String, String>, Vec<(u64, f64)>);

/// Points a series may have at most, as Loki.
const MAX_POINTS: u64 = 11_000;

/// The step of a range query: `step` (a duration, or seconds), else
/// Loki's default, the range over 250 points (a second at least).
fn step(params: &Params, (start, end): (u64, u64)) -> Result<u64, ApiError> {
    let step = match params
        .get("step")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        None => ((end - start) / 250 / NANOS).max(1) * NANOS,
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|s| *s > 0.0 && s.is_finite())
            .map(|s| (s * 1e9) as u64)
            .or_else(|| logql::duration(v))
            .filter(|s| *s > 0)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "step: expected a duration such as 30s or a number of seconds, got {v:?}"
                ))
            })?,
    };
    if (end - start) / step > MAX_POINTS {
        return Err(ApiError::BadRequest(format!(
            "step: {} points of a series is more than the {MAX_POINTS} a query returns; use a longer step or a shorter range",
            (end - start) / step
        )));
    }
    Ok(step)
}

/// A metric query's series at each of `steps` (unix nanoseconds): for each
/// series (labels), its points (time, value), where its window holds lines.
async fn evaluate(
    state: &AppState,
    metric: &MetricQuery,
    steps: &[u64],
    log: &mut RequestLog,
) -> Result<(Vec<Series>, Scan), ApiError> {
    let (Some(first), Some(last)) = (steps.first(), steps.last()) else {
        return Ok((Vec::new(), Scan::default()));
    };
    // Windows are (t - range, t]: the read covers the first one's start to
    // the last step.
    let read = (
        first.saturating_sub(metric.range).saturating_add(1),
        last.saturating_add(1),
    );
    // Lines of each series: (time, bytes). With an aggregation that sums,
    // series are grouped as they are read.
    let grouped_early = metric
        .aggregation
        .as_ref()
        .is_some_and(|a| a.op == logql::AggregateOp::Sum);
    let mut ids: HashMap<BTreeMap<String, String>, usize> = HashMap::new();
    let mut lines: Vec<Vec<(u64, u64)>> = Vec::new();
    // Grouped by labels known from a line, records are read as lines.
    let fields = match metric.aggregation.as_ref() {
        Some(aggregation) if grouped_early && aggregation.by => fields_for(
            Some(&metric.query),
            aggregation.labels.iter().map(String::as_str),
        ),
        _ => Fields::Whole,
    };
    let (seen, bytes, truncated) = visit(state, Some(&metric.query), read, fields, log, |found| {
        let labels = match metric.aggregation.as_ref().filter(|_| grouped_early) {
            // The labels kept, looked up alone.
            Some(aggregation) if aggregation.by => aggregation
                .labels
                .iter()
                .filter_map(|name| Some((name.clone(), found.label(name)?.to_owned())))
                .collect(),
            grouped => {
                let mut labels = (**found.stream).clone();
                labels.extend(found.metadata().clone());
                match grouped {
                    Some(aggregation) => group(aggregation, &labels),
                    None => labels,
                }
            }
        };
        let next = ids.len();
        let id = *ids.entry(labels).or_insert(next);
        if id == lines.len() {
            lines.push(Vec::new());
        }
        lines[id].push((found.time, found.line.len() as u64));
    })
    .await?;
    let window_seconds = metric.range as f64 / 1e9;
    let mut series: Vec<Series> = Vec::with_capacity(ids.len());
    let mut by_id: Vec<(BTreeMap<String, String>, usize)> = ids.into_iter().collect();
    by_id.sort_by_key(|(_, id)| *id);
    for (labels, id) in by_id {
        let mut times = std::mem::take(&mut lines[id]);
        times.sort_unstable();
        // Prefix sums of bytes, for each window's total.
        let mut prefix = Vec::with_capacity(times.len() + 1);
        prefix.push(0u64);
        for (_, b) in &times {
            prefix.push(prefix.last().copied().unwrap_or(0) + b);
        }
        let mut points = Vec::new();
        for &t in steps {
            let from = times.partition_point(|(time, _)| *time <= t.saturating_sub(metric.range));
            let to = times.partition_point(|(time, _)| *time <= t);
            if to <= from {
                continue;
            }
            let (count, size) = ((to - from) as f64, (prefix[to] - prefix[from]) as f64);
            points.push((
                t,
                match metric.function {
                    RangeFunction::CountOverTime => count,
                    RangeFunction::Rate => count / window_seconds,
                    RangeFunction::BytesOverTime => size,
                    RangeFunction::BytesRate => size / window_seconds,
                },
            ));
        }
        if !points.is_empty() {
            series.push((labels, points));
        }
    }
    if let Some(aggregation) = metric.aggregation.as_ref().filter(|_| !grouped_early) {
        series = aggregate(aggregation, series, steps);
    }
    series.sort_by(|a, b| a.0.cmp(&b.0));
    log.items = series.len();
    Ok((
        series,
        Scan {
            entries: Vec::new(),
            lines: seen,
            bytes,
            truncated,
        },
    ))
}

/// The labels a series keeps in its group.
fn group(
    aggregation: &logql::Aggregation,
    labels: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter(|(k, _)| aggregation.labels.contains(k) == aggregation.by)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Series combined by their group, step by step.
fn aggregate(aggregation: &logql::Aggregation, series: Vec<Series>, steps: &[u64]) -> Vec<Series> {
    let mut groups: BTreeMap<BTreeMap<String, String>, BTreeMap<u64, Vec<f64>>> = BTreeMap::new();
    for (labels, points) in series {
        let at = groups.entry(group(aggregation, &labels)).or_default();
        for (t, v) in points {
            at.entry(t).or_default().push(v);
        }
    }
    groups
        .into_iter()
        .map(|(labels, by_step)| {
            let points = steps
                .iter()
                .filter_map(|t| {
                    by_step
                        .get(t)
                        .map(|values| (*t, aggregation.op.apply(values)))
                })
                .collect();
            (labels, points)
        })
        .collect()
}

/// The `streams` answer: entries grouped by their labels (stream labels
/// and structured metadata together, or apart when Grafana asks for
/// categorized labels), in the answer's order within each. It is written
/// straight from the entries, without a JSON tree of its own.
struct StreamsAnswer<'a> {
    streams: Vec<(Cow<'a, LabelSet>, Vec<&'a Entry>)>,
    categorize: bool,
    stats: Value,
}

fn streams(scan: &Scan, categorize: bool, stats: Value) -> StreamsAnswer<'_> {
    let mut streams: Vec<(Cow<'_, LabelSet>, Vec<&Entry>)> = Vec::new();
    let mut by_labels: HashMap<Cow<'_, LabelSet>, usize> = HashMap::new();
    for entry in &scan.entries {
        let labels = if categorize {
            Cow::Borrowed(&*entry.stream)
        } else {
            let mut labels = (*entry.stream).clone();
            labels.extend(entry.metadata.clone());
            Cow::Owned(labels)
        };
        let at = *by_labels.entry(labels.clone()).or_insert_with(|| {
            streams.push((labels, Vec::new()));
            streams.len() - 1
        });
        streams[at].1.push(entry);
    }
    StreamsAnswer {
        streams,
        categorize,
        stats,
    }
}

impl Serialize for StreamsAnswer<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Values<'a>(&'a [&'a Entry], bool);
        impl Serialize for Values<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.iter().map(|entry| EntryJson(entry, self.1)))
            }
        }
        struct Stream<'a>(&'a BTreeMap<String, String>, Values<'a>);
        impl Serialize for Stream<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("stream", self.0)?;
                map.serialize_entry("values", &self.1)?;
                map.end()
            }
        }
        struct StreamList<'a>(&'a StreamsAnswer<'a>);
        impl Serialize for StreamList<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(
                    self.0.streams.iter().map(|(labels, entries)| {
                        Stream(labels, Values(entries, self.0.categorize))
                    }),
                )
            }
        }
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("resultType", "streams")?;
        map.serialize_entry("result", &StreamList(self))?;
        map.serialize_entry("stats", &self.stats)?;
        if self.categorize {
            map.serialize_entry("encodingFlags", &["categorize-labels"])?;
        }
        map.end()
    }
}

/// An entry as Loki writes it: `["<unix ns>", "<line>"]`, and
/// `{"structuredMetadata": {…}}` third when labels are categorized.
struct EntryJson<'a>(&'a Entry, bool);

impl Serialize for EntryJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Categorized<'a>(&'a BTreeMap<String, String>);
        impl Serialize for Categorized<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("structuredMetadata", self.0)?;
                map.end()
            }
        }
        let EntryJson(entry, categorize) = *self;
        let metadata = categorize && !entry.metadata.is_empty();
        let mut seq = serializer.serialize_seq(Some(2 + usize::from(metadata)))?;
        seq.serialize_element(&entry.time.to_string())?;
        seq.serialize_element(&entry.line)?;
        if metadata {
            seq.serialize_element(&Categorized(&entry.metadata))?;
        }
        seq.end()
    }
}

/// The distinct stream label sets of the records `query` selects (all
/// of them without one) in `range`, and the lines and bytes selected;
/// whether the time ran out first.
struct Streams {
    streams: BTreeSet<BTreeMap<String, String>>,
    entries: u64,
    bytes: u64,
    truncated: bool,
}

/// One pass over `range` for [`Streams`]: labels, values, series and stats.
async fn streams_of(
    state: &AppState,
    query: Option<&LogQuery>,
    range: (u64, u64),
    log: &mut RequestLog,
) -> Result<Streams, ApiError> {
    let mut streams: BTreeSet<BTreeMap<String, String>> = BTreeSet::new();
    // Records of a resource come together and share its labels.
    let mut seen: Option<Arc<BTreeMap<String, String>>> = None;
    let (mut entries, mut bytes) = (0u64, 0u64);
    let fields = fields_for(query, []);
    let (_, _, truncated) = visit(state, query, range, fields, log, |found| {
        let stream = found.stream;
        if !seen.as_ref().is_some_and(|s| Arc::ptr_eq(s, stream)) {
            if !streams.contains(&**stream) {
                streams.insert((**stream).clone());
            }
            seen = Some(Arc::clone(stream));
        }
        entries += 1;
        bytes += found.line.len() as u64;
    })
    .await?;
    Ok(Streams {
        streams,
        entries,
        bytes,
        truncated,
    })
}

/// `/loki/api/v1/labels` (`name` none) and `/loki/api/v1/label/{name}/values`:
/// the stream labels of the range's records (those `query` selects, when
/// given), sorted.
async fn label_names(
    state: Arc<AppState>,
    params: Params,
    headers: HeaderMap,
    name: Option<String>,
) -> Response {
    handle(state, headers, async |state, log| {
        let query = match params
            .get("query")
            .map(|q| q.trim())
            .filter(|q| !q.is_empty())
        {
            Some(_) => Some(parse_query(&params)?),
            None => None,
        };
        let range = range(&params)?;
        let _running = query_slot(state)?;
        let picked = streams_of(state, query.as_ref(), range, log).await?;
        let found: BTreeSet<&String> = match &name {
            None => picked.streams.iter().flat_map(BTreeMap::keys).collect(),
            Some(name) => picked.streams.iter().filter_map(|s| s.get(name)).collect(),
        };
        log.items = found.len();
        Ok(answer(json!(found), picked.truncated))
    })
    .await
}

/// `/loki/api/v1/series?match[]=`: the distinct stream label sets of the
/// streams the selector picks in the range.
async fn series(state: Arc<AppState>, params: Params, headers: HeaderMap) -> Response {
    handle(state, headers, async |state, log| {
        let text = params
            .get("match[]")
            .or_else(|| params.get("match"))
            .map(|q| q.trim())
            .filter(|q| !q.is_empty())
            .ok_or_else(|| {
                ApiError::BadRequest(
                    "match[]: missing (a stream selector such as {service_name=\"cart\"})".into(),
                )
            })?;
        let query =
            logql::parse(text).map_err(|e| ApiError::BadRequest(format!("match[]: {e}")))?;
        let range = range(&params)?;
        let _running = query_slot(state)?;
        let picked = streams_of(state, Some(&query), range, log).await?;
        log.items = picked.streams.len();
        Ok(answer(json!(picked.streams), picked.truncated))
    })
    .await
}

/// `/loki/api/v1/index/stats`: streams, lines and bytes the query's
/// selector picks in the range (Grafana's query size hint).
async fn index_stats(state: Arc<AppState>, params: Params, headers: HeaderMap) -> Response {
    handle(state, headers, async |state, log| {
        let query = parse_query(&params)?;
        let range = range(&params)?;
        let _running = query_slot(state)?;
        let picked = streams_of(state, Some(&query), range, log).await?;
        let mut response = json_response(&json!({
            "streams": picked.streams.len(),
            "chunks": log.objects,
            "entries": picked.entries,
            "bytes": picked.bytes,
        }));
        if picked.truncated {
            response
                .headers_mut()
                .insert("otelvault-truncated", HeaderValue::from_static("true"));
        }
        Ok(response)
    })
    .await
}

/// `/loki/api/v1/index/volume` (a `vector`) and `volume_range` (a `matrix`
/// by `step`): bytes of the lines the selector picks, by the labels of
/// `targetLabels` (else those the selector names), largest first, `limit`
/// groups (100 by default).
async fn volume(
    state: Arc<AppState>,
    params: Params,
    headers: HeaderMap,
    ranged: bool,
) -> Response {
    handle(state, headers, async |state, log| {
        let query = parse_query(&params)?;
        let range = range(&params)?;
        let limit = match params
            .get("limit")
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
        {
            None => 100,
            Some(v) => v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ApiError::BadRequest(format!("limit: expected a whole number, got {v:?}"))
            })?,
        };
        let targets: Vec<String> = match params
            .get("targetLabels")
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
        {
            Some(v) => v
                .split(',')
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty())
                .collect(),
            None => query.selector.iter().map(|m| m.label.clone()).collect(),
        };
        let step = if ranged {
            step(&params, range)?
        } else {
            range.1 - range.0
        };
        let _running = query_slot(state)?;
        // Bytes by group, then by the end of the step holding the line.
        let mut groups: BTreeMap<BTreeMap<String, String>, BTreeMap<u64, u64>> = BTreeMap::new();
        let fields = fields_for(Some(&query), targets.iter().map(String::as_str));
        let (_, _, truncated) = visit(state, Some(&query), range, fields, log, |found| {
            let labels: BTreeMap<String, String> = targets
                .iter()
                .filter_map(|t| Some((t.clone(), found.label(t)?.to_owned())))
                .collect();
            let bucket = range.0 + (found.time - range.0) / step * step;
            *groups.entry(labels).or_default().entry(bucket).or_default() +=
                found.line.len() as u64;
        })
        .await?;
        let mut totals: Vec<(_, BTreeMap<u64, u64>, u64)> = groups
            .into_iter()
            .map(|(labels, buckets)| {
                let total = buckets.values().sum();
                (labels, buckets, total)
            })
            .collect();
        totals.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        totals.truncate(limit);
        let end = range.1 - 1;
        let result: Vec<Value> = totals
            .into_iter()
            .map(|(labels, buckets, total)| {
                if ranged {
                    let values: Vec<Value> = buckets
                        .into_iter()
                        .map(|(t, b)| json!([seconds(t), b.to_string()]))
                        .collect();
                    json!({ "metric": labels, "values": values })
                } else {
                    json!({ "metric": labels, "value": [seconds(end), total.to_string()] })
                }
            })
            .collect();
        log.items = result.len();
        let kind = if ranged { "matrix" } else { "vector" };
        Ok(answer(
            json!({ "resultType": kind, "result": result }),
            truncated,
        ))
    })
    .await
}

#[cfg(test)]
mod tests;
