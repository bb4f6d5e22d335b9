//! A small HTTP/1.1 client (hyper + rustls on ring, system roots) shared by
//! the fetch and replay commands. It is the same stack the S3 client uses,
//! so it adds nothing to the build.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::ClientError;

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

/// HTTP and HTTPS client; cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpClient {
    /// A client trusting the system's root certificates.
    pub fn new() -> Result<Self, ClientError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| ClientError::Config(format!("TLS setup: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(HttpClient {
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// Sends a request and reads the whole response, within `timeout`.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(String, String)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<Reply, ClientError> {
        let mut builder = Request::builder().method(method).uri(url);
        for (k, v) in headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let request = builder
            .body(Full::new(body))
            .map_err(|e| ClientError::Config(format!("invalid request to {url}: {e}")))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| ClientError::Http(format!("{url}: {}", error_chain(&e))))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| ClientError::Http(format!("{url}: reading the response: {e}")))?
                .to_bytes();
            Ok(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(timeout, exchange).await.map_err(|_| {
            ClientError::Http(format!(
                "{url}: no answer within {} s",
                timeout.as_secs_f64()
            ))
        })?
    }
}

/// An error with its sources, as one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The message of an error response: a `google.rpc.Status` in JSON or
/// protobuf, or the body as text.
pub fn error_message(reply: &Reply) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&reply.body)
        && let Some(m) = v.get("message").and_then(|m| m.as_str())
    {
        return m.to_owned();
    }
    if let Ok(status) =
        <otelvault_codec::status::RpcStatus as prost::Message>::decode(reply.body.as_ref())
        && !status.message.is_empty()
    {
        return status.message;
    }
    String::from_utf8_lossy(&reply.body)
        .chars()
        .take(500)
        .collect()
}
