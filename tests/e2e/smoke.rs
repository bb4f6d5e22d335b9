//! `otelvault check --url`, the smoke command a user runs after a deploy,
//! against a real server; and secrets read from SSM Parameter Store at
//! start (moto's SSM, on the same port as its S3).

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::time::Duration;

use otelvault_codec::Signal;

use crate::support::{Server, Storage, http, merged, run_cli, s3_env, shared_s3};

const INGEST: &str = "ci:ingest-secret-0123";
const QUERY: &str = "query-secret-4567";

#[test]
fn check_url_sends_a_span_and_fetches_it_back() {
    let (server, store) = Server::start(
        &Storage::Fs,
        &[
            ("OTELVAULT_INGEST_KEYS", INGEST),
            ("OTELVAULT_QUERY_KEYS", QUERY),
        ],
    );
    let (code, out, err) = run_cli(
        &["check", "--url", &server.url],
        &[
            ("OTELVAULT_CHECK_INGEST_KEY", "ingest-secret-0123"),
            ("OTELVAULT_ACCESS_KEY", QUERY),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let steps: Vec<&str> = out
        .lines()
        .map(|l| l.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(steps, ["reach", "ingest", "query", "ok"], "{out}");
    // The span is in the archive, under the check's own service.
    let spans = merged(&*store, Signal::Traces);
    let otelvault_codec::Batch::Traces(traces) = spans else {
        panic!("traces")
    };
    let trace_id = out
        .lines()
        .find_map(|l| l.strip_prefix("ingest: span of trace "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the trace id");
    let stored: Vec<_> = traces
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .filter(|s| otelvault_codec::values::hex(&s.trace_id) == trace_id)
        .collect();
    assert_eq!(stored.len(), 1, "{out}");
    assert_eq!(stored[0].name, "otelvault check");

    // A wrong ingest key: the step that failed, and which flag to fix.
    let (code, out, err) = run_cli(
        &[
            "check",
            "--url",
            &server.url,
            "--ingest-key",
            "not-a-key-at-all",
        ],
        &[("OTELVAULT_ACCESS_KEY", QUERY)],
    );
    assert_ne!(code, 0);
    assert!(out.starts_with("reach: "), "{out}");
    assert!(
        err.contains("ingest: 403") && err.contains("--ingest-key"),
        "{err}"
    );
    // No query key: the span goes in, the lookup names the missing key.
    let (code, _out, err) = run_cli(
        &["check", "--url", &server.url],
        &[("OTELVAULT_CHECK_INGEST_KEY", INGEST)],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("query: 401") && err.contains("--access-key"),
        "{err}"
    );
    // Nothing listens there.
    let port = otelvault_testkit::free_port();
    let (code, _out, err) = run_cli(
        &["check", "--url", &format!("http://127.0.0.1:{port}")],
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("reach: "), "{err}");
}

/// Answers every request as AWS answers a Function URL request that its
/// resource-based policy does not allow (403, `x-amzn-ErrorType`,
/// `{"Message":"Forbidden"}`), before any function runs.
fn forbidding_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            let mut length = 0usize;
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let _ = std::io::Read::read_exact(&mut reader, &mut body);
            let answer = "{\"Message\":\"Forbidden\"}";
            let _ = write!(
                &stream,
                "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\nx-amzn-RequestId: 6d2a3c1e\r\nx-amzn-ErrorType: AccessDeniedException\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    url
}

#[test]
fn check_url_names_a_403_from_aws_as_a_missing_url_permission() {
    let url = forbidding_url();
    let (code, out, err) = run_cli(
        &["check", "--url", &url],
        &[
            ("OTELVAULT_CHECK_INGEST_KEY", INGEST),
            ("OTELVAULT_ACCESS_KEY", QUERY),
        ],
    );
    assert_ne!(code, 0);
    assert_eq!(out, "", "no step passed");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("reach: 403 from AWS before the function ran"),
        "{err}"
    );
    assert!(
        err.contains("lambda:InvokeFunctionUrl and lambda:InvokeFunction"),
        "{err}"
    );
}

/// Puts a SecureString parameter into moto's SSM (the JSON protocol, as
/// the AWS CLI sends it).
fn put_parameter(endpoint: &str, name: &str, value: &str) {
    let response = http()
        .post(format!("{endpoint}/"))
        .header("x-amz-target", "AmazonSSM.PutParameter")
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=0",
        )
        .send(
            serde_json::json!({"Name": name, "Value": value, "Type": "SecureString", "Overwrite": true})
                .to_string(),
        )
        .expect("PutParameter");
    assert_eq!(response.status(), 200, "PutParameter {name}");
}

#[test]
fn secrets_come_from_ssm_parameters_at_start() {
    let moto = shared_s3();
    let endpoint = moto.endpoint();
    let prefix = format!("/otelvault-test/{}", std::process::id());
    put_parameter(&endpoint, &format!("{prefix}/ingest-keys"), INGEST);
    put_parameter(&endpoint, &format!("{prefix}/query-keys"), QUERY);
    let aws: Vec<(&str, String)> = s3_env(&endpoint)
        .into_iter()
        .filter(|(k, _)| k.starts_with("AWS_"))
        .chain([("AWS_ENDPOINT_URL_SSM", endpoint.clone())])
        .collect();
    let mut env: Vec<(&str, &str)> = aws.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.push(("OTELVAULT_SECRETS_SSM_PREFIX", &prefix));

    // The configuration check reads them as the Lambda function does.
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = dir.path().to_string_lossy().into_owned();
    let mut check_env = env.clone();
    check_env.push(("OTELVAULT_STORAGE", &storage));
    let (code, out, err) = run_cli(&["check"], &check_env);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("1 ingest and 1 query keys (enforced)"),
        "{out}"
    );

    // A server holds the keys from SSM, and none from its environment.
    let (server, store) = Server::start(&Storage::Fs, &env);
    let (code, out, err) = run_cli(
        &["check", "--url", &server.url],
        &[
            ("OTELVAULT_CHECK_INGEST_KEY", INGEST),
            ("OTELVAULT_ACCESS_KEY", QUERY),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let otelvault_codec::Batch::Traces(traces) = merged(&*store, Signal::Traces) else {
        panic!("traces")
    };
    assert_eq!(traces.resource_spans.len(), 1, "the check's span is stored");
    let refused = http()
        .post(format!("{}/v1/traces", server.url))
        .header("content-type", "application/json")
        .send("{}")
        .expect("post");
    assert_eq!(refused.status(), 401, "keys are enforced");
    let log = server.log_text();
    assert!(
        log.contains("Read secrets from SSM Parameter Store."),
        "{log}"
    );
    assert!(
        !log.contains("ingest-secret") && !log.contains(QUERY),
        "secrets are never logged"
    );

    // A secret given both ways is refused, in one line naming the variable.
    let mut both = check_env.clone();
    both.push(("OTELVAULT_QUERY_KEYS", "another-query-key"));
    let (code, _out, err) = run_cli(&["check"], &both);
    assert_ne!(code, 0);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("OTELVAULT_QUERY_KEYS is set and the SSM parameter")
            && err.contains(&format!("{prefix}/query-keys")),
        "{err}"
    );

    // A bad value names the parameter.
    let bad = format!("{prefix}-bad");
    put_parameter(&endpoint, &format!("{bad}/cursor-key"), "not base64!");
    let mut bad_env = check_env.clone();
    bad_env.retain(|(k, _)| *k != "OTELVAULT_SECRETS_SSM_PREFIX");
    bad_env.push(("OTELVAULT_SECRETS_SSM_PREFIX", &bad));
    let (code, _out, err) = run_cli(&["check"], &bad_env);
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!(
            "SSM parameter {bad}/cursor-key (OTELVAULT_CURSOR_KEY)"
        )),
        "{err}"
    );

    // An empty path: no keys anywhere, and the message says where to put them.
    let mut empty = check_env.clone();
    empty.retain(|(k, _)| *k != "OTELVAULT_SECRETS_SSM_PREFIX");
    empty.push((
        "OTELVAULT_SECRETS_SSM_PREFIX",
        "/otelvault-test/nothing-here",
    ));
    let (code, _out, err) = run_cli(&["check"], &empty);
    assert_ne!(code, 0);
    assert!(err.contains("OTELVAULT_SECRETS_SSM_PREFIX"), "{err}");
}
