//! Codec throughput on a realistic ~1 MiB trace batch: 20 services, several
//! scopes each, spans with 8 attributes, events on some. Criterion prints
//! MB/s (of protobuf input for decoding, of the encoded output for encoding).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use otelvault_codec::{Batch, Compression, Format, Signal};
use std::hint::black_box;

#[allow(clippy::print_stderr)] // Benchmarks print their figures.
fn bench(c: &mut Criterion) {
    let batch = Batch::Traces(otelvault_testkit::data::trace_batch(1 << 20));
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
