//! Traffic that looks like production, for benchmarks and the figures the
//! docs quote: what SDKs behind a Collector send.
//!
//! - **Traces**: trees of spans across twenty services (three instances
//!   each), rooted at the edge, with client/server pairs between services,
//!   database and messaging spans; random 128-bit trace ids and 64-bit span
//!   ids; root durations from a log-normal, children inside their parents;
//!   high-cardinality values (client addresses, user and session ids, URLs
//!   with ids, SQL statements); failed spans with exception events and
//!   stack traces. Spans are sent as they end, in requests of a set size
//!   that group them by resource and scope as the Collector's batch
//!   processor does.
//! - **Logs**: records of every severity with plain, JSON and multi-line
//!   stack-trace bodies, trace context on most, typed attributes.
//! - **Metrics**: every minute, each instance's gauges, cumulative sums,
//!   histograms, exponential histograms and (Java services) summaries over
//!   realistic label sets.
//!
//! Everything comes from a seeded generator: one seed, one corpus.

use otelvault_codec::proto::collector_logs::ExportLogsServiceRequest;
use otelvault_codec::proto::collector_metrics::ExportMetricsServiceRequest;
use otelvault_codec::proto::collector_trace::ExportTraceServiceRequest;
use otelvault_codec::proto::common::{InstrumentationScope, KeyValue, any_value};
use otelvault_codec::proto::logs::{LogRecord, ResourceLogs, ScopeLogs};
use otelvault_codec::proto::metrics::{
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint, exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile,
};
use otelvault_codec::proto::resource::Resource;
use otelvault_codec::proto::trace::{ResourceSpans, ScopeSpans, Span, Status, span, status};
use otelvault_codec::values::attribute;

const MINUTE: u64 = 60_000_000_000;

/// A seeded SplitMix64 generator: fast, and the same numbers for the
/// same seed on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.unit().max(f64::MIN_POSITIVE);
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos()
    }

    /// A log-normal with this median and shape.
    pub fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// One of `items`, uniformly.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An index in `0..n` where small ones are much more likely (popular
    /// users, hot routes).
    pub fn skewed(&mut self, n: u64) -> u64 {
        let u = self.unit();
        ((u * u * u) * n as f64) as u64
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

fn text(key: &str, value: impl Into<String>) -> KeyValue {
    attribute(key, any_value::Value::StringValue(value.into()))
}

fn int(key: &str, value: i64) -> KeyValue {
    attribute(key, any_value::Value::IntValue(value))
}

fn boolean(key: &str, value: bool) -> KeyValue {
    attribute(key, any_value::Value::BoolValue(value))
}

fn double(key: &str, value: f64) -> KeyValue {
    attribute(key, any_value::Value::DoubleValue(value))
}

/// A service of the system: name, language, what it serves and calls.
struct ServiceDef {
    name: &'static str,
    language: &'static str,
    routes: &'static [&'static str],
    calls: &'static [usize],
    database: Option<&'static str>,
    topic: Option<&'static str>,
}

const fn service(
    name: &'static str,
    language: &'static str,
    routes: &'static [&'static str],
    calls: &'static [usize],
    database: Option<&'static str>,
    topic: Option<&'static str>,
) -> ServiceDef {
    ServiceDef {
        name,
        language,
        routes,
        calls,
        database,
        topic,
    }
}

/// The system: the edge (0, 1) calls the middle, which calls the back.
const SERVICES: [ServiceDef; 20] = [
    service(
        "frontend",
        "nodejs",
        &["/", "/product/{id}", "/cart", "/checkout", "/search"],
        &[2, 3, 4, 5, 8, 10],
        None,
        None,
    ),
    service(
        "api-gateway",
        "go",
        &[
            "/api/v1/orders/{id}",
            "/api/v1/users/{id}",
            "/api/v1/products",
        ],
        &[2, 6, 9, 12],
        None,
        None,
    ),
    service(
        "product-catalog",
        "go",
        &["/products/{id}", "/products"],
        &[13],
        Some("postgresql"),
        None,
    ),
    service(
        "cart",
        "dotnet",
        &["/cart/{user}", "/cart/{user}/items"],
        &[14],
        Some("redis"),
        None,
    ),
    service(
        "checkout",
        "go",
        &["/checkout/{order}"],
        &[3, 7, 11, 15, 16],
        Some("postgresql"),
        Some("orders"),
    ),
    service(
        "recommendation",
        "python",
        &["/recommendations/{user}"],
        &[2, 13],
        None,
        None,
    ),
    service(
        "user",
        "java",
        &["/users/{id}", "/users/{id}/sessions"],
        &[17],
        Some("postgresql"),
        None,
    ),
    service(
        "payment",
        "java",
        &["/charge/{order}"],
        &[18],
        Some("postgresql"),
        Some("payments"),
    ),
    service(
        "search",
        "java",
        &["/search"],
        &[2, 19],
        Some("elasticsearch"),
        None,
    ),
    service(
        "orders",
        "go",
        &["/orders/{id}", "/orders"],
        &[6, 15],
        Some("postgresql"),
        None,
    ),
    service("ad", "java", &["/ads"], &[], Some("redis"), None),
    service(
        "shipping",
        "python",
        &["/quote/{order}", "/ship/{order}"],
        &[19],
        Some("postgresql"),
        None,
    ),
    service(
        "inventory",
        "dotnet",
        &["/stock/{sku}"],
        &[],
        Some("postgresql"),
        None,
    ),
    service(
        "pricing",
        "python",
        &["/price/{sku}"],
        &[],
        Some("redis"),
        None,
    ),
    service(
        "session",
        "go",
        &["/sessions/{id}"],
        &[],
        Some("redis"),
        None,
    ),
    service("currency", "nodejs", &["/convert"], &[], None, None),
    service(
        "fraud-detection",
        "java",
        &["/score/{order}"],
        &[],
        Some("postgresql"),
        None,
    ),
    service(
        "auth",
        "go",
        &["/token", "/verify"],
        &[],
        Some("redis"),
        None,
    ),
    service(
        "ledger",
        "java",
        &["/entries/{id}"],
        &[],
        Some("postgresql"),
        None,
    ),
    service("email", "python", &["/send"], &[], None, None),
];

const INSTANCES: u64 = 3;

fn sdk_version(language: &str) -> &'static str {
    match language {
        "go" => "1.32.0",
        "java" => "1.44.1",
        "python" => "1.28.2",
        "dotnet" => "1.9.0",
        _ => "1.27.0",
    }
}

/// The resource of instance `i` of service `s`, as SDK detectors fill it.
fn resource(s: usize, i: u64) -> Resource {
    let def = &SERVICES[s];
    let pod = format!(
        "{}-7d9f8b{:03x}-{:05x}",
        def.name,
        s * 7 + 11,
        (s as u64 * 977 + i * 31_337) % 0xfffff
    );
    Resource {
        attributes: vec![
            text("service.name", def.name),
            text("service.namespace", "shop"),
            text("service.version", format!("2.{}.{}", s % 7, i)),
            text(
                "service.instance.id",
                format!(
                    "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                    s * 0x1f3d + i as usize,
                    s,
                    i,
                    s * 3,
                    (s as u64 + 1) * 0x9e37_79b9 + i
                ),
            ),
            text("deployment.environment.name", "production"),
            text(
                "host.name",
                format!("ip-10-0-{}-{}.ec2.internal", s % 8, 20 + i * 17 + s as u64),
            ),
            text("k8s.namespace.name", "shop"),
            text("k8s.pod.name", pod),
            text("k8s.deployment.name", def.name),
            text("cloud.provider", "aws"),
            text("cloud.region", "eu-west-1"),
            int("process.pid", 1 + (s as i64 * 131 + i as i64 * 17) % 32_000),
            text("telemetry.sdk.name", "opentelemetry"),
            text("telemetry.sdk.language", def.language),
            text("telemetry.sdk.version", sdk_version(def.language)),
        ],
        ..Resource::default()
    }
}

fn scope(name: String, version: &str) -> InstrumentationScope {
    InstrumentationScope {
        name,
        version: version.into(),
        ..InstrumentationScope::default()
    }
}

/// The instrumentation library of a kind of span in a language.
fn span_scope(language: &str, what: &str) -> InstrumentationScope {
    let (name, version) = match (language, what) {
        ("go", "http") => (
            "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
            "0.57.0",
        ),
        ("go", "db") => ("github.com/XSAM/otelsql", "0.35.0"),
        ("java", "http") => ("io.opentelemetry.tomcat-10.0", "2.10.0-alpha"),
        ("java", "db") => ("io.opentelemetry.jdbc", "2.10.0-alpha"),
        ("python", "http") => ("opentelemetry.instrumentation.flask", "0.49b2"),
        ("python", "db") => ("opentelemetry.instrumentation.psycopg2", "0.49b2"),
        ("dotnet", "http") => ("Microsoft.AspNetCore", "8.0.0"),
        ("dotnet", "db") => ("OpenTelemetry.Instrumentation.SqlClient", "1.9.0-beta.1"),
        ("nodejs", "http") => ("@opentelemetry/instrumentation-http", "0.54.2"),
        ("nodejs", "db") => ("@opentelemetry/instrumentation-pg", "0.47.1"),
        (_, "messaging") => ("io.opentelemetry.kafka-clients-2.6", "2.10.0-alpha"),
        _ => ("app", "1.0.0"),
    };
    scope(name.into(), version)
}

/// A span and where it was recorded: service, instance, instrumentation.
struct Recorded {
    service: usize,
    instance: u64,
    scope: &'static str,
    span: Span,
}

const USER_AGENTS: [&str; 6] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
];

const ERRORS: [(&str, &str); 5] = [
    (
        "java.net.SocketTimeoutException",
        "Read timed out after 5000 ms",
    ),
    (
        "org.postgresql.util.PSQLException",
        "ERROR: deadlock detected",
    ),
    (
        "io.grpc.StatusRuntimeException",
        "UNAVAILABLE: upstream connect error",
    ),
    ("ValueError", "invalid literal for int() with base 10"),
    (
        "System.InvalidOperationException",
        "Sequence contains no elements",
    ),
];

/// A stack trace as the language prints it, 8 to 24 frames.
fn stack_trace(rng: &mut Rng, language: &str, service: &str, error: (&str, &str)) -> String {
    let frames = 8 + rng.below(17);
    let mut out = format!("{}: {}\n", error.0, error.1);
    let modules = [
        "handler",
        "service",
        "repository",
        "client",
        "middleware",
        "router",
        "pool",
    ];
    for f in 0..frames {
        let module = rng.pick(&modules);
        let line = 20 + rng.below(900);
        let frame = match language {
            "java" => format!(
                "\tat com.shop.{}.{module}.{}Impl.process{f}({}{}.java:{line})\n",
                service.replace('-', ""),
                module,
                module,
                f % 3
            ),
            "python" => format!(
                "  File \"/app/{service}/{module}.py\", line {line}, in handle_{f}\n    result = self.{module}.call(request)\n"
            ),
            "go" => format!(
                "github.com/shop/{service}/internal/{module}.(*{module}).Handle{f}(...)\n\t/src/internal/{module}/{module}.go:{line} +0x{:x}\n",
                rng.below(0x400)
            ),
            _ => format!(
                "   at Shop.{}.{module}.Process{f}() in /src/{module}.cs:line {line}\n",
                service.replace('-', "")
            ),
        };
        out.push_str(&frame);
    }
    out
}

/// A random IPv4 address of a client.
fn client_address(rng: &mut Rng) -> String {
    let a = rng.next_u64();
    format!(
        "{}.{}.{}.{}",
        1 + a % 223,
        (a >> 8) % 256,
        (a >> 16) % 256,
        1 + (a >> 24) % 254
    )
}

/// One trace's spans, recorded by the services that ran them.
struct TraceBuilder<'a> {
    rng: &'a mut Rng,
    trace_id: Vec<u8>,
    user: u64,
    session: String,
    client: String,
    spans: Vec<Recorded>,
}

impl TraceBuilder<'_> {
    fn span(
        &mut self,
        parent: &[u8],
        name: String,
        kind: span::SpanKind,
        start: u64,
        duration: u64,
    ) -> Span {
        Span {
            trace_id: self.trace_id.clone(),
            span_id: self.rng.bytes(8),
            parent_span_id: parent.to_vec(),
            flags: if parent.is_empty() || kind == span::SpanKind::Server {
                0x301
            } else {
                0x101
            },
            name,
            kind: kind as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: start + duration.max(1_000),
            ..Span::default()
        }
    }

    fn fail(&mut self, span: &mut Span, language: &str, service: &str) {
        let error = *self.rng.pick(&ERRORS);
        let time = span.start_time_unix_nano
            + (span.end_time_unix_nano - span.start_time_unix_nano) * 9 / 10;
        span.status = Some(Status {
            code: status::StatusCode::Error as i32,
            message: format!("{}: {}", error.0, error.1),
        });
        span.events.push(span::Event {
            time_unix_nano: time,
            name: "exception".into(),
            attributes: vec![
                text("exception.type", error.0),
                text(
                    "exception.message",
                    format!("{} (request {:x})", error.1, self.rng.next_u64() >> 16),
                ),
                text(
                    "exception.stacktrace",
                    stack_trace(self.rng, language, service, error),
                ),
                boolean("exception.escaped", false),
            ],
            dropped_attributes_count: 0,
        });
    }

    /// A server span of service `s` for a request from `parent`, with what
    /// it calls inside it. Returns whether it failed.
    fn serve(&mut self, s: usize, parent: &[u8], start: u64, duration: u64, depth: u32) -> bool {
        let def = &SERVICES[s];
        let instance = self.rng.below(INSTANCES);
        let route = *self.rng.pick(def.routes);
        let method = if route.contains('{') && self.rng.chance(0.3) {
            "POST"
        } else {
            "GET"
        };
        let path = route
            .replace("{id}", &self.rng.below(2_000_000).to_string())
            .replace("{user}", &self.user.to_string())
            .replace(
                "{order}",
                &format!("ord-{:08x}", self.rng.next_u64() as u32),
            )
            .replace("{sku}", &format!("SKU-{:06}", self.rng.skewed(50_000)));
        let mut server = self.span(
            parent,
            format!("{method} {route}"),
            span::SpanKind::Server,
            start,
            duration,
        );
        server.attributes = vec![
            text("http.request.method", method),
            text("url.path", path),
            text("http.route", route),
            text("url.scheme", "http"),
            text("server.address", def.name),
            int("server.port", 8080),
            text("network.protocol.version", "1.1"),
            text(
                "client.address",
                if depth == 0 {
                    self.client.clone()
                } else {
                    format!("10.0.{}.{}", s % 8, 20 + self.rng.below(60))
                },
            ),
            text(
                "user_agent.original",
                if depth == 0 {
                    USER_AGENTS[(self.user % 6) as usize]
                } else {
                    "otelhttp/0.57.0"
                },
            ),
            text("enduser.id", format!("user-{}", self.user)),
            text("session.id", self.session.clone()),
        ];
        let id = server.span_id.clone();
        // The calls it makes: one after another, inside the span.
        let mut calls: Vec<(Option<usize>, &str)> = Vec::new();
        if let Some(db) = def.database {
            for _ in 0..1 + self.rng.below(3) {
                calls.push((None, db));
            }
        }
        if depth < 4 {
            for &callee in def.calls {
                if self.rng.chance(0.55) {
                    calls.push((Some(callee), "http"));
                }
            }
        }
        if let Some(topic) = def.topic {
            calls.push((None, topic));
        }
        let mut failed = false;
        let slot = duration / (calls.len() as u64 + 1);
        for (k, (callee, what)) in calls.into_iter().enumerate() {
            let call_start = start + slot / 2 + k as u64 * slot + self.rng.below(slot / 4 + 1);
            let call_duration = (slot as f64 * (0.2 + 0.7 * self.rng.unit())) as u64;
            failed |= match callee {
                Some(callee) => {
                    self.call(s, instance, &id, callee, call_start, call_duration, depth)
                }
                None if what == "orders" || what == "payments" => {
                    self.publish(s, instance, &id, what, call_start, call_duration);
                    false
                }
                None => self.query(s, instance, &id, what, call_start, call_duration),
            };
        }
        let status_code = if failed || self.rng.chance(0.005) {
            *self.rng.pick(&[500, 502, 503])
        } else if self.rng.chance(0.03) {
            *self.rng.pick(&[400, 401, 404, 409])
        } else {
            *self.rng.pick(&[200, 200, 200, 201, 204])
        };
        server
            .attributes
            .push(int("http.response.status_code", status_code));
        server.attributes.push(int(
            "http.response.body.size",
            self.rng.log_normal(2_000.0, 1.2) as i64,
        ));
        if status_code >= 500 {
            self.fail(&mut server, def.language, def.name);
        }
        self.spans.push(Recorded {
            service: s,
            instance,
            scope: "http",
            span: server,
        });
        status_code >= 500
    }

    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        s: usize,
        instance: u64,
        parent: &[u8],
        callee: usize,
        start: u64,
        duration: u64,
        depth: u32,
    ) -> bool {
        let target = &SERVICES[callee];
        let route = *self.rng.pick(target.routes);
        let mut client = self.span(
            parent,
            format!("GET {route}"),
            span::SpanKind::Client,
            start,
            duration,
        );
        let id = client.span_id.clone();
        let delay = 150_000 + self.rng.below(400_000);
        let failed = self.serve(
            callee,
            &id,
            start + delay,
            duration.saturating_sub(2 * delay).max(50_000),
            depth + 1,
        );
        client.attributes = vec![
            text("http.request.method", "GET"),
            text(
                "url.full",
                format!(
                    "http://{}:8080{}",
                    target.name,
                    route.replace("{id}", &self.rng.below(2_000_000).to_string())
                ),
            ),
            text("server.address", target.name),
            int("server.port", 8080),
            int("http.response.status_code", if failed { 503 } else { 200 }),
        ];
        if failed {
            client.status = Some(Status {
                code: status::StatusCode::Error as i32,
                message: String::new(),
            });
        }
        let language = SERVICES[s].language;
        self.spans.push(Recorded {
            service: s,
            instance,
            scope: if language == "go" {
                "http"
            } else {
                "http-client"
            },
            span: client,
        });
        failed
    }

    fn query(
        &mut self,
        s: usize,
        instance: u64,
        parent: &[u8],
        system: &str,
        start: u64,
        duration: u64,
    ) -> bool {
        let def = &SERVICES[s];
        let table =
            ["orders", "users", "products", "sessions", "line_items"][(s + start as usize) % 5];
        let (name, mut attributes) = if system == "redis" {
            let op = *self.rng.pick(&["GET", "SET", "HGETALL", "EXPIRE"]);
            (
                op.to_owned(),
                vec![
                    text("db.system", "redis"),
                    text(
                        "db.statement",
                        format!("{op} {}:{}", table, self.rng.skewed(1_000_000)),
                    ),
                    int("db.redis.database_index", 0),
                ],
            )
        } else {
            let id = self.rng.skewed(5_000_000);
            let statement = match self.rng.below(3) {
                0 => format!("SELECT id, status, total, created_at FROM {table} WHERE id = {id}"),
                1 => format!(
                    "UPDATE {table} SET status = 'processed', updated_at = now() WHERE id = {id}"
                ),
                _ => format!(
                    "SELECT * FROM {table} WHERE user_id = {} ORDER BY created_at DESC LIMIT 20",
                    self.user
                ),
            };
            let op = statement.split(' ').next().unwrap_or("SELECT").to_owned();
            (
                format!("{op} {table}"),
                vec![
                    text("db.system", system),
                    text("db.name", "shop"),
                    text("db.statement", statement),
                    text("db.operation", op),
                    text("db.sql.table", table),
                ],
            )
        };
        attributes.push(text(
            "server.address",
            format!("{system}.shop.svc.cluster.local"),
        ));
        attributes.push(int(
            "server.port",
            if system == "redis" { 6379 } else { 5432 },
        ));
        let mut span = self.span(parent, name, span::SpanKind::Client, start, duration);
        span.attributes = attributes;
        let failed = self.rng.chance(0.004);
        if failed {
            self.fail(&mut span, def.language, def.name);
        }
        self.spans.push(Recorded {
            service: s,
            instance,
            scope: "db",
            span,
        });
        failed
    }

    fn publish(
        &mut self,
        s: usize,
        instance: u64,
        parent: &[u8],
        topic: &str,
        start: u64,
        duration: u64,
    ) {
        let message = format!("{:016x}", self.rng.next_u64());
        let mut producer = self.span(
            parent,
            format!("{topic} publish"),
            span::SpanKind::Producer,
            start,
            duration / 4,
        );
        producer.attributes = vec![
            text("messaging.system", "kafka"),
            text("messaging.destination.name", topic),
            text("messaging.operation", "publish"),
            text("messaging.message.id", message.clone()),
            int(
                "messaging.kafka.destination.partition",
                self.rng.below(12) as i64,
            ),
        ];
        let id = producer.span_id.clone();
        self.spans.push(Recorded {
            service: s,
            instance,
            scope: "messaging",
            span: producer,
        });
        // Consumed a little later by the ledger.
        let consumer_start = start + 2_000_000 + self.rng.log_normal(20_000_000.0, 1.0) as u64;
        let consumer_duration = self.rng.log_normal(3_000_000.0, 0.8) as u64;
        let mut consumer = self.span(
            &id,
            format!("{topic} process"),
            span::SpanKind::Consumer,
            consumer_start,
            consumer_duration,
        );
        consumer.attributes = vec![
            text("messaging.system", "kafka"),
            text("messaging.destination.name", topic),
            text("messaging.operation", "process"),
            text("messaging.message.id", message),
            text("messaging.consumer.group.name", "ledger"),
            int(
                "messaging.kafka.message.offset",
                self.rng.below(1 << 40) as i64,
            ),
        ];
        self.spans.push(Recorded {
            service: 18,
            instance: self.rng.below(INSTANCES),
            scope: "messaging",
            span: consumer,
        });
    }
}

/// Spans of traces rooted in `[start, start + window)`, at least `spans`.
fn minute_of_spans(rng: &mut Rng, start: u64, window: u64, spans: usize) -> Vec<Recorded> {
    let mut out = Vec::with_capacity(spans + 64);
    while out.len() < spans {
        let edge = if rng.chance(0.7) { 0 } else { 1 };
        let mut trace = TraceBuilder {
            trace_id: rng.bytes(16),
            user: rng.skewed(200_000),
            session: format!("{:016x}", rng.next_u64()),
            client: client_address(rng),
            spans: Vec::new(),
            rng,
        };
        let root_start = start + trace.rng.below(window);
        let duration = trace.rng.log_normal(40_000_000.0, 1.0) as u64;
        trace.serve(edge, &[], root_start, duration, 0);
        out.append(&mut trace.spans);
    }
    out
}

/// One hour of traces from `hour` (unix nanoseconds): about `spans` spans
/// in requests of `per_request`, each with the time it was sent (the end
/// of its last span). Spans are sent as they end; a request groups its
/// spans by resource and scope.
pub fn traces(
    hour: u64,
    spans: usize,
    per_request: usize,
    seed: u64,
) -> impl Iterator<Item = (u64, ExportTraceServiceRequest)> {
    let mut rng = Rng::new(seed ^ hour);
    let per_minute = spans.div_ceil(60);
    (0..60u64).flat_map(move |m| {
        // The last minute's traces start early enough to end in the hour.
        let window = if m == 59 {
            MINUTE - 10_000_000_000
        } else {
            MINUTE
        };
        let mut minute = minute_of_spans(&mut rng, hour + m * MINUTE, window, per_minute);
        minute.sort_by_key(|r| r.span.end_time_unix_nano);
        let mut requests = Vec::new();
        while !minute.is_empty() {
            let rest = minute.split_off(per_request.min(minute.len()));
            let chunk = std::mem::replace(&mut minute, rest);
            let sent = chunk.last().map_or(hour, |r| r.span.end_time_unix_nano);
            requests.push((sent, trace_request(chunk)));
        }
        requests
    })
}

/// Spans grouped by resource, then by scope, in their order.
fn trace_request(mut spans: Vec<Recorded>) -> ExportTraceServiceRequest {
    spans.sort_by_key(|r| (r.service, r.instance, r.scope));
    let mut request = ExportTraceServiceRequest::default();
    let mut last = None;
    for r in spans {
        let language = SERVICES[r.service].language;
        if last != Some((r.service, r.instance)) {
            last = Some((r.service, r.instance));
            request.resource_spans.push(ResourceSpans {
                resource: Some(resource(r.service, r.instance)),
                scope_spans: Vec::new(),
                schema_url: schema_url(r.service),
            });
        }
        let Some(rs) = request.resource_spans.last_mut() else {
            continue;
        };
        let scope = span_scope(language, r.scope.trim_end_matches("-client"));
        if rs
            .scope_spans
            .last()
            .is_none_or(|ss| ss.scope.as_ref() != Some(&scope))
        {
            rs.scope_spans.push(ScopeSpans {
                scope: Some(scope),
                spans: Vec::new(),
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            });
        }
        if let Some(ss) = rs.scope_spans.last_mut() {
            ss.spans.push(r.span);
        }
    }
    request
}

/// The schema URL a service's SDK reports (it differs by SDK version).
fn schema_url(service: usize) -> String {
    format!("https://opentelemetry.io/schemas/1.{}.0", 24 + service % 3)
}

const LOG_MESSAGES: [&str; 8] = [
    "Order {order} placed by user {user} for {amount} EUR",
    "User {user} signed in from {ip}",
    "Cache miss for product {sku}, loading from database",
    "Payment authorized for order {order} ({amount} EUR)",
    "Request to {service} took {ms} ms",
    "Retrying request to {service} (attempt 2 of 3)",
    "Shipment quote for order {order}: {amount} EUR",
    "Session {session} expired",
];

/// One hour of logs from `hour`: about `records` records in requests of
/// `per_request`, each with the time it was sent.
pub fn logs(
    hour: u64,
    records: usize,
    per_request: usize,
    seed: u64,
) -> impl Iterator<Item = (u64, ExportLogsServiceRequest)> {
    let mut rng = Rng::new(seed ^ hour ^ 0x10c5);
    let requests = records.div_ceil(per_request);
    let step = 3_600_000_000_000 / requests as u64;
    (0..requests as u64).map(move |r| {
        let first = hour + r * step;
        let mut rows: Vec<(usize, u64, &'static str, LogRecord)> = (0..per_request)
            .map(|_| {
                let s = rng.skewed(SERVICES.len() as u64) as usize;
                let instance = rng.below(INSTANCES);
                let time = first + rng.below(step);
                let (logger, record) = log_record(&mut rng, s, time);
                (s, instance, logger, record)
            })
            .collect();
        rows.sort_by_key(|(s, i, logger, _)| (*s, *i, *logger));
        let mut request = ExportLogsServiceRequest::default();
        let mut last = None;
        for (s, instance, logger, record) in rows {
            if last != Some((s, instance)) {
                last = Some((s, instance));
                request.resource_logs.push(ResourceLogs {
                    resource: Some(resource(s, instance)),
                    scope_logs: Vec::new(),
                    schema_url: schema_url(s),
                });
            }
            let Some(rl) = request.resource_logs.last_mut() else {
                continue;
            };
            if rl
                .scope_logs
                .last()
                .is_none_or(|sl| sl.scope.as_ref().is_none_or(|sc| sc.name != logger))
            {
                rl.scope_logs.push(ScopeLogs {
                    scope: Some(scope(logger.into(), "")),
                    log_records: Vec::new(),
                    schema_url: String::new(),
                });
            }
            if let Some(sl) = rl.scope_logs.last_mut() {
                sl.log_records.push(record);
            }
        }
        (first + step - 1, request)
    })
}

fn log_record(rng: &mut Rng, s: usize, time: u64) -> (&'static str, LogRecord) {
    let def = &SERVICES[s];
    let loggers = [
        "com.shop.web.RequestHandler",
        "com.shop.service.OrderService",
        "com.shop.db.Repository",
        "com.shop.client.HttpClient",
    ];
    let logger = *rng.pick(&loggers);
    let (severity, severity_text) = match rng.below(100) {
        0..=9 => (5, "DEBUG"),
        10..=79 => (9, "INFO"),
        80..=92 => (13, "WARN"),
        93..=98 => (17, "ERROR"),
        _ => (21, "FATAL"),
    };
    let user = rng.skewed(200_000);
    let order = format!("ord-{:08x}", rng.next_u64() as u32);
    let message = rng
        .pick(&LOG_MESSAGES)
        .replace("{order}", &order)
        .replace("{user}", &user.to_string())
        .replace("{amount}", &format!("{:.2}", rng.log_normal(40.0, 0.9)))
        .replace("{ip}", &client_address(rng))
        .replace("{sku}", &format!("SKU-{:06}", rng.skewed(50_000)))
        .replace("{service}", SERVICES[rng.below(20) as usize].name)
        .replace("{ms}", &(rng.log_normal(30.0, 1.0) as u64).to_string())
        .replace("{session}", &format!("{:016x}", rng.next_u64()));
    let body = if severity >= 17 {
        let error = *rng.pick(&ERRORS);
        format!(
            "{message}\n{}",
            stack_trace(rng, def.language, def.name, error)
        )
    } else if def.language == "go" || def.language == "nodejs" {
        // Structured loggers write JSON lines.
        format!(
            "{{\"level\":\"{}\",\"ts\":{:.6},\"caller\":\"{}/handler.go:{}\",\"msg\":\"{message}\",\"user_id\":{user},\"order_id\":\"{order}\"}}",
            severity_text.to_lowercase(),
            time as f64 / 1e9,
            def.name,
            20 + rng.below(400)
        )
    } else {
        message
    };
    let traced = rng.chance(0.8);
    let mut attributes = vec![
        text("code.function", format!("handle{}", rng.below(40))),
        int("code.lineno", 10 + rng.below(900) as i64),
        text("thread.name", format!("worker-{}", rng.below(32))),
    ];
    if rng.chance(0.4) {
        attributes.push(text("enduser.id", format!("user-{user}")));
    }
    if rng.chance(0.2) {
        attributes.push(double(
            "http.server.duration_ms",
            (rng.log_normal(30.0, 1.0) * 1000.0).round() / 1000.0,
        ));
    }
    let record = LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: time + rng.below(3_000_000),
        severity_number: severity,
        severity_text: severity_text.into(),
        body: Some(otelvault_codec::proto::common::AnyValue {
            value: Some(any_value::Value::StringValue(body)),
        }),
        attributes,
        dropped_attributes_count: 0,
        flags: u32::from(traced),
        trace_id: if traced { rng.bytes(16) } else { Vec::new() },
        span_id: if traced { rng.bytes(8) } else { Vec::new() },
        event_name: String::new(),
    };
    (logger, record)
}

/// One hour of metrics from `hour`: every minute, one request with each
/// instance's metrics (cumulative sums and histograms that grow).
pub fn metrics(hour: u64, seed: u64) -> impl Iterator<Item = (u64, ExportMetricsServiceRequest)> {
    let mut rng = Rng::new(seed ^ hour ^ 0x3e7);
    (1..=60u64).map(move |m| {
        let time = hour + m * MINUTE - 1_000_000_000 + rng.below(900_000_000);
        let mut request = ExportMetricsServiceRequest::default();
        for (s, def) in SERVICES.iter().enumerate() {
            for instance in 0..INSTANCES {
                let metrics = instance_metrics(&mut rng, s, def, instance, hour, time, m);
                request.resource_metrics.push(ResourceMetrics {
                    resource: Some(resource(s, instance)),
                    scope_metrics: vec![ScopeMetrics {
                        scope: Some(span_scope(def.language, "http")),
                        metrics,
                        schema_url: String::new(),
                    }],
                    schema_url: schema_url(s),
                });
            }
        }
        (time, request)
    })
}

const BOUNDS: [f64; 14] = [
    0.0, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
];

fn instance_metrics(
    rng: &mut Rng,
    s: usize,
    def: &ServiceDef,
    instance: u64,
    hour: u64,
    time: u64,
    minute: u64,
) -> Vec<Metric> {
    let start = hour - 3_600_000_000_000 * (1 + (s as u64 + instance) % 5);
    let point = |attributes: Vec<KeyValue>, value: number_data_point::Value| NumberDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: Some(value),
        ..NumberDataPoint::default()
    };
    let mut requests = Vec::new();
    let mut durations = Vec::new();
    for route in def.routes {
        for status in [200_i64, 404, 500] {
            let rate = rng.log_normal(if status == 200 { 50.0 } else { 1.0 }, 0.3);
            let count = (rate * (minute + 60 * ((s as u64 + instance) % 5)) as f64) as u64;
            let labels = vec![
                text("http.request.method", "GET"),
                text("http.route", *route),
                int("http.response.status_code", status),
            ];
            requests.push(point(
                labels.clone(),
                number_data_point::Value::AsInt(count as i64),
            ));
            let mut counts = vec![0u64; BOUNDS.len() + 1];
            let mut sum = 0.0;
            for _ in 0..(rate as u64).clamp(1, 60) {
                let v = rng.log_normal(0.04, 1.0);
                sum += v;
                counts[BOUNDS.partition_point(|b| *b < v)] += 1;
            }
            let scale = count as f64 / counts.iter().sum::<u64>().max(1) as f64;
            let counts: Vec<u64> = counts.iter().map(|c| (*c as f64 * scale) as u64).collect();
            durations.push(HistogramDataPoint {
                attributes: labels,
                start_time_unix_nano: start,
                time_unix_nano: time,
                count: counts.iter().sum(),
                sum: Some(sum * scale),
                bucket_counts: counts,
                explicit_bounds: BOUNDS.to_vec(),
                min: None,
                max: None,
                ..HistogramDataPoint::default()
            });
        }
    }
    let mut metrics = vec![
        Metric {
            name: "http.server.request.count".into(),
            description: "Number of HTTP requests served".into(),
            unit: "{request}".into(),
            data: Some(Data::Sum(Sum {
                data_points: requests,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            })),
            ..Metric::default()
        },
        Metric {
            name: "http.server.request.duration".into(),
            description: "Duration of HTTP server requests".into(),
            unit: "s".into(),
            data: Some(Data::Histogram(Histogram {
                data_points: durations,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
            ..Metric::default()
        },
        Metric {
            name: "process.memory.usage".into(),
            description: "The amount of physical memory in use".into(),
            unit: "By".into(),
            data: Some(Data::Gauge(Gauge {
                data_points: vec![point(
                    vec![],
                    number_data_point::Value::AsInt(rng.log_normal(300e6, 0.3) as i64),
                )],
            })),
            ..Metric::default()
        },
        Metric {
            name: "system.cpu.utilization".into(),
            unit: "1".into(),
            data: Some(Data::Gauge(Gauge {
                data_points: ["user", "system", "idle"]
                    .iter()
                    .map(|state| {
                        point(
                            vec![text("cpu.mode", *state)],
                            number_data_point::Value::AsDouble(rng.unit()),
                        )
                    })
                    .collect(),
            })),
            ..Metric::default()
        },
    ];
    let mut positive = vec![0u64; 24];
    for _ in 0..200 {
        let v = rng.log_normal(0.02, 0.8);
        let index = ((v.log2() * 4.0).floor() as i64 + 40).clamp(0, 23) as usize;
        positive[index] += 1 + minute;
    }
    metrics.push(Metric {
        name: "rpc.client.duration".into(),
        unit: "s".into(),
        data: Some(Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                attributes: vec![
                    text("rpc.system", "grpc"),
                    text("rpc.service", "shop.Inventory"),
                ],
                start_time_unix_nano: start,
                time_unix_nano: time,
                count: positive.iter().sum(),
                sum: Some(positive.iter().sum::<u64>() as f64 * 0.02),
                scale: 2,
                zero_count: 0,
                positive: Some(Buckets {
                    offset: -40,
                    bucket_counts: positive,
                }),
                ..ExponentialHistogramDataPoint::default()
            }],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        })),
        ..Metric::default()
    });
    if def.language == "java" {
        metrics.push(Metric {
            name: "jvm.gc.pause".into(),
            unit: "ms".into(),
            data: Some(Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    attributes: vec![text("jvm.gc.name", "G1 Young Generation")],
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    count: 30 * minute,
                    sum: 30.0 * minute as f64 * rng.log_normal(8.0, 0.3),
                    quantile_values: [0.5, 0.9, 0.99]
                        .iter()
                        .map(|q| ValueAtQuantile {
                            quantile: *q,
                            value: rng.log_normal(8.0 * (1.0 + q * 3.0), 0.2),
                        })
                        .collect(),
                    flags: 0,
                }],
            })),
            ..Metric::default()
        });
    }
    metrics
}
