//! `otelvault xray import` against moto's X-Ray server on 127.0.0.1:
//! segment documents put with `PutTraceSegments` come back through the
//! query API as OTLP spans; a re-run stores nothing twice; a run resumes
//! from the checkpoint.

use std::process::Command;

use otelvault_storage::{KeyPrefix, ObjectStore, list_all};
use otelvault_testkit::{S3Server, free_port, wait_for_port};
use serde_json::Value;

use crate::support::*;

const RANGE: [&str; 4] = [
    "--start",
    "2024-10-27T03:00:00Z",
    "--end",
    "2024-10-27T04:00:00Z",
];

/// Puts the segment documents of the translator's fixtures into X-Ray.
fn put_segments(endpoint: &str) {
    let python = script(".venv/bin/python");
    let code = format!(
        "import boto3, json, pathlib\n\
         xray = boto3.client('xray', endpoint_url='{endpoint}', region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test')\n\
         for name in ['apigw-lambda-dynamodb.json', 'error-and-sqs.json']:\n\
         \x20   docs = json.loads(pathlib.Path('crates/xray/tests/fixtures', name).read_text())\n\
         \x20   answer = xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(d) for d in docs])\n\
         \x20   assert not answer['UnprocessedTraceSegments'], answer\n"
    );
    let output = Command::new(python)
        .current_dir(script(""))
        .args(["-c", &code])
        .output()
        .expect("python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `tests/python/xray_proxy.py` in front of moto: it throttles the first
/// `throttle` requests and fixes moto's trace summaries. Killed on drop.
struct Proxy {
    child: std::process::Child,
    url: String,
}

impl Proxy {
    fn start(moto: &str, throttle: u32) -> Proxy {
        let port = free_port();
        let child = Command::new(script(".venv/bin/python"))
            .arg(script("tests/python/xray_proxy.py"))
            .args([port.to_string(), moto.to_owned(), throttle.to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("proxy");
        assert!(wait_for_port(
            ([127, 0, 0, 1], port).into(),
            std::time::Duration::from_secs(10)
        ));
        Proxy {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Stops it; what it printed.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let output =
            std::mem::replace(&mut self.child, Command::new("true").spawn().expect("true"))
                .wait_with_output()
                .expect("proxy output");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn import(dir: &str, endpoint: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "xray",
        "import",
        "--storage",
        dir,
        "--xray-endpoint",
        endpoint,
    ];
    args.extend(extra);
    run_cli(
        &args,
        &[
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    )
}

/// The spans the query API returns for the fixtures' hour: (trace id,
/// span name).
fn fetched(url: &str) -> Vec<(String, String)> {
    let mut args = vec!["fetch", "--endpoint", url, "--signal", "traces"];
    args.extend(RANGE);
    let (code, stdout, stderr) = run_cli(&args, &[]);
    assert_eq!(code, 0, "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).expect("OTLP/JSON");
    let mut out: Vec<(String, String)> = items(&doc, SPANS)
        .into_iter()
        .map(|(_, s)| {
            (
                s["traceId"].as_str().unwrap_or_default().to_owned(),
                s["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn objects(store: &dyn ObjectStore) -> Vec<String> {
    block_on(list_all(store, &KeyPrefix::new("year=").expect("prefix")))
        .expect("list")
        .into_iter()
        .map(|m| m.key.into_string())
        .collect()
}

#[test]
fn xray_traces_are_imported_as_otlp_once_whatever_the_runs() {
    let moto = S3Server::start();
    put_segments(&moto.endpoint());
    // X-Ray throttles the first two calls; the import retries them.
    let proxy = Proxy::start(&moto.endpoint(), 2);
    let endpoint = proxy.url.clone();
    let (server, store) = Server::start(&Storage::Fs, &[]);
    let dir = server.archive_path();

    let (code, stdout, stderr) = import(&dir, &endpoint, &RANGE);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("imported 2 traces (9 spans) over 1 windows"),
        "{stdout}"
    );
    let spans = fetched(&server.url);
    assert_eq!(spans.len(), 9, "{spans:?}");
    for name in [
        "orders-api/prod",
        "get-order",
        "DynamoDB",
        "checkout",
        "SQS",
    ] {
        assert!(spans.iter().any(|(_, n)| n == name), "{name}: {spans:?}");
    }
    assert!(
        spans
            .iter()
            .any(|(t, _)| t == "5759e988bd862e3fe1be46a994272793")
    );
    // The trace still in progress is not imported.
    assert!(
        !spans
            .iter()
            .any(|(t, _)| t == "6710d2a0ffffffffffffffffffffffff")
    );
    let stored = objects(&*store);

    // Again over the same range: the same objects, nothing twice.
    let (code, _, stderr) = import(&dir, &endpoint, &RANGE);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(objects(&*store), stored);
    assert_eq!(fetched(&server.url), spans);

    // A range longer than X-Ray's six hours goes in windows.
    let (code, stdout, stderr) = import(
        &dir,
        &endpoint,
        &[
            "--start",
            "2024-10-26T20:00:00Z",
            "--end",
            "2024-10-27T04:00:00Z",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("imported 2 traces (9 spans) over 2 windows"),
        "{stdout}"
    );
    assert_eq!(objects(&*store), stored);

    // A run that resumes (no --start) starts where the checkpoint says.
    let (code, stdout, stderr) = import(&dir, &endpoint, &["--end", "2024-10-27T04:00:00Z"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("imported 0 traces"), "{stdout}");

    // A run cut short inside a window: the checkpoint names one trace as
    // imported; the next run imports the other and skips it.
    let checkpoint = r#"{"version":1,"completed_until":0,"open":{"start":1729998000,"end":1730001600,"imported":["1-5759e988-bd862e3fe1be46a994272793"]}}"#;
    std::fs::write(
        std::path::Path::new(&dir).join("xray-import/checkpoint.json"),
        checkpoint,
    )
    .expect("checkpoint");
    let (code, stdout, stderr) = import(&dir, &endpoint, &RANGE[2..]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("imported 1 traces (4 spans)") && stdout.contains("1 already imported"),
        "{stdout}"
    );
    assert_eq!(objects(&*store), stored, "nothing lost or doubled");

    // Filter expressions go to X-Ray as given; moto answers them with an
    // error, which the import reports with the call that failed.
    let mut args = RANGE.to_vec();
    args.extend(["--filter-expression", "fault"]);
    let (code, _, stderr) = import(&dir, &endpoint, &args);
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("X-Ray GetTraceSummaries"), "{stderr}");
    let printed = proxy.stop();
    assert!(printed.contains("throttled 2"), "{printed}");
    drop(moto);
}
