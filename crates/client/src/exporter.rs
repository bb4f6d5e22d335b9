//! Sending OTLP the way OpenTelemetry SDKs do: endpoint, headers,
//! protocol (`http/protobuf`, `http/json`, `grpc`), compression and timeout
//! from the standard `OTEL_EXPORTER_OTLP_*` variables (with their
//! per-signal variants), and retries with exponential backoff: of
//! 429/502/503/504 and network errors over HTTP (honouring `Retry-After`),
//! and of the codes the OTLP specification says to retry over gRPC
//! (honouring `RetryInfo`).

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use otelvault_codec::{Batch, Compression, Format, Signal, json};

use crate::ClientError;
use crate::http::{HttpClient, error_message};

/// How requests travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// OTLP/HTTP, in the target's format.
    Http,
    /// OTLP/gRPC (protobuf).
    Grpc,
}

/// Where and how one signal is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Full URL (`…/v1/traces`); for gRPC, the server's (`http://host:4317`).
    pub url: String,
    /// Extra headers (`OTEL_EXPORTER_OTLP_HEADERS`); gRPC metadata.
    pub headers: Vec<(String, String)>,
    /// HTTP or gRPC.
    pub transport: Transport,
    /// `http/protobuf` or `http/json` (protobuf for gRPC).
    pub format: Format,
    /// `gzip` or `none`.
    pub compression: Compression,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// How failed sends are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// First backoff; doubles each retry.
    pub initial: Duration,
    /// Longest wait between attempts (also caps `Retry-After`).
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

fn signal_var(signal: Signal, name: &str) -> String {
    format!(
        "OTEL_EXPORTER_OTLP_{}_{name}",
        signal.as_str().to_ascii_uppercase()
    )
}

/// Decodes `%XX` escapes (header values are URL-encoded in the variable).
fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            )
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_headers(var: &str, value: &str) -> Result<Vec<(String, String)>, ClientError> {
    value
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                ClientError::Config(format!("{var}: expected key=value pairs, got {pair:?}"))
            })?;
            Ok((percent_decode(k.trim()), percent_decode(v.trim())))
        })
        .collect()
}

impl Target {
    /// The target for `signal` from the environment (through `env`), with
    /// `to` (a base URL, like `OTEL_EXPORTER_OTLP_ENDPOINT`) taking
    /// precedence over every endpoint variable. Unlike an SDK, there is no
    /// default endpoint: `localhost:4318` is where `otelvault serve` itself
    /// listens, and replaying an archive into itself doubles it.
    pub fn from_env(
        signal: Signal,
        to: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Target, ClientError> {
        let get = |name: &str| {
            env(&signal_var(signal, name))
                .or_else(|| env(&format!("OTEL_EXPORTER_OTLP_{name}")))
                .filter(|v| !v.trim().is_empty())
        };
        let (transport, format) = match get("PROTOCOL").as_deref().map(str::trim) {
            None | Some("http/protobuf") => (Transport::Http, Format::Protobuf),
            Some("http/json") => (Transport::Http, Format::Json),
            Some("grpc") => (Transport::Grpc, Format::Protobuf),
            Some(other) => {
                return Err(ClientError::Config(format!(
                    "OTEL_EXPORTER_OTLP_PROTOCOL={other}: use http/protobuf, http/json or grpc"
                )));
            }
        };
        // gRPC endpoints are the server's: the method names the signal.
        let base = |url: &str| match transport {
            Transport::Http => format!("{}/v1/{signal}", url.trim_end_matches('/')),
            Transport::Grpc => url.trim_end_matches('/').to_owned(),
        };
        let url = match to {
            Some(to) => base(to),
            None => match env(&signal_var(signal, "ENDPOINT")).filter(|v| !v.is_empty()) {
                // The per-signal endpoint is used as is.
                Some(url) => url,
                None => base(
                    &env("OTEL_EXPORTER_OTLP_ENDPOINT")
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| {
                            ClientError::Config(format!(
                                "no OTLP endpoint to send {signal} to: pass --to URL, or set OTEL_EXPORTER_OTLP_ENDPOINT (or {})",
                                signal_var(signal, "ENDPOINT")
                            ))
                        })?,
                ),
            },
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ClientError::Config(format!(
                "OTLP endpoint {url:?} must be an http:// or https:// URL"
            )));
        }
        let compression = match get("COMPRESSION").as_deref().map(str::trim) {
            None | Some("none") => Compression::None,
            Some("gzip") => Compression::Gzip,
            Some(other) => {
                return Err(ClientError::Config(format!(
                    "OTEL_EXPORTER_OTLP_COMPRESSION={other}: use gzip or none"
                )));
            }
        };
        let timeout = match get("TIMEOUT") {
            None => DEFAULT_TIMEOUT,
            Some(ms) => Duration::from_millis(ms.trim().parse().map_err(|_| {
                ClientError::Config(format!(
                    "OTEL_EXPORTER_OTLP_TIMEOUT={ms}: expected milliseconds"
                ))
            })?),
        };
        let mut headers = Vec::new();
        if let Some(h) = env("OTEL_EXPORTER_OTLP_HEADERS") {
            headers.extend(parse_headers("OTEL_EXPORTER_OTLP_HEADERS", &h)?);
        }
        if let Some(h) = env(&signal_var(signal, "HEADERS")) {
            // Per-signal headers override general ones of the same name.
            for (k, v) in parse_headers(&signal_var(signal, "HEADERS"), &h)? {
                headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(&k));
                headers.push((k, v));
            }
        }
        Ok(Target {
            url,
            headers,
            transport,
            format,
            compression,
            timeout,
        })
    }
}

/// What the receiver said about a delivered batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Items the receiver rejected (partial success).
    pub rejected: i64,
    /// Its message about them.
    pub message: String,
    /// Bytes sent (after compression).
    pub bytes: usize,
    /// Attempts it took.
    pub attempts: u32,
}

/// Sends batches of one signal to one target.
#[derive(Debug, Clone)]
pub struct Exporter {
    client: HttpClient,
    target: Target,
    retry: RetryPolicy,
    /// The gRPC connection, made on first use (it needs the runtime).
    channel: std::sync::Arc<std::sync::OnceLock<tonic::transport::Channel>>,
}

fn retry_after(reply: &crate::http::Reply) -> Option<Duration> {
    let v = reply
        .headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

impl Exporter {
    /// An exporter for `target`.
    pub fn new(client: HttpClient, target: Target, retry: RetryPolicy) -> Self {
        Exporter {
            client,
            target,
            retry,
            channel: Default::default(),
        }
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Sends `batch`, retrying transient failures; an error means the batch
    /// was not delivered.
    pub async fn send(&self, batch: &Batch) -> Result<Delivered, ClientError> {
        let body = self.encode(batch)?;
        self.send_encoded(batch.signal(), body).await
    }

    /// `batch` as this exporter sends it: encoded, and compressed over HTTP
    /// (gRPC compresses its frames itself). CPU work, for a blocking thread.
    pub fn encode(&self, batch: &Batch) -> Result<Bytes, ClientError> {
        let encoded = batch.encode(self.target.format);
        Ok(Bytes::from(match self.target.transport {
            Transport::Grpc => encoded,
            Transport::Http => self
                .target
                .compression
                .compress(&encoded)
                .map_err(|e| ClientError::Config(e.to_string()))?,
        }))
    }

    /// Sends a batch of `signal` that [`Exporter::encode`] encoded, as
    /// [`Exporter::send`] does.
    pub async fn send_encoded(
        &self,
        signal: Signal,
        body: Bytes,
    ) -> Result<Delivered, ClientError> {
        let mut delay = self.retry.initial;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = match self.target.transport {
                Transport::Http => self.send_http(signal, body.clone()).await,
                Transport::Grpc => self.send_grpc(signal, body.clone()).await,
            };
            let (retryable, error, wait) = match outcome {
                Attempt::Delivered(rejected, message) => {
                    return Ok(Delivered {
                        rejected,
                        message,
                        bytes: body.len(),
                        attempts: attempt,
                    });
                }
                Attempt::Failed {
                    retryable,
                    error,
                    wait,
                } => (retryable, error, wait),
            };
            if !retryable || attempt >= self.retry.attempts {
                return Err(error);
            }
            let wait = wait.unwrap_or(delay).min(self.retry.max);
            tracing::warn!(url = %self.target.url, attempt, wait_ms = wait.as_millis() as u64, error = %error, "Retrying an OTLP export.");
            tokio::time::sleep(wait).await;
            delay = (delay * 2).min(self.retry.max);
        }
    }

    async fn send_http(&self, signal: Signal, body: Bytes) -> Attempt {
        let mut headers = self.target.headers.clone();
        headers.push((
            "content-type".into(),
            self.target.format.content_type().into(),
        ));
        if self.target.compression != Compression::None {
            headers.push((
                "content-encoding".into(),
                self.target.compression.content_encoding().as_str().into(),
            ));
        }
        let result = self
            .client
            .send(
                Method::POST,
                &self.target.url,
                &headers,
                body,
                self.target.timeout,
            )
            .await;
        match result {
            Ok(reply) if reply.status.is_success() => {
                let (rejected, message) = partial_success(signal, &reply);
                Attempt::Delivered(rejected, message)
            }
            Ok(reply) => {
                let status = reply.status.as_u16();
                Attempt::Failed {
                    retryable: matches!(status, 429 | 502 | 503 | 504),
                    error: ClientError::Status {
                        url: self.target.url.clone(),
                        status,
                        message: error_message(&reply),
                    },
                    wait: retry_after(&reply),
                }
            }
            Err(error) => Attempt::Failed {
                retryable: true,
                error,
                wait: None,
            },
        }
    }

    async fn send_grpc(&self, signal: Signal, body: Bytes) -> Attempt {
        let url = &self.target.url;
        let channel = match self.channel() {
            Ok(channel) => channel,
            Err(error) => {
                return Attempt::Failed {
                    retryable: false,
                    error,
                    wait: None,
                };
            }
        };
        let mut grpc = tonic::client::Grpc::new(channel);
        if self.target.compression == Compression::Gzip {
            grpc = grpc.send_compressed(tonic::codec::CompressionEncoding::Gzip);
        }
        grpc = grpc.accept_compressed(tonic::codec::CompressionEncoding::Gzip);
        let mut request = tonic::Request::new(body);
        request.set_timeout(self.target.timeout);
        for (name, value) in &self.target.headers {
            let key =
                tonic::metadata::MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes());
            let value = tonic::metadata::MetadataValue::try_from(value.as_str());
            match (key, value) {
                (Ok(key), Ok(value)) => {
                    request.metadata_mut().insert(key, value);
                }
                _ => {
                    return Attempt::Failed {
                        retryable: false,
                        error: ClientError::Config(format!(
                            "the header {name:?} cannot be gRPC metadata"
                        )),
                        wait: None,
                    };
                }
            }
        }
        let path = http::uri::PathAndQuery::from_static(crate::grpc::export_path(signal));
        let exchange = async {
            grpc.ready().await.map_err(|e| {
                tonic::Status::unavailable(format!("connecting: {}", crate::http::error_chain(&e)))
            })?;
            grpc.unary(request, path, crate::grpc::RawCodec).await
        };
        let result = match tokio::time::timeout(self.target.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(tonic::Status::deadline_exceeded(format!(
                "no answer within {} s",
                self.target.timeout.as_secs_f64()
            ))),
        };
        match result {
            Ok(response) => {
                let reply = crate::http::Reply {
                    status: http::StatusCode::OK,
                    headers: http::HeaderMap::new(),
                    body: response.into_inner(),
                };
                let (rejected, message) = partial_success(signal, &reply);
                Attempt::Delivered(rejected, message)
            }
            Err(status) => Attempt::Failed {
                retryable: crate::grpc::retryable(&status),
                wait: crate::grpc::retry_delay(&status),
                error: ClientError::Grpc {
                    url: url.clone(),
                    code: format!("{:?}", status.code()),
                    message: status.message().to_owned(),
                },
            },
        }
    }

    /// The gRPC channel to the target, connected lazily.
    fn channel(&self) -> Result<tonic::transport::Channel, ClientError> {
        if let Some(channel) = self.channel.get() {
            return Ok(channel.clone());
        }
        let url = &self.target.url;
        let bad =
            |e: &dyn std::fmt::Display| ClientError::Config(format!("gRPC endpoint {url:?}: {e}"));
        let mut endpoint =
            tonic::transport::Endpoint::from_shared(url.clone()).map_err(|e| bad(&e))?;
        if url.starts_with("https://") {
            endpoint = endpoint
                .tls_config(tonic::transport::ClientTlsConfig::new().with_native_roots())
                .map_err(|e| bad(&e))?;
        }
        let channel = endpoint.connect_timeout(self.target.timeout).connect_lazy();
        Ok(self.channel.get_or_init(|| channel).clone())
    }
}

/// What one attempt came to.
enum Attempt {
    /// Delivered: rejected items, and the receiver's message about them.
    Delivered(i64, String),
    /// Not delivered.
    Failed {
        retryable: bool,
        error: ClientError,
        /// How long the receiver asked to wait.
        wait: Option<Duration>,
    },
}

/// Rejected items and message of a success response, in either encoding.
fn partial_success(signal: Signal, reply: &crate::http::Reply) -> (i64, String) {
    use otelvault_codec::proto::{collector_logs, collector_metrics, collector_trace};
    use prost::Message as _;
    if reply.body.is_empty() {
        return (0, String::new());
    }
    let is_json = reply
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(Format::from_media_type)
        == Some(Format::Json);
    if is_json {
        return json::decode_partial_success(&reply.body).unwrap_or_default();
    }
    let body = reply.body.as_ref();
    match signal {
        Signal::Traces => collector_trace::ExportTraceServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| (p.rejected_spans, p.error_message)),
        Signal::Metrics => collector_metrics::ExportMetricsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| (p.rejected_data_points, p.error_message)),
        Signal::Logs => collector_logs::ExportLogsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| (p.rejected_log_records, p.error_message)),
    }
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_follow_the_otlp_exporter_specification_but_the_endpoint() {
        let err = Target::from_env(Signal::Logs, None, &env(&[])).expect_err("no endpoint");
        assert!(
            err.to_string().contains("--to")
                && err.to_string().contains("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"),
            "{err}"
        );
        let t = Target::from_env(
            Signal::Traces,
            None,
            &env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]),
        )
        .expect("defaults");
        assert_eq!(t.url, "http://collector:4318/v1/traces");
        assert_eq!(
            (t.format, t.compression, t.timeout),
            (Format::Protobuf, Compression::None, Duration::from_secs(10))
        );
        assert!(t.headers.is_empty());
    }

    #[test]
    fn grpc_endpoints_are_the_servers() {
        let t = Target::from_env(
            Signal::Metrics,
            None,
            &env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317/"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ]),
        )
        .expect("grpc");
        assert_eq!(t.url, "http://collector:4317");
        assert_eq!(
            (t.transport, t.format, t.compression),
            (Transport::Grpc, Format::Protobuf, Compression::Gzip)
        );
        let err = Target::from_env(
            Signal::Metrics,
            Some("http://x:4317"),
            &env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc/json")]),
        )
        .expect_err("unknown protocol");
        assert!(
            err.to_string().contains("http/protobuf, http/json or grpc"),
            "{err}"
        );
    }

    #[test]
    fn general_and_per_signal_variables_combine() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318/"),
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                "https://logs.example/custom/path",
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "Authorization=Bearer%20abc,x-tenant=a",
            ),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-tenant=m"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ]);
        let traces = Target::from_env(Signal::Traces, None, &e).expect("traces");
        assert_eq!(traces.url, "https://collector:4318/v1/traces");
        assert_eq!(traces.format, Format::Protobuf);
        assert_eq!(
            traces.headers,
            vec![
                ("Authorization".into(), "Bearer abc".into()),
                ("x-tenant".into(), "a".into())
            ]
        );
        let metrics = Target::from_env(Signal::Metrics, None, &e).expect("metrics");
        assert_eq!(metrics.format, Format::Json);
        assert_eq!(
            metrics.headers,
            vec![
                ("Authorization".into(), "Bearer abc".into()),
                ("x-tenant".into(), "m".into())
            ]
        );
        assert_eq!(
            (metrics.compression, metrics.timeout),
            (Compression::Gzip, Duration::from_millis(2500))
        );
        let logs = Target::from_env(Signal::Logs, None, &e).expect("logs");
        assert_eq!(
            logs.url, "https://logs.example/custom/path",
            "per-signal endpoints are used as is"
        );
        let to = Target::from_env(Signal::Logs, Some("http://127.0.0.1:9999"), &e).expect("--to");
        assert_eq!(to.url, "http://127.0.0.1:9999/v1/logs", "--to wins");
    }

    #[test]
    fn unsupported_settings_are_errors() {
        for (k, v) in [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ] {
            let err = Target::from_env(Signal::Traces, None, &env(&[(k, v)])).expect_err(k);
            assert!(
                err.to_string().contains("OTEL_EXPORTER_OTLP")
                    || err.to_string().contains("endpoint"),
                "{err}"
            );
        }
    }
}

#[cfg(test)]
mod retry_tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::post;

    use super::*;

    /// A receiver that answers each request with the next of `replies`
    /// (status, Retry-After) and counts requests.
    async fn receiver(replies: Vec<(u16, Option<&'static str>)>) -> (String, Arc<AtomicUsize>) {
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        let app = Router::new().route(
            "/v1/logs",
            post(move || {
                let i = seen.fetch_add(1, Ordering::SeqCst);
                let (status, retry_after) = replies[i.min(replies.len() - 1)];
                async move {
                    let mut response = axum::response::IntoResponse::into_response((
                        StatusCode::from_u16(status).expect("status"),
                        [("content-type", "application/json")],
                        if status == 200 {
                            r#"{"partialSuccess":{"rejectedLogRecords":"1","errorMessage":"one bad record"}}"#
                        } else {
                            r#"{"code":14,"message":"storage is unavailable; retry later"}"#
                        },
                    ));
                    if let Some(after) = retry_after {
                        response.headers_mut().insert("retry-after", after.parse().expect("header"));
                    }
                    response
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), count)
    }

    fn logs() -> Batch {
        Batch::decode(
            Signal::Logs,
            Format::Json,
            include_str!("../../../samples/otlp/logs.json").as_bytes(),
        )
        .expect("sample")
    }

    fn exporter(url: &str, attempts: u32) -> Exporter {
        let target = Target::from_env(Signal::Logs, Some(url), &|_| None).expect("target");
        let retry = RetryPolicy {
            attempts,
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
        };
        Exporter::new(HttpClient::new().expect("client"), target, retry)
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_delivered() {
        let (url, count) = receiver(vec![(503, Some("0")), (429, None), (200, None)]).await;
        let delivered = exporter(&url, 5).send(&logs()).await.expect("delivered");
        assert_eq!(count.load(Ordering::SeqCst), 3);
        assert_eq!(delivered.attempts, 3);
        assert_eq!(
            (delivered.rejected, delivered.message.as_str()),
            (1, "one bad record")
        );
    }

    #[tokio::test]
    async fn permanent_failures_are_not_retried_and_retries_end() {
        let (url, count) = receiver(vec![(400, None)]).await;
        let err = exporter(&url, 5).send(&logs()).await.expect_err("400");
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert!(err.to_string().contains("answered 400"), "{err}");

        let (url, count) = receiver(vec![(503, Some("1"))]).await;
        let err = exporter(&url, 3)
            .send(&logs())
            .await
            .expect_err("always 503");
        assert_eq!(count.load(Ordering::SeqCst), 3);
        assert!(err.to_string().contains("storage is unavailable"), "{err}");
    }
}
