//! OTLP data for tests and benchmarks: the sample payloads, and generated
//! batches of any size.

use otelvault_codec::{Batch, Format, Signal};

use otelvault_codec::proto::collector_trace::ExportTraceServiceRequest;
use otelvault_codec::proto::common::{InstrumentationScope, any_value};
use otelvault_codec::proto::resource::Resource;
use otelvault_codec::proto::trace::{ResourceSpans, ScopeSpans, Span, Status, span};
use otelvault_codec::values::attribute as kv;

fn s(v: impl Into<String>) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

/// One hour of benchmark traffic from `hour` (unix nanoseconds): two
/// batches a minute of about 420 KB of protobuf each (1,080 spans over 20
/// services), with distinct span ids and times spread over their minute,
/// and traces (of five spans) that belong to one batch each. Yields each
/// batch with the start of its minute.
pub fn minute_batches(hour: u64) -> impl Iterator<Item = (u64, ExportTraceServiceRequest)> {
    const MINUTE: u64 = 60_000_000_000;
    let template = trace_batch(420_000);
    (0..60u64).flat_map(move |minute| {
        let template = template.clone();
        (0..2u64).map(move |object| {
            let mut batch = template.clone();
            let mut k = 0u64;
            for rs in &mut batch.resource_spans {
                for ss in &mut rs.scope_spans {
                    for span in &mut ss.spans {
                        k += 1;
                        span.start_time_unix_nano =
                            hour + minute * MINUTE + (object * 1000 + k) * 20_000_000;
                        span.end_time_unix_nano = span.start_time_unix_nano + 5_000_000;
                        span.span_id = (minute << 32 | object << 20 | k).to_be_bytes().to_vec();
                        let tag = (hour / (60 * MINUTE)) << 16 | minute << 8 | object;
                        for (byte, t) in span.trace_id.iter_mut().zip(tag.to_be_bytes()) {
                            *byte ^= t;
                        }
                    }
                }
            }
            (hour + minute * MINUTE, batch)
        })
    })
}

/// A metrics export of about `target` bytes of protobuf, shaped as an SDK
/// sends one: a service's gauges, sums and histograms (50 names, in ms)
/// over 20 routes and 5 hosts, every point at the time of the collection.
pub fn metric_batch(
    target: usize,
) -> otelvault_codec::proto::collector_metrics::ExportMetricsServiceRequest {
    use otelvault_codec::proto::collector_metrics::ExportMetricsServiceRequest;
    use otelvault_codec::proto::metrics::{
        Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
        ScopeMetrics, Sum, metric::Data, number_data_point,
    };
    let time = 1_730_000_000_000_000_000;
    let mut metrics = Vec::new();
    let mut size = 0;
    let mut i = 0u64;
    while size < target {
        let attributes = vec![
            kv("http.route", s(format!("/route/{}", i % 20))),
            kv("host.name", s(format!("host-{}", (i / 20) % 5))),
        ];
        #[allow(clippy::cast_precision_loss)]
        let number = NumberDataPoint {
            attributes: attributes.clone(),
            time_unix_nano: time,
            value: Some(number_data_point::Value::AsDouble(i as f64)),
            ..Default::default()
        };
        let data = match i % 3 {
            0 => Data::Gauge(Gauge {
                data_points: vec![number],
            }),
            1 => Data::Sum(Sum {
                data_points: vec![number],
                aggregation_temporality: 1,
                is_monotonic: true,
            }),
            _ => Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes,
                    time_unix_nano: time,
                    count: 10,
                    sum: Some(123.0),
                    bucket_counts: vec![1, 2, 3, 4, 0],
                    explicit_bounds: vec![5.0, 10.0, 25.0, 50.0],
                    min: Some(1.0),
                    max: Some(40.0),
                    ..Default::default()
                }],
                aggregation_temporality: 1,
            }),
        };
        let metric = Metric {
            name: format!("app.metric.{}", (i / 100) % 50),
            unit: "ms".into(),
            data: Some(data),
            ..Default::default()
        };
        size += prost::Message::encoded_len(&metric) + 4;
        metrics.push(metric);
        i += 1;
    }
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("bench"))],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A realistic trace batch of about `target` bytes of protobuf: services
/// with five resource attributes, three scopes each, spans with eight
/// attributes, an event on every tenth span.
pub fn trace_batch(target: usize) -> ExportTraceServiceRequest {
    let mut req = ExportTraceServiceRequest::default();
    let mut n: u64 = 0;
    let t0 = 1_730_000_000_000_000_000u64;
    while prost::Message::encoded_len(&req) < target {
        let svc = req.resource_spans.len();
        let mut rs = ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", s(format!("service-{svc}"))),
                    kv("service.version", s("2.14.1")),
                    kv("deployment.environment", s("production")),
                    kv(
                        "host.name",
                        s(format!(
                            "ip-10-0-{}-{}.ec2.internal",
                            svc % 7,
                            svc * 13 % 251
                        )),
                    ),
                    kv("cloud.region", s("eu-west-1")),
                ],
                ..Default::default()
            }),
            schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            ..Default::default()
        };
        for scope in ["http", "db", "messaging"] {
            let mut ss = ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: format!("io.opentelemetry.{scope}"),
                    version: "1.38.0".into(),
                    ..Default::default()
                }),
                ..Default::default()
            };
            for _ in 0..40 {
                n += 1;
                let start = t0 + n * 1_000_003;
                let mut trace_id = [0u8; 16];
                trace_id[..8].copy_from_slice(&(n / 5).to_be_bytes());
                trace_id[8..]
                    .copy_from_slice(&(n.wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_be_bytes());
                ss.spans.push(Span {
                    trace_id: trace_id.to_vec(),
                    span_id: n.wrapping_mul(0x2545_f491_4f6c_dd1d).to_be_bytes().to_vec(),
                    // Five spans a trace; the first trace has no span 0,
                    // so its first span is its root (a parent id of zeros
                    // is refused at ingest).
                    parent_span_id: if n.is_multiple_of(5) || n == 1 {
                        vec![]
                    } else {
                        (n - 1).to_be_bytes().to_vec()
                    },
                    name: format!("{scope} GET /api/v1/orders/{{id}}"),
                    kind: (n % 5) as i32 + 1,
                    start_time_unix_nano: start,
                    end_time_unix_nano: start + 1_000_000 + n % 9_000_000,
                    attributes: vec![
                        kv("http.request.method", s("GET")),
                        kv("http.route", s("/api/v1/orders/{id}")),
                        kv(
                            "url.full",
                            s(format!("https://shop.example.com/api/v1/orders/{n}")),
                        ),
                        kv(
                            "http.response.status_code",
                            any_value::Value::IntValue(200 + (n % 3) as i64 * 100),
                        ),
                        kv("server.address", s("shop.example.com")),
                        kv("network.protocol.version", s("1.1")),
                        kv("user_agent.original", s("Mozilla/5.0 (X11; Linux x86_64)")),
                        kv("retry.ratio", any_value::Value::DoubleValue(n as f64 / 7.0)),
                    ],
                    events: if n.is_multiple_of(10) {
                        vec![span::Event {
                            time_unix_nano: start + 500,
                            name: "exception".into(),
                            attributes: vec![kv(
                                "exception.message",
                                s("connection reset by peer"),
                            )],
                            ..Default::default()
                        }]
                    } else {
                        vec![]
                    },
                    status: Some(Status {
                        code: if n.is_multiple_of(10) { 2 } else { 0 },
                        ..Default::default()
                    }),
                    ..Default::default()
                });
            }
            rs.scope_spans.push(ss);
        }
        req.resource_spans.push(rs);
    }
    req
}

/// The sample OTLP/JSON payload of `signal` (`samples/otlp/{signal}.json`), decoded.
pub fn sample(signal: Signal) -> Batch {
    let text = match signal {
        Signal::Traces => include_str!("../../../samples/otlp/traces.json"),
        Signal::Metrics => include_str!("../../../samples/otlp/metrics.json"),
        Signal::Logs => include_str!("../../../samples/otlp/logs.json"),
    };
    Batch::decode(signal, Format::Json, text.as_bytes()).expect("sample")
}

/// Every item of `batch` (span, log record, data point) on its own, with
/// its resource and scope, in document order, encoded: two batches hold
/// the same items in the same order exactly when these are equal.
pub fn item_by_item(batch: &Batch) -> Vec<Vec<u8>> {
    (0..batch.item_count())
        .map(|k| {
            let mut one = batch.clone();
            let mut seen = 0;
            otelvault_codec::filter::retain_items(&mut one, |_| {
                seen += 1;
                seen - 1 == k
            });
            one.encode(Format::Protobuf)
        })
        .collect()
}
