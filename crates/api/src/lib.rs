//! The query API's wire types, in one place that both the server and its
//! clients use, so that what a client sends is what the server parses:
//!
//! - [`FetchRequest`]: the body of `POST /api/{signal}/fetch`
//!   (oteleport-compatible JSON, or protobuf), parsed and validated with a
//!   message naming the offending field, and encoded by clients;
//! - [`FetchPage`]: one page of the answer, encoded by the server in JSON
//!   or protobuf and decoded by clients.

mod page;
mod request;

pub use page::{FetchPage, SkippedObject};
pub use request::{FetchRequest, FetchRequestProto, RequestError, parse_trace_id};
