//! End-to-end tests: the real `otelvault` binary, a real S3-compatible
//! server (moto) on 127.0.0.1, and real OpenTelemetry SDK exporters
//! (Python protobuf and JSON, Node.js JSON and protobuf).

mod cli;
mod compact;
mod deploy;
mod emf;
mod exporters;
mod faults;
mod forward;
mod grpc;
mod hostile;
mod lambda;
mod loki;
mod readme;
mod replay;
mod smoke;
mod sql;
mod support;
mod tempo;
mod terraform;
mod xray;
