//! Test support for otelvault's integration tests.
//!
//! [`S3Server`] runs a real S3-compatible server (moto's `moto_server`) on
//! 127.0.0.1 on a free port. The server is found through
//! `OTELVAULT_MOTO_SERVER`, the workspace's `.venv/bin/moto_server` (what
//! `make test` installs) or `PATH`. It is started behind a small shell guard
//! that stops it when the test process exits, however it exits.

pub mod arb;
pub mod bench;
pub mod corpus;
pub mod data;

use std::io::Write;

use otelvault_storage::{S3Options, S3Store};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (where `.venv/` lives).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A free TCP port on 127.0.0.1 (bound, then released for the caller).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Waits until something accepts connections on `addr`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn moto_server_path() -> PathBuf {
    if let Some(p) = std::env::var_os("OTELVAULT_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let venv = workspace_root().join(".venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("moto_server")
}

/// A store on the S3-compatible server at `endpoint`, in `bucket` (created
/// if needed) under `prefix`, with the fixed test credentials moto accepts.
pub async fn s3_store(endpoint: &str, bucket: &str, prefix: &str) -> S3Store {
    let store = S3Store::new(S3Options {
        bucket: bucket.into(),
        prefix: prefix.into(),
        endpoint: Some(endpoint.into()),
        force_path_style: true,
        static_credentials: Some(("test".into(), "test".into())),
        ..Default::default()
    })
    .await
    .expect("s3 store");
    // Already there when another test made it: fine.
    let _ = store.client().create_bucket().bucket(bucket).send().await;
    store
}

/// A running moto S3 server; stopped on drop.
#[derive(Debug)]
pub struct S3Server {
    child: Child,
    guard: Option<ChildStdin>,
    port: u16,
}

impl S3Server {
    /// Starts a server on a free port and waits until it answers.
    ///
    /// Panics with instructions when moto is not installed: these tests need
    /// the real server, they do not skip.
    pub fn start() -> S3Server {
        Self::start_on(free_port())
    }

    /// Starts a server on `port` (to bring a stopped server back at the
    /// same address). Its buckets start empty.
    pub fn start_on(port: u16) -> S3Server {
        Self::start_with(port, &[])
    }

    /// Starts a server that checks credentials, as S3 does: it knows no
    /// access key, so every request is refused with `InvalidAccessKeyId`.
    pub fn start_checking_credentials() -> S3Server {
        Self::start_with(free_port(), &[("INITIAL_NO_AUTH_ACTION_COUNT", "0")])
    }

    fn start_with(port: u16, envs: &[(&str, &str)]) -> S3Server {
        let moto = moto_server_path();
        // The shell runs moto in the background and kills it when its stdin
        // closes, which happens when this process exits for any reason.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & pid=$!; trap 'kill $pid 2>/dev/null' EXIT; read _; kill $pid 2>/dev/null; wait $pid"#)
            .arg(&moto)
            .arg(port.to_string())
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start sh for {}: {e}", moto.display()));
        let guard = child.stdin.take();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if !wait_for_port(addr, Duration::from_secs(30)) {
            let _ = child.kill();
            panic!(
                "moto_server ({}) did not start on {addr}. Install it with `make .venv` \
                 (python3 -m venv .venv && .venv/bin/pip install 'moto[server]') \
                 or set OTELVAULT_MOTO_SERVER.",
                moto.display()
            );
        }
        S3Server { child, guard, port }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A store on this server in `bucket` (created if needed) under `prefix`,
    /// with the fixed test credentials.
    pub async fn store(&self, bucket: &str, prefix: &str) -> S3Store {
        s3_store(&self.endpoint(), bucket, prefix).await
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server now and waits until the port is closed.
    pub fn stop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            let _ = guard.write_all(b"\n");
        }
        let _ = self.child.wait();
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
