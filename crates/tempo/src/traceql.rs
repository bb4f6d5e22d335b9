//! The part of TraceQL that Grafana's search builder writes: one spanset
//! `{ … }` of conditions joined by `&&`, each an attribute or intrinsic, an
//! operator and a literal. Also Tempo's older tag search (`tags`, logfmt)
//! and Go durations (`minDuration=1.5s`).
//!
//! Anything else (`||`, several spansets, pipelines, arithmetic) is refused
//! with a message that says what is supported.

use std::fmt;
use std::sync::Arc;

use otelvault_archive::{SpanFields, SpanPredicate, SpanTest};

use otelvault_codec::proto::common::{AnyValue, any_value};
use otelvault_codec::proto::trace::{span, status};
use otelvault_codec::view::{SpanView, first};
use regex::Regex;

/// What a condition looks at.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Field {
    /// `resource.key`.
    Resource(String),
    /// `span.key`.
    Span(String),
    /// `.key`: the span's attribute, else the resource's.
    Any(String),
    /// `name`, `span:name`.
    Name,
    /// `status`, `span:status`.
    Status,
    /// `statusMessage`, `span:statusMessage`.
    StatusMessage,
    /// `kind`, `span:kind`.
    Kind,
    /// `duration`, `span:duration`: the span's.
    Duration,
    /// `traceDuration`, `trace:duration`.
    TraceDuration,
    /// `rootName`, `trace:rootName`.
    RootName,
    /// `rootServiceName`, `trace:rootService`.
    RootServiceName,
}

impl Field {
    /// Conditions on the whole trace, decided once it is read.
    pub(crate) fn is_trace_level(&self) -> bool {
        matches!(
            self,
            Field::TraceDuration | Field::RootName | Field::RootServiceName
        )
    }

    /// The attribute key the field reads, if it reads one.
    pub(crate) fn attribute(&self) -> Option<&str> {
        match self {
            Field::Resource(k) | Field::Span(k) | Field::Any(k) => Some(k),
            _ => None,
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Field, String> {
        let field = match text {
            "name" | "span:name" => Field::Name,
            "status" | "span:status" => Field::Status,
            "statusMessage" | "span:statusMessage" => Field::StatusMessage,
            "kind" | "span:kind" => Field::Kind,
            "duration" | "span:duration" => Field::Duration,
            "traceDuration" | "trace:duration" => Field::TraceDuration,
            "rootName" | "trace:rootName" => Field::RootName,
            "rootServiceName" | "trace:rootService" => Field::RootServiceName,
            _ => {
                let (make, key): (fn(String) -> Field, &str) = if let Some(k) =
                    text.strip_prefix("resource.")
                {
                    (Field::Resource, k)
                } else if let Some(k) = text.strip_prefix("span.") {
                    (Field::Span, k)
                } else if let Some(k) = text.strip_prefix('.') {
                    (Field::Any, k)
                } else {
                    return Err(format!(
                        "{text:?} is not an attribute or intrinsic: write resource.{text}, span.{text} or .{text}, or one of name, status, statusMessage, kind, duration, traceDuration, rootName, rootServiceName"
                    ));
                };
                let key = key.trim_matches('"');
                if key.is_empty() {
                    return Err(format!("{text:?} names no attribute"));
                }
                make(key.to_owned())
            }
        };
        Ok(field)
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Re,
    NotRe,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A literal on the right of a condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Nanoseconds.
    Duration(u64),
    /// `error`, `ok`, `unset`, `server`, …
    Keyword(String),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => write!(f, "{s:?}"),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(x) => write!(f, "{x}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Duration(n) => write!(f, "{n}ns"),
            Literal::Keyword(k) => f.write_str(k),
        }
    }
}

/// One condition.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    pub field: Field,
    pub op: Op,
    pub value: Literal,
    /// Compiled for `=~` and `!~` (anchored, as TraceQL's are).
    regex: Option<Regex>,
}

/// What an hour's trace summary can decide exactly of a trace's spans
/// there: whether one of them meets a search's span conditions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SummaryTest {
    /// No span condition: every span does.
    Every,
    /// `resource.service.name = "…"`: the trace went through the service.
    Service(String),
    /// `status = error`: a span failed.
    Error,
}

impl SummaryTest {
    /// The test for span conditions `conditions` (all must hold of one
    /// span), if a summary can decide it.
    pub(crate) fn of(conditions: &[&Condition]) -> Option<SummaryTest> {
        match conditions {
            [] => Some(SummaryTest::Every),
            [c] => match (&c.field, c.op, &c.value) {
                // Summaries name services by the `ServiceName` column,
                // where a resource without a string `service.name` has
                // ""; such a resource matches no non-empty string.
                (Field::Resource(key), Op::Eq, Literal::Str(name))
                    if key == "service.name" && !name.is_empty() =>
                {
                    Some(SummaryTest::Service(name.clone()))
                }
                (Field::Status, Op::Eq, Literal::Keyword(k)) if k == "error" => {
                    Some(SummaryTest::Error)
                }
                _ => None,
            },
            _ => None,
        }
    }
}

/// The conditions of a search: all must hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub conditions: Vec<Condition>,
}

const SUPPORTED: &str = "supported: one { } of conditions joined by &&, such as { resource.service.name = \"shop\" && span.http.status_code = 500 && duration > 100ms }";

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    And,
    Op(Op),
    Str(String),
    Word(String),
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '{' => {
                chars.next();
                out.push(Token::Open);
            }
            '}' => {
                chars.next();
                out.push(Token::Close);
            }
            '"' | '`' => {
                let quote = c;
                chars.next();
                let mut s = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' if quote == '"' => match chars.next() {
                            Some((_, 'n')) => s.push('\n'),
                            Some((_, 't')) => s.push('\t'),
                            Some((_, other)) => s.push(other),
                            None => break,
                        },
                        c if c == quote => {
                            closed = true;
                            break;
                        }
                        other => s.push(other),
                    }
                }
                if !closed {
                    return Err(format!("a string at {i} is not closed"));
                }
                out.push(Token::Str(s));
            }
            '&' | '|' | '=' | '!' | '>' | '<' | '~' => {
                let rest = &text[i..];
                let (token, len) = [
                    ("&&", Token::And),
                    ("=~", Token::Op(Op::Re)),
                    ("!~", Token::Op(Op::NotRe)),
                    ("!=", Token::Op(Op::Ne)),
                    (">=", Token::Op(Op::Ge)),
                    ("<=", Token::Op(Op::Le)),
                    ("=", Token::Op(Op::Eq)),
                    (">", Token::Op(Op::Gt)),
                    ("<", Token::Op(Op::Lt)),
                ]
                .into_iter()
                .find(|(s, _)| rest.starts_with(s))
                .map(|(s, t)| (t, s.len()))
                .ok_or_else(|| {
                    if rest.starts_with("||") {
                        format!("|| is not supported; {SUPPORTED}")
                    } else if rest.starts_with('|') {
                        format!("pipelines (|) are not supported; {SUPPORTED}")
                    } else {
                        format!("unexpected {:?} at {i}; {SUPPORTED}", &rest[..1])
                    }
                })?;
                for _ in 0..len {
                    chars.next();
                }
                out.push(token);
            }
            _ => {
                let start = i;
                let mut end = i;
                while let Some(&(j, c)) = chars.peek() {
                    if c.is_whitespace() || "{}\"`&|=!<>~".contains(c) {
                        break;
                    }
                    end = j + c.len_utf8();
                    chars.next();
                }
                out.push(Token::Word(text[start..end].to_owned()));
            }
        }
    }
    Ok(out)
}

/// Parses the TraceQL of a search (`q`). An empty query, or `{}`, matches
/// every trace.
/// Conditions one query may have at most.
const MAX_CONDITIONS: usize = 32;
/// A regular expression's length at most.
const MAX_PATTERN: usize = 1024;
/// Memory one compiled regular expression may take.
const MAX_REGEX_BYTES: usize = 1 << 20;

pub(crate) fn parse(text: &str) -> Result<Filter, String> {
    let tokens = tokens(text)?;
    if tokens.is_empty() {
        return Ok(Filter::default());
    }
    let mut it = tokens.into_iter().peekable();
    if it.next() != Some(Token::Open) {
        return Err(format!("a query starts with {{; {SUPPORTED}"));
    }
    let mut conditions = Vec::new();
    loop {
        match it.next() {
            Some(Token::Close) if conditions.is_empty() => break,
            Some(Token::Word(field)) => {
                let field = Field::parse(&field)?;
                let op = match it.next() {
                    Some(Token::Op(op)) => op,
                    other => {
                        return Err(format!(
                            "expected an operator (=, !=, =~, !~, >, >=, <, <=) after a field, got {}",
                            describe(other.as_ref())
                        ));
                    }
                };
                let value = match it.next() {
                    Some(Token::Str(s)) => Literal::Str(s),
                    Some(Token::Word(w)) => literal(&w)?,
                    other => {
                        return Err(format!(
                            "expected a value after the operator, got {}",
                            describe(other.as_ref())
                        ));
                    }
                };
                conditions.push(Condition::new(field, op, value)?);
                if conditions.len() > MAX_CONDITIONS {
                    return Err(format!(
                        "more than {MAX_CONDITIONS} conditions in one query: narrow it"
                    ));
                }
                match it.next() {
                    Some(Token::And) => continue,
                    Some(Token::Close) => break,
                    other => {
                        return Err(format!(
                            "expected && or }} after a condition, got {}; {SUPPORTED}",
                            describe(other.as_ref())
                        ));
                    }
                }
            }
            other => {
                return Err(format!(
                    "expected a condition, got {}; {SUPPORTED}",
                    describe(other.as_ref())
                ));
            }
        }
    }
    if let Some(extra) = it.next() {
        return Err(format!(
            "unexpected {} after the spanset; {SUPPORTED}",
            describe(Some(&extra))
        ));
    }
    Ok(Filter { conditions })
}

fn describe(token: Option<&Token>) -> String {
    match token {
        None => "the end of the query".into(),
        Some(Token::Open) => "{".into(),
        Some(Token::Close) => "}".into(),
        Some(Token::And) => "&&".into(),
        Some(Token::Op(op)) => format!("{op:?}"),
        Some(Token::Str(s)) => format!("{s:?}"),
        Some(Token::Word(w)) => format!("{w:?}"),
    }
}

fn literal(word: &str) -> Result<Literal, String> {
    if let Ok(i) = word.parse::<i64>() {
        return Ok(Literal::Int(i));
    }
    if let Ok(x) = word.parse::<f64>()
        && x.is_finite()
    {
        return Ok(Literal::Float(x));
    }
    if let Some(nanos) = go_duration(word) {
        return Ok(Literal::Duration(nanos));
    }
    match word {
        "true" => Ok(Literal::Bool(true)),
        "false" => Ok(Literal::Bool(false)),
        "error" | "ok" | "unset" | "unspecified" | "internal" | "server" | "client"
        | "producer" | "consumer" => Ok(Literal::Keyword(word.to_owned())),
        other => Err(format!(
            "{other:?} is not a value: quote strings (\"{other}\"); numbers, durations (100ms), true/false and the status and kind keywords go bare"
        )),
    }
}

impl Condition {
    fn new(field: Field, op: Op, value: Literal) -> Result<Condition, String> {
        let regex = match op {
            Op::Re | Op::NotRe => {
                let Literal::Str(pattern) = &value else {
                    return Err(format!(
                        "=~ and !~ take a quoted regular expression, not {value}"
                    ));
                };
                if pattern.len() > MAX_PATTERN {
                    return Err(format!(
                        "a regular expression of more than {MAX_PATTERN} characters"
                    ));
                }
                Some(
                    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
                        .size_limit(MAX_REGEX_BYTES)
                        .build()
                        .map_err(|e| format!("{pattern:?} is not a regular expression: {e}"))?,
                )
            }
            _ => None,
        };
        let keyword_ok = |allowed: &[&str]| match &value {
            Literal::Keyword(k) if allowed.contains(&k.as_str()) => Ok(()),
            _ => Err(format!(
                "expected one of {} here, got {value}",
                allowed.join(", ")
            )),
        };
        match &field {
            Field::Status => keyword_ok(&["error", "ok", "unset"])?,
            Field::Kind => keyword_ok(&[
                "unspecified",
                "internal",
                "server",
                "client",
                "producer",
                "consumer",
            ])?,
            Field::Duration | Field::TraceDuration if !matches!(value, Literal::Duration(_)) => {
                return Err(format!(
                    "durations compare with durations such as 100ms, not {value}"
                ));
            }
            _ => {}
        }
        Ok(Condition {
            field,
            op,
            value,
            regex,
        })
    }

    /// Whether a span (with its resource) satisfies this span-level
    /// condition. A missing attribute satisfies nothing.
    pub(crate) fn matches_span(&self, span: &dyn SpanView) -> bool {
        let resource = |key: &str| first(span.resource(), key);
        match &self.field {
            Field::Resource(k) => resource(k).is_some_and(|v| self.compare_value(v)),
            Field::Span(k) => span.attribute(k).is_some_and(|v| self.compare_value(&v)),
            Field::Any(k) => match span.attribute(k) {
                Some(v) => self.compare_value(&v),
                None => resource(k).is_some_and(|v| self.compare_value(v)),
            },
            Field::Name => self.compare_str(span.name()),
            Field::StatusMessage => self.compare_str(span.status_message()),
            Field::Status => self.compare_keyword(status_keyword(span.status_code())),
            Field::Kind => self.compare_keyword(kind_keyword(span.kind())),
            Field::Duration => self.compare_nanos(span.end().saturating_sub(span.start())),
            Field::TraceDuration | Field::RootName | Field::RootServiceName => true,
        }
    }

    /// Whether a trace satisfies this trace-level condition.
    pub(crate) fn matches_trace(&self, duration: u64, root_name: &str, root_service: &str) -> bool {
        match self.field {
            Field::TraceDuration => self.compare_nanos(duration),
            Field::RootName => self.compare_str(root_name),
            Field::RootServiceName => self.compare_str(root_service),
            _ => true,
        }
    }

    fn compare_value(&self, value: &AnyValue) -> bool {
        use any_value::Value as V;
        match (&value.value, &self.value) {
            (Some(V::StringValue(s)), _) => self.compare_str(s),
            (Some(V::IntValue(i)), Literal::Int(w)) => self.ordered(i.cmp(w)),
            #[allow(clippy::cast_precision_loss)]
            (Some(V::IntValue(i)), Literal::Float(w)) => {
                (*i as f64).partial_cmp(w).is_some_and(|o| self.ordered(o))
            }
            #[allow(clippy::cast_precision_loss)]
            (Some(V::DoubleValue(d)), Literal::Int(w)) => {
                d.partial_cmp(&(*w as f64)).is_some_and(|o| self.ordered(o))
            }
            (Some(V::DoubleValue(d)), Literal::Float(w)) => {
                d.partial_cmp(w).is_some_and(|o| self.ordered(o))
            }
            (Some(V::BoolValue(b)), Literal::Bool(w)) => match self.op {
                Op::Eq => b == w,
                Op::Ne => b != w,
                _ => false,
            },
            _ => false,
        }
    }

    fn compare_str(&self, text: &str) -> bool {
        match (&self.value, self.op) {
            (_, Op::Re) => self.regex.as_ref().is_some_and(|r| r.is_match(text)),
            (_, Op::NotRe) => self.regex.as_ref().is_some_and(|r| !r.is_match(text)),
            (Literal::Str(w), op) => self.ordered_with(op, text.cmp(w.as_str())),
            _ => false,
        }
    }

    fn compare_keyword(&self, keyword: &str) -> bool {
        match (&self.value, self.op) {
            (Literal::Keyword(k), Op::Eq) => k == keyword,
            (Literal::Keyword(k), Op::Ne) => k != keyword,
            _ => false,
        }
    }

    fn compare_nanos(&self, nanos: u64) -> bool {
        match self.value {
            Literal::Duration(w) => self.ordered(nanos.cmp(&w)),
            _ => false,
        }
    }

    fn ordered(&self, ordering: std::cmp::Ordering) -> bool {
        self.ordered_with(self.op, ordering)
    }

    fn ordered_with(&self, op: Op, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match op {
            Op::Eq => ordering == Equal,
            Op::Ne => ordering != Equal,
            Op::Gt => ordering == Greater,
            Op::Ge => ordering != Less,
            Op::Lt => ordering == Less,
            Op::Le => ordering != Greater,
            Op::Re | Op::NotRe => false,
        }
    }
}

/// TraceQL's name of a span's status.
pub(crate) fn status_keyword(code: i32) -> &'static str {
    match status::StatusCode::try_from(code) {
        Ok(status::StatusCode::Error) => "error",
        Ok(status::StatusCode::Ok) => "ok",
        _ => "unset",
    }
}

/// TraceQL's name of a span's kind.
pub(crate) fn kind_keyword(kind: i32) -> &'static str {
    match span::SpanKind::try_from(kind).unwrap_or(span::SpanKind::Unspecified) {
        span::SpanKind::Unspecified => "unspecified",
        span::SpanKind::Internal => "internal",
        span::SpanKind::Server => "server",
        span::SpanKind::Client => "client",
        span::SpanKind::Producer => "producer",
        span::SpanKind::Consumer => "consumer",
    }
}

/// A Go duration (`300ms`, `1.5h`, `2h45m`, `10us`), in nanoseconds.
pub(crate) fn go_duration(text: &str) -> Option<u64> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(0);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let (unit, scale) = [
            ("ns", 1.0),
            ("us", 1e3),
            ("µs", 1e3),
            ("ms", 1e6),
            ("s", 1e9),
            ("m", 60e9),
            ("h", 3600e9),
        ]
        .into_iter()
        // In this order, `ms` is read before `m` and `s`.
        .find(|(u, _)| rest.starts_with(u))?;
        rest = &rest[unit.len()..];
        total += number * scale;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (total.is_finite() && total >= 0.0).then_some(total as u64)
}

/// Tempo's tag search (`tags=service.name=shop http.url="/api x"`): every
/// pair must match a span, its value as a case-insensitive substring of the
/// span's or its resource's attribute (or of the span's name for `name`).
pub(crate) fn parse_tags(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or_else(|| format!("tags: expected key=value pairs (logfmt), got {rest:?}"))?;
        let key = rest[..eq].trim().to_owned();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!(
                "tags: expected key=value pairs (logfmt), got {rest:?}"
            ));
        }
        rest = &rest[eq + 1..];
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| format!("tags: the value of {key} is not closed"))?;
            let value = quoted[..end].to_owned();
            rest = &quoted[end + 1..];
            value
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let value = rest[..end].to_owned();
            rest = &rest[end..];
            value
        };
        pairs.push((key, value.to_lowercase()));
        rest = rest.trim_start();
    }
    Ok(pairs)
}

/// Whether a span matches every tag of a tag search: its name, status,
/// or the first attribute of the tag's name (the span's, else its
/// resource's) contains the value, ignoring case.
pub(crate) fn matches_tags(tags: &[(String, String)], span: &dyn SpanView) -> bool {
    tags.iter().all(|(key, value)| {
        let contains = |text: &str| text.to_lowercase().contains(value.as_str());
        if key == "name" && contains(span.name()) {
            return true;
        }
        if key == "status.code" && contains(status_keyword(span.status_code())) {
            return true;
        }
        span.attribute(key)
            .or_else(|| first(span.resource(), key).cloned())
            .is_some_and(|v| contains(&otelvault_codec::values::as_string(Some(&v))))
    })
}

/// A search's span conditions and tags as a test the reader applies to
/// the columns they name, before it decodes anything else of a row: the
/// comparisons of `duration` as bounds on the `Duration` column, the rest
/// as a test of views.
pub(crate) fn span_test(conditions: &[&Condition], tags: &[(String, String)]) -> SpanTest {
    let mut durations = 0..=u64::MAX;
    let mut rest = Vec::new();
    for condition in conditions {
        match (&condition.field, condition.op, &condition.value) {
            (Field::Duration, Op::Eq | Op::Gt | Op::Ge | Op::Lt | Op::Le, Literal::Duration(w)) => {
                let w = *w;
                let (low, high) = match condition.op {
                    Op::Eq => (Some(w), Some(w)),
                    Op::Gt => (w.checked_add(1), Some(u64::MAX)),
                    Op::Ge => (Some(w), Some(u64::MAX)),
                    Op::Lt => (Some(0), w.checked_sub(1)),
                    _ => (Some(0), Some(w)),
                };
                durations = match (low, high) {
                    (Some(low), Some(high)) => {
                        (*durations.start()).max(low)..=(*durations.end()).min(high)
                    }
                    // Nothing is longer than the longest, or shorter than 0.
                    _ => SpanTest::NO_DURATIONS,
                };
            }
            (Field::TraceDuration | Field::RootName | Field::RootServiceName, ..) => {}
            _ => rest.push((*condition).clone()),
        }
    }
    let mut fields = SpanFields::default();
    for condition in &rest {
        match condition.field {
            Field::Resource(_) => fields.resource = true,
            Field::Span(_) => fields.attributes = true,
            Field::Any(_) => (fields.attributes, fields.resource) = (true, true),
            Field::Name => fields.name = true,
            Field::Status | Field::StatusMessage => fields.status = true,
            Field::Kind => fields.kind = true,
            Field::Duration => fields.duration = true,
            Field::TraceDuration | Field::RootName | Field::RootServiceName => {}
        }
    }
    if !tags.is_empty() {
        (fields.name, fields.status) = (true, true);
        (fields.attributes, fields.resource) = (true, true);
    }
    let tags = tags.to_vec();
    let test: Option<Arc<SpanPredicate>> = (!rest.is_empty() || !tags.is_empty()).then(|| {
        Arc::new(move |span: &dyn SpanView| {
            rest.iter().all(|c| c.matches_span(span)) && matches_tags(&tags, span)
        }) as Arc<SpanPredicate>
    });
    SpanTest {
        durations,
        fields,
        test,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otelvault_codec::proto::trace::Span;
    use otelvault_codec::values::attribute as kv;
    use otelvault_codec::view::OtlpSpan;

    #[test]
    fn grafanas_builder_queries_parse() {
        let f = parse(r#"{resource.service.name="frontend" && name="GET /" && status=error && span.http.status_code>=500 && duration>100ms && .region=~"eu-.*"}"#)
            .expect("parses");
        assert_eq!(f.conditions.len(), 6);
        assert_eq!(
            f.conditions[0].field,
            Field::Resource("service.name".into())
        );
        assert_eq!(f.conditions[3].op, Op::Ge);
        assert_eq!(f.conditions[4].value, Literal::Duration(100_000_000));
        assert!(parse("{}").expect("empty").conditions.is_empty());
        // Bounded: conditions, and what a regular expression may cost.
        let many = vec!["name = \"x\""; 33].join(" && ");
        assert!(
            parse(&format!("{{ {many} }}"))
                .expect_err("33")
                .contains("more than 32")
        );
        let long = "a".repeat(2000);
        assert!(parse(&format!("{{ name =~ \"{long}\" }}")).is_err());
        assert!(
            parse("{ name =~ \"(a{1000}){1000}\" }").is_err(),
            "too costly to compile"
        );
        assert!(parse("").expect("nothing").conditions.is_empty());
        assert_eq!(
            parse("{ trace:duration > 2s }").expect("trace").conditions[0].field,
            Field::TraceDuration
        );
    }

    #[test]
    fn what_is_not_supported_says_so() {
        let err = |q: &str| parse(q).expect_err(q);
        assert!(err(r#"{ name = "a" || name = "b" }"#).contains("|| is not supported"));
        assert!(err(r#"{ name = "a" } | count() > 2"#).contains("pipelines"));
        assert!(err(r#"{ name = "a" } && { name = "b" }"#).contains("after the spanset"));
        assert!(err(r#"{ service.name = "a" }"#).contains("resource.service.name"));
        assert!(err(r#"{ name = frontend }"#).contains("quote strings"));
        assert!(err(r#"{ status = failed }"#).contains("quote strings"));
        assert!(err(r#"{ status = "error" }"#).contains("expected one of error, ok, unset"));
        assert!(err(r#"{ duration > 5 }"#).contains("durations compare"));
        assert!(err(r#"{ name = "a" "#).contains("expected && or }"));
    }

    #[test]
    fn duration_comparisons_become_bounds_on_the_column() {
        let test = |q: &str| {
            let filter = parse(q).expect(q);
            let conditions: Vec<&Condition> = filter.conditions.iter().collect();
            span_test(&conditions, &[])
        };
        let bounded = test("{ duration > 4ms && duration <= 1s && trace:duration > 1s }");
        assert_eq!(bounded.durations, 4_000_001..=1_000_000_000);
        assert!(bounded.test.is_none(), "nothing left for views");
        assert_eq!(test("{ duration = 5ms }").durations, 5_000_000..=5_000_000);
        assert!(test("{ duration < 0ms }").durations.is_empty());
        let mixed = test(r#"{ duration >= 2ms && duration != 5ms && name = "a" }"#);
        assert_eq!(mixed.durations, 2_000_000..=u64::MAX);
        assert!(mixed.fields.duration && mixed.fields.name);
        let span = |ms: u64, name: &str| Span {
            name: name.into(),
            end_time_unix_nano: ms * 1_000_000,
            ..Span::default()
        };
        let passes = |span: &Span| {
            mixed.passes(&OtlpSpan {
                resource: &[],
                span,
            })
        };
        assert!(passes(&span(3, "a")));
        assert!(!passes(&span(5, "a")), "!= stays a test of views");
        assert!(!passes(&span(1, "a")), "below the bound");
        assert!(!passes(&span(3, "b")));
    }

    #[test]
    fn conditions_match_spans_by_type() {
        let span = Span {
            name: "GET /cart".into(),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 250_001_000,
            attributes: vec![
                kv("http.status_code", any_value::Value::IntValue(503)),
                kv("region", any_value::Value::StringValue("eu-west-1".into())),
            ],
            status: Some(otelvault_codec::proto::trace::Status {
                code: status::StatusCode::Error as i32,
                ..Default::default()
            }),
            ..Default::default()
        };
        let resource = [kv(
            "service.name",
            any_value::Value::StringValue("cart".into()),
        )];
        let holds = |q: &str| {
            parse(q).expect(q).conditions.iter().all(|c| {
                c.matches_span(&OtlpSpan {
                    resource: &resource,
                    span: &span,
                })
            })
        };
        assert!(holds(
            r#"{ resource.service.name = "cart" && span.http.status_code >= 500 }"#
        ));
        assert!(holds(
            r#"{ .service.name = "cart" && .region =~ "eu-.*" && kind = server }"#
        ));
        assert!(holds(
            "{ status = error && duration > 200ms && duration < 1s }"
        ));
        assert!(
            !holds(r#"{ span.http.status_code = "503" }"#),
            "TraceQL compares types"
        );
        assert!(
            !holds(r#"{ span.missing != "x" }"#),
            "a missing attribute satisfies nothing"
        );
        assert!(
            !holds(r#"{ .region =~ "eu" }"#),
            "regular expressions are anchored"
        );
        assert!(!holds("{ status = ok }"));
        let tags = parse_tags(r#"service.name=CAR region="eu-west" name=cart"#).expect("tags");
        let view = OtlpSpan {
            resource: &resource,
            span: &span,
        };
        assert!(matches_tags(&tags, &view));
        assert!(!matches_tags(
            &parse_tags("region=us").expect("tags"),
            &view
        ));
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("100ms"), Some(100_000_000));
        assert_eq!(go_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(
            go_duration("2h45m"),
            Some((2 * 3600 + 45 * 60) * 1_000_000_000)
        );
        assert_eq!(go_duration("10us"), Some(10_000));
        assert_eq!(go_duration("0"), Some(0));
        assert_eq!(go_duration("5"), None);
        assert_eq!(go_duration("fast"), None);
    }
}
