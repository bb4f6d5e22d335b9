//! Codec throughput on a realistic ~1 MiB trace batch: 20 services, several
//! scopes each, spans with 8 attributes, events on some. Criterion prints
//! MB/s (of protobuf input for decoding, of the encoded output for encoding).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use otelvault_codec::proto::collector_trace::ExportTraceServiceRequest;
use otelvault_codec::proto::common::{AnyValue, InstrumentationScope, KeyValue, any_value};
use otelvault_codec::proto::resource::Resource;
use otelvault_codec::proto::trace::{ResourceSpans, ScopeSpans, Span, Status, span};
use otelvault_codec::{Batch, Compression, Format, Signal};
use std::hint::black_box;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(v: impl Into<String>) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

/// A batch of about `target` bytes of protobuf.
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
                    parent_span_id: if n.is_multiple_of(5) {
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

#[allow(clippy::print_stderr)] // Benchmarks print their figures.
fn bench(c: &mut Criterion) {
    let batch = Batch::Traces(trace_batch(1 << 20));
    let pb = batch.encode(Format::Protobuf);
    let json = batch.encode(Format::Json);
    let gz = Compression::Gzip.compress(&json).expect("gzip");
    let zst = Compression::Zstd.compress(&json).expect("zstd");
    eprintln!(
        "batch: {} spans, protobuf {} KiB, OTLP/JSON {} KiB, JSON+gzip {} KiB ({:.1}x), JSON+zstd {} KiB ({:.1}x)",
        batch.item_count(),
        pb.len() / 1024,
        json.len() / 1024,
        gz.len() / 1024,
        json.len() as f64 / gz.len() as f64,
        zst.len() / 1024,
        json.len() as f64 / zst.len() as f64,
    );

    let mut g = c.benchmark_group("traces_1MiB");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(pb.len() as u64));
    g.bench_function("protobuf_decode", |b| {
        b.iter(|| Batch::decode(Signal::Traces, Format::Protobuf, black_box(&pb)).expect("decode"))
    });
    g.bench_function("protobuf_encode", |b| {
        b.iter(|| black_box(&batch).encode(Format::Protobuf))
    });
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function("json_encode", |b| {
        b.iter(|| black_box(&batch).encode(Format::Json))
    });
    g.bench_function("json_decode", |b| {
        b.iter(|| Batch::decode(Signal::Traces, Format::Json, black_box(&json)).expect("decode"))
    });
    g.bench_function("gzip_encode_json", |b| {
        b.iter(|| Compression::Gzip.compress(black_box(&json)).expect("gzip"))
    });
    g.bench_function("zstd_encode_json", |b| {
        b.iter(|| Compression::Zstd.compress(black_box(&json)).expect("zstd"))
    });
    g.bench_function("gzip_decode_json", |b| {
        b.iter(|| {
            Compression::Gzip
                .decompress(black_box(&gz), 64 << 20)
                .expect("gunzip")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
