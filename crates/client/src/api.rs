//! Paging through a deployment's fetch API.

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use otelvault_codec::proto::collector_logs::ExportLogsServiceRequest;
use otelvault_codec::proto::collector_metrics::ExportMetricsServiceRequest;
use otelvault_codec::proto::collector_trace::ExportTraceServiceRequest;
use otelvault_codec::{Batch, Signal};
use otelvault_service::query::{FetchLogsResponse, FetchMetricsResponse, FetchTracesResponse};
use prost::Message as _;
use serde_json::{Value, json};

use crate::ClientError;
use crate::http::{HttpClient, error_message};

/// What to fetch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FetchParams {
    /// Range start, unix nanoseconds.
    pub start: u64,
    /// Range end (exclusive), unix nanoseconds.
    pub end: u64,
    /// Items per page (0: the server's default).
    pub limit: usize,
    /// `serviceName` filter.
    pub service: Option<String>,
    /// `traceId` filter (hex).
    pub trace_id: Option<String>,
    /// Attribute filters.
    pub attributes: Vec<(String, String)>,
    /// `minSeverityNumber` (logs).
    pub min_severity: Option<i32>,
    /// `metricName` (metrics).
    pub metric_name: Option<String>,
}

/// One page from the API.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiPage {
    /// The page's data.
    pub batch: Batch,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
    /// Objects the server skipped as unreadable: (key, error).
    pub skipped: Vec<(String, String)>,
}

/// A client of one deployment.
#[derive(Debug, Clone)]
pub struct ApiClient {
    client: HttpClient,
    endpoint: String,
    key: Option<String>,
    timeout: Duration,
}

impl ApiClient {
    /// A client of the deployment at `endpoint` (its base URL).
    pub fn new(
        client: HttpClient,
        endpoint: &str,
        key: Option<String>,
    ) -> Result<Self, ClientError> {
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(ClientError::Config(format!(
                "endpoint {endpoint:?} must be an http:// or https:// URL"
            )));
        }
        Ok(ApiClient {
            client,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            key: key.filter(|k| !k.is_empty()),
            timeout: Duration::from_secs(60),
        })
    }

    /// Fetches one page of `signal`.
    pub async fn page(
        &self,
        signal: Signal,
        params: &FetchParams,
        cursor: Option<&str>,
    ) -> Result<ApiPage, ClientError> {
        let mut body = json!({
            "startTimeUnixNano": params.start.to_string(),
            "endTimeUnixNano": params.end.to_string(),
        });
        if params.limit > 0 {
            body["limit"] = json!(params.limit);
        }
        if let Some(c) = cursor {
            body["cursor"] = json!(c);
        }
        if let Some(s) = &params.service {
            body["serviceName"] = json!(s);
        }
        if let Some(t) = &params.trace_id {
            body["traceId"] = json!(t);
        }
        if !params.attributes.is_empty() {
            body["attributes"] = Value::Object(
                params
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(v)))
                    .collect(),
            );
        }
        if let Some(s) = params.min_severity {
            body["minSeverityNumber"] = json!(s);
        }
        if let Some(m) = &params.metric_name {
            body["metricName"] = json!(m);
        }
        let url = format!("{}/api/{signal}/fetch", self.endpoint);
        let mut headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("accept".to_owned(), "application/x-protobuf".to_owned()),
        ];
        if let Some(k) = &self.key {
            headers.push(("oteleport-access-key".to_owned(), k.clone()));
        }
        let reply = self
            .client
            .send(
                Method::POST,
                &url,
                &headers,
                Bytes::from(body.to_string()),
                self.timeout,
            )
            .await?;
        if !reply.status.is_success() {
            return Err(ClientError::Status {
                url,
                status: reply.status.as_u16(),
                message: error_message(&reply),
            });
        }
        let bad =
            |e: prost::DecodeError| ClientError::Decode(format!("{url}: invalid response: {e}"));
        let (batch, next, has_more, skipped) = match signal {
            Signal::Traces => {
                let r = FetchTracesResponse::decode(reply.body).map_err(bad)?;
                (
                    Batch::Traces(ExportTraceServiceRequest {
                        resource_spans: r.resource_spans,
                    }),
                    r.next_cursor,
                    r.has_more,
                    r.skipped_objects,
                )
            }
            Signal::Metrics => {
                let r = FetchMetricsResponse::decode(reply.body).map_err(bad)?;
                (
                    Batch::Metrics(ExportMetricsServiceRequest {
                        resource_metrics: r.resource_metrics,
                    }),
                    r.next_cursor,
                    r.has_more,
                    r.skipped_objects,
                )
            }
            Signal::Logs => {
                let r = FetchLogsResponse::decode(reply.body).map_err(bad)?;
                (
                    Batch::Logs(ExportLogsServiceRequest {
                        resource_logs: r.resource_logs,
                    }),
                    r.next_cursor,
                    r.has_more,
                    r.skipped_objects,
                )
            }
        };
        Ok(ApiPage {
            batch,
            next_cursor: (has_more && !next.is_empty()).then_some(next),
            skipped: skipped.into_iter().map(|s| (s.key, s.error)).collect(),
        })
    }
}
