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
