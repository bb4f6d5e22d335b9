//! Paging through a deployment's fetch API.

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use otelvault_api::{FetchPage, FetchRequest};

use crate::ClientError;
use crate::http::{HttpClient, error_message};

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

    /// Fetches one page: the request's query, from its cursor.
    pub async fn page(&self, request: &FetchRequest) -> Result<FetchPage, ClientError> {
        let signal = request.query.signal;
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
                Bytes::from(request.to_json()),
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
        FetchPage::decode_protobuf(signal, &reply.body)
            .map_err(|e| ClientError::Decode(format!("{url}: {e}")))
    }
}
