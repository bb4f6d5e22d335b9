//! Secrets from SSM Parameter Store: with `OTELVAULT_SECRETS_SSM_PREFIX`
//! set, the keys, the cursor key and the forward headers are read once at
//! start from SecureString parameters under that path, so they are never in
//! the function's environment (nor in a terraform plan or state). Each
//! parameter is optional; one that exists takes the place of its variable,
//! and giving a secret both ways is refused. The values live as long as the
//! instance: a new value reaches new instances (publish a configuration
//! change to replace the running ones at once).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::bail;
use clap::Args as _;

use crate::settings::{ForwardArgs, ServeArgs, SsmArgs, parse_cursor_key};

/// A secret that can come from SSM, by the name of its parameter under the
/// prefix and the variable it stands in for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// `<prefix>/ingest-keys` for `OTELVAULT_INGEST_KEYS`.
    IngestKeys,
    /// `<prefix>/query-keys` for `OTELVAULT_QUERY_KEYS`.
    QueryKeys,
    /// `<prefix>/cursor-key` for `OTELVAULT_CURSOR_KEY`.
    CursorKey,
    /// `<prefix>/forward-headers` for `OTELVAULT_FORWARD_HEADERS`.
    ForwardHeaders,
}

/// What the API function and the local server read.
pub const SERVER: &[Secret] = &[
    Secret::IngestKeys,
    Secret::QueryKeys,
    Secret::CursorKey,
    Secret::ForwardHeaders,
];

/// What the scheduled functions read: they forward (compaction re-sends,
/// the X-Ray import forwards what it archives) but answer no requests. Their
/// roles may read only this parameter.
pub const SCHEDULED: &[Secret] = &[Secret::ForwardHeaders];

impl Secret {
    fn parameter(self) -> &'static str {
        match self {
            Secret::IngestKeys => "ingest-keys",
            Secret::QueryKeys => "query-keys",
            Secret::CursorKey => "cursor-key",
            Secret::ForwardHeaders => "forward-headers",
        }
    }

    /// The variable the secret stands in for, as the settings declare it.
    fn variable(self) -> String {
        let id = match self {
            Secret::IngestKeys => "ingest_keys",
            Secret::QueryKeys => "query_keys",
            Secret::CursorKey => "cursor_key",
            Secret::ForwardHeaders => "forward-headers",
        };
        ServeArgs::augment_args(clap::Command::new("otelvault"))
            .get_arguments()
            .find(|a| a.get_id() == id)
            .and_then(|a| a.get_env())
            .map_or_else(|| id.to_owned(), |e| e.to_string_lossy().into_owned())
    }
}

/// Settings some secrets can be put in.
pub trait Holder {
    /// Whether the secret is already set (by its variable).
    fn is_set(&self, secret: Secret) -> bool;
    /// Puts `value` in place of the variable, parsed as the variable is.
    fn apply(&mut self, secret: Secret, value: &str) -> Result<(), String>;
}

impl Holder for ForwardArgs {
    fn is_set(&self, secret: Secret) -> bool {
        secret == Secret::ForwardHeaders && self.headers.as_deref().is_some_and(|h| !h.is_empty())
    }

    fn apply(&mut self, secret: Secret, value: &str) -> Result<(), String> {
        if secret == Secret::ForwardHeaders {
            self.headers = Some(value.to_owned());
        }
        Ok(())
    }
}

impl Holder for ServeArgs {
    fn is_set(&self, secret: Secret) -> bool {
        match secret {
            Secret::IngestKeys => !self.ingest_keys.is_empty(),
            Secret::QueryKeys => !self.query_keys.is_empty(),
            Secret::CursorKey => self.cursor_key.0.is_some(),
            Secret::ForwardHeaders => self.forward.is_set(secret),
        }
    }

    fn apply(&mut self, secret: Secret, value: &str) -> Result<(), String> {
        match secret {
            Secret::IngestKeys => self.ingest_keys = value.parse()?,
            Secret::QueryKeys => self.query_keys = value.parse()?,
            Secret::CursorKey => self.cursor_key = parse_cursor_key(value)?,
            Secret::ForwardHeaders => self.forward.apply(secret, value)?,
        }
        Ok(())
    }
}

/// Reads the `wanted` secrets from SSM when `OTELVAULT_SECRETS_SSM_PREFIX`
/// is set, and puts them in `args`; without it, returns `args` as they are.
pub async fn load<T: Holder>(ssm: &SsmArgs, mut args: T, wanted: &[Secret]) -> anyhow::Result<T> {
    let Some(prefix) = ssm.secrets_ssm_prefix.clone().filter(|p| !p.is_empty()) else {
        return Ok(args);
    };
    if !prefix.starts_with('/') || prefix.ends_with('/') || prefix.contains("//") {
        bail!(
            "OTELVAULT_SECRETS_SSM_PREFIX={prefix}: give an SSM path such as /otelvault, starting with '/' and not ending with one"
        );
    }
    let names: Vec<String> = wanted
        .iter()
        .map(|s| format!("{prefix}/{}", s.parameter()))
        .collect();
    let values = fetch(&prefix, &names).await?;
    let mut found = Vec::new();
    for (secret, name) in wanted.iter().zip(&names) {
        let Some(value) = values.get(name) else {
            continue;
        };
        if args.is_set(*secret) {
            bail!(
                "{} is set and the SSM parameter {name} holds it too: give each secret one way (unset {})",
                secret.variable(),
                secret.variable()
            );
        }
        args.apply(*secret, value)
            .map_err(|e| anyhow::anyhow!("SSM parameter {name} ({}): {e}", secret.variable()))?;
        found.push(name.as_str());
    }
    tracing::info!(prefix, parameters = ?found, "Read secrets from SSM Parameter Store.");
    Ok(args)
}

/// The AWS SDK configuration of the clients the binary makes besides its
/// storage's (SSM, Lambda): the environment's region and credentials,
/// rustls on `ring`, and `timeouts`.
pub(crate) async fn sdk_config(
    timeouts: aws_config::timeout::TimeoutConfig,
) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts)
        .load()
        .await
}

/// The values of the parameters of `names` that exist, decrypted, in one
/// `GetParameters` call; a parameter that does not exist is left out.
async fn fetch(prefix: &str, names: &[String]) -> anyhow::Result<HashMap<String, String>> {
    let config = sdk_config(
        aws_config::timeout::TimeoutConfig::builder()
            .operation_timeout(Duration::from_secs(5))
            .build(),
    )
    .await;
    let client = aws_sdk_ssm::Client::new(&config);
    let reply = client
        .get_parameters()
        .set_names(Some(names.to_vec()))
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| {
            let denied = e
                .as_service_error()
                .and_then(aws_sdk_ssm::error::ProvideErrorMetadata::code)
                .is_some_and(|c| c == "AccessDeniedException");
            let detail = aws_sdk_ssm::error::DisplayErrorContext(&e);
            if denied {
                anyhow::anyhow!(
                    "OTELVAULT_SECRETS_SSM_PREFIX={prefix}: not allowed to read {} (the role needs ssm:GetParameters on them, and kms:Decrypt for a customer-managed key): {detail}",
                    names.join(", ")
                )
            } else {
                anyhow::anyhow!("OTELVAULT_SECRETS_SSM_PREFIX={prefix}: reading the parameters from SSM failed: {detail}")
            }
        })?;
    Ok(reply
        .parameters()
        .iter()
        .filter_map(|p| Some((p.name()?.to_owned(), p.value()?.to_owned())))
        .collect())
}
