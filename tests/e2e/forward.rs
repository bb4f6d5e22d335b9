//! Forwarding (dual export) through the real binary: a deployment archives
//! every accepted batch and sends it to a live backend (here a second
//! `otelvault serve`, over HTTP and gRPC), with its headers. A backend that
//! answers 503, is down, or never answers costs a bounded wait and still
//! a 200; markers name what to re-send, and `otelvault forward-retry`
//! delivers it from the archive, so the backend ends up with everything.

use std::net::TcpListener;
use std::time::Duration;

use otelvault_codec::Signal;
use otelvault_storage::{KeyPrefix, ObjectStore, list_all};
use otelvault_testkit::{S3Server, free_port};

use crate::replay::items;
use crate::support::*;

/// Real SDK data (traces, metrics, logs) and the samples, into `url`.
fn ingest_everything(server: &Server) {
    let cmd = python_sender(".venv-otel-proto", "proto", &server.url, None);
    run(cmd, "python exporter");
    ingest_samples(&server.url, None);
}

/// The markers of failed forwards in an archive.
fn markers(store: &dyn ObjectStore) -> Vec<String> {
    block_on(list_all(
        store,
        &KeyPrefix::new("forward-pending/").expect("prefix"),
    ))
    .expect("list")
    .into_iter()
    .map(|m| m.key.into_string())
    .collect()
}

fn assert_same_items(from: &dyn ObjectStore, to: &dyn ObjectStore, what: &str) {
    for signal in Signal::ALL {
        let want = items(from, signal);
        assert!(!want.is_empty(), "{signal}");
        assert_eq!(items(to, signal), want, "{what}: {signal}");
    }
}

#[test]
fn every_accepted_batch_reaches_the_backend_over_http_and_grpc_with_its_headers() {
    // The backend takes only its own key: the forwarded header must reach it.
    let backend_keys = [("OTELVAULT_INGEST_KEYS", "backend-secret-1")];
    for protocol in ["http/protobuf", "grpc"] {
        let (backend, backend_store) = Server::start(&Storage::Fs, &backend_keys);
        let endpoint = match protocol {
            "grpc" => backend.grpc_url.clone(),
            _ => backend.url.clone(),
        };
        let (front, front_store) = Server::start(
            &Storage::Fs,
            &[
                ("OTELVAULT_FORWARD_ENDPOINT", &endpoint),
                ("OTELVAULT_FORWARD_PROTOCOL", protocol),
                (
                    "OTELVAULT_FORWARD_HEADERS",
                    "Oteleport-Access-Key=backend-secret-1",
                ),
            ],
        );
        ingest_everything(&front);
        assert_same_items(&*front_store, &*backend_store, protocol);
        assert!(markers(&*front_store).is_empty(), "{protocol}");
        let log = front.log_text();
        assert!(
            log.contains("forward=\"ok\"") || log.contains("forward=ok"),
            "{log}"
        );
        assert!(
            !log.contains("backend-secret-1"),
            "headers are secrets: {log}"
        );
    }
}

#[test]
fn signals_go_to_their_own_endpoints_and_others_are_not_forwarded() {
    let (traces, traces_store) = Server::start(&Storage::Fs, &[]);
    let (logs, logs_store) = Server::start(&Storage::Fs, &[]);
    let (front, front_store) = Server::start(
        &Storage::Fs,
        &[
            (
                "OTELVAULT_FORWARD_TRACES_ENDPOINT",
                &format!("{}/v1/traces", traces.url),
            ),
            (
                "OTELVAULT_FORWARD_LOGS_ENDPOINT",
                &format!("{}/v1/logs", logs.url),
            ),
            ("OTELVAULT_FORWARD_PROTOCOL", "http/json"),
            ("OTELVAULT_FORWARD_COMPRESSION", "none"),
        ],
    );
    ingest_everything(&front);
    assert_eq!(
        items(&*traces_store, Signal::Traces),
        items(&*front_store, Signal::Traces)
    );
    assert_eq!(
        items(&*logs_store, Signal::Logs),
        items(&*front_store, Signal::Logs)
    );
    for (store, signals) in [
        (&traces_store, [Signal::Metrics, Signal::Logs]),
        (&logs_store, [Signal::Metrics, Signal::Traces]),
    ] {
        for signal in signals {
            assert!(items(&**store, signal).is_empty(), "{signal}");
        }
    }
    assert!(markers(&*front_store).is_empty());
}

#[test]
fn a_backend_that_fails_then_dies_gets_everything_after_forward_retry() {
    // The backend answers 503 (its storage is down), then is gone.
    let mut s3 = S3Server::start();
    let backend_port = free_port();
    let listen = format!("127.0.0.1:{backend_port}");
    let backend_url = format!("http://{listen}");
    let (backend, _) = Server::start(
        &Storage::S3 {
            endpoint: s3.endpoint(),
            bucket: "e2e-forward-backend".into(),
        },
        &[("OTELVAULT_LISTEN", &listen)],
    );
    let forward = [
        ("OTELVAULT_FORWARD_ENDPOINT", backend_url.as_str()),
        ("OTELVAULT_FORWARD_TIMEOUT", "2s"),
    ];
    let (front, front_store) = Server::start(&Storage::Fs, &forward);
    s3.stop();
    ingest_samples(&front.url, None); // 503s: forwarding fails, archiving does not
    drop(backend);
    let cmd = python_sender(".venv-otel-proto", "proto", &front.url, None);
    run(cmd, "python exporter while the backend is down");
    let pending = markers(&*front_store);
    assert!(pending.len() >= 6, "a marker per request: {pending:?}");
    let log = front.log_text();
    assert!(
        log.contains("Forwarding failed") && log.contains(&backend_url),
        "the failure is logged with its target:\n{log}"
    );

    // forward-retry while the backend is still down: nothing is lost,
    // the markers stay, and the command says so.
    let dir = front.archive_path();
    let mut envs = vec![("OTELVAULT_STORAGE", dir.as_str())];
    envs.extend(forward);
    let (code, stdout, stderr) = run_cli(&["forward-retry"], &envs);
    assert_ne!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("run forward-retry again"), "{stderr}");
    assert_eq!(markers(&*front_store), pending);

    // The backend is back (empty): everything arrives, a request per
    // marker (whose objects, one per partition, go back together).
    let (backend, backend_store) = Server::start(&Storage::Fs, &[("OTELVAULT_LISTEN", &listen)]);
    let objects: usize = pending
        .iter()
        .map(|key| {
            let body = block_on(
                front_store.get(&otelvault_storage::ObjectKey::new(key.as_str()).expect("key")),
            )
            .expect("marker");
            otelvault_archive::ForwardMarker::parse(&body)
                .expect("marker")
                .keys
                .len()
        })
        .sum();
    assert!(
        objects > pending.len(),
        "some request spanned partitions: {objects}"
    );
    let (code, stdout, stderr) = run_cli(&["forward-retry"], &envs);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "re-sent {} batches ({objects} objects",
            pending.len()
        )),
        "{stdout}"
    );
    assert!(markers(&*front_store).is_empty());
    assert_same_items(&*front_store, &*backend_store, "after forward-retry");
    let requests = backend
        .log_text()
        .lines()
        .filter(|l| l.contains("Handled request") && l.contains("path=\"/v1/"))
        .count();
    assert_eq!(requests, pending.len(), "{}", backend.log_text());
}

#[test]
fn a_backend_that_never_answers_costs_the_timeout_and_serve_re_sends_later() {
    // Accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let held = std::thread::spawn(move || {
        let mut connections = Vec::new();
        for stream in silent.incoming().take(16) {
            connections.push(stream);
        }
        connections
    });
    let (front, front_store) = Server::start(
        &Storage::Fs,
        &[
            (
                "OTELVAULT_FORWARD_TRACES_ENDPOINT",
                &format!("http://{silent_addr}/v1/traces"),
            ),
            ("OTELVAULT_FORWARD_TIMEOUT", "1s"),
        ],
    );
    // Within the client's patience (a tenth of it would do), and a 200.
    let body = std::fs::read(script("samples/otlp/traces.binpb")).expect("sample");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(15)))
        .build()
        .into();
    let response = agent
        .post(format!("{}/v1/traces", front.url))
        .header("Content-Type", "application/x-protobuf")
        .send(&body[..])
        .expect("an answer before the client gives up");
    assert_eq!(response.status(), 200);
    assert_eq!(markers(&*front_store).len(), 1);
    drop(held);

    // A server on the same archive, forwarding to a live backend, re-sends
    // in the background.
    let (backend, backend_store) = Server::start(&Storage::Fs, &[]);
    let dir = front.archive_path();
    let (_again, _) = Server::start(
        &Storage::Fs,
        &[
            ("OTELVAULT_STORAGE", &dir),
            (
                "OTELVAULT_FORWARD_TRACES_ENDPOINT",
                &format!("{}/v1/traces", backend.url),
            ),
            ("OTELVAULT_FORWARD_RETRY_INTERVAL", "1s"),
            ("OTELVAULT_COMPACT", "off"),
        ],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !markers(&*front_store).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        markers(&*front_store).is_empty(),
        "re-sent in the background"
    );
    assert_eq!(
        items(&*backend_store, Signal::Traces),
        items(&*front_store, Signal::Traces)
    );
}
