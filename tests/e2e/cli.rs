//! An operator's ordinary mistakes, through the real binary: each fails at
//! once with a message that names the problem and the fix, and nothing
//! surprising happens (no replay into a default address, no directory
//! created for a typo, no panic when the reader of the output goes away).

use std::io::Read;
use std::process::{Command, Stdio};

use crate::support::*;

#[test]
fn bare_otelvault_prints_usage() {
    let (code, stdout, stderr) = run_cli(&[], &[]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    for word in ["Usage:", "serve", "fetch", "replay"] {
        assert!(stderr.contains(word), "{word} missing from:\n{stderr}");
    }
}

#[test]
fn flag_mistakes_print_clap_errors_whole() {
    // A missing flag is named.
    let (code, _, stderr) = run_cli(&["fetch", "--since", "1h"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--endpoint"), "{stderr}");
    assert!(stderr.contains("Usage:"), "{stderr}");
    // An invalid value names the variable and lists the valid values, from
    // a flag or from the environment.
    let (code, _, stderr) = run_cli(&["serve", "--format", "xml"], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("OTELVAULT_FORMAT") && stderr.contains("json or proto"),
        "{stderr}"
    );
    let (code, _, stderr) = run_cli(&["serve"], &[("OTELVAULT_PARTITION", "day")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("OTELVAULT_PARTITION") && stderr.contains("minute or hour"),
        "{stderr}"
    );
}

#[test]
fn configuration_typos_fail_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    // A log filter that would silence every log line.
    let (code, _, stderr) = run_cli(
        &["serve", "--listen", "127.0.0.1:0"],
        &[
            ("OTELVAULT_LOG", "verbose"),
            ("OTELVAULT_STORAGE", &dir.path().to_string_lossy()),
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("OTELVAULT_LOG=verbose") && stderr.contains("debug"),
        "{stderr}"
    );
    // An S3 URL with a slash missing is not a directory to create.
    let (code, _, stderr) = run_cli(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("OTELVAULT_STORAGE", "s3:/my-bucket")],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("OTELVAULT_STORAGE") && stderr.contains("s3://bucket"),
        "{stderr}"
    );
    assert!(!std::path::Path::new("s3:").exists());
    // Booleans read the same way in every command.
    let (code, _, stderr) = run_cli(
        &[
            "replay",
            "--from",
            "/nonexistent",
            "--to",
            "http://127.0.0.1:1",
        ],
        &[("OTELVAULT_S3_FORCE_PATH_STYLE", "maybe")],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("OTELVAULT_S3_FORCE_PATH_STYLE"), "{stderr}");
}

#[test]
fn a_misspelt_variable_stops_every_command_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    let storage = dir.path().to_string_lossy().into_owned();
    // The server's settings (`check` reads them as `serve` does, and ends).
    let (code, stdout, stderr) = run_cli(
        &["check"],
        &[
            ("OTELVAULT_STORAGE", &storage),
            ("OTELVAULT_HTTP_LISTEN", "127.0.0.1:14318"),
        ],
    );
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("OTELVAULT_HTTP_LISTEN is not an otelvault setting")
            && stderr.contains("did you mean OTELVAULT_LISTEN?"),
        "{stderr}"
    );
    // A client command.
    let (code, _, stderr) = run_cli(
        &["stats", "--from", &storage],
        &[("OTELVAULT_PARTITON", "hour")],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("did you mean OTELVAULT_PARTITION?"),
        "{stderr}"
    );
    // The Lambda function, whose configuration is all environment: the line
    // is its log's first, before the runtime is asked for an event.
    let (code, _, stderr) = run_cli(
        &[],
        &[
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9"),
            ("OTELVAULT_STORAGE", &storage),
            ("OTELVAULT_INGEST_KEY", "secret"),
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("did you mean OTELVAULT_INGEST_KEYS") && !stderr.contains("secret"),
        "{stderr}"
    );
    // Empty counts as unset, for unknown names too.
    let (code, _, stderr) = run_cli(
        &["stats", "--from", &storage],
        &[("OTELVAULT_PARTITON", "")],
    );
    assert_ne!(code, 2, "{stderr}");
}

/// Every `OTELVAULT_*` name the repository's files use (deployment,
/// documentation, test scripts and clients) is one the binary accepts, so the
/// check for misspelt names never stops a shell that deploys or tests. Rust
/// sources are left out: their settings are the binary's own, and their tests
/// spell names wrong on purpose, as the README's example of the message does.
#[test]
fn every_variable_the_repository_names_is_accepted() {
    let listed = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(script(""))
        .output()
        .expect("git ls-files");
    assert!(listed.status.success());
    let mut names = std::collections::BTreeSet::new();
    for path in String::from_utf8_lossy(&listed.stdout).split('\0') {
        if path.is_empty() || path.ends_with(".rs") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(script(path)) else {
            continue;
        };
        for line in text
            .lines()
            .filter(|l| !l.contains("is not an otelvault setting"))
        {
            names.extend(env_names(line));
        }
    }
    assert!(
        names.contains("OTELVAULT_STORAGE")
            && names.contains("OTELVAULT_SECRETS_SSM_PREFIX")
            && names.contains("OTELVAULT_GRPC_URL"),
        "{names:?}"
    );
    // `schema` reads none of them but the storage; the log filter is read
    // by every command.
    let envs: Vec<(&str, &str)> = names
        .iter()
        .map(|n| (n.as_str(), if n == "OTELVAULT_LOG" { "warn" } else { "x" }))
        .collect();
    let (code, stdout, stderr) = run_cli(&["schema", "--dialect", "duckdb"], &envs);
    assert_eq!(code, 0, "{names:?}: {stderr}");
    assert!(stdout.contains("CREATE"), "{stdout}");
}

#[test]
fn replay_needs_a_target_and_refuses_its_own_source() {
    let (source, store) = Server::start(&Storage::Fs, &[]);
    ingest_samples(&source.url, None);
    let objects = archive(&*store).len();
    let dir = source.archive_dir.clone().expect("fs archive");
    let dir = dir.to_string_lossy().into_owned();
    // No --to and no OTEL_EXPORTER_OTLP_ENDPOINT: nothing is sent to a
    // default address (where this very server listens).
    let mut args = vec!["replay", "--from", dir.as_str()];
    args.extend(RANGE);
    let (code, _, stderr) = run_cli(&args, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("--to") && stderr.contains("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "{stderr}"
    );
    // A deployment into itself, however its address is spelled.
    let localhost = source.url.replace("127.0.0.1", "localhost");
    let mut args = vec!["replay", "--from", &source.url, "--to", &localhost];
    args.extend(RANGE);
    let (code, _, stderr) = run_cli(&args, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("same deployment"), "{stderr}");
    // Neither attempt sent anything.
    assert_eq!(archive(&*store).len(), objects);
}

#[test]
fn replay_reads_only_archives_that_exist_and_says_what_a_dry_run_would_send() {
    let (source, _store) = Server::start(&Storage::Fs, &[("OTELVAULT_PARTITION", "hour")]);
    ingest_samples(&source.url, None);
    let dir = source.archive_dir.clone().expect("fs archive");
    let dir = dir.to_string_lossy().into_owned();
    let (target, target_store) = Server::start(&Storage::Fs, &[]);

    let missing = format!("{dir}-missing");
    let mut args = vec!["replay", "--from", &missing, "--to", &target.url];
    args.extend(RANGE);
    let (code, _, stderr) = run_cli(&args, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no such directory"), "{stderr}");
    assert!(!std::path::Path::new(&missing).exists(), "not created");

    let empty = tempfile::tempdir().expect("dir");
    let empty = empty.path().to_string_lossy().into_owned();
    let mut args = vec!["replay", "--from", &empty, "--to", &target.url];
    args.extend(RANGE);
    let (code, _, stderr) = run_cli(&args, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("holds no archive objects"), "{stderr}");

    // The archive is partitioned by hour: that is read from it, and a
    // --partition that says otherwise is an error.
    let mut args = vec![
        "replay",
        "--from",
        &dir,
        "--to",
        &target.url,
        "--partition",
        "minute",
    ];
    args.extend(RANGE);
    let (code, _, stderr) = run_cli(&args, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("partitioned by hour, not minute"),
        "{stderr}"
    );

    let mut args = vec!["replay", "--from", &dir, "--to", &target.url, "--dry-run"];
    args.extend(RANGE);
    let (code, _, stderr) = run_cli(&args, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("would replay 17 items") && stderr.contains("nothing was sent"),
        "{stderr}"
    );
    assert!(
        archive(&*target_store).is_empty(),
        "a dry run sends nothing"
    );

    let mut args = vec!["replay", "--from", &dir, "--to", &target.url];
    args.extend(RANGE);
    let (code, _, stderr) = run_cli(&args, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("replayed 17 items"), "{stderr}");
}

#[test]
fn fetch_into_a_closed_pipe_is_not_a_crash() {
    let (source, _store) = Server::start(&Storage::Fs, &[]);
    ingest_samples(&source.url, None);
    let mut args = vec![
        "fetch",
        "--endpoint",
        source.url.as_str(),
        "--signal",
        "logs",
        "--output",
        "ndjson",
        "--limit",
        "1",
    ];
    args.extend(RANGE);
    // The reader takes one byte and goes away, as `| head -c 1` does.
    let mut child = Command::new(BIN)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run otelvault");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut one = [0u8; 1];
    stdout.read_exact(&mut one).expect("first byte");
    drop(stdout);
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

#[test]
fn the_python_sample_exits_non_zero_when_its_exports_are_refused() {
    let (server, store) = Server::start(
        &Storage::Fs,
        &[("OTELVAULT_INGEST_KEYS", "the-right-ingest-key")],
    );
    let sample = |key: &str| {
        Command::new(python(".venv-otel-proto"))
            .arg(script("samples/sdk/python/send.py"))
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &server.url)
            .env(
                "OTEL_EXPORTER_OTLP_HEADERS",
                format!("Oteleport-Access-Key={key}"),
            )
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .output()
            .expect("run send.py")
    };
    let refused = sample("a-wrong-ingest-key");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("refused the traces, metrics, logs"),
        "{stderr}"
    );
    assert!(archive(&*store).is_empty());
    let sent = sample("the-right-ingest-key");
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    for signal in otelvault_codec::Signal::ALL {
        assert!(
            merged(&*store, signal).item_count() > 0,
            "{signal} not stored"
        );
    }
}

#[test]
fn clients_that_send_too_much_read_the_413_instead_of_a_broken_pipe() {
    let (server, _store) = Server::start(&Storage::Fs, &[]);
    // Python's urllib writes the whole body before it reads the answer.
    let script = r#"
import sys, urllib.request, urllib.error
body = b"\0" * (7 * 1024 * 1024)
req = urllib.request.Request(sys.argv[1] + "/v1/traces", data=body, headers={"Content-Type": "application/x-protobuf"})
try:
    urllib.request.urlopen(req, timeout=30)
    print("accepted")
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode("latin-1"))
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&server.url)
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("413 "), "{stdout}");
    assert!(stdout.contains("exceeds 6291456 bytes"), "{stdout}");
}

#[test]
fn fetch_and_stats_read_an_archive_without_a_server() {
    let (server, store) = Server::start(&Storage::Fs, &[]);
    ingest_samples(&server.url, None);
    let dir = server.archive_dir.clone().expect("fs archive");
    let dir = dir.to_string_lossy().into_owned();
    for signal in ["traces", "metrics", "logs"] {
        let mut through_api = vec!["fetch", "--endpoint", &server.url, "--signal", signal];
        through_api.extend(RANGE);
        let (code, from_api, stderr) = run_cli(&through_api, &[]);
        assert_eq!(code, 0, "{stderr}");
        let mut direct = vec!["fetch", "--from", &dir, "--signal", signal];
        direct.extend(RANGE);
        let (code, from_archive, stderr) = run_cli(&direct, &[]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(from_archive, from_api, "{signal}");
        assert!(from_archive.contains("\"resource"), "{from_archive}");
    }

    let (code, table, stderr) = run_cli(&["stats", "--from", &dir], &[]);
    assert_eq!(code, 0, "{stderr}");
    let objects = archive(&*store);
    let row = |signal: &str| {
        table
            .lines()
            .find(|l| l.starts_with("2024-10-27") && l.split_whitespace().nth(1) == Some(signal))
            .unwrap_or_else(|| panic!("no {signal} row in:\n{table}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    for (signal, items) in [("traces", 2), ("metrics", 7), ("logs", 8)] {
        let cells = row(signal);
        // 2024-10-27 in unix nanoseconds.
        let day = 1_729_987_200_000_000_000..1_730_073_600_000_000_000;
        let stored = objects
            .iter()
            .filter(|(k, _)| k.signal.as_str() == signal && day.contains(&k.partition_start))
            .count();
        assert_eq!(cells[2], stored.to_string(), "{signal} objects: {table}");
        assert_eq!(cells[4], items.to_string(), "{signal} items: {table}");
        assert_eq!(cells[5], "0", "{signal}: {table}");
    }
    let total = table.lines().last().expect("total line");
    assert!(total.starts_with("total"), "{table}");
    assert_eq!(total.split_whitespace().nth(3), Some("17"), "{table}");

    let (code, _, stderr) = run_cli(&["stats", "--from", &format!("{dir}-missing")], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no such directory"), "{stderr}");
}

#[test]
fn empty_variables_count_as_unset_and_the_first_day_spellings_work() {
    let dir = tempfile::tempdir().expect("dir");
    let storage = dir.path().to_string_lossy().into_owned();
    // A templated deployment writes "" for what it leaves alone.
    let keys = [
        ("OTELVAULT_INGEST_KEYS", "ingest-key-1"),
        ("OTELVAULT_QUERY_KEYS", "query-key-1"),
    ];
    let mut envs = keys.to_vec();
    envs.extend([
        ("OTELVAULT_FORMAT", ""),
        ("OTELVAULT_COMPRESSION", ""),
        ("OTELVAULT_PARTITION", ""),
        ("OTELVAULT_LISTEN", ""),
        ("OTELVAULT_S3_TIMEOUT", ""),
        ("OTELVAULT_MAX_QUERIES", ""),
    ]);
    let (code, stdout, stderr) = run_cli(&["check", "--storage", &storage], &envs);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("objects json + gzip, minute partitions"),
        "{stdout}"
    );
    // One duration syntax: what --since takes, settings take.
    let mut envs = keys.to_vec();
    envs.extend([
        ("OTELVAULT_FORWARD_RETRY_INTERVAL", "1h"),
        ("OTELVAULT_S3_TIMEOUT", "1m"),
    ]);
    let (code, _, stderr) = run_cli(&["check", "--storage", &storage], &envs);
    assert_eq!(code, 0, "{stderr}");
    // A host name listens where it resolves.
    let (code, _, stderr) = run_cli(
        &["check", "--storage", &storage, "--listen", "localhost:4318"],
        &keys,
    );
    assert_eq!(code, 0, "{stderr}");
    // An S3 endpoint without its scheme is a setting to fix, named at start.
    let (code, _, stderr) = run_cli(
        &["stats", "--from", "s3://bucket/prefix"],
        &[("OTELVAULT_S3_ENDPOINT", "127.0.0.1:9000")],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("OTELVAULT_S3_ENDPOINT=127.0.0.1:9000")
            && stderr.contains("http://127.0.0.1:9000"),
        "{stderr}"
    );
}

#[test]
fn secrets_given_as_flags_are_warned_of_without_showing_them() {
    let dir = tempfile::tempdir().expect("dir");
    let storage = dir.path().to_string_lossy().into_owned();
    let (code, _, stderr) = run_cli(
        &[
            "check",
            "--storage",
            &storage,
            "--ingest-keys=ingest-secret-in-argv",
            "--query-keys",
            "query-secret-in-argv",
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    for (flag, variable) in [
        ("--ingest-keys", "OTELVAULT_INGEST_KEYS"),
        ("--query-keys", "OTELVAULT_QUERY_KEYS"),
    ] {
        assert!(
            stderr.contains(&format!("{flag} puts a secret on the command line"))
                && stderr.contains(variable),
            "{stderr}"
        );
    }
    assert!(!stderr.contains("secret-in-argv"), "{stderr}");
}

#[test]
fn no_aws_credentials_at_all_is_said_in_one_line_with_the_ways_to_give_them() {
    let home = tempfile::tempdir().expect("home");
    let output = Command::new(env!("CARGO_BIN_EXE_otelvault"))
        .args(["stats", "--from", "s3://otelvault-no-credentials/otel"])
        .env_clear()
        .env("HOME", home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        // Never reached: credentials are looked for first.
        .env("OTELVAULT_S3_ENDPOINT", "http://127.0.0.1:9")
        .env("OTELVAULT_S3_FORCE_PATH_STYLE", "true")
        .output()
        .expect("run otelvault");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no AWS credentials were found")
            && stderr.contains("AWS_PROFILE")
            && stderr.contains("AWS_ACCESS_KEY_ID")
            && !stderr.contains("unavailable"),
        "{stderr}"
    );
}

/// A log record timed now, whose body is `body`.
fn log_now(body: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    serde_json::json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "follow"}}]},
        "scopeLogs": [{"logRecords": [{"timeUnixNano": now.to_string(), "body": {"stringValue": body}}]}]
    }]})
    .to_string()
}

/// Stores a log record timed now at `url`.
fn post_log_now(url: &str, body: &str) {
    let status = http()
        .post(format!("{url}/v1/logs"))
        .header("Content-Type", "application/json")
        .send(&log_now(body))
        .expect("ingest")
        .status();
    assert_eq!(status, 200);
}

#[test]
fn fetch_follow_prints_each_new_item_once_and_stops_cleanly_on_ctrl_c() {
    let (server, _store) = Server::start(&Storage::Fs, &[]);
    let post = |body: &str| post_log_now(&server.url, body);
    post("followed-before");
    let mut child = Command::new(env!("CARGO_BIN_EXE_otelvault"))
        .args(["fetch", "--endpoint", &server.url, "--signal", "logs"])
        .args(["--since", "5m", "--follow", "--follow-lag", "1s"])
        .env_remove("OTELVAULT_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fetch --follow");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, received) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let mut wait_for = |marker: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !seen.contains(marker) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match received.recv_timeout(left) {
                Ok(line) => seen.push_str(&line),
                Err(_) => panic!("{marker} was never printed; printed: {seen}"),
            }
        }
    };
    wait_for("followed-before");
    post("followed-1");
    wait_for("followed-1");
    post("followed-2");
    wait_for("followed-2");
    // Two more rounds: nothing is printed twice.
    std::thread::sleep(std::time::Duration::from_secs(3));
    while let Ok(line) = received.try_recv() {
        seen.push_str(&line);
    }
    for marker in ["followed-before", "followed-1", "followed-2"] {
        assert_eq!(seen.matches(marker).count(), 1, "{marker}: {seen}");
    }
    // Ctrl-C ends it cleanly.
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(interrupted.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
}

#[test]
fn replay_follow_keeps_a_live_copy_of_an_archive() {
    let (source, _store) = Server::start(&Storage::Fs, &[]);
    let (copy, copy_store) = Server::start(&Storage::Fs, &[]);
    let post = |body: &str| post_log_now(&source.url, body);
    let dir = source.archive_path();
    let child = Command::new(env!("CARGO_BIN_EXE_otelvault"))
        .args([
            "replay", "--from", &dir, "--to", &copy.url, "--signal", "logs",
        ])
        .args(["--since", "5m", "--follow", "--follow-lag", "1s"])
        .env_remove("OTELVAULT_LOG")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("replay --follow");
    let copied = || {
        let batch = merged(&*copy_store, otelvault_codec::Signal::Logs);
        String::from_utf8_lossy(&batch.encode(otelvault_codec::Format::Json)).into_owned()
    };
    for body in ["live-1", "live-2"] {
        post(body);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !copied().contains(body) {
            assert!(std::time::Instant::now() < deadline, "{body} never copied");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    std::thread::sleep(std::time::Duration::from_secs(3));
    let copy_text = copied();
    assert_eq!(
        (
            copy_text.matches("live-1").count(),
            copy_text.matches("live-2").count()
        ),
        (1, 1),
        "{copy_text}"
    );
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(interrupted.success());
    let output = child.wait_with_output().expect("wait");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn an_s3_endpoint_that_does_not_answer_is_named() {
    let dead = otelvault_testkit::free_port();
    let endpoint = format!("http://127.0.0.1:{dead}");
    let (code, _, stderr) = run_cli(
        &["stats", "--from", "s3://otelvault-dead-endpoint/otel"],
        &[
            ("OTELVAULT_S3_ENDPOINT", &endpoint),
            ("OTELVAULT_S3_FORCE_PATH_STYLE", "true"),
            ("OTELVAULT_S3_TIMEOUT", "2s"),
            ("OTELVAULT_S3_ATTEMPT_TIMEOUT", "1s"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("the S3 endpoint {endpoint} does not answer"))
            && stderr.contains("OTELVAULT_S3_ENDPOINT"),
        "{stderr}"
    );
}
