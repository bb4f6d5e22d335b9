//! How fast OTLP metrics become EMF events: a 1 MiB export shaped as an
//! SDK sends one (points at one time, 100 label sets), converted and
//! written as lines. Prints MiB of protobuf per second, points per second
//! and the events made.
//!
//! Run with `make bench` (or `cargo bench -p otelvault-emf`).

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::time::Instant;

use otelvault_emf::{Config, Converter};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let batch = otelvault_testkit::data::metric_batch(1 << 20);
    let bytes = prost::Message::encoded_len(&batch);
    let points: usize = otelvault_codec::Batch::Metrics(batch.clone()).item_count();
    let converter = Converter::new(Config::default());
    // Warm: a cumulative stream's first points are kept, not sent.
    let out = converter.convert(&batch);
    let events = out.events.len();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let started = Instant::now();
        let rounds = 10;
        for _ in 0..rounds {
            let out = converter.convert(&batch);
            let text: usize = out.events.iter().map(|e| e.to_line().len() + 1).sum();
            std::hint::black_box(text);
        }
        best = best.min(started.elapsed().as_secs_f64() / f64::from(rounds));
    }
    println!(
        "EMF conversion of a {:.2} MiB metrics export ({points} points, {events} events): {:.1} ms, {:.0} MiB/s, {:.0} points/s",
        bytes as f64 / 1048576.0,
        best * 1000.0,
        bytes as f64 / 1048576.0 / best,
        points as f64 / best,
    );
}
