//! The fetch request (oteleport-compatible JSON, or protobuf) and its
//! validation. Every problem is an error whose message names the field.

use std::collections::HashMap;

use otelvault_archive::{AttrValue, DEFAULT_LIMIT, MAX_LIMIT, Query};
use otelvault_codec::Signal;
use serde_json::{Map, Value, json};

/// A fetch request that cannot be served as sent; the message names the
/// field (`limit: must be between 1 and 10000, got 0`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RequestError(pub String);

/// `POST /api/{signal}/fetch` as protobuf.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FetchRequestProto {
    /// Range start, unix nanoseconds (required).
    #[prost(fixed64, tag = "1")]
    pub start_time_unix_nano: u64,
    /// Range end, exclusive; 0 means now.
    #[prost(fixed64, tag = "2")]
    pub end_time_unix_nano: u64,
    /// Items per page (0: the default).
    #[prost(int64, tag = "3")]
    pub limit: i64,
    /// `nextCursor` of the previous page.
    #[prost(string, tag = "4")]
    pub cursor: String,
    /// `service.name` resource attribute.
    #[prost(string, tag = "5")]
    pub service_name: String,
    /// Trace id, hex.
    #[prost(string, tag = "6")]
    pub trace_id: String,
    /// Attributes that must match (resource or item), exactly.
    #[prost(map = "string, string", tag = "7")]
    pub attributes: HashMap<String, String>,
    /// Logs: lowest severity number.
    #[prost(int32, tag = "8")]
    pub min_severity_number: i32,
    /// Metrics: metric name.
    #[prost(string, tag = "9")]
    pub metric_name: String,
}

/// `POST /api/{signal}/fetch`: a query and the cursor of the previous page.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchRequest {
    /// What to read.
    pub query: Query,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

fn bad(field: &str, message: impl std::fmt::Display) -> RequestError {
    RequestError(format!("{field}: {message}"))
}

fn nanos(field: &str, v: &Value) -> Result<u64, RequestError> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| bad(field, format!("expected unix nanoseconds, got {n}"))),
        Value::String(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| bad(field, format!("expected unix nanoseconds, got {s:?}"))),
        other => Err(bad(
            field,
            format!("expected unix nanoseconds, got {other}"),
        )),
    }
}

fn string(field: &str, v: &Value) -> Result<String, RequestError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(bad(field, format!("expected a string, got {other}"))),
    }
}

/// Decodes a hex trace id of 16 bytes, any case.
pub fn parse_trace_id(field: &str, s: &str) -> Result<Vec<u8>, RequestError> {
    let s = s.trim();
    if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(field, format!("expected 32 hex digits, got {s:?}")));
    }
    (0..32)
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad(field, format!("expected 32 hex digits, got {s:?}")))
}

fn limit(v: i128) -> Result<usize, RequestError> {
    match v {
        0 => Ok(DEFAULT_LIMIT),
        1..=MAX_LIMIT_I128 => Ok(v as usize),
        _ => Err(bad(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}, got {v}"),
        )),
    }
}

const MAX_LIMIT_I128: i128 = MAX_LIMIT as i128;

impl FetchRequest {
    /// Parses an oteleport-style JSON body. Field names in lowerCamelCase
    /// or snake_case; unknown fields are refused (a typo must not silently
    /// widen a query).
    pub fn from_json(signal: Signal, body: &[u8]) -> Result<FetchRequest, RequestError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| RequestError(format!("invalid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(RequestError(
                "the request body must be a JSON object".into(),
            ));
        };
        let mut q = Query::new(signal);
        let mut cursor = None;
        let mut has_start = false;
        for (key, v) in &map {
            if v.is_null() {
                continue;
            }
            match key.as_str() {
                "startTimeUnixNano" | "start_time_unix_nano" => {
                    q.start = nanos("startTimeUnixNano", v)?;
                    has_start = true;
                }
                "endTimeUnixNano" | "end_time_unix_nano" => q.end = nanos("endTimeUnixNano", v)?,
                "limit" => {
                    let n = v
                        .as_i64()
                        .map(i128::from)
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                        .ok_or_else(|| bad("limit", format!("expected an integer, got {v}")))?;
                    q.limit = limit(n)?;
                }
                "cursor" => {
                    let c = string("cursor", v)?;
                    cursor = (!c.is_empty()).then_some(c);
                }
                "serviceName" | "service_name" => q.service_name = Some(string("serviceName", v)?),
                "traceId" | "trace_id" => {
                    q.trace_id = Some(parse_trace_id("traceId", &string("traceId", v)?)?)
                }
                "attributes" => {
                    let Value::Object(attrs) = v else {
                        return Err(bad("attributes", "expected an object of key: value"));
                    };
                    for (k, v) in attrs {
                        let value = match v {
                            Value::String(s) => AttrValue::Str(s.clone()),
                            Value::Bool(b) => AttrValue::Bool(*b),
                            Value::Number(n) => match n.as_i64() {
                                Some(i) => AttrValue::Int(i),
                                None => AttrValue::Double(n.as_f64().unwrap_or(f64::NAN)),
                            },
                            other => {
                                return Err(bad(
                                    &format!("attributes.{k}"),
                                    format!("expected a string, number or boolean, got {other}"),
                                ));
                            }
                        };
                        q.attributes.push((k.clone(), value));
                    }
                }
                "minSeverityNumber" | "min_severity_number" => {
                    let n = v.as_i64().filter(|n| (0..=24).contains(n)).ok_or_else(|| {
                        bad("minSeverityNumber", format!("expected 1 to 24, got {v}"))
                    })?;
                    q.min_severity = (n > 0).then_some(n as i32);
                }
                "metricName" | "metric_name" => q.metric_name = Some(string("metricName", v)?),
                other => {
                    return Err(RequestError(format!(
                        "unknown field {other:?} (expected startTimeUnixNano, endTimeUnixNano, limit, cursor, serviceName, traceId, attributes, minSeverityNumber, metricName)"
                    )));
                }
            }
        }
        if !has_start {
            return Err(bad("startTimeUnixNano", "is required"));
        }
        finish(q, cursor)
    }

    /// Parses a protobuf `FetchRequestProto`.
    pub fn from_protobuf(signal: Signal, body: &[u8]) -> Result<FetchRequest, RequestError> {
        let p = <FetchRequestProto as prost::Message>::decode(body)
            .map_err(|e| RequestError(format!("invalid protobuf FetchRequest: {e}")))?;
        if p.start_time_unix_nano == 0 {
            return Err(bad("startTimeUnixNano", "is required"));
        }
        let mut q = Query::new(signal);
        q.start = p.start_time_unix_nano;
        q.end = p.end_time_unix_nano;
        q.limit = limit(i128::from(p.limit))?;
        q.service_name = (!p.service_name.is_empty()).then_some(p.service_name);
        if !p.trace_id.is_empty() {
            q.trace_id = Some(parse_trace_id("traceId", &p.trace_id)?);
        }
        q.attributes = p
            .attributes
            .into_iter()
            .map(|(k, v)| (k, AttrValue::Str(v)))
            .collect();
        if !(0..=24).contains(&p.min_severity_number) {
            return Err(bad(
                "minSeverityNumber",
                format!("expected 1 to 24, got {}", p.min_severity_number),
            ));
        }
        q.min_severity = (p.min_severity_number > 0).then_some(p.min_severity_number);
        q.metric_name = (!p.metric_name.is_empty()).then_some(p.metric_name);
        finish(q, (!p.cursor.is_empty()).then_some(p.cursor))
    }

    /// The JSON body a client sends for this request: what
    /// [`FetchRequest::from_json`] parses back to the same request.
    pub fn to_json(&self) -> Vec<u8> {
        let q = &self.query;
        let mut body = Map::new();
        body.insert("startTimeUnixNano".into(), json!(q.start.to_string()));
        if q.end != 0 {
            body.insert("endTimeUnixNano".into(), json!(q.end.to_string()));
        }
        body.insert("limit".into(), json!(q.limit));
        if let Some(c) = &self.cursor {
            body.insert("cursor".into(), json!(c));
        }
        if let Some(s) = &q.service_name {
            body.insert("serviceName".into(), json!(s));
        }
        if let Some(t) = &q.trace_id {
            let hex: String = t.iter().map(|b| format!("{b:02x}")).collect();
            body.insert("traceId".into(), json!(hex));
        }
        if !q.attributes.is_empty() {
            let attrs = q
                .attributes
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        AttrValue::Str(s) => json!(s),
                        AttrValue::Int(i) => json!(i),
                        AttrValue::Double(d) => json!(d),
                        AttrValue::Bool(b) => json!(b),
                    };
                    (k.clone(), v)
                })
                .collect();
            body.insert("attributes".into(), Value::Object(attrs));
        }
        if let Some(s) = q.min_severity {
            body.insert("minSeverityNumber".into(), json!(s));
        }
        if let Some(m) = &q.metric_name {
            body.insert("metricName".into(), json!(m));
        }
        Value::Object(body).to_string().into_bytes()
    }
}

/// Checks what no single field shows, and puts the filters in order.
fn finish(mut q: Query, cursor: Option<String>) -> Result<FetchRequest, RequestError> {
    if q.end != 0 && q.end <= q.start {
        return Err(bad("endTimeUnixNano", "must be after startTimeUnixNano"));
    }
    if q.min_severity.is_some() && q.signal != Signal::Logs {
        return Err(bad("minSeverityNumber", "applies to logs only"));
    }
    if q.metric_name.is_some() && q.signal != Signal::Metrics {
        return Err(bad("metricName", "applies to metrics only"));
    }
    if q.trace_id.is_some() && q.signal == Signal::Metrics {
        return Err(bad("traceId", "applies to traces and logs only"));
    }
    q.attributes.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(FetchRequest { query: q, cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(signal: Signal, body: &str) -> Result<FetchRequest, String> {
        FetchRequest::from_json(signal, body.as_bytes()).map_err(|e| e.to_string())
    }

    fn parse(signal: Signal, body: &str) -> Result<Query, String> {
        request(signal, body).map(|r| r.query)
    }

    #[test]
    fn the_oteleport_request_parses() {
        let r = request(
            Signal::Logs,
            r#"{"startTimeUnixNano": "1730000000000000000", "endTimeUnixNano": 1730000060000000000, "limit": 50,
                "serviceName": "checkout", "traceId": "5B8EFFF798038103D269B633813FC60C",
                "attributes": {"http.route": "/buy", "code": 200, "ok": true}, "minSeverityNumber": 9, "cursor": ""}"#,
        )
        .expect("valid");
        let q = &r.query;
        assert_eq!(
            (q.start, q.end, q.limit),
            (1_730_000_000_000_000_000, 1_730_000_060_000_000_000, 50)
        );
        assert_eq!(q.service_name.as_deref(), Some("checkout"));
        assert_eq!(q.trace_id.as_ref().map(|t| t[0]), Some(0x5b));
        assert_eq!(q.attributes.len(), 3);
        assert_eq!(q.attributes[0], ("code".into(), AttrValue::Int(200)));
        assert_eq!((q.min_severity, &r.cursor), (Some(9), &None));
        let d = parse(Signal::Traces, r#"{"start_time_unix_nano": 5}"#).expect("snake case");
        assert_eq!((d.start, d.end, d.limit), (5, 0, DEFAULT_LIMIT));
    }

    #[test]
    fn bad_requests_name_the_field() {
        for (signal, body, expected) in [
            (Signal::Traces, "{}", "startTimeUnixNano: is required"),
            (
                Signal::Traces,
                r#"{"startTimeUnixNano": "yesterday"}"#,
                "startTimeUnixNano: expected unix nanoseconds",
            ),
            (
                Signal::Traces,
                r#"{"startTimeUnixNano": -5}"#,
                "startTimeUnixNano: expected unix nanoseconds",
            ),
            (
                Signal::Traces,
                r#"{"startTimeUnixNano": 5, "limit": 0.5}"#,
                "limit: expected an integer",
            ),
            (
                Signal::Traces,
                r#"{"startTimeUnixNano": 5, "limit": 10001}"#,
                "limit: must be between 1 and 10000",
            ),
            (
                Signal::Traces,
                r#"{"startTimeUnixNano": 5, "limit": -1}"#,
                "limit: must be between 1 and 10000",
            ),
            (
                Signal::Traces,
                r#"{"startTimeUnixNano": 9, "endTimeUnixNano": 9}"#,
                "endTimeUnixNano: must be after",
            ),
            (
                Signal::Traces,
                r#"{"startTimeUnixNano": 5, "traceId": "abc"}"#,
                "traceId: expected 32 hex digits",
            ),
            (
                Signal::Traces,
                r#"{"startTimeUnixNano": 5, "minSeverityNumber": 9}"#,
                "minSeverityNumber: applies to logs only",
            ),
            (
                Signal::Logs,
                r#"{"startTimeUnixNano": 5, "minSeverityNumber": 25}"#,
                "minSeverityNumber: expected 1 to 24",
            ),
            (
                Signal::Logs,
                r#"{"startTimeUnixNano": 5, "metricName": "x"}"#,
                "metricName: applies to metrics only",
            ),
            (
                Signal::Metrics,
                r#"{"startTimeUnixNano": 5, "traceId": "5b8efff798038103d269b633813fc60c"}"#,
                "traceId: applies to traces and logs only",
            ),
            (
                Signal::Traces,
                r#"{"startTimeUnixNano": 5, "servicename": "x"}"#,
                "unknown field \"servicename\"",
            ),
            (
                Signal::Traces,
                r#"{"startTimeUnixNano": 5, "attributes": {"a": [1]}}"#,
                "attributes.a: expected a string, number or boolean",
            ),
            (
                Signal::Traces,
                r#"{"startTimeUnixNano": 5,"#,
                "invalid JSON",
            ),
            (Signal::Traces, "[]", "must be a JSON object"),
        ] {
            let err = parse(signal, body).expect_err(body);
            assert!(err.contains(expected), "{body}: {err}");
        }
    }

    #[test]
    fn fingerprints_cover_every_selecting_field_but_not_the_page_size() {
        let base = parse(
            Signal::Traces,
            r#"{"startTimeUnixNano": 5, "serviceName": "a"}"#,
        )
        .expect("q");
        let same = parse(
            Signal::Traces,
            r#"{"startTimeUnixNano": 5, "serviceName": "a", "limit": 7}"#,
        )
        .expect("q");
        assert_eq!(base.fingerprint(), same.fingerprint());
        for other in [
            r#"{"startTimeUnixNano": 6, "serviceName": "a"}"#,
            r#"{"startTimeUnixNano": 5, "serviceName": "b"}"#,
            r#"{"startTimeUnixNano": 5}"#,
            r#"{"startTimeUnixNano": 5, "serviceName": "a", "endTimeUnixNano": 9}"#,
            r#"{"startTimeUnixNano": 5, "serviceName": "a", "attributes": {"k": "v"}}"#,
            r#"{"startTimeUnixNano": 5, "serviceName": "a", "attributes": {"k": 1}}"#,
        ] {
            let q = parse(Signal::Traces, other).expect("q");
            assert_ne!(q.fingerprint(), base.fingerprint(), "{other}");
        }
        let logs = parse(
            Signal::Logs,
            r#"{"startTimeUnixNano": 5, "serviceName": "a"}"#,
        )
        .expect("q");
        assert_ne!(logs.fingerprint(), base.fingerprint());
    }

    #[test]
    fn protobuf_requests_parse_like_json_ones() {
        let p = FetchRequestProto {
            start_time_unix_nano: 5,
            limit: 3,
            service_name: "a".into(),
            trace_id: "5b8efff798038103d269b633813fc60c".into(),
            ..Default::default()
        };
        let q = FetchRequest::from_protobuf(Signal::Traces, &prost::Message::encode_to_vec(&p))
            .expect("valid")
            .query;
        let j = parse(Signal::Traces, r#"{"startTimeUnixNano": 5, "limit": 3, "serviceName": "a", "traceId": "5b8efff798038103d269b633813fc60c"}"#).expect("valid");
        assert_eq!(q, j);
        assert!(FetchRequest::from_protobuf(Signal::Traces, b"\xff\xff").is_err());
        assert!(
            FetchRequest::from_protobuf(Signal::Traces, &[]).is_err(),
            "start is required"
        );
    }

    #[test]
    fn what_clients_send_parses_back_to_the_same_request() {
        for (signal, body) in [
            (Signal::Traces, r#"{"startTimeUnixNano": 5}"#),
            (
                Signal::Logs,
                r#"{"startTimeUnixNano": 5, "endTimeUnixNano": 90, "limit": 7, "cursor": "abc",
                    "serviceName": "checkout", "traceId": "5B8EFFF798038103D269B633813FC60C",
                    "attributes": {"s": "v", "i": -3, "d": 2.5, "b": false}, "minSeverityNumber": 13}"#,
            ),
            (
                Signal::Metrics,
                r#"{"startTimeUnixNano": "1730000000000000000", "metricName": "m", "attributes": {"k": "1"}}"#,
            ),
        ] {
            let sent = request(signal, body).expect("valid");
            let again = FetchRequest::from_json(signal, &sent.to_json()).expect("parses");
            assert_eq!(again, sent, "{body}");
        }
    }
}
