//! CloudWatch Embedded Metric Format through the real binary: the Python
//! SDK's OTLP exporter sends metrics to `otelvault serve` with
//! `OTELVAULT_EMF=on`, and the events the server writes to
//! `OTELVAULT_EMF_FILE` carry what was sent; every request prints its own
//! figures; mistakes in the settings stop the server with one line.

use serde_json::Value;

use crate::support::{Server, Storage, python_sender, run, run_cli};

/// The events of an EMF file: otelvault's own, and the converted ones.
fn events(path: &std::path::Path) -> (Vec<Value>, Vec<Value>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("each line a JSON event"))
        .partition(|e| e["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "otelvault")
}

#[test]
fn an_sdk_exporters_metrics_become_emf_events_and_each_request_its_figures() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("emf.jsonl");
    let file_text = file.to_string_lossy().into_owned();
    let (server, _store) = Server::start(
        &Storage::Fs,
        &[
            ("OTELVAULT_INGEST_KEYS", "python:ingest-secret-e2e"),
            ("OTELVAULT_QUERY_KEYS", "query-secret-e2e"),
            ("OTELVAULT_EMF", "on"),
            ("OTELVAULT_SELF_METRICS", "on"),
            ("OTELVAULT_EMF_FILE", &file_text),
            (
                "OTELVAULT_EMF_CONFIG",
                r#"{"resource_dimensions": ["deployment.environment"], "dimension_rollup_option": "NoDimensionRollup", "retain_initial_value_of_delta_metric": true}"#,
            ),
        ],
    );
    let cmd = python_sender(
        ".venv-otel-proto",
        "proto",
        &server.url,
        Some("ingest-secret-e2e"),
    );
    let sent = run(cmd, "python exporter");
    let service = sent["service"].as_str().expect("service");

    let (own, converted) = events(&file);
    let log = server.log_text();
    // One event per request: traces, metrics, logs (and the readiness
    // checks of the test's harness).
    let routes: Vec<&str> = own
        .iter()
        .filter_map(|e| e["route"].as_str())
        .filter(|r| *r != "/health")
        .collect();
    assert_eq!(routes.len(), 3, "{routes:?}\n{log}");
    for route in ["/v1/traces", "/v1/metrics", "/v1/logs"] {
        assert!(routes.contains(&route), "{route} in {routes:?}");
    }
    let metrics_request = own
        .iter()
        .find(|e| e["route"] == "/v1/metrics")
        .expect("metrics");
    assert_eq!(metrics_request["signal"], "metrics");
    assert_eq!(metrics_request["ItemsAccepted"], 4.0, "2 + 1 + 1 points");
    assert!(metrics_request["BytesStored"].as_f64() > Some(0.0));
    let spans_request = own
        .iter()
        .find(|e| e["route"] == "/v1/traces")
        .expect("traces");
    assert_eq!(spans_request["ItemsAccepted"], 4.0);

    // The metrics, in the service's namespace, with the chosen resource
    // attribute and the meter as dimensions.
    for event in &converted {
        let directive = &event["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], service);
        assert_eq!(event["deployment.environment"], "test");
        assert_eq!(event["OTelLib"], "e2e.meter");
    }
    let find = |name: &str, route: &str| {
        converted
            .iter()
            .find(|e| e.get(name).is_some() && e["route"] == route)
            .unwrap_or_else(|| panic!("{name} on {route} in {converted:#?}"))
    };
    let find_any = |name: &str| {
        converted
            .iter()
            .find(|e| e.get(name).is_some())
            .unwrap_or_else(|| panic!("{name} in {converted:#?}"))
    };
    let checkout = find("e2e.requests", "/checkout");
    assert_eq!(checkout["e2e.requests"], 6.0, "1 + 2 + 3");
    assert_eq!(
        checkout["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["OTelLib", "deployment.environment", "route"]])
    );
    assert_eq!(find("e2e.requests", "/cart")["e2e.requests"], 10.0);
    let latency = &find("e2e.latency", "/checkout")["e2e.latency"];
    assert_eq!(latency["Count"], 3);
    assert_eq!(latency["Sum"], 45.0);
    assert_eq!(latency["Min"], 5.0);
    assert_eq!(latency["Max"], 25.0);
    let counts: f64 = latency["Counts"]
        .as_array()
        .expect("counts")
        .iter()
        .filter_map(Value::as_f64)
        .sum();
    assert_eq!(counts, 3.0);
    let unit = converted
        .iter()
        .flat_map(|e| {
            e["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .expect("metrics")
        })
        .find(|m| m["Name"] == "e2e.latency")
        .expect("latency metric");
    assert_eq!(unit["Unit"], "Milliseconds");
    // The script's sums are cumulative: their first points are sent as they
    // are (retain_initial_value_of_delta_metric), later ones as deltas.
    assert_eq!(find_any("e2e.queue")["e2e.queue"], 5.0, "7 - 2");
}

/// Settings, and the words of the line that refuses them.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

#[test]
fn emf_mistakes_stop_the_server_with_one_line() {
    let dir = tempfile::tempdir().expect("dir");
    let storage = dir.path().to_string_lossy().into_owned();
    let serve = |envs: &[(&str, &str)]| {
        let mut all = vec![("OTELVAULT_STORAGE", storage.as_str())];
        all.extend_from_slice(envs);
        run_cli(
            &["serve", "--listen", "127.0.0.1:0", "--grpc-listen", "off"],
            &all,
        )
    };
    let cases: [Case<'_>; 4] = [
        (
            &[("OTELVAULT_EMF", "maybe")],
            &["OTELVAULT_EMF", "on or off"],
        ),
        (
            &[
                ("OTELVAULT_EMF", "on"),
                (
                    "OTELVAULT_EMF_CONFIG",
                    r#"{"dimension_rolup_option": "NoDimensionRollup"}"#,
                ),
            ],
            &[
                "OTELVAULT_EMF_CONFIG",
                "unknown field `dimension_rolup_option`",
                "dimension_rollup_option",
            ],
        ),
        (
            &[
                ("OTELVAULT_EMF", "on"),
                ("OTELVAULT_EMF_CONFIG", "/nonexistent/emf.json"),
            ],
            &[
                "OTELVAULT_EMF_CONFIG=/nonexistent/emf.json",
                "cannot read the file",
            ],
        ),
        (
            &[("OTELVAULT_EMF_CONFIG", r#"{"namespace": "Shop"}"#)],
            &["OTELVAULT_EMF is off", "OTELVAULT_EMF=on"],
        ),
    ];
    for (envs, words) in cases {
        let (code, _, stderr) = serve(envs);
        assert_ne!(code, 0, "{envs:?}");
        // clap adds its usage hint after a value it refuses (exit 2).
        if code != 2 {
            assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        }
        let line = stderr.lines().next().unwrap_or_default();
        for word in words {
            assert!(line.contains(word), "{word:?} in {line}");
        }
    }
    // On Lambda the events go to the function's log: `check` reads the
    // configuration as the function does.
    let (code, _, stderr) = run_cli(
        &["check"],
        &[
            ("OTELVAULT_STORAGE", storage.as_str()),
            ("OTELVAULT_INGEST_KEYS", "ingest-key-1"),
            ("OTELVAULT_QUERY_KEYS", "query-key-1"),
            ("OTELVAULT_EMF_FILE", "/tmp/emf.jsonl"),
        ],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("OTELVAULT_EMF_FILE") && stderr.contains("unset it"),
        "{stderr}"
    );
}
