//! `otelvault check --url`: proves a deployment end to end from outside, as
//! an exporter and a query user see it: the URL answers, a span sent with
//! the ingest key is stored, and the query key fetches it back by trace id.
//! One line per step; a failed step says what to fix (a 403 that AWS
//! answered before the function ran is named as a missing Function URL
//! permission, not as a wrong key).

use std::hash::{BuildHasher as _, Hasher as _};
use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::Bytes;
use http::{Method, StatusCode};
use otelvault_client::http::{HttpClient, Reply, error_message};

const TIMEOUT: Duration = Duration::from_secs(30);

/// What the check needs: where, and the two keys.
pub struct Target<'a> {
    /// Base URL of the deployment.
    pub url: &'a str,
    /// Ingest key for the span it sends.
    pub ingest_key: Option<&'a str>,
    /// Query key to fetch it back.
    pub access_key: Option<&'a str>,
}

/// Runs the steps, printing a line for each; the error is the failed
/// step's line.
#[allow(clippy::print_stdout)] // The command's report.
pub async fn run(target: Target<'_>) -> anyhow::Result<()> {
    let url = target.url.trim_end_matches('/');
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        bail!(
            "--url {url}: give the deployment's base URL, such as https://<id>.lambda-url.<region>.on.aws (terraform output function_url)"
        );
    }
    let client = HttpClient::new()?;

    let started = Instant::now();
    let health = client
        .send(
            Method::GET,
            &format!("{url}/health"),
            &[],
            Bytes::new(),
            TIMEOUT,
        )
        .await
        .map_err(|e| anyhow::anyhow!("reach: {e}"))?;
    refused_by_aws("reach", &health)?;
    if health.status != StatusCode::OK {
        bail!(
            "reach: GET {url}/health answered {}: {} (is this an otelvault deployment?)",
            health.status,
            error_message(&health)
        );
    }
    println!(
        "reach: {url} answers ({} ms)",
        started.elapsed().as_millis()
    );

    let (trace_id, span_id) = (random_hex(2), random_hex(1));
    let now = otelvault_codec::now_unix_nanos();
    let body = serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "otelvault-check"}}]},
        "scopeSpans": [{"scope": {"name": "otelvault check"}, "spans": [{
            "traceId": trace_id, "spanId": span_id, "name": "otelvault check", "kind": 1,
            "startTimeUnixNano": now.to_string(), "endTimeUnixNano": (now + 1_000_000).to_string(),
        }]}],
    }]});
    let started = Instant::now();
    let sent = client
        .send(
            Method::POST,
            &format!("{url}/v1/traces"),
            &with_key(
                vec![("content-type".into(), "application/json".into())],
                target.ingest_key,
            ),
            Bytes::from(body.to_string()),
            TIMEOUT,
        )
        .await
        .map_err(|e| anyhow::anyhow!("ingest: {e}"))?;
    refused_by_aws("ingest", &sent)?;
    match sent.status {
        StatusCode::OK => {}
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => bail!(
            "ingest: {} {}: give one of the deployment's ingest keys with --ingest-key or OTELVAULT_CHECK_INGEST_KEY",
            sent.status,
            error_message(&sent)
        ),
        status => bail!(
            "ingest: POST {url}/v1/traces answered {status}: {}",
            error_message(&sent)
        ),
    }
    println!(
        "ingest: span of trace {trace_id} stored ({} ms)",
        started.elapsed().as_millis()
    );

    let started = Instant::now();
    let seconds = now / 1_000_000_000;
    let lookup = client
        .send(
            Method::GET,
            &format!(
                "{url}/api/traces/{trace_id}?start={}&end={}",
                seconds.saturating_sub(60),
                seconds + 60
            ),
            &with_key(Vec::new(), target.access_key),
            Bytes::new(),
            TIMEOUT,
        )
        .await
        .map_err(|e| anyhow::anyhow!("query: {e}"))?;
    refused_by_aws("query", &lookup)?;
    match lookup.status {
        StatusCode::OK if String::from_utf8_lossy(&lookup.body).contains(&span_id) => {}
        StatusCode::OK | StatusCode::NOT_FOUND => bail!(
            "query: trace {trace_id} was stored but the trace lookup did not return its span: {}",
            error_message(&lookup)
        ),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => bail!(
            "query: {} {}: give one of the deployment's query keys with --access-key or OTELVAULT_ACCESS_KEY",
            lookup.status,
            error_message(&lookup)
        ),
        status => bail!(
            "query: trace lookup answered {status}: {}",
            error_message(&lookup)
        ),
    }
    println!(
        "query: span found by trace id ({} ms)",
        started.elapsed().as_millis()
    );
    println!("ok: {url} archives and serves traces");
    Ok(())
}

/// A 403 from AWS itself (the Function URL's authorization, before the
/// function runs) carries `x-amzn-ErrorType` and a `{"Message": …}` body;
/// otelvault's own answers never do.
fn refused_by_aws(step: &str, reply: &Reply) -> anyhow::Result<()> {
    let aws_error = reply.headers.get("x-amzn-errortype").is_some()
        || serde_json::from_slice::<serde_json::Value>(&reply.body)
            .is_ok_and(|v| v.get("Message").is_some() && v.get("message").is_none());
    if reply.status == StatusCode::FORBIDDEN && aws_error {
        bail!(
            "{step}: 403 from AWS before the function ran: the Function URL's resource-based policy does not let this request in. \
             With auth type NONE it must allow lambda:InvokeFunctionUrl and lambda:InvokeFunction to everyone (terraform apply of terraform/modules/otelvault adds both; see docs/deploy.md); \
             with AWS_IAM, requests must be SigV4-signed by a principal allowed both actions (the invoke_policy_json output)"
        );
    }
    Ok(())
}

fn with_key(mut headers: Vec<(String, String)>, key: Option<&str>) -> Vec<(String, String)> {
    if let Some(key) = key.filter(|k| !k.is_empty()) {
        headers.push(("oteleport-access-key".into(), key.into()));
    }
    headers
}

/// `words` random 64-bit words as hex (the standard library's hasher keys
/// come from the operating system's randomness).
fn random_hex(words: usize) -> String {
    (0..words)
        .map(|_| {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(otelvault_codec::now_unix_nanos());
            format!("{:016x}", hasher.finish())
        })
        .collect()
}
