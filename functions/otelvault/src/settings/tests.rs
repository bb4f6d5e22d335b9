use super::*;
use clap::{CommandFactory as _, Parser};
use otelvault_archive::PartitionTime;
use otelvault_codec::{Compression, Format, Granularity};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

fn parse(args: &[&str]) -> Result<ServeArgs, String> {
    let mut argv = vec!["otelvault"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv)
        .map(|c| c.serve)
        .map_err(|e| name_the_variable(&Cli::command(), e).to_string())
}

#[test]
fn defaults_match_the_spec() {
    let a = parse(&[]).expect("defaults");
    assert_eq!(a.listen, "127.0.0.1:4318".parse().expect("addr"));
    assert_eq!(
        a.grpc_listen,
        GrpcListen(Some("127.0.0.1:4317".parse().expect("addr")))
    );
    assert_eq!(
        a.storage.url(),
        Ok(StorageUrl::Fs("./otelvault-data".into()))
    );
    let layout = a.layout.layout();
    assert_eq!(
        (
            layout.format,
            layout.compression,
            layout.partitioning.granularity
        ),
        (Format::Json, Compression::Gzip, Granularity::Minute)
    );
    assert_eq!(
        (layout.partitioning.time, a.auth),
        (PartitionTime::Event, AuthMode::Keys)
    );
    assert!(a.ingest_keys.is_empty() && a.query_keys.is_empty() && a.cursor_key.0.is_none());
    assert!(!a.s3.s3_force_path_style);
    assert!(a.validate(Runtime::Local).is_ok());
    assert!(!a.keys_enforced());
}

#[test]
fn invalid_values_name_the_variable() {
    for (args, var) in [
        (vec!["--format", "xml"], "OTELVAULT_FORMAT"),
        (vec!["--compression", "brotli"], "OTELVAULT_COMPRESSION"),
        (vec!["--partition", "day"], "OTELVAULT_PARTITION"),
        (vec!["--cursor-key", "c2hvcnQ="], "OTELVAULT_CURSOR_KEY"),
        (vec!["--ingest-keys", "a,,b"], "OTELVAULT_INGEST_KEYS"),
        (
            vec!["--s3-force-path-style", "maybe"],
            "OTELVAULT_S3_FORCE_PATH_STYLE",
        ),
        (vec!["--s3-timeout", "fast"], "OTELVAULT_S3_TIMEOUT"),
        (vec!["--s3-timeout", "0s"], "OTELVAULT_S3_TIMEOUT"),
        (
            vec!["--s3-attempt-timeout", "3w"],
            "OTELVAULT_S3_ATTEMPT_TIMEOUT",
        ),
    ] {
        let err = parse(&args).err().unwrap_or_default();
        assert!(err.contains(var), "{args:?}: {err}");
        // The first line says it all: a Lambda log keeps only that one.
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.contains(var) && first.contains("invalid value"),
            "{err}"
        );
    }
    // A location is parsed when it is opened; its error names the variable.
    let a = parse(&["--storage", "gs://bucket"]).expect("parse");
    assert_eq!(
        a.storage.url().map_err(|e| e.variable),
        Err("OTELVAULT_STORAGE")
    );
}

#[test]
fn storage_timeouts_parse_and_must_agree() {
    let a = parse(&[]).expect("defaults");
    assert_eq!(
        a.s3.timeouts(),
        Ok(S3Timeouts {
            attempt: Duration::from_secs(3),
            operation: Duration::from_secs(6),
            max_attempts: 3
        })
    );
    let a = parse(&[
        "--s3-timeout",
        "1500ms",
        "--s3-attempt-timeout",
        "1",
        "--s3-max-attempts",
        "2",
    ])
    .expect("parse");
    assert_eq!(
        a.s3.timeouts()
            .map(|t| (t.operation, t.attempt, t.max_attempts)),
        Ok((Duration::from_millis(1500), Duration::from_secs(1), 2))
    );
    let a = parse(&["--s3-timeout", "2s", "--s3-attempt-timeout", "5s"]).expect("parse");
    let err = a.s3.timeouts().expect_err("attempt longer than the call");
    assert_eq!(err.variable, "OTELVAULT_S3_ATTEMPT_TIMEOUT");
    assert!(err.to_string().contains("OTELVAULT_S3_TIMEOUT"), "{err}");
    assert!(parse(&["--s3-max-attempts", "0"]).is_err());
}

#[test]
fn unsafe_combinations_are_refused() {
    let lambda = parse(&[]).expect("parse");
    let err = lambda
        .validate(Runtime::Lambda)
        .expect_err("no keys on lambda");
    assert_eq!(err.variable, "OTELVAULT_INGEST_KEYS");
    let open = parse(&["--auth", "none"]).expect("parse");
    assert!(open.validate(Runtime::Lambda).is_ok());
    let public = parse(&["--listen", "0.0.0.0:4318"]).expect("parse");
    assert_eq!(
        public.validate(Runtime::Local).map_err(|e| e.variable),
        Err("OTELVAULT_LISTEN")
    );
    let keyed =
        parse(&["--listen", "0.0.0.0:4318", "--ingest-keys", "s3cr3t-value"]).expect("parse");
    assert!(keyed.validate(Runtime::Local).is_ok());
    // The gRPC receiver too; off, or on loopback, it needs no keys.
    let grpc = parse(&["--grpc-listen", "0.0.0.0:4317"]).expect("parse");
    assert_eq!(
        grpc.validate(Runtime::Local).map_err(|e| e.variable),
        Err("OTELVAULT_GRPC_LISTEN")
    );
    // Forwarding mistakes name the variable.
    let forward = parse(&[
        "--forward-endpoint",
        "http://backend:4318",
        "--forward-protocol",
        "grpc/json",
    ])
    .expect("parse");
    let err = forward.validate(Runtime::Local).expect_err("bad protocol");
    assert_eq!(err.variable, "OTELVAULT_FORWARD_PROTOCOL");
    assert!(
        err.to_string()
            .contains("OTELVAULT_FORWARD_PROTOCOL=grpc/json"),
        "{err}"
    );
    let forward = parse(&["--forward-logs-endpoint", "backend:4318"]).expect("parse");
    let err = forward.validate(Runtime::Local).expect_err("not a URL");
    assert_eq!(err.variable, "OTELVAULT_FORWARD_ENDPOINT");
    assert!(
        err.problem.contains("forwarding logs") && err.problem.contains("http://"),
        "{err}"
    );
    let off = parse(&["--grpc-listen", "OFF"]).expect("parse");
    assert_eq!(off.grpc_listen, GrpcListen(None));
    assert!(off.validate(Runtime::Local).is_ok());
    let err = parse(&["--grpc-listen", "4317"]).err().unwrap_or_default();
    assert!(
        err.contains("OTELVAULT_GRPC_LISTEN") && err.contains("127.0.0.1:4317"),
        "{err}"
    );
    assert!(keyed.keys_enforced());
    let cursor = parse(&[
        "--cursor-key",
        &base64::engine::general_purpose::STANDARD.encode([7u8; 32]),
    ])
    .expect("parse");
    assert_eq!(cursor.cursor_key, CursorKey(Some([7; 32])));
    let empty = parse(&["--cursor-key", "", "--s3-endpoint", ""]).expect("empty means unset");
    // S3 settings with a directory are a mistake.
    let endpoint = parse(&["--s3-endpoint", "http://127.0.0.1:9000"]).expect("parse");
    assert_eq!(
        endpoint.validate(Runtime::Local).map_err(|e| e.variable),
        Err("OTELVAULT_S3_ENDPOINT")
    );
    assert_eq!(
        (empty.s3.endpoint(), empty.cursor_key),
        (None, CursorKey(None))
    );
}

#[test]
fn the_request_memory_limit_follows_the_lambda_memory_unless_set() {
    let default = parse(&[]).expect("defaults");
    assert_eq!(default.max_request_bytes(None), 128 << 20);
    assert_eq!(default.max_request_bytes(Some("256")), 64 << 20);
    assert_eq!(default.max_request_bytes(Some("4096")), 128 << 20);
    let set = parse(&["--max-request-mib", "512"]).expect("set");
    assert_eq!(set.max_request_bytes(Some("256")), 512 << 20);
    let err = parse(&["--max-request-mib", "4"]).expect_err("too small");
    assert!(
        err.contains("OTELVAULT_MAX_REQUEST_MIB") && err.contains("8..=16384"),
        "{err}"
    );
    assert!(parse(&["--max-queries", "0"]).is_err());
    assert_eq!(default.max_queries, 4);
}

#[test]
fn misspelt_variables_are_named_with_the_settings_they_may_mean() {
    let settings = env_settings(&Cli::command());
    assert!(settings.contains("OTELVAULT_STORAGE") && settings.contains("OTELVAULT_LISTEN"));
    let check = |names: &[&str]| unknown_settings(&settings, names.iter().map(Into::into));

    // Settings, other tools' variables and the names of other programs pass.
    assert_eq!(
        check(&[
            "OTELVAULT_STORAGE",
            "OTELVAULT_BLESS",
            "PATH",
            "OTEL_SERVICE_NAME"
        ]),
        None
    );
    let line = check(&["OTELVAULT_STORGE"]).expect("a typo");
    assert!(
        line.starts_with(
            "OTELVAULT_STORGE is not an otelvault setting (did you mean OTELVAULT_STORAGE?)"
        ),
        "{line}"
    );
    assert!(line.contains("unset it") && !line.contains('\n'), "{line}");
    // Words added or left out, and the wrong case.
    let line = check(&["OTELVAULT_HTTP_LISTEN"]).expect("an added word");
    assert!(line.contains("did you mean OTELVAULT_LISTEN?"), "{line}");
    let line = check(&["otelvault_storage"]).expect("lower case");
    assert!(line.contains("did you mean OTELVAULT_STORAGE?"), "{line}");
    // Each mistake is named, in one line; a name like no setting gets no guess.
    let line = check(&["OTELVAULT_ZZZZZZZZ", "OTELVAULT_INGEST_KEY"]).expect("two");
    assert!(
        line.contains("OTELVAULT_ZZZZZZZZ is not an otelvault setting: rename")
            && line.contains("OTELVAULT_INGEST_KEY is not an otelvault setting (did you mean OTELVAULT_INGEST_KEYS?)")
            && line.contains("unset them"),
        "{line}"
    );
}

#[test]
fn each_variable_is_declared_by_one_setting() {
    // The commands flatten shared groups, so a variable read by several
    // commands has one flag, one meaning and one default everywhere.
    let mut seen: std::collections::BTreeMap<String, (String, String)> = Default::default();
    let command = crate::Cli::command();
    let mut stack = vec![&command];
    while let Some(command) = stack.pop() {
        stack.extend(command.get_subcommands());
        for arg in command.get_arguments() {
            let Some(env) = arg.get_env() else { continue };
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            let flag = arg.get_long().unwrap_or_default().to_owned();
            let entry = seen
                .entry(env.to_string_lossy().into_owned())
                .or_insert_with(|| (flag.clone(), help.clone()));
            assert_eq!(
                entry,
                &(flag, help),
                "{env:?} is declared twice, differently"
            );
        }
    }
    assert!(seen.contains_key("OTELVAULT_STORAGE") && seen.contains_key("OTELVAULT_ACCESS_KEY"));
}

#[test]
fn listen_addresses_may_be_host_names() {
    assert_eq!(
        parse_listen("localhost:4318"),
        Ok("127.0.0.1:4318".parse().expect("addr"))
    );
    assert_eq!(
        parse_listen("[::1]:4318"),
        Ok("[::1]:4318".parse().expect("addr"))
    );
    for bad in ["4318", "localhost", "localhost:http", ":4318"] {
        let err = parse_listen(bad).expect_err(bad);
        assert!(err.contains("127.0.0.1:4318"), "{bad}: {err}");
    }
    let a = parse(&["--grpc-listen", "localhost:4317"]).expect("parse");
    assert_eq!(
        a.grpc_listen,
        GrpcListen(Some("127.0.0.1:4317".parse().expect("addr")))
    );
}

#[test]
fn durations_read_as_every_flag_reads_them() {
    let a = parse(&["--forward-retry-interval", "1h", "--s3-timeout", "1500ms"]).expect("parse");
    assert_eq!(a.forward_retry_interval, Duration::from_secs(3600));
    assert_eq!(a.s3.s3_timeout, Duration::from_millis(1500));
    let err = parse(&["--forward-timeout", "0s"]).expect_err("zero");
    assert!(err.contains("OTELVAULT_FORWARD_TIMEOUT"), "{err}");
}

#[test]
fn half_configured_settings_name_what_is_missing() {
    let variable = |args: &[&str], runtime| {
        parse(args)
            .expect("parse")
            .validate(runtime)
            .map_err(|e| e.variable)
    };
    // Forwarding settings without an endpoint.
    for args in [
        &["--forward-headers", "x-honeycomb-team=KEY"][..],
        &["--forward-protocol", "grpc"],
        &["--forward-compression", "none"],
        &["--forward-timeout", "10s"],
    ] {
        assert_eq!(
            variable(args, Runtime::Local),
            Err("OTELVAULT_FORWARD_ENDPOINT"),
            "{args:?}"
        );
    }
    // With one, or at their defaults, they are fine.
    let forwarding = [
        "--forward-logs-endpoint",
        "http://127.0.0.1:4318/v1/logs",
        "--forward-protocol",
        "http/json",
    ];
    assert_eq!(variable(&forwarding, Runtime::Local), Ok(()));
    assert_eq!(
        variable(&["--forward-protocol", "http/protobuf"], Runtime::Local),
        Ok(())
    );
    // Path-style addressing of a directory.
    assert_eq!(
        variable(&["--s3-force-path-style", "true"], Runtime::Local),
        Err("OTELVAULT_S3_FORCE_PATH_STYLE")
    );
    // Keys that OTELVAULT_AUTH=none would ignore.
    assert_eq!(
        variable(
            &["--auth", "none", "--query-keys", "query-key-1"],
            Runtime::Local
        ),
        Err("OTELVAULT_AUTH")
    );
    // An EMF file with no EMF output on (locally, self metrics are off).
    assert_eq!(
        variable(&["--emf-file", "/tmp/emf.jsonl"], Runtime::Local),
        Err("OTELVAULT_EMF_FILE")
    );
    assert_eq!(
        variable(
            &["--emf-file", "/tmp/emf.jsonl", "--self-metrics", "on"],
            Runtime::Local
        ),
        Ok(())
    );
    // Background compaction settings with compaction off.
    let serve = |args: &[&str]| {
        let a = parse(args).expect("parse");
        a.validate_local_compaction(&a.storage.url().expect("url"))
            .map_err(|e| e.variable)
    };
    assert_eq!(
        serve(&["--compact", "off", "--compact-delete-raw", "true"]),
        Err("OTELVAULT_COMPACT_DELETE_RAW")
    );
    assert_eq!(
        serve(&["--compact", "off", "--compact-interval-secs", "60"]),
        Err("OTELVAULT_COMPACT_INTERVAL_SECS")
    );
    assert_eq!(
        serve(&["--compact-delete-raw", "true"]),
        Ok(()),
        "auto is on for a directory"
    );
    assert_eq!(
        serve(&[
            "--storage",
            "s3://bucket/otel",
            "--compact-delete-raw",
            "true"
        ]),
        Err("OTELVAULT_COMPACT_DELETE_RAW")
    );
}
