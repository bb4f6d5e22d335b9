//! The protobuf samples in `samples/otlp/` are the JSON samples encoded:
//! this test fails when they drift, and rewrites them when run with
//! `OTELVAULT_UPDATE_SAMPLES=1 cargo test -p otelvault-codec --test samples`.

use std::path::PathBuf;

use otelvault_codec::{Batch, Format, Signal};

#[test]
fn protobuf_samples_match_the_json_samples() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples/otlp");
    let update = std::env::var_os("OTELVAULT_UPDATE_SAMPLES").is_some();
    for signal in Signal::ALL {
        let json = std::fs::read(dir.join(format!("{signal}.json"))).expect("json sample");
        let batch = Batch::decode(signal, Format::Json, &json).expect("decode json sample");
        let encoded = batch.encode(Format::Protobuf);
        let path = dir.join(format!("{signal}.binpb"));
        if update {
            std::fs::write(&path, &encoded).expect("write sample");
        }
        let stored =
            std::fs::read(&path).expect("protobuf sample (OTELVAULT_UPDATE_SAMPLES=1 writes it)");
        assert_eq!(stored, encoded, "{} is stale", path.display());
        assert_eq!(
            Batch::decode(signal, Format::Protobuf, &stored).expect("decode"),
            batch
        );
    }
}
