//! One page of a fetch answer, in JSON or protobuf.
//!
//! JSON: `{"resourceSpans": […], "nextCursor": "…", "hasMore": true,
//! "skippedObjects": [{"key": "…", "error": "…"}]}` (`resourceMetrics`,
//! `resourceLogs`). Protobuf: `Fetch{Traces,Metrics,Logs}Response`, whose
//! field 1 is the same repeated field as in `Export*ServiceRequest`, so the
//! batch's own encoding is the start of the page's: nothing is copied.

use otelvault_archive::Page;
use otelvault_codec::proto::logs::ResourceLogs;
use otelvault_codec::proto::metrics::ResourceMetrics;
use otelvault_codec::proto::trace::ResourceSpans;
use otelvault_codec::{Batch, Format, Signal, json};
use prost::Message as _;

use crate::RequestError;

/// An object the server skipped because it cannot be read as OTLP.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct SkippedObject {
    /// Object key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Why it was skipped.
    #[prost(string, tag = "2")]
    pub error: String,
}

/// One page of `POST /api/{signal}/fetch`.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchPage {
    /// The page's items, equal resources and scopes merged.
    pub batch: Batch,
    /// Cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// Objects skipped because they are unreadable.
    pub skipped: Vec<SkippedObject>,
}

macro_rules! fetch_response {
    ($name:ident, $item:ty, $field:ident) => {
        /// Protobuf body of a fetch response (decoding side).
        #[derive(Clone, PartialEq, prost::Message)]
        struct $name {
            #[prost(message, repeated, tag = "1")]
            $field: Vec<$item>,
            #[prost(string, tag = "2")]
            next_cursor: String,
            #[prost(bool, tag = "3")]
            has_more: bool,
            #[prost(message, repeated, tag = "4")]
            skipped_objects: Vec<SkippedObject>,
        }
    };
}
fetch_response!(FetchTracesResponse, ResourceSpans, resource_spans);
fetch_response!(FetchMetricsResponse, ResourceMetrics, resource_metrics);
fetch_response!(FetchLogsResponse, ResourceLogs, resource_logs);

impl FetchPage {
    /// The answer to a fetch: an archive page and the cursor of the next one.
    pub fn new(page: Page, next_cursor: Option<String>) -> Self {
        FetchPage {
            batch: page.batch,
            next_cursor,
            skipped: page
                .skipped
                .into_iter()
                .map(|s| SkippedObject {
                    key: s.key,
                    error: s.error,
                })
                .collect(),
        }
    }

    /// The response body in `format`.
    pub fn encode(&self, format: Format) -> Vec<u8> {
        let has_more = self.next_cursor.is_some();
        match format {
            Format::Protobuf => {
                let mut out = self.batch.encode(Format::Protobuf);
                if let Some(c) = &self.next_cursor {
                    prost::encoding::string::encode(2, c, &mut out);
                }
                if has_more {
                    prost::encoding::bool::encode(3, &has_more, &mut out);
                }
                for s in &self.skipped {
                    prost::encoding::message::encode(4, s, &mut out);
                }
                out
            }
            Format::Json => {
                // `{"resourceSpans":[…]}` (or `{}`), extended with the page fields.
                let mut out =
                    String::from_utf8(self.batch.encode(Format::Json)).unwrap_or_default();
                out.pop();
                let mut sep = if out.len() > 1 { "," } else { "" };
                if let Some(c) = &self.next_cursor {
                    out.push_str(sep);
                    out.push_str("\"nextCursor\":");
                    json::write_json_string(&mut out, c);
                    sep = ",";
                }
                out.push_str(sep);
                out.push_str(if has_more {
                    "\"hasMore\":true"
                } else {
                    "\"hasMore\":false"
                });
                if !self.skipped.is_empty() {
                    out.push_str(",\"skippedObjects\":[");
                    for (i, s) in self.skipped.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str("{\"key\":");
                        json::write_json_string(&mut out, &s.key);
                        out.push_str(",\"error\":");
                        json::write_json_string(&mut out, &s.error);
                        out.push('}');
                    }
                    out.push(']');
                }
                out.push('}');
                out.into_bytes()
            }
        }
    }

    /// Decodes a protobuf page of `signal`.
    pub fn decode_protobuf(signal: Signal, body: &[u8]) -> Result<FetchPage, RequestError> {
        use otelvault_codec::proto::collector_logs::ExportLogsServiceRequest;
        use otelvault_codec::proto::collector_metrics::ExportMetricsServiceRequest;
        use otelvault_codec::proto::collector_trace::ExportTraceServiceRequest;
        let bad = |e: prost::DecodeError| RequestError(format!("invalid fetch response: {e}"));
        let (batch, next, has_more, skipped) = match signal {
            Signal::Traces => {
                let r = FetchTracesResponse::decode(body).map_err(bad)?;
                let batch = Batch::Traces(ExportTraceServiceRequest {
                    resource_spans: r.resource_spans,
                });
                (batch, r.next_cursor, r.has_more, r.skipped_objects)
            }
            Signal::Metrics => {
                let r = FetchMetricsResponse::decode(body).map_err(bad)?;
                let batch = Batch::Metrics(ExportMetricsServiceRequest {
                    resource_metrics: r.resource_metrics,
                });
                (batch, r.next_cursor, r.has_more, r.skipped_objects)
            }
            Signal::Logs => {
                let r = FetchLogsResponse::decode(body).map_err(bad)?;
                let batch = Batch::Logs(ExportLogsServiceRequest {
                    resource_logs: r.resource_logs,
                });
                (batch, r.next_cursor, r.has_more, r.skipped_objects)
            }
        };
        Ok(FetchPage {
            batch,
            next_cursor: (has_more && !next.is_empty()).then_some(next),
            skipped,
        })
    }
}

#[cfg(test)]
mod tests {
    use otelvault_testkit::data::sample;

    use super::*;

    #[test]
    fn protobuf_pages_round_trip() {
        for signal in Signal::ALL {
            for (cursor, skipped) in [
                (None, vec![]),
                (
                    Some("c1".to_owned()),
                    vec![SkippedObject {
                        key: "k".into(),
                        error: "bad gzip".into(),
                    }],
                ),
            ] {
                let page = FetchPage {
                    batch: sample(signal),
                    next_cursor: cursor,
                    skipped,
                };
                let decoded = FetchPage::decode_protobuf(signal, &page.encode(Format::Protobuf))
                    .expect("decodes");
                assert_eq!(decoded, page, "{signal}");
            }
        }
    }

    #[test]
    fn json_pages_carry_the_batch_and_the_page_fields() {
        let page = FetchPage {
            batch: sample(Signal::Logs),
            next_cursor: Some("c\"1".into()),
            skipped: vec![SkippedObject {
                key: "k".into(),
                error: "e".into(),
            }],
        };
        let v: serde_json::Value =
            serde_json::from_slice(&page.encode(Format::Json)).expect("json");
        assert_eq!(v["nextCursor"], "c\"1");
        assert_eq!(v["hasMore"], true);
        assert_eq!(v["skippedObjects"][0]["error"], "e");
        let logs = Batch::decode(Signal::Logs, Format::Json, &page.encode(Format::Json))
            .expect("the page is an OTLP/JSON document");
        assert_eq!(logs, page.batch);
        let empty = FetchPage {
            batch: Batch::empty(Signal::Traces),
            next_cursor: None,
            skipped: vec![],
        };
        assert_eq!(empty.encode(Format::Json), br#"{"hasMore":false}"#);
    }
}
