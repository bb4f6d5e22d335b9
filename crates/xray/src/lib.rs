//! AWS X-Ray segment documents as OTLP spans, translated the way the
//! OpenTelemetry Collector's `awsxrayreceiver` does:
//!
//! - the trace id `1-5759e988-bd862e3fe1be46a994272793` becomes
//!   `5759e988bd862e3fe1be46a994272793`; segment and subsegment ids become
//!   span ids, with each subsegment's parent its enclosing (sub)segment,
//!   and a segment's parent its `parent_id`;
//! - `start_time`/`end_time` (seconds, fractional) become nanoseconds;
//! - a segment is a server span; a subsegment in the `aws` or `remote`
//!   namespace a client span; other subsegments internal spans;
//! - `http.request`/`http.response` become `http.request.method`,
//!   `url.full`, `user_agent.original`, `client.address`,
//!   `http.response.status_code`, `http.response.body.size`; `aws` becomes
//!   `rpc.system`/`rpc.service`/`rpc.method` for AWS SDK calls and
//!   `aws.operation`, `aws.region`, `aws.request_id`, `aws.table_name`,
//!   `aws.queue_url`, `aws.account_id`; `sql` becomes `db.*`;
//! - `annotations` become attributes of their own names and types;
//!   `metadata` becomes `aws.xray.metadata.{namespace}.{key}` (JSON);
//! - `fault`, `error` and `throttle` make the status an error (with the
//!   first exception's message), and each `cause.exceptions` entry an
//!   `exception` event;
//! - the segment's `name` is the resource's `service.name`; `origin`
//!   gives `cloud.provider` and `cloud.platform`; `aws.account_id` gives
//!   `cloud.account.id`.
//!
//! A segment still `in_progress` is not translated: its trace is left for a
//! later import, once complete.

pub mod import;

use otelvault_codec::proto::collector_trace::ExportTraceServiceRequest;
use otelvault_codec::proto::common::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value,
};
use otelvault_codec::proto::resource::Resource;
use otelvault_codec::proto::trace::{ResourceSpans, ScopeSpans, Span, Status, span, status};
use otelvault_codec::values::text_attribute as text;
use serde_json::Value;

/// Why a segment document cannot be translated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// Not a JSON object.
    #[error("a segment document is not a JSON object: {0}")]
    NotAnObject(String),
    /// A field is missing or malformed; the message names it.
    #[error("segment {segment}: {problem}")]
    Field {
        /// The segment's id, or `?`.
        segment: String,
        /// What is wrong.
        problem: String,
    },
}

/// The outcome of translating the segments of traces.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Translated {
    /// The spans, one resource per segment.
    pub request: ExportTraceServiceRequest,
    /// Traces with a segment still in progress, left out whole (32 hex).
    pub in_progress: Vec<String>,
}

/// The instrumentation scope of translated spans.
pub const SCOPE: &str = "otelvault/xray";

/// Translates the segment documents of whole traces (as `BatchGetTraces`
/// returns them: JSON text). A trace with any segment in progress is left
/// out whole and named in [`Translated::in_progress`].
pub fn translate(documents: &[&str]) -> Result<Translated, TranslateError> {
    let mut segments = Vec::with_capacity(documents.len());
    for text in documents {
        let value: Value =
            serde_json::from_str(text).map_err(|e| TranslateError::NotAnObject(e.to_string()))?;
        if !value.is_object() {
            return Err(TranslateError::NotAnObject(text.chars().take(80).collect()));
        }
        segments.push(value);
    }
    let mut in_progress: Vec<String> = Vec::new();
    for segment in &segments {
        if any_in_progress(segment) {
            in_progress.push(trace_id_hex(segment)?);
        }
    }
    in_progress.sort();
    in_progress.dedup();
    let mut out = Translated {
        in_progress,
        ..Translated::default()
    };
    for segment in &segments {
        if out.in_progress.contains(&trace_id_hex(segment)?) {
            continue;
        }
        let trace_id = trace_id(segment)?;
        let mut spans = Vec::new();
        let parent = optional_id(segment, "parent_id")?;
        walk(segment, &trace_id, parent, true, &mut spans)?;
        out.request.resource_spans.push(ResourceSpans {
            resource: Some(resource(segment)),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: SCOPE.into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    Ok(out)
}

fn any_in_progress(segment: &Value) -> bool {
    segment["in_progress"].as_bool() == Some(true)
        || segment["subsegments"]
            .as_array()
            .is_some_and(|subs| subs.iter().any(any_in_progress))
}

fn id_of(segment: &Value) -> String {
    segment["id"].as_str().unwrap_or("?").to_owned()
}

fn field(segment: &Value, problem: String) -> TranslateError {
    TranslateError::Field {
        segment: id_of(segment),
        problem,
    }
}

/// `1-5759e988-bd862e3fe1be46a994272793` → `5759e988bd862e3fe1be46a994272793`.
fn trace_id_hex(segment: &Value) -> Result<String, TranslateError> {
    let text = segment["trace_id"]
        .as_str()
        .ok_or_else(|| field(segment, "no trace_id".into()))?;
    let mut parts = text.split('-');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("1"), Some(time), Some(random), None)
            if time.len() == 8 && random.len() == 24 && is_hex(time) && is_hex(random) =>
        {
            Ok(format!("{time}{random}").to_ascii_lowercase())
        }
        _ => Err(field(
            segment,
            format!("trace_id {text:?} is not 1-{{8 hex}}-{{24 hex}}"),
        )),
    }
}

fn trace_id(segment: &Value) -> Result<Vec<u8>, TranslateError> {
    Ok(unhex(&trace_id_hex(segment)?))
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// A 16-hex-digit id field, as 8 bytes, if present.
fn optional_id(segment: &Value, name: &str) -> Result<Option<Vec<u8>>, TranslateError> {
    match segment[name].as_str() {
        None => Ok(None),
        Some(id) if id.len() == 16 && is_hex(id) => Ok(Some(unhex(id))),
        Some(id) => Err(field(
            segment,
            format!("{name} {id:?} is not 16 hex digits"),
        )),
    }
}

/// Seconds (fractional) as nanoseconds, to the microsecond X-Ray keeps.
fn nanos(segment: &Value, name: &str) -> Result<u64, TranslateError> {
    let seconds = segment[name]
        .as_f64()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| field(segment, format!("no {name}")))?;
    let micros = (seconds * 1e6).round() as u64;
    Ok(micros * 1000)
}

/// The span of `segment` and those of its subsegments, depth first.
fn walk(
    segment: &Value,
    trace_id: &[u8],
    parent: Option<Vec<u8>>,
    top: bool,
    out: &mut Vec<Span>,
) -> Result<(), TranslateError> {
    let span_id = optional_id(segment, "id")?.ok_or_else(|| field(segment, "no id".into()))?;
    let namespace = segment["namespace"].as_str().unwrap_or("");
    let independent_subsegment = segment["type"].as_str() == Some("subsegment");
    let kind = if top && !independent_subsegment {
        span::SpanKind::Server
    } else if matches!(namespace, "aws" | "remote") {
        span::SpanKind::Client
    } else {
        span::SpanKind::Internal
    };
    let mut attributes = Vec::new();
    http_attributes(segment, &mut attributes);
    aws_attributes(segment, namespace, &mut attributes);
    sql_attributes(segment, &mut attributes);
    annotations(segment, &mut attributes);
    metadata(segment, &mut attributes);
    let (status, events) = status_and_events(segment)?;
    out.push(Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id.clone(),
        parent_span_id: parent.unwrap_or_default(),
        name: segment["name"].as_str().unwrap_or_default().to_owned(),
        kind: kind as i32,
        start_time_unix_nano: nanos(segment, "start_time")?,
        end_time_unix_nano: nanos(segment, "end_time")?,
        attributes,
        events,
        status: Some(status),
        ..Default::default()
    });
    for sub in segment["subsegments"].as_array().into_iter().flatten() {
        walk(sub, trace_id, Some(span_id.clone()), false, out)?;
    }
    Ok(())
}

/// A JSON value as an attribute value of its type (objects as JSON text).
fn any(value: &Value) -> Option<AnyValue> {
    let value = match value {
        Value::Null => return None,
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64()?),
        },
        Value::String(s) => any_value::Value::StringValue(s.clone()),
        Value::Array(items) => any_value::Value::ArrayValue(ArrayValue {
            values: items.iter().filter_map(any).collect(),
        }),
        Value::Object(_) => any_value::Value::StringValue(value.to_string()),
    };
    Some(AnyValue { value: Some(value) })
}

fn push(out: &mut Vec<KeyValue>, key: &str, value: &Value) {
    if let Some(value) = any(value) {
        out.push(KeyValue {
            key: key.into(),
            value: Some(value),
            ..Default::default()
        });
    }
}

fn http_attributes(segment: &Value, out: &mut Vec<KeyValue>) {
    let request = &segment["http"]["request"];
    push(out, "http.request.method", &request["method"]);
    push(out, "url.full", &request["url"]);
    push(out, "user_agent.original", &request["user_agent"]);
    push(out, "client.address", &request["client_ip"]);
    let response = &segment["http"]["response"];
    push(out, "http.response.status_code", &response["status"]);
    push(out, "http.response.body.size", &response["content_length"]);
}

fn aws_attributes(segment: &Value, namespace: &str, out: &mut Vec<KeyValue>) {
    let aws = &segment["aws"];
    if namespace == "aws" {
        out.push(text("rpc.system", "aws-api"));
        push(out, "rpc.service", &segment["name"]);
        push(out, "rpc.method", &aws["operation"]);
    }
    for (from, to) in [
        ("operation", "aws.operation"),
        ("region", "aws.region"),
        ("request_id", "aws.request_id"),
        ("table_name", "aws.table_name"),
        ("queue_url", "aws.queue_url"),
        ("account_id", "aws.account_id"),
    ] {
        push(out, to, &aws[from]);
    }
}

fn sql_attributes(segment: &Value, out: &mut Vec<KeyValue>) {
    let sql = &segment["sql"];
    push(out, "db.connection_string", &sql["url"]);
    push(out, "db.system", &sql["database_type"]);
    push(out, "db.statement", &sql["sanitized_query"]);
    push(out, "db.user", &sql["user"]);
}

fn annotations(segment: &Value, out: &mut Vec<KeyValue>) {
    for (key, value) in segment["annotations"].as_object().into_iter().flatten() {
        push(out, key, value);
    }
}

fn metadata(segment: &Value, out: &mut Vec<KeyValue>) {
    for (namespace, entries) in segment["metadata"].as_object().into_iter().flatten() {
        for (key, value) in entries.as_object().into_iter().flatten() {
            out.push(text(
                &format!("aws.xray.metadata.{namespace}.{key}"),
                &value.to_string(),
            ));
        }
    }
}

fn status_and_events(segment: &Value) -> Result<(Status, Vec<span::Event>), TranslateError> {
    use span::Event;
    let flag = |name: &str| segment[name].as_bool() == Some(true);
    let exceptions = segment["cause"]["exceptions"].as_array();
    let end = nanos(segment, "end_time")?;
    let events: Vec<Event> = exceptions
        .into_iter()
        .flatten()
        .map(|e| {
            let mut attributes = Vec::new();
            push(&mut attributes, "exception.type", &e["type"]);
            push(&mut attributes, "exception.message", &e["message"]);
            let stack: Vec<String> = e["stack"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|frame| {
                    format!(
                        "at {} ({}:{})",
                        frame["label"].as_str().unwrap_or("?"),
                        frame["path"].as_str().unwrap_or("?"),
                        frame["line"].as_i64().unwrap_or(0)
                    )
                })
                .collect();
            if !stack.is_empty() {
                attributes.push(text("exception.stacktrace", &stack.join("\n")));
            }
            Event {
                time_unix_nano: end,
                name: "exception".into(),
                attributes,
                ..Default::default()
            }
        })
        .collect();
    let failed = ["fault", "error", "throttle"]
        .into_iter()
        .find(|name| flag(name));
    let status = match failed {
        Some(which) => Status {
            code: status::StatusCode::Error as i32,
            message: exceptions
                .and_then(|e| e.first())
                .and_then(|e| e["message"].as_str())
                .map_or_else(|| which.to_owned(), str::to_owned),
        },
        None => Status::default(),
    };
    Ok((status, events))
}

/// The resource of a segment: its name as `service.name`, its origin as
/// the cloud platform.
fn resource(segment: &Value) -> Resource {
    let mut attributes = vec![text(
        "service.name",
        segment["name"].as_str().unwrap_or("unknown_service"),
    )];
    if let Some(origin) = segment["origin"].as_str() {
        attributes.push(text("cloud.provider", "aws"));
        let platform = match origin {
            "AWS::EC2::Instance" => Some("aws_ec2"),
            "AWS::ECS::Container" | "AWS::ECS::EC2" | "AWS::ECS::Fargate" => Some("aws_ecs"),
            "AWS::EKS::Container" => Some("aws_eks"),
            "AWS::ElasticBeanstalk::Environment" => Some("aws_elastic_beanstalk"),
            "AWS::Lambda::Function" | "AWS::Lambda" => Some("aws_lambda"),
            "AWS::ApiGateway::Stage" => Some("aws_api_gateway"),
            _ => None,
        };
        if let Some(platform) = platform {
            attributes.push(text("cloud.platform", platform));
        }
        attributes.push(text("aws.xray.origin", origin));
    }
    if let Some(account) = segment["aws"]["account_id"].as_str() {
        attributes.push(text("cloud.account.id", account));
    }
    if let Some(version) = segment["service"]["version"].as_str() {
        attributes.push(text("service.version", version));
    }
    Resource {
        attributes,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
