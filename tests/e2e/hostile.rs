//! Clients that hold connections without sending a request, through the
//! real binary: a head that does not arrive in time closes its connection,
//! and a flood of such connections past the cap cannot keep a real request
//! out (the oldest idle connection is closed to make room).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::*;

/// The port of `url` (`http://127.0.0.1:PORT`).
fn addr(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

/// A connection that sends half a request head and then nothing.
fn slow_connection(url: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr(url)).expect("connect");
    stream
        .write_all(b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .expect("half a head");
    stream
}

#[test]
fn a_request_head_that_does_not_arrive_in_time_closes_its_connection() {
    let (server, _store) = Server::start(&Storage::Fs, &[("OTELVAULT_HEADER_TIMEOUT", "1s")]);
    let mut slow = slow_connection(&server.url);
    // The server closes it (an answer, or the end of the stream) once the
    // timeout passes; the bound here is only the test's patience.
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut answer = Vec::new();
    let read = slow.read_to_end(&mut answer);
    assert!(
        read.is_ok(),
        "the server kept the connection open: {read:?}"
    );
    // Real requests go on.
    assert_eq!(
        http()
            .get(format!("{}/health", server.url))
            .call()
            .expect("health")
            .status(),
        200
    );
}

#[test]
fn a_flood_of_idle_connections_past_the_cap_cannot_keep_a_request_out() {
    // Heads may take a minute, so only making room can let a request in.
    let (server, _store) = Server::start(
        &Storage::Fs,
        &[
            ("OTELVAULT_HEADER_TIMEOUT", "60s"),
            ("OTELVAULT_MAX_CONNECTIONS", "16"),
        ],
    );
    let flood: Vec<TcpStream> = (0..200).map(|_| slow_connection(&server.url)).collect();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    for _ in 0..3 {
        let response = agent
            .post(format!("{}/v1/traces", server.url))
            .header("Content-Type", "application/json")
            .send(include_str!("../../samples/otlp/traces.json"))
            .expect("a real request is answered while the flood holds its connections");
        assert_eq!(response.status(), 200);
    }
    drop(flood);
}

/// The status line of a GET of `/health` sent with `host`.
fn health_with_host(url: &str, host: &str) -> String {
    let mut stream = TcpStream::connect(addr(url)).expect("connect");
    write!(
        stream,
        "GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    answer.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn a_server_without_keys_answers_only_loopback_names() {
    // A page served from evil.example whose name now resolves to 127.0.0.1
    // (DNS rebinding) sends its own name as Host.
    let (server, _store) = Server::start(&Storage::Fs, &[]);
    let port = addr(&server.url)
        .rsplit_once(':')
        .expect("port")
        .1
        .to_owned();
    assert!(health_with_host(&server.url, &format!("evil.example:{port}")).contains(" 403 "));
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "[::1]".into(),
    ] {
        assert!(
            health_with_host(&server.url, &host).contains(" 200 "),
            "{host}"
        );
    }
    // With keys, a name is the keys' business.
    let (keyed, _store) = Server::start(&Storage::Fs, &[("OTELVAULT_INGEST_KEYS", "ingest-key-1")]);
    assert!(health_with_host(&keyed.url, "otelvault.example").contains(" 200 "));
}
