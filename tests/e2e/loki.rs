//! Grafana's Loki view of the archive: log records sent by the
//! OpenTelemetry Python SDK's exporter, read back through the real
//! binary's Loki API, against what the fetch API returns for the range.

use serde_json::Value;

use crate::support::*;

const KEYS: [(&str, &str); 2] = [
    ("OTELVAULT_INGEST_KEYS", "python:ingest-secret-e2e"),
    ("OTELVAULT_QUERY_KEYS", "query-secret-e2e"),
];

/// A Loki route's JSON answer to `params` (ureq encodes them), `200`
/// expected.
fn loki(url: &str, route: &str, params: &[(&str, &str)], categorize: bool) -> Value {
    let mut request = http()
        .get(format!("{url}/loki/api/v1/{route}"))
        .header("Authorization", "Bearer query-secret-e2e");
    for (name, value) in params {
        request = request.query(*name, *value);
    }
    if categorize {
        request = request.header("X-Loki-Response-Encoding-Flags", "categorize-labels");
    }
    let mut response = request.call().expect("loki");
    let status = response.status();
    let body = response.body_mut().read_to_string().expect("body");
    assert_eq!(status, 200, "{route} {params:?}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

/// (line, labels and metadata) of every entry, in the answer's order.
fn lines(answer: &Value) -> Vec<(u64, String, Value)> {
    assert_eq!(answer["status"], "success");
    assert_eq!(answer["data"]["resultType"], "streams");
    let mut out: Vec<(u64, String, Value)> = Vec::new();
    for stream in answer["data"]["result"].as_array().expect("result") {
        for value in stream["values"].as_array().expect("values") {
            let time = value[0].as_str().expect("time").parse().expect("ns");
            let mut labels = stream["stream"].clone();
            if let Some(metadata) = value[2]["structuredMetadata"].as_object() {
                for (k, v) in metadata {
                    labels[k] = v.clone();
                }
            }
            out.push((time, value[1].as_str().expect("line").to_owned(), labels));
        }
    }
    out.sort_by_key(|(time, _, _)| std::cmp::Reverse(*time));
    out
}

#[test]
fn grafanas_loki_queries_return_what_the_sdk_sent() {
    let (server, _store) = Server::start(&Storage::Fs, &KEYS);
    let cmd = python_sender(
        ".venv-otel-proto",
        "proto",
        &server.url,
        Some("ingest-secret-e2e"),
    );
    let sent = run(cmd, "python exporter");
    let service = sent["service"].as_str().expect("service");
    let mut bodies: Vec<String> = sent["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .map(|l| l["body"].as_str().expect("body").to_owned())
        .collect();
    bodies.sort();
    assert_eq!(bodies.len(), 3);

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let (start, end) = (now - 3600, now + 60);
    let (start, end) = (start.to_string(), end.to_string());
    let range = [("start", start.as_str()), ("end", end.as_str())];
    let selector = format!("{{service_name=\"{service}\"}}");
    let query = |pipeline: &str, extra: &[(&str, &str)], categorize: bool| {
        let q = format!("{selector}{pipeline}");
        let params = [&[("query", q.as_str())], &range[..], extra].concat();
        lines(&loki(&server.url, "query_range", &params, categorize))
    };

    // Every record, as the fetch API returns the range.
    let all = query("", &[], false);
    let mut got: Vec<String> = all.iter().map(|(_, line, _)| line.clone()).collect();
    got.sort();
    assert_eq!(got, bodies);
    let (code, stdout, stderr) = run_cli(
        &[
            "fetch",
            "--endpoint",
            &server.url,
            "--signal",
            "logs",
            "--start",
            &start,
            "--end",
            &end,
        ],
        &[("OTELVAULT_ACCESS_KEY", "query-secret-e2e")],
    );
    assert_eq!(code, 0, "{stderr}");
    let fetched: Value = serde_json::from_str(&stdout).expect("OTLP/JSON");
    let mut fetched_bodies: Vec<String> = fetched["resourceLogs"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|rl| rl["scopeLogs"].as_array().cloned().unwrap_or_default())
        .flat_map(|sl| sl["logRecords"].as_array().cloned().unwrap_or_default())
        .map(|r| r["body"]["stringValue"].as_str().expect("body").to_owned())
        .collect();
    fetched_bodies.sort();
    assert_eq!(got, fetched_bodies, "the fetch API's records");
    assert!(all.windows(2).all(|w| w[0].0 >= w[1].0), "newest first");

    // Levels, line filters and attributes as Grafana filters them.
    let errors = query(r#" | detected_level="error""#, &[], false);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].1, "disk almost full");
    let payment = query(r#" |= "payment" | user_id = 42"#, &[], true);
    assert_eq!(payment.len(), 1, "{payment:?}");
    assert_eq!(payment[0].2["detected_level"], "warn");
    assert_eq!(payment[0].2["service_name"], service);
    assert!(
        payment[0].2["trace_id"]
            .as_str()
            .is_some_and(|t| t.len() == 32)
    );
    assert!(query(r#" != "payment" !~ "disk|start""#, &[], false).is_empty());
    let oldest = query("", &[("direction", "forward"), ("limit", "1")], false);
    assert_eq!(oldest.len(), 1);
    assert_eq!(oldest[0].0, all.last().expect("records").0);

    let names = loki(&server.url, "labels", &range, false);
    assert!(
        names["data"]
            .as_array()
            .expect("names")
            .contains(&Value::from("service_name"))
    );
    let values = loki(&server.url, "label/service_name/values", &range, false);
    assert_eq!(values["data"], serde_json::json!([service]));
    // Grafana's log volume: lines by level, and its health check.
    let volume = format!("sum by (detected_level) (count_over_time({selector}[1h]))");
    let levels = loki(
        &server.url,
        "query",
        &[("query", volume.as_str()), ("time", end.as_str())],
        false,
    );
    assert_eq!(levels["data"]["resultType"], "vector");
    let mut counted: Vec<(String, String)> = levels["data"]["result"]
        .as_array()
        .expect("result")
        .iter()
        .map(|s| {
            (
                s["metric"]["detected_level"]
                    .as_str()
                    .expect("level")
                    .to_owned(),
                s["value"][1].as_str().expect("value").to_owned(),
            )
        })
        .collect();
    counted.sort();
    let one = |level: &str| (level.to_owned(), "1".to_owned());
    assert_eq!(counted, [one("error"), one("info"), one("warn")]);
    let params = [&[("query", volume.as_str()), ("step", "60")], &range[..]].concat();
    let matrix = loki(&server.url, "query_range", &params, false);
    assert_eq!(matrix["data"]["resultType"], "matrix");
    assert_eq!(matrix["data"]["result"].as_array().map(Vec::len), Some(3));
    let health = loki(
        &server.url,
        "query",
        &[("query", "vector(1)+vector(1)")],
        false,
    );
    assert_eq!(health["data"]["result"][0]["value"][1], "2");
    let info = loki(&server.url, "status/buildinfo", &[], false);
    assert!(info["version"].is_string());
}

/// Grafana's Loki data source over two hours of SDK-sent logs, played by
/// a client that shares no code with the server (tests/python/loki_client.py:
/// shapes from Loki's API documentation, contents from the fetch API):
/// first with both hours raw, then with the first compacted to Parquet.
/// Every answer is the same.
#[test]
fn every_loki_route_answers_as_the_fetch_api_holds_raw_and_compacted() {
    let (server, _store) = Server::start(&Storage::Fs, &KEYS);
    let mut send = std::process::Command::new(python(".venv-otel-proto"));
    send.arg(script("tests/python/loki_client.py"))
        .arg("send")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &server.url)
        .env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Authorization=Bearer ingest-secret-e2e",
        );
    let sent = run(send, "loki client: send");
    let check = || {
        let mut cmd = std::process::Command::new(python(".venv-otel-proto"));
        cmd.arg(script("tests/python/loki_client.py"))
            .arg("check")
            .arg(&server.url)
            .arg("query-secret-e2e");
        run(cmd, "loki client: check")
    };
    let raw = check();
    assert_eq!(raw["records"], sent["sent"], "every record sent is read");

    let archive = server.archive_path();
    let stdout = compact_range(&archive, "2024-10-27T03:00:00Z", "2024-10-27T04:00:00Z");
    assert!(stdout.contains("compacted"), "{stdout}");
    let compacted = check();
    assert_eq!(
        compacted, raw,
        "a compacted hour answers as its raw objects did"
    );
}
