//! The LogQL subset served: a stream selector (`{service_name="cart",
//! k8s_namespace_name=~"prod-.*"}`: `=`, `!=`, `=~`, `!~`), then any chain
//! of line filters (`|= "text"`, `!= "text"`, `|~ "regex"`, `!~ "regex"`)
//! and label filters (`| key = "v"`, `!=`, `=~`, `!~`, and the numeric
//! `>`, `>=`, `<`, `<=`; `detected_level` among the labels). Anything else
//! is refused with a message naming what is supported.
//!
//! Regular expressions are Rust's `regex` syntax (RE2's, which Loki uses);
//! label matchers are anchored at both ends, line filters match anywhere,
//! as in Loki.

use regex::Regex;

/// What the subset supports, for error messages.
pub const SUPPORTED: &str = "supported: a stream selector {label=\"v\", ...} with =, !=, =~, !~; line filters |= != |~ !~ with a \"string\"; label filters | label op value with =, !=, =~, !~, >, >=, <, <=";

/// A parsed log query.
#[derive(Debug, Clone)]
pub struct LogQuery {
    /// The stream selector's matchers (at least one).
    pub selector: Vec<Matcher>,
    /// Line and label filters, in the order they apply.
    pub stages: Vec<Stage>,
}

/// A label compared with a value.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label's name (`service_name`, `detected_level`, ...).
    pub label: String,
    /// What its value must pass.
    pub test: Test,
}

/// How a value is tested.
#[derive(Debug, Clone)]
pub enum Test {
    /// `=`: equal to the text.
    Equal(String),
    /// `!=`: not equal to it.
    NotEqual(String),
    /// `=~`: matched whole by the expression.
    Matches(Regex),
    /// `!~`: not matched whole by it.
    NotMatches(Regex),
    /// A numeric comparison: the label's value parsed as a number.
    Compare(Ordering, f64),
}

/// A numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordering {
    /// `>`
    Greater,
    /// `>=`
    GreaterOrEqual,
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
}

/// A stage of the pipeline.
#[derive(Debug, Clone)]
pub enum Stage {
    /// `|= "text"` (true) or `!= "text"` (false).
    Contains(String, bool),
    /// `|~ "regex"` (true) or `!~ "regex"` (false).
    LineMatches(Regex, bool),
    /// `| label op value`.
    Label(Matcher),
}

impl Test {
    /// Whether `value` (absent labels are empty, as in Loki) passes.
    pub fn passes(&self, value: Option<&str>) -> bool {
        let value = value.unwrap_or("");
        match self {
            Test::Equal(v) => value == v,
            Test::NotEqual(v) => value != v,
            Test::Matches(re) => re.is_match(value),
            Test::NotMatches(re) => !re.is_match(value),
            Test::Compare(ordering, bound) => {
                value.trim().parse::<f64>().is_ok_and(|n| match ordering {
                    Ordering::Greater => n > *bound,
                    Ordering::GreaterOrEqual => n >= *bound,
                    Ordering::Less => n < *bound,
                    Ordering::LessOrEqual => n <= *bound,
                })
            }
        }
    }
}

impl LogQuery {
    /// Whether a record with these labels (stream labels, structured
    /// metadata and `detected_level`, looked up by `label`) and this line
    /// passes the selector and every stage.
    pub fn passes<'a>(&self, label: impl Fn(&str) -> Option<&'a str>, line: &str) -> bool {
        self.selector.iter().all(|m| m.test.passes(label(&m.label)))
            && self.stages.iter().all(|stage| match stage {
                Stage::Contains(text, wanted) => line.contains(text.as_str()) == *wanted,
                Stage::LineMatches(re, wanted) => re.is_match(line) == *wanted,
                Stage::Label(m) => m.test.passes(label(&m.label)),
            })
    }

    /// The labels the selector and the label filters look at.
    pub fn label_names(&self) -> impl Iterator<Item = &str> {
        let filters = self.stages.iter().filter_map(|stage| match stage {
            Stage::Label(m) => Some(m),
            _ => None,
        });
        self.selector
            .iter()
            .chain(filters)
            .map(|m| m.label.as_str())
    }

    /// The texts every selected line contains (`|= "text"` filters), for
    /// reading only the records that can pass.
    pub fn required_texts(&self) -> Vec<String> {
        self.stages
            .iter()
            .filter_map(|stage| match stage {
                Stage::Contains(text, true) if !text.is_empty() => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    /// The value the selector requires of `label` with `=`, if any (for
    /// reading only the records that can pass).
    pub fn selected(&self, label: &str) -> Option<&str> {
        self.selector.iter().find_map(|m| match &m.test {
            Test::Equal(v) if m.label == label => Some(v.as_str()),
            _ => None,
        })
    }
}

/// Parses a log query.
pub fn parse(text: &str) -> Result<LogQuery, String> {
    let mut p = Parser { text, at: 0 };
    let query = p.log_query()?;
    p.end()?;
    Ok(query)
}

/// A query of either kind, or a constant (Grafana's health check sends
/// `vector(1)+vector(1)`).
#[derive(Debug, Clone)]
pub enum Expr {
    /// Lines.
    Log(LogQuery),
    /// Counts or bytes of lines over time.
    Metric(MetricQuery),
    /// `vector(n)`, and arithmetic of them.
    Constant(f64),
}

/// `[aggregation] function(log query [range])`.
#[derive(Debug, Clone)]
pub struct MetricQuery {
    /// What is counted over each window.
    pub function: RangeFunction,
    /// The lines counted.
    pub query: LogQuery,
    /// The window, nanoseconds.
    pub range: u64,
    /// How series are combined, if they are.
    pub aggregation: Option<Aggregation>,
}

/// The range functions served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFunction {
    /// Lines in the window.
    CountOverTime,
    /// Lines per second over the window.
    Rate,
    /// Bytes of the lines in the window.
    BytesOverTime,
    /// Bytes per second over the window.
    BytesRate,
}

/// `sum|count|min|max|avg [by|without (labels)]`.
#[derive(Debug, Clone)]
pub struct Aggregation {
    /// The operation.
    pub op: AggregateOp,
    /// Labels kept (`by`) or dropped (`without`); `by ()` when none given.
    pub by: bool,
    /// The labels named.
    pub labels: Vec<String>,
}

/// The aggregation operators served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateOp {
    /// Sum of the series.
    Sum,
    /// How many series.
    Count,
    /// Least.
    Min,
    /// Greatest.
    Max,
    /// Mean.
    Avg,
}

impl AggregateOp {
    /// Combines the series' values.
    pub fn apply(self, values: &[f64]) -> f64 {
        match self {
            AggregateOp::Sum => values.iter().sum(),
            AggregateOp::Count => values.len() as f64,
            AggregateOp::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
            AggregateOp::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            AggregateOp::Avg => values.iter().sum::<f64>() / values.len().max(1) as f64,
        }
    }
}

/// What metric queries support, for error messages.
pub const SUPPORTED_METRICS: &str = "metric queries: count_over_time, rate, bytes_over_time or bytes_rate of a log query over a [range], optionally in sum, count, min, max or avg with by (labels) or without (labels)";

/// Parses a log query, a metric query or a constant expression.
pub fn parse_expr(text: &str) -> Result<Expr, String> {
    let mut p = Parser { text, at: 0 };
    p.space();
    let expr = if p.rest().starts_with('{') {
        Expr::Log(p.log_query()?)
    } else if p.rest().starts_with("vector") {
        Expr::Constant(p.constant()?)
    } else {
        Expr::Metric(p.metric()?)
    };
    p.end()?;
    Ok(expr)
}

/// A Prometheus-style duration (`90s`, `5m`, `1h30m`, `7d`) in nanoseconds.
pub fn duration(text: &str) -> Option<u64> {
    const NANOS: u64 = 1_000_000_000;
    let mut total = 0u64;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let nanos = match &rest[..unit] {
            "ms" => 1_000_000,
            "s" => NANOS,
            "m" => 60 * NANOS,
            "h" => 3600 * NANOS,
            "d" => 86_400 * NANOS,
            "w" => 7 * 86_400 * NANOS,
            "y" => 365 * 86_400 * NANOS,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(nanos)?)?;
        rest = &rest[unit..];
    }
    Some(total)
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn done(&self) -> bool {
        self.at >= self.text.len()
    }

    fn space(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.space();
        if self.rest().starts_with(token) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn error(&self, expected: &str) -> String {
        let near: String = self.rest().chars().take(20).collect();
        if near.is_empty() {
            format!("expected {expected} at the end of the query; {SUPPORTED}")
        } else {
            format!(
                "expected {expected} at position {} (near {near:?}); {SUPPORTED}",
                self.at
            )
        }
    }

    fn end(&mut self) -> Result<(), String> {
        self.space();
        if self.done() {
            Ok(())
        } else {
            Err(self.error("the end of the query"))
        }
    }

    /// A selector and its stages, up to the end, a `[range]` or a `)`.
    fn log_query(&mut self) -> Result<LogQuery, String> {
        let selector = self.selector()?;
        let mut stages = Vec::new();
        loop {
            self.space();
            if self.done() || self.rest().starts_with(['[', ')']) {
                break;
            }
            stages.push(self.stage()?);
        }
        Ok(LogQuery { selector, stages })
    }

    fn word(&mut self) -> String {
        self.space();
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        self.at += len;
        rest[..len].to_owned()
    }

    /// `vector(n)` terms joined by `+ - * /`, left to right.
    fn constant(&mut self) -> Result<f64, String> {
        let mut value = self.vector()?;
        loop {
            self.space();
            let Some(op) = self.rest().chars().next().filter(|c| "+-*/".contains(*c)) else {
                return Ok(value);
            };
            self.at += 1;
            let next = self.vector()?;
            value = match op {
                '+' => value + next,
                '-' => value - next,
                '*' => value * next,
                _ => value / next,
            };
        }
    }

    fn vector(&mut self) -> Result<f64, String> {
        if self.word() != "vector" || !self.eat("(") {
            return Err(self.error("vector(<number>)"));
        }
        let n = self.number()?;
        if !self.eat(")") {
            return Err(self.error("')'"));
        }
        Ok(n)
    }

    fn metric(&mut self) -> Result<MetricQuery, String> {
        let start = self.at;
        let name = self.word();
        let op = match name.as_str() {
            "sum" => Some(AggregateOp::Sum),
            "count" => Some(AggregateOp::Count),
            "min" => Some(AggregateOp::Min),
            "max" => Some(AggregateOp::Max),
            "avg" => Some(AggregateOp::Avg),
            _ => None,
        };
        let Some(op) = op else {
            self.at = start;
            return self.range_function();
        };
        let mut grouping = self.grouping()?;
        if !self.eat("(") {
            return Err(self.error("'(' after the aggregation"));
        }
        let mut query = self.range_function()?;
        if !self.eat(")") {
            return Err(self.error("')' closing the aggregation"));
        }
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        let (by, labels) = grouping.unwrap_or((true, Vec::new()));
        query.aggregation = Some(Aggregation { op, by, labels });
        Ok(query)
    }

    /// `by (a, b)` or `without (a)`, if there.
    fn grouping(&mut self) -> Result<Option<(bool, Vec<String>)>, String> {
        self.space();
        let by = if self.rest().starts_with("by")
            && !self.rest()[2..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        {
            self.at += 2;
            true
        } else if self.rest().starts_with("without") {
            self.at += 7;
            false
        } else {
            return Ok(None);
        };
        if !self.eat("(") {
            return Err(self.error("'(' and the labels to group by"));
        }
        let mut labels = Vec::new();
        while !self.eat(")") {
            if !labels.is_empty() && !self.eat(",") {
                return Err(self.error("',' or ')'"));
            }
            labels.push(self.label()?);
        }
        Ok(Some((by, labels)))
    }

    fn range_function(&mut self) -> Result<MetricQuery, String> {
        let start = self.at;
        let function = match self.word().as_str() {
            "count_over_time" => RangeFunction::CountOverTime,
            "rate" => RangeFunction::Rate,
            "bytes_over_time" => RangeFunction::BytesOverTime,
            "bytes_rate" => RangeFunction::BytesRate,
            other => {
                self.at = start;
                let what = if other.is_empty() { "this" } else { other };
                return Err(format!(
                    "{what:?} is not served; {SUPPORTED_METRICS}; {SUPPORTED}"
                ));
            }
        };
        if !self.eat("(") {
            return Err(self.error("'(' after the function"));
        }
        let query = self.log_query()?;
        if !self.eat("[") {
            return Err(self.error("a [range] such as [5m]"));
        }
        self.space();
        let rest = self.rest();
        let close = rest.find(']').ok_or_else(|| self.error("']'"))?;
        let range = duration(&rest[..close])
            .filter(|r| *r > 0)
            .ok_or_else(|| self.error("a range such as [5m] or [1h]"))?;
        self.at += close + 1;
        if !self.eat(")") {
            return Err(self.error("')' closing the function"));
        }
        Ok(MetricQuery {
            function,
            query,
            range,
            aggregation: None,
        })
    }

    fn selector(&mut self) -> Result<Vec<Matcher>, String> {
        if !self.eat("{") {
            return Err(self.error("a stream selector such as {service_name=\"cart\"}"));
        }
        let mut matchers = Vec::new();
        loop {
            if self.eat("}") {
                break;
            }
            if !matchers.is_empty() && !self.eat(",") {
                return Err(self.error("',' or '}'"));
            }
            let label = self.label()?;
            let test = self.test(false)?;
            matchers.push(Matcher { label, test });
        }
        // Loki refuses selectors that would select every stream.
        if !matchers.iter().any(|m| !m.test.passes(Some(""))) {
            return Err(
                "the stream selector needs at least one matcher that does not match empty values, such as {service_name=\"cart\"} or {service_name=~\".+\"}"
                    .into(),
            );
        }
        Ok(matchers)
    }

    fn label(&mut self) -> Result<String, String> {
        self.space();
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|(i, c)| !(c.is_ascii_alphanumeric() || *c == '_' || (*i > 0 && *c == '.')))
            .map_or(rest.len(), |(i, _)| i);
        if len == 0 || rest.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(self.error("a label name"));
        }
        self.at += len;
        Ok(rest[..len].to_owned())
    }

    /// An operator and its value; `numeric` allows the comparisons.
    fn test(&mut self, numeric: bool) -> Result<Test, String> {
        self.space();
        for (token, ordering) in [
            (">=", Ordering::GreaterOrEqual),
            ("<=", Ordering::LessOrEqual),
            (">", Ordering::Greater),
            ("<", Ordering::Less),
        ] {
            if self.rest().starts_with(token) {
                if !numeric {
                    return Err(self.error("=, !=, =~ or !~ (comparisons are for label filters)"));
                }
                self.at += token.len();
                return self.number().map(|n| Test::Compare(ordering, n));
            }
        }
        let op = ["=~", "!~", "!=", "==", "="]
            .into_iter()
            .find(|op| self.rest().starts_with(op))
            .ok_or_else(|| self.error("=, !=, =~ or !~"))?;
        self.at += op.len();
        self.space();
        // Label filters also take bare numbers: `| status = 500`.
        let value = if numeric
            && self
                .rest()
                .starts_with(|c: char| c.is_ascii_digit() || c == '-')
        {
            let start = self.at;
            self.number()?;
            self.text[start..self.at].to_owned()
        } else {
            self.string()?
        };
        Ok(match op {
            "=" | "==" => Test::Equal(value),
            "!=" => Test::NotEqual(value),
            "=~" => Test::Matches(regex(&format!("^(?:{value})$"), &value)?),
            _ => Test::NotMatches(regex(&format!("^(?:{value})$"), &value)?),
        })
    }

    fn number(&mut self) -> Result<f64, String> {
        self.space();
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
            .unwrap_or(rest.len());
        match rest[..len].parse::<f64>() {
            Ok(n) if n.is_finite() => {
                self.at += len;
                Ok(n)
            }
            _ => Err(self.error("a number")),
        }
    }

    /// A "double-quoted" string (with \" \\ \n \t escapes) or a `raw` one.
    fn string(&mut self) -> Result<String, String> {
        self.space();
        let rest = self.rest();
        if let Some(raw) = rest.strip_prefix('`') {
            let end = raw.find('`').ok_or_else(|| self.error("a closing `"))?;
            self.at += end + 2;
            return Ok(raw[..end].to_owned());
        }
        let Some(quoted) = rest.strip_prefix('"') else {
            return Err(self.error("a \"string\""));
        };
        let mut out = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.at += i + 2;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, c @ ('"' | '\\'))) => out.push(c),
                    // Regex escapes such as \d pass through whole.
                    Some((_, c)) => {
                        out.push('\\');
                        out.push(c);
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(self.error("a closing \""))
    }

    fn stage(&mut self) -> Result<Stage, String> {
        for (token, wanted, regex_filter) in [
            ("|=", true, false),
            ("!=", false, false),
            ("|~", true, true),
            ("!~", false, true),
        ] {
            if self.eat(token) {
                let value = self.string()?;
                return Ok(if regex_filter {
                    Stage::LineMatches(regex(&value, &value)?, wanted)
                } else {
                    Stage::Contains(value, wanted)
                });
            }
        }
        if self.eat("|") {
            self.space();
            let start = self.at;
            let label = self.label()?;
            if matches!(
                label.as_str(),
                "json"
                    | "logfmt"
                    | "regexp"
                    | "pattern"
                    | "unpack"
                    | "line_format"
                    | "label_format"
                    | "drop"
                    | "keep"
                    | "decolorize"
                    | "unwrap"
            ) {
                self.space();
                if !self.rest().starts_with(['=', '!', '<', '>']) {
                    self.at = start;
                    return Err(format!(
                        "the {label} stage is not supported (labels are the record's resource and log attributes already); {SUPPORTED}"
                    ));
                }
            }
            let test = self.test(true)?;
            return Ok(Stage::Label(Matcher { label, test }));
        }
        Err(self.error("a line filter (|= != |~ !~) or a label filter (| label op value)"))
    }
}

fn regex(pattern: &str, shown: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| format!("invalid regular expression {shown:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    #[test]
    fn selectors_and_filters_decide_a_record() {
        let record = [
            ("service_name", "cart"),
            ("k8s_namespace_name", "prod-eu"),
            ("detected_level", "error"),
            ("http_status", "503"),
        ];
        let passes = |q: &str, line: &str| parse(q).expect(q).passes(labels(&record), line);
        assert!(passes(r#"{service_name="cart"}"#, "x"));
        assert!(!passes(r#"{service_name="checkout"}"#, "x"));
        assert!(passes(
            r#"{service_name="cart", k8s_namespace_name=~"prod-.*"}"#,
            "x"
        ));
        // Label regexes are anchored; line regexes are not.
        assert!(!passes(r#"{k8s_namespace_name=~"prod"}"#, "x"));
        assert!(passes(
            r#"{service_name=~"ca.t"} |~ "time(out)?""#,
            "a timeout here"
        ));
        assert!(passes(
            r#"{service_name!="checkout", service_name=~".+"}"#,
            "x"
        ));
        assert!(passes(
            r#"{service_name="cart"} |= "payment" != "retry""#,
            "payment failed"
        ));
        assert!(!passes(
            r#"{service_name="cart"} |= "payment" != "retry""#,
            "payment retry"
        ));
        assert!(!passes(r#"{service_name="cart"} !~ `\d{3}`"#, "status 503"));
        assert!(passes(
            r#"{service_name="cart"} | detected_level="error""#,
            "x"
        ));
        assert!(passes(r#"{service_name="cart"} | http_status >= 500"#, "x"));
        assert!(!passes(r#"{service_name="cart"} | http_status < 500"#, "x"));
        assert!(passes(r#"{service_name="cart"} | http_status = 503"#, "x"));
        // A missing label is empty, as in Loki.
        assert!(passes(r#"{service_name="cart"} | missing = """#, "x"));
        assert!(!passes(r#"{service_name="cart"} | missing > 1"#, "x"));
        assert!(passes(
            r#"{service_name="cart"} |= "say \"hi\"""#,
            r#"say "hi" now"#
        ));
    }

    #[test]
    fn what_is_not_served_is_refused_with_what_is() {
        for (query, names) in [
            (
                r#"{service_name="cart"} | json"#,
                "json stage is not supported",
            ),
            (
                r#"{service_name="cart"} | line_format "{{.x}}""#,
                "line_format stage",
            ),
            ("service_name=\"cart\"", "stream selector"),
            ("{}", "at least one matcher"),
            (r#"{service_name=~".*"}"#, "at least one matcher"),
            (r#"{service_name="cart""#, "',' or '}'"),
            (r#"{service_name>"1"}"#, "comparisons are for label filters"),
            (r#"{service_name="cart"} |= nope"#, "a \"string\""),
            (
                r#"{service_name=~"(unclosed"}"#,
                "invalid regular expression",
            ),
            (r#"{service_name="cart"} | x > abc"#, "a number"),
        ] {
            let error = parse(query).expect_err(query);
            assert!(error.contains(names), "{query}: {error}");
        }
        assert!(
            parse(r#"{a="b"} | json"#)
                .expect_err("json")
                .contains("supported:")
        );
    }

    #[test]
    fn an_equal_matcher_names_the_service_to_read() {
        let q = parse(r#"{service_name="cart", env=~"p.*"}"#).expect("parse");
        assert_eq!(q.selected("service_name"), Some("cart"));
        assert_eq!(q.selected("env"), None);
    }
}
