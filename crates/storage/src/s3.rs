//! S3 (and S3-compatible) store on `aws-sdk-s3`.
//!
//! The client is built once per process. Credentials and region come from
//! the standard AWS chain; an endpoint override with path-style addressing
//! reaches S3-compatible servers. SDK errors are mapped to
//! [`StorageError`]: throttling, unavailability and permanent failures are
//! told apart so the HTTP layer can answer 429/503 and operators get the
//! right log level.

use std::ops::Range;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use crate::{
    KeyPrefix, LIST_PAGE_SIZE, ListPage, ObjectKey, ObjectMeta, ObjectStore, PutOptions,
    StorageError,
};

/// Where and how to reach the bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Options {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix every object lives under (no leading or trailing `/`), may be empty.
    pub prefix: String,
    /// Endpoint URL of an S3-compatible service; `None` for AWS.
    pub endpoint: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most
    /// S3-compatible servers need.
    pub force_path_style: bool,
    /// Fixed access key id and secret instead of the AWS credential chain
    /// (for tests against local S3-compatible servers).
    pub static_credentials: Option<(String, String)>,
    /// How long calls may take.
    pub timeouts: S3Timeouts,
}

/// How long an S3 call may take. A stalled store must fail a request well
/// before the client gives up on it (OpenTelemetry SDKs wait 10 s), so that
/// the client is told to retry instead of timing out blind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S3Timeouts {
    /// One attempt (connecting included).
    pub attempt: Duration,
    /// The whole call, retries and reading the body included.
    pub operation: Duration,
    /// Attempts in all (the first included).
    pub max_attempts: u32,
}

impl Default for S3Timeouts {
    fn default() -> Self {
        S3Timeouts {
            attempt: Duration::from_secs(3),
            operation: Duration::from_secs(6),
            max_attempts: 3,
        }
    }
}

/// Objects in an S3 bucket under a prefix.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    /// Empty, or the prefix followed by `/`.
    root: String,
    timeouts: S3Timeouts,
    /// The S3-compatible endpoint given, if any: named when it does not
    /// answer.
    endpoint: Option<String>,
}

/// Connecting takes no longer than this (or than an attempt).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl S3Store {
    /// Builds the client. Reads configuration from the environment and
    /// profile files only: no network call happens until the first request.
    pub async fn new(options: S3Options) -> Result<Self, StorageError> {
        if options.bucket.is_empty() {
            return Err(StorageError::Failed {
                message: "S3 bucket name is empty".into(),
            });
        }
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT.min(options.timeouts.attempt))
                    .operation_attempt_timeout(options.timeouts.attempt)
                    .operation_timeout(options.timeouts.operation)
                    .build(),
            )
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(options.timeouts.max_attempts.max(1)),
            );
        let region_in_env = ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
        if let Some(endpoint) = &options.endpoint {
            loader = loader.endpoint_url(endpoint);
            // S3-compatible servers rarely care about the region, but SigV4
            // needs one; do not go looking for it on an instance metadata service.
            if !region_in_env {
                loader = loader.region(aws_config::Region::new("us-east-1"));
            }
        }
        if let Some((id, secret)) = &options.static_credentials {
            loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                id,
                secret,
                None,
                None,
                "otelvault-static",
            ));
        }
        let shared = loader.load().await;
        if !region_in_env && options.endpoint.is_none() {
            tracing::info!(
                region = shared.region().map(|r| r.as_ref()),
                "No AWS_REGION set: S3 calls use the region of the AWS configuration chain (set AWS_REGION to choose)."
            );
        }
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(options.force_path_style)
            .build();
        let prefix = options.prefix.trim_matches('/');
        Ok(S3Store {
            client: Client::from_conf(config),
            bucket: options.bucket,
            root: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            timeouts: options.timeouts,
            endpoint: options.endpoint.clone(),
        })
    }

    /// The underlying client (tests use it to create buckets).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.root)
    }
}

/// An error and its causes on one line, each said once.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

impl S3Store {
    /// GetObject, whole or of an HTTP `range`; `None` when the range starts
    /// past the object's end.
    async fn get_object(
        &self,
        key: &ObjectKey,
        range: Option<String>,
    ) -> Result<Option<Bytes>, StorageError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .set_range(range)
            .send()
            .await
        {
            Ok(out) => out,
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 416 => return Ok(None),
            Err(e) => return Err(self.error("GetObject", key, e)),
        };
        // The SDK's timeouts end when the response starts; bound the body too.
        let body = tokio::time::timeout(self.timeouts.operation, out.body.collect())
            .await
            .map_err(|_| StorageError::Unavailable {
                message: format!(
                    "GetObject s3://{}/{}{key}: the body did not arrive within {:?}",
                    self.bucket, self.root, self.timeouts.operation
                ),
            })?
            .map_err(|e| StorageError::Unavailable {
                message: format!(
                    "GetObject s3://{}/{}{key}: reading body: {e}",
                    self.bucket, self.root
                ),
            })?;
        Ok(Some(body.into_bytes()))
    }

    /// Maps an SDK error to a [`StorageError`] whose message is one line:
    /// the operation, the object's `s3://` address, and the service's error
    /// code and message (or the network failure), with the fix for the
    /// failures an operator must act on.
    fn error<E>(
        &self,
        op: &str,
        key: &str,
        err: SdkError<E, aws_smithy_runtime_api::http::Response>,
    ) -> StorageError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let at = format!("{op} s3://{}/{}{key}", self.bucket, self.root);
        match &err {
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let code = service.err().code().unwrap_or_default();
                let said = service.err().message().unwrap_or_default();
                let message = |fix: &str| {
                    let code = if code.is_empty() {
                        format!("HTTP {status}")
                    } else {
                        code.to_owned()
                    };
                    match (said.is_empty(), fix.is_empty()) {
                        (true, true) => format!("{at}: {code}"),
                        (true, false) => format!("{at}: {code} ({fix})"),
                        (false, true) => format!("{at}: {code}: {said}"),
                        (false, false) => format!("{at}: {code}: {said} ({fix})"),
                    }
                };
                match (status, code) {
                    (_, "NoSuchBucket") => StorageError::Failed {
                        message: message(
                            "create the bucket, or fix the bucket in OTELVAULT_STORAGE",
                        ),
                    },
                    (_, "AccessDenied" | "AllAccessDisabled" | "AccountProblem") => {
                        StorageError::Failed {
                            message: message(
                                "the credentials lack permission on this bucket and prefix",
                            ),
                        }
                    }
                    (
                        _,
                        "InvalidAccessKeyId"
                        | "SignatureDoesNotMatch"
                        | "ExpiredToken"
                        | "InvalidToken",
                    ) => StorageError::Failed {
                        message: message("check the AWS credentials"),
                    },
                    (404, _) | (_, "NoSuchKey") => StorageError::NotFound {
                        key: key.to_owned(),
                    },
                    (429, _)
                    | (
                        _,
                        "SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded",
                    ) => StorageError::Throttled {
                        message: message(""),
                    },
                    (500..=599, _)
                    | (_, "InternalError" | "ServiceUnavailable" | "RequestTimeout") => {
                        StorageError::Unavailable {
                            message: message(""),
                        }
                    }
                    _ => StorageError::Failed {
                        message: message(""),
                    },
                }
            }
            // No credentials anywhere in the chain: the SDK names its last
            // link (the EC2 metadata service); say what happened instead.
            _ if no_credentials(&chain(&err)) => StorageError::Failed {
                message: format!("{at}: {NO_CREDENTIALS}"),
            },
            SdkError::ConstructionFailure(_) => StorageError::Failed {
                message: format!("{at}: {}", chain(&err)),
            },
            // A given endpoint that refuses connections is most likely
            // the wrong one: say which was tried.
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) if self.endpoint.is_some() => {
                StorageError::Unavailable {
                    message: format!(
                        "{at}: {} (the S3 endpoint {} does not answer: check OTELVAULT_S3_ENDPOINT)",
                        chain(&err),
                        self.endpoint.as_deref().unwrap_or_default()
                    ),
                }
            }
            // Timeouts, connection failures, unparseable responses: transient.
            _ => StorageError::Unavailable {
                message: format!("{at}: {}", chain(&err)),
            },
        }
    }
}

/// What to do when the AWS configuration chain found no credentials.
const NO_CREDENTIALS: &str = "no AWS credentials were found: set AWS_PROFILE (a profile of ~/.aws), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with a role (an instance profile, the Lambda function's role)";

/// Whether an SDK error's causes say that no credentials could be loaded.
fn no_credentials(causes: &str) -> bool {
    let causes = causes.to_ascii_lowercase();
    causes.contains("credential")
        && (causes.contains("no credentials found")
            || causes.contains("no providers in chain")
            || causes.contains("not loaded")
            || causes.contains("could not load credentials")
            || causes.contains("failed to load credentials")
            || causes.contains("credentials not loaded"))
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(
        &self,
        key: &ObjectKey,
        body: Bytes,
        options: &PutOptions,
    ) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .body(ByteStream::from(body))
            .set_content_type(options.content_type.clone())
            .set_content_encoding(options.content_encoding.clone())
            .send()
            .await
            .map_err(|e| self.error("PutObject", key, e))?;
        Ok(())
    }

    async fn get(&self, key: &ObjectKey) -> Result<Bytes, StorageError> {
        self.get_object(key, None)
            .await?
            .ok_or_else(|| StorageError::NotFound {
                key: key.to_string(),
            })
    }

    async fn get_range(&self, key: &ObjectKey, range: Range<u64>) -> Result<Bytes, StorageError> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        // HTTP ranges name their last byte; past the end S3 answers 416.
        let header = format!("bytes={}-{}", range.start, range.end - 1);
        Ok(self
            .get_object(key, Some(header))
            .await?
            .unwrap_or_default())
    }

    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta, StorageError> {
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map_err(|e| self.error("HeadObject", key, e))?;
        Ok(ObjectMeta {
            key: key.clone(),
            size: out
                .content_length()
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
        })
    }

    async fn list_page(
        &self,
        prefix: &KeyPrefix,
        start_after: Option<&str>,
    ) -> Result<ListPage, StorageError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.full_key(prefix))
            .set_start_after(start_after.map(|a| self.full_key(a)))
            .max_keys(LIST_PAGE_SIZE as i32)
            .send()
            .await
            .map_err(|e| self.error("ListObjectsV2", prefix, e))?;
        let listed = || {
            out.contents()
                .iter()
                .filter_map(|o| o.key()?.strip_prefix(&self.root).map(|k| (k, o)))
        };
        let last_key = listed().next_back().map(|(k, _)| k.to_owned());
        // Keys that are not valid keys (console "folders" ending in '/',
        // double slashes) were not written through a store: leave them out.
        let objects = listed()
            .filter_map(|(key, o)| {
                Some(ObjectMeta {
                    key: ObjectKey::new(key).ok()?,
                    size: o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                })
            })
            .collect();
        Ok(ListPage {
            objects,
            is_truncated: out.is_truncated().unwrap_or(false),
            last_key,
        })
    }

    async fn list_dirs(&self, prefix: &KeyPrefix) -> Result<Vec<String>, StorageError> {
        let mut dirs = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(self.full_key(prefix))
                .delimiter("/")
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.error("ListObjectsV2", prefix, e))?;
            dirs.extend(
                out.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix()?.strip_prefix(&self.root))
                    .map(str::to_owned),
            );
            match out.next_continuation_token() {
                Some(next) if out.is_truncated().unwrap_or(false) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        dirs.sort_unstable();
        Ok(dirs)
    }

    async fn check(&self) -> Result<(), StorageError> {
        self.client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.root)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| self.error("ListObjectsV2", "", e))?;
        Ok(())
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map_err(|e| self.error("DeleteObject", key, e))?;
        Ok(())
    }
}
