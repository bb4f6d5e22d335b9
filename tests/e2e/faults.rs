//! Storage faults through the real binary: S3 down answers 503 with
//! Retry-After and never 200; the server keeps serving and recovers when S3
//! comes back.

use otelvault_testkit::S3Server;

use crate::support::*;

fn post_traces(url: &str) -> (u16, Option<String>, String) {
    let body = std::fs::read(script("samples/otlp/traces.binpb")).expect("sample");
    let mut response = http()
        .post(format!("{url}/v1/traces"))
        .header("Content-Type", "application/x-protobuf")
        .send(&body[..])
        .expect("post");
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.body_mut().read_to_vec().expect("body");
    (
        response.status().as_u16(),
        retry_after,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[test]
fn s3_outage_is_503_with_retry_after_and_the_server_recovers() {
    let mut s3 = S3Server::start();
    let port = s3.port();
    let storage = Storage::S3 {
        endpoint: s3.endpoint(),
        bucket: "e2e-faults".into(),
    };
    let (server, store) = Server::start(&storage, &[]);
    assert_eq!(post_traces(&server.url).0, 200);

    s3.stop();
    for _ in 0..2 {
        let (status, retry_after, body) = post_traces(&server.url);
        assert_eq!(status, 503, "{body}");
        assert_eq!(retry_after.as_deref(), Some("5"));
        assert!(
            body.is_empty() || !body.contains("127.0.0.1"),
            "no internals leak to the client"
        );
    }
    // Still alive and serving.
    let health = http()
        .get(format!("{}/health", server.url))
        .call()
        .expect("health");
    assert_eq!(health.status(), 200);
    let log = server.log_text();
    assert!(log.contains("status=503"), "the failure is logged:\n{log}");

    // S3 comes back (empty: moto keeps no state), the same request succeeds.
    let _s3 = S3Server::start_on(port);
    let store_again = s3_store(&format!("http://127.0.0.1:{port}"), "e2e-faults", S3_PREFIX);
    let (status, _, body) = post_traces(&server.url);
    assert_eq!(status, 200, "{body}");
    assert_eq!(archive(&store_again).len(), 1);
    drop(store);
}

/// `otelvault serve` (or `check`) with this S3 configuration: exit code and stderr.
fn start_with_s3(command: &str, endpoint: &str, storage: &str) -> (i32, String, String) {
    let envs = s3_env(endpoint);
    let mut envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    envs.push(("OTELVAULT_STORAGE", storage));
    envs.push(("OTELVAULT_LISTEN", "127.0.0.1:0"));
    envs.push(("OTELVAULT_INGEST_KEYS", "an-ingest-key-of-some-length"));
    envs.push(("OTELVAULT_QUERY_KEYS", "a-query-key-of-some-length"));
    run_cli(&[command], &envs)
}

#[test]
fn a_missing_bucket_or_a_dead_endpoint_stops_serve_at_start_with_the_cause() {
    let s3 = shared_s3();
    let (code, _, stderr) = start_with_s3("serve", &s3.endpoint(), "s3://no-such-bucket/otel");
    assert_eq!(code, 1, "{stderr}");
    let line = stderr.trim();
    assert_eq!(line.lines().count(), 1, "one line: {line}");
    assert!(
        line.contains("s3://no-such-bucket/otel")
            && line.contains("NoSuchBucket")
            && line.contains("create the bucket"),
        "{line}"
    );
    // `check` says the same about a deployment's configuration.
    let (code, _, stderr) = start_with_s3("check", &s3.endpoint(), "s3://no-such-bucket/otel");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("NoSuchBucket"), "{stderr}");

    let dead = format!("http://127.0.0.1:{}", otelvault_testkit::free_port());
    let started = std::time::Instant::now();
    let (code, _, stderr) = start_with_s3("serve", &dead, "s3://some-bucket");
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("storage s3://some-bucket cannot be used"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(60));

    // A good configuration checks out.
    let bucket = "e2e-check";
    let _ = s3_store(&s3.endpoint(), bucket, "");
    let (code, stdout, stderr) = start_with_s3("check", &s3.endpoint(), "s3://e2e-check/otel");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("ok: storage s3://e2e-check/otel"),
        "{stdout}"
    );
}

#[test]
fn credentials_the_store_does_not_know_stop_serve_with_the_aws_code() {
    let s3 = S3Server::start_checking_credentials();
    for command in ["serve", "check"] {
        let (code, _, stderr) = start_with_s3(command, &s3.endpoint(), "s3://some-bucket/otel");
        assert_eq!(code, 1, "{stderr}");
        let line = stderr.trim();
        assert_eq!(line.lines().count(), 1, "one line: {line}");
        assert!(
            line.contains("s3://some-bucket/otel")
                && line.contains("InvalidAccessKeyId")
                && line.contains("credentials"),
            "{line}"
        );
    }
}

#[test]
fn a_bucket_gone_while_serving_is_a_500_that_names_it_not_a_retry_forever() {
    let s3 = shared_s3();
    let storage = Storage::S3 {
        endpoint: s3.endpoint(),
        bucket: "e2e-vanishing".into(),
    };
    let (server, _store) = Server::start(&storage, &[]);
    let client = s3_store(&s3.endpoint(), "e2e-vanishing", "");
    block_on(
        client
            .client()
            .delete_bucket()
            .bucket("e2e-vanishing")
            .send(),
    )
    .expect("delete the bucket");
    let (status, retry_after, body) = post_traces(&server.url);
    assert_eq!(status, 500, "{body}");
    assert_eq!(retry_after, None);
    assert!(
        body.contains("s3://e2e-vanishing/") && body.contains("NoSuchBucket"),
        "{body}"
    );
    let mut fetch = http()
        .post(format!("{}/api/traces/fetch", server.url))
        .header("Content-Type", "application/json")
        .send(r#"{"startTimeUnixNano": "1730000000000000000", "endTimeUnixNano": "1730000600000000000"}"#)
        .expect("fetch");
    assert_eq!(fetch.status().as_u16(), 500);
    let text = fetch.body_mut().read_to_string().expect("body");
    assert!(text.contains("NoSuchBucket"), "{text}");
    // The log has one line per failure, naming the cause.
    let log = server.log_text();
    let failures: Vec<&str> = log.lines().filter(|l| l.contains("NoSuchBucket")).collect();
    assert_eq!(failures.len(), 2, "{log}");
}

#[test]
fn a_stalled_store_answers_503_within_the_configured_timeout_and_recovers() {
    let s3 = shared_s3();
    let proxy = StallingProxy::start(s3.port());
    let _ = s3_store(&s3.endpoint(), "e2e-stall", "");
    let (server, store) = Server::start(
        &Storage::S3 {
            endpoint: proxy.url.clone(),
            bucket: "e2e-stall".into(),
        },
        &[
            ("OTELVAULT_S3_TIMEOUT", "2s"),
            ("OTELVAULT_S3_ATTEMPT_TIMEOUT", "1s"),
        ],
    );
    drop(store);
    assert_eq!(post_traces(&server.url).0, 200);
    proxy.stall(true);
    // The answer comes within the configured 2 s bound; the client gives
    // up after 15 s, which a store call without that bound (the SDK's own
    // limits are far longer) would outlast.
    let body = std::fs::read(script("samples/otlp/logs.binpb")).expect("sample");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(15)))
        .build()
        .into();
    let mut response = agent
        .post(format!("{}/v1/logs", server.url))
        .header("Content-Type", "application/x-protobuf")
        .send(&body[..])
        .expect("an answer before the client gives up");
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().get("retry-after").is_some());
    let _ = response.body_mut().read_to_vec();
    proxy.stall(false);
    assert_eq!(post_traces(&server.url).0, 200, "recovered");
}
