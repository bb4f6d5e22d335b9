//! otelvault binary.
fn main() {}
