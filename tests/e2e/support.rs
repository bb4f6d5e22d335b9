//! Starting the binary, running exporters, and reading the archive back.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use otelvault_archive::PartitionKey;
use otelvault_codec::proto::common::{AnyValue, KeyValue, any_value};
use otelvault_codec::proto::metrics::metric;
use otelvault_codec::values::hex;
use otelvault_codec::{Batch, Signal};
use otelvault_storage::{FsStore, KeyPrefix, ObjectStore, S3Store, list_all};
use otelvault_testkit::{S3Server, free_port, workspace_root};
use serde_json::{Value, json};

/// A running `otelvault serve`; stopped (SIGTERM, then kill) on drop.
pub struct Server {
    child: Child,
    pub url: String,
    /// The OTLP/gRPC receiver, `http://127.0.0.1:PORT`.
    pub grpc_url: String,
    pub log: PathBuf,
    /// The archive directory, for the filesystem store.
    pub archive_dir: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

/// Where the server under test keeps its archive.
pub enum Storage {
    /// A fresh directory.
    Fs,
    /// A bucket (created here) on the given S3 server, under a prefix.
    S3 { endpoint: String, bucket: String },
}

pub fn s3_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTELVAULT_S3_ENDPOINT", endpoint.to_owned()),
        ("OTELVAULT_S3_FORCE_PATH_STYLE", "true".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
        // Never look for credentials on an instance metadata service.
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

pub const S3_PREFIX: &str = "otel/archive";

impl Server {
    pub fn start(storage: &Storage, extra: &[(&str, &str)]) -> (Server, Box<dyn ObjectStore>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let grpc_port = free_port();
        let log = dir.path().join("server.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_otelvault"));
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("OTELVAULT_LISTEN", format!("127.0.0.1:{port}"))
            .env("OTELVAULT_GRPC_LISTEN", format!("127.0.0.1:{grpc_port}"))
            .env("OTELVAULT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        let mut archive_dir = None;
        let store: Box<dyn ObjectStore> = match storage {
            Storage::Fs => {
                let root = dir.path().join("archive");
                cmd.env("OTELVAULT_STORAGE", &root);
                archive_dir = Some(root.clone());
                Box::new(FsStore::new(root).expect("fs store"))
            }
            Storage::S3 { endpoint, bucket } => {
                cmd.env("OTELVAULT_STORAGE", format!("s3://{bucket}/{S3_PREFIX}"));
                cmd.envs(s3_env(endpoint));
                Box::new(s3_store(endpoint, bucket, S3_PREFIX))
            }
        };
        // A test may place the server (to restart a backend where it was).
        let mut port = port;
        for (k, v) in extra {
            cmd.env(k, v);
            if *k == "OTELVAULT_LISTEN" {
                port = v
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("a port");
            }
        }
        let child = cmd.spawn().expect("start otelvault");
        let server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            grpc_url: format!("http://127.0.0.1:{grpc_port}"),
            log,
            archive_dir,
            _dir: dir,
        };
        server.wait_healthy();
        (server, store)
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = http().get(format!("{}/health", self.url)).call()
                && r.status() == 200
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "otelvault did not become healthy; log:\n{}",
            self.log_text()
        );
    }

    /// The archive directory, for the filesystem store.
    pub fn archive_path(&self) -> String {
        self.archive_dir
            .as_ref()
            .expect("a filesystem archive")
            .to_string_lossy()
            .into_owned()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking HTTP client that returns 4xx/5xx responses instead of errors.
pub fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Blocks on an async storage call from a synchronous test.
pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

pub fn s3_store(endpoint: &str, bucket: &str, prefix: &str) -> S3Store {
    block_on(otelvault_testkit::s3_store(endpoint, bucket, prefix))
}

/// One moto server shared by the tests of this binary.
pub fn shared_s3() -> &'static S3Server {
    static SERVER: std::sync::OnceLock<S3Server> = std::sync::OnceLock::new();
    SERVER.get_or_init(S3Server::start)
}

/// Every object of the archive, decoded, with its parsed key.
pub fn archive(store: &dyn ObjectStore) -> Vec<(PartitionKey, Batch)> {
    block_on(async {
        let mut out = Vec::new();
        for meta in list_all(store, &KeyPrefix::ROOT).await.expect("list") {
            let key =
                PartitionKey::parse(&meta.key).unwrap_or_else(|e| panic!("{}: {e}", meta.key));
            let raw = store.get(&meta.key).await.expect("get");
            let data = key
                .compression
                .decompress(&raw, 1 << 30)
                .expect("decompress");
            let batch = Batch::decode(key.signal, key.format, &data).expect("decode");
            out.push((key, batch));
        }
        out
    })
}

/// The merged archive content of one signal.
pub fn merged(store: &dyn ObjectStore, signal: Signal) -> Batch {
    let batches = archive(store)
        .into_iter()
        .filter(|(k, _)| k.signal == signal)
        .map(|(_, b)| b);
    otelvault_codec::merge(batches).unwrap_or_else(|| Batch::empty(signal))
}

pub fn any_to_json(v: &AnyValue) -> Value {
    match &v.value {
        None => Value::Null,
        Some(any_value::Value::StringValue(s)) => json!(s),
        Some(any_value::Value::BoolValue(b)) => json!(b),
        Some(any_value::Value::IntValue(i)) => json!(i),
        Some(any_value::Value::DoubleValue(d)) => json!(d),
        Some(any_value::Value::BytesValue(b)) => json!(hex(b)),
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(any_to_json).collect())
        }
        Some(any_value::Value::KvlistValue(kv)) => attrs_to_json(&kv.values),
        Some(any_value::Value::StringValueStrindex(i)) => json!(i),
    }
}

pub fn attrs_to_json(attrs: &[KeyValue]) -> Value {
    Value::Object(
        attrs
            .iter()
            .map(|kv| {
                (
                    kv.key.clone(),
                    kv.value.as_ref().map(any_to_json).unwrap_or(Value::Null),
                )
            })
            .collect(),
    )
}

fn service_of(resource: &Option<otelvault_codec::proto::resource::Resource>) -> String {
    resource
        .as_ref()
        .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
        .and_then(|a| a.value.as_ref())
        .map(|v| any_to_json(v).as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

/// The spans of `service` in the archive, in the summary form the exporter
/// scripts print.
pub fn span_summary(store: &dyn ObjectStore, service: &str, with_detail: bool) -> Vec<Value> {
    let Batch::Traces(traces) = merged(store, Signal::Traces) else {
        unreachable!()
    };
    let mut out = Vec::new();
    for rs in &traces.resource_spans {
        if service_of(&rs.resource) != service {
            continue;
        }
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                let mut v = json!({
                    "traceId": hex(&s.trace_id),
                    "spanId": hex(&s.span_id),
                    "name": s.name,
                    "attributes": attrs_to_json(&s.attributes),
                });
                if with_detail {
                    v["parentSpanId"] = json!(hex(&s.parent_span_id));
                    v["kind"] = json!(s.kind);
                    v["events"] =
                        json!(s.events.iter().map(|e| e.name.clone()).collect::<Vec<_>>());
                    v["statusCode"] = json!(s.status.as_ref().map(|st| st.code).unwrap_or(0));
                }
                out.push(v);
            }
        }
    }
    out.sort_by_key(|v| v["spanId"].as_str().unwrap_or_default().to_owned());
    out
}

/// Metric points of `service` by metric name, in the scripts' summary form.
pub fn metric_summary(store: &dyn ObjectStore, service: &str) -> BTreeMap<String, Vec<Value>> {
    let Batch::Metrics(metrics) = merged(store, Signal::Metrics) else {
        unreachable!()
    };
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for rm in &metrics.resource_metrics {
        if service_of(&rm.resource) != service {
            continue;
        }
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let points: Vec<Value> = match &m.data {
                    Some(metric::Data::Sum(s)) => s
                        .data_points
                        .iter()
                        .map(|p| number_point(&p.attributes, &p.value))
                        .collect(),
                    Some(metric::Data::Gauge(g)) => g
                        .data_points
                        .iter()
                        .map(|p| number_point(&p.attributes, &p.value))
                        .collect(),
                    Some(metric::Data::Histogram(h)) => h
                        .data_points
                        .iter()
                        .map(|p| {
                            json!({
                                "attributes": attrs_to_json(&p.attributes),
                                "count": p.count,
                                "sum": p.sum,
                                "bucketCounts": p.bucket_counts,
                            })
                        })
                        .collect(),
                    other => panic!("unexpected metric type {other:?}"),
                };
                out.entry(m.name.clone()).or_default().extend(points);
            }
        }
    }
    for points in out.values_mut() {
        points.sort_by_key(|p| p["attributes"].to_string());
    }
    out
}

fn number_point(
    attrs: &[KeyValue],
    value: &Option<otelvault_codec::proto::metrics::number_data_point::Value>,
) -> Value {
    use otelvault_codec::proto::metrics::number_data_point::Value as N;
    json!({
        "attributes": attrs_to_json(attrs),
        "value": match value {
            Some(N::AsInt(i)) => json!(i),
            Some(N::AsDouble(d)) => json!(d),
            None => Value::Null,
        },
    })
}

/// Log records of `service`, in the scripts' summary form.
pub fn log_summary(store: &dyn ObjectStore, service: &str) -> Vec<Value> {
    let Batch::Logs(logs) = merged(store, Signal::Logs) else {
        unreachable!()
    };
    let mut out = Vec::new();
    for rl in &logs.resource_logs {
        if service_of(&rl.resource) != service {
            continue;
        }
        for sl in &rl.scope_logs {
            for l in &sl.log_records {
                let mut attributes = attrs_to_json(&l.attributes);
                if let Value::Object(map) = &mut attributes {
                    map.retain(|k, _| !k.starts_with("code."));
                }
                out.push(json!({
                    "body": l.body.as_ref().map(any_to_json).unwrap_or(Value::Null),
                    "severityNumber": l.severity_number,
                    "severityText": l.severity_text,
                    "attributes": attributes,
                    "traceId": hex(&l.trace_id),
                }));
            }
        }
    }
    out.sort_by_key(|v| v["body"].to_string());
    out
}

/// tests/python/send.py in `venv`, sending with `protocol` (`proto`, `json`
/// or `grpc`) to `endpoint`, with an ingest key when one is given; run it
/// with [`run`].
pub fn python_sender(venv: &str, protocol: &str, endpoint: &str, key: Option<&str>) -> Command {
    let mut cmd = Command::new(python(venv));
    cmd.arg(script("tests/python/send.py"))
        .arg(protocol)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
    if let Some(key) = key {
        cmd.env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            format!("Oteleport-Access-Key={key}"),
        );
    }
    cmd
}

/// `otelvault compact` of the archive at `storage` over `[start, end)`
/// (RFC 3339), which must succeed; what it printed.
pub fn compact_range(storage: &str, start: &str, end: &str) -> String {
    let (code, stdout, stderr) = run_cli(
        &[
            "compact",
            "--storage",
            storage,
            "--start",
            start,
            "--end",
            end,
        ],
        &[],
    );
    assert_eq!(code, 0, "compact {start} {end}: {stderr}");
    stdout
}

/// Runs an exporter script and parses the summary it prints.
pub fn run(mut cmd: Command, what: &str) -> Value {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: bad summary ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// The Python venv holding an exporter, as `make test-deps` installs it.
pub fn python(venv: &str) -> PathBuf {
    let python = workspace_root().join(venv).join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make test-deps` to install the exporters the end-to-end tests use",
        python.display()
    );
    python
}

pub fn node_dir() -> PathBuf {
    let dir = workspace_root().join("tests/node");
    assert!(
        dir.join("node_modules/@opentelemetry/sdk-trace").exists(),
        "tests/node/node_modules is missing: run `make test-deps`"
    );
    dir
}

/// Whole `OTELVAULT_*` names in a text (not prefixes such as `OTELVAULT_FORWARD_*`).
pub fn env_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("OTELVAULT_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        if !tail[..end].ends_with('_') {
            out.insert(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    out
}

pub fn script(path: &str) -> PathBuf {
    workspace_root().join(path)
}

/// The `otelvault` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_otelvault");

/// The samples' items lie in 2024-10-27T03:33 and 03:34.
pub const RANGE: [&str; 4] = [
    "--start",
    "2024-10-27T03:30:00Z",
    "--end",
    "2024-10-27T03:40:00Z",
];

/// Sends the protobuf sample of every signal to a deployment.
pub fn ingest_samples(url: &str, key: Option<&str>) {
    for signal in Signal::ALL {
        let body = std::fs::read(script(&format!("samples/otlp/{signal}.binpb"))).expect("sample");
        let mut req = http()
            .post(format!("{url}/v1/{signal}"))
            .header("Content-Type", "application/x-protobuf");
        if let Some(k) = key {
            req = req.header("Oteleport-Access-Key", k);
        }
        assert_eq!(req.send(&body[..]).expect("post").status(), 200);
    }
}

/// Runs the binary with `args` and `envs` (and no OTLP endpoint from this
/// environment): exit code, stdout, stderr.
pub fn run_cli(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTELVAULT_LOG")
        .envs(envs.iter().copied())
        .output()
        .expect("run otelvault");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A TCP proxy on 127.0.0.1 in front of another local server that can be
/// told to stall: while stalled it relays nothing, on new connections or
/// open ones, as a hung storage endpoint does.
pub struct StallingProxy {
    pub url: String,
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl StallingProxy {
    pub fn start(target_port: u16) -> StallingProxy {
        use std::net::{TcpListener, TcpStream};
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let stalled = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stalled);
        fn relay(mut from: TcpStream, mut to: TcpStream, stalled: Arc<AtomicBool>) {
            use std::io::{Read, Write};
            let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                if stalled.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                match from.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        if to.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => return,
                }
            }
        }
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    continue;
                };
                let (c2, s2) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                let (f1, f2) = (Arc::clone(&flag), Arc::clone(&flag));
                std::thread::spawn(move || relay(client, server, f1));
                std::thread::spawn(move || relay(s2, c2, f2));
            }
        });
        StallingProxy {
            url: format!("http://127.0.0.1:{port}"),
            stalled,
        }
    }

    pub fn stall(&self, on: bool) {
        self.stalled.store(on, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The levels of an OTLP/JSON document of spans: resources, scopes, items.
pub const SPANS: [&str; 3] = ["resourceSpans", "scopeSpans", "spans"];
/// The levels of an OTLP/JSON document of log records.
pub const LOGS: [&str; 3] = ["resourceLogs", "scopeLogs", "logRecords"];

/// Every item of a fetched document with its resource's `service.name`.
pub fn items<'a>(doc: &'a Value, levels: [&str; 3]) -> Vec<(String, &'a Value)> {
    let mut out = Vec::new();
    for resource in doc[levels[0]].as_array().into_iter().flatten() {
        let service = resource["resource"]["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|kv| kv["key"] == "service.name")
            .and_then(|kv| kv["value"]["stringValue"].as_str())
            .unwrap_or_default()
            .to_owned();
        for scope in resource[levels[1]].as_array().into_iter().flatten() {
            for item in scope[levels[2]].as_array().into_iter().flatten() {
                out.push((service.clone(), item));
            }
        }
    }
    out
}
