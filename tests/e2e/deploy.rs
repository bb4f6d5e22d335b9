//! The deployment files agree with the binary: the same environment
//! variables in terraform/, lambroll/ and the binary's configuration, and an
//! IAM policy that grants exactly the S3 actions the binary uses.

use std::collections::BTreeSet;

use crate::support::{env_names, run_cli, script};

fn read(path: &str) -> String {
    std::fs::read_to_string(script(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The variables the server reads, from the binary's own help.
fn binary_env_names() -> BTreeSet<String> {
    let (code, help, stderr) = run_cli(&["serve", "--help"], &[]);
    assert_eq!(code, 0, "{stderr}");
    help.split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split(['=', ']']).next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn terraform_lambroll_and_the_binary_use_the_same_variables() {
    let mut binary = binary_env_names();
    // Read on Lambda only, to choose the package's function (main.rs).
    binary.insert("OTELVAULT_FUNCTION".into());
    assert!(
        binary.contains("OTELVAULT_STORAGE") && binary.len() >= 12,
        "{binary:?}"
    );
    // Not for Lambda: the listen addresses and the listener's limits (the
    // runtime API is used instead; a Function URL carries no gRPC),
    // the S3-compatible endpoint settings (AWS's own S3 is used), and the
    // query concurrency and ingest memory budget (an instance serves one
    // request at a time; the budget defaults to half its memory).
    let local_only: BTreeSet<String> = [
        "OTELVAULT_COMPACT",
        "OTELVAULT_COMPACT_INTERVAL_SECS",
        "OTELVAULT_EMF_FILE",
        "OTELVAULT_FORWARD_RETRY_INTERVAL",
        "OTELVAULT_GRPC_LISTEN",
        "OTELVAULT_HEADER_TIMEOUT",
        "OTELVAULT_INGEST_MEMORY_MIB",
        "OTELVAULT_LISTEN",
        "OTELVAULT_MAX_CONNECTIONS",
        "OTELVAULT_MAX_QUERIES",
        "OTELVAULT_S3_ENDPOINT",
        "OTELVAULT_S3_FORCE_PATH_STYLE",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let on_lambda: BTreeSet<String> = binary.difference(&local_only).cloned().collect();
    // Set on the compaction function only (terraform's schedule); lambroll
    // deploys the API function.
    let compaction_only: BTreeSet<String> = [
        "OTELVAULT_FUNCTION",
        "OTELVAULT_COMPACT_DELETE_RAW",
        "OTELVAULT_COMPACT_MEMORY_MIB",
        "OTELVAULT_COMPACT_SHARD_MIB",
        "OTELVAULT_COMPACT_WORKERS",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let api_function: BTreeSet<String> = on_lambda.difference(&compaction_only).cloned().collect();

    let terraform = env_names(&read("terraform/modules/otelvault/main.tf"));
    assert_eq!(
        terraform, on_lambda,
        "terraform sets exactly the variables the binary reads on Lambda"
    );

    // lambroll's definition sets no variable of its own: it reads the
    // function's environment from the terraform state (terraform.rs).
    let function = read("lambroll/function.jsonnet");
    assert!(
        env_names(&function).is_empty(),
        "lambroll sets no OTELVAULT_* variable of its own"
    );
    let _ = api_function;

    // The configuration page explains every variable of the binary (the
    // generated reference lists them too, checked by tests/docs.rs).
    let documented = env_names(&read("docs/src/configuration.md"));
    let undocumented: Vec<_> = binary.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "not in docs/src/configuration.md: {undocumented:?}"
    );
}

/// The text of `data "aws_iam_policy_document" "{name}"` in `tf`.
fn policy_document<'a>(tf: &'a str, name: &str) -> &'a str {
    let policy = &tf[tf
        .find(&format!("data \"aws_iam_policy_document\" \"{name}\""))
        .unwrap_or_else(|| panic!("policy {name}"))..];
    &policy[..policy
        .find("resource \"aws_iam_role_policy\"")
        .expect("policy end")]
}

/// Every action a policy document grants.
fn actions(policy: &str) -> BTreeSet<String> {
    policy
        .lines()
        .filter(|l| l.trim_start().starts_with("actions"))
        .flat_map(|l| {
            l.split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_iam_policy_grants_only_the_s3_actions_the_binary_uses() {
    let tf = read("terraform/modules/otelvault/main.tf");
    let policy = policy_document(&tf, "function");
    let granted: BTreeSet<String> = actions(policy)
        .into_iter()
        .filter(|a| a.starts_with("s3:"))
        .collect();
    assert!(
        !policy.contains("\"*\""),
        "no wildcard resources or actions in the function policy"
    );

    // The S3 calls the storage backend makes, as IAM actions.
    let backend = read("crates/storage/src/s3.rs");
    let calls = [
        ("put_object()", "s3:PutObject"),
        ("get_object()", "s3:GetObject"),
        ("list_objects_v2()", "s3:ListBucket"),
        ("delete_object()", "s3:DeleteObject"),
    ];
    let available: BTreeSet<String> = calls
        .iter()
        .filter(|(call, _)| backend.contains(call))
        .map(|(_, a)| a.to_string())
        .collect();
    assert!(
        granted.is_subset(&available),
        "granted {granted:?}, backend can only do {available:?}"
    );
    // The server never deletes (retention is a lifecycle rule), so delete is
    // not granted. The one delete of the service crate clears forward
    // markers, in `retry_pending`, which the API function never runs (the
    // compaction function does, with a role allowed to).
    for dir in [
        "crates/service/src",
        "functions/otelvault/src",
        "functions/otelvault/src/commands",
    ] {
        for entry in std::fs::read_dir(script(dir)).expect("dir").flatten() {
            let path = entry.path();
            // Production sources (a test's store forwards deletes).
            if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tests.rs") {
                let text = std::fs::read_to_string(&path).expect("source");
                let deletes = text.matches(".delete(").count();
                let allowed = usize::from(path.ends_with("forward.rs"));
                assert!(deletes <= allowed, "{} deletes objects", path.display());
            }
        }
    }
    let lambda = read("functions/otelvault/src/commands/lambda.rs");
    let api = &lambda[lambda.find("async fn api(").expect("the API function")..];
    let api = &api[..api.find("\n}\n").expect("its end")];
    assert!(
        !api.contains("retry_pending"),
        "the API function does not clear forward markers"
    );
    let needed: BTreeSet<String> = ["s3:PutObject", "s3:GetObject", "s3:ListBucket"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(granted, needed);
    assert!(
        policy.contains("\"s3:prefix\""),
        "ListBucket is restricted to the archive prefix"
    );
}

#[test]
fn the_compaction_role_deletes_raw_objects_only_when_told_to() {
    let tf = read("terraform/modules/otelvault/main.tf");
    let policy = &tf[tf
        .find("data \"aws_iam_policy_document\" \"compaction\"")
        .expect("compaction policy")..];
    let policy = &policy[..policy
        .find("resource \"aws_iam_role_policy\" \"compaction\"")
        .expect("policy end")];
    assert!(
        !policy.contains("\"*\""),
        "no wildcard resources or actions"
    );
    // Each statement (from its sid): its actions and resources.
    let statements: Vec<&str> = policy.split("sid ").skip(1).collect();
    let grants = |action: &str| -> Vec<&str> {
        statements
            .iter()
            .filter(|s| s.contains(&format!("\"{action}\"")))
            .copied()
            .collect()
    };
    for put in grants("s3:PutObject") {
        assert!(
            put.contains("/parquet/*"),
            "writes only the Parquet tier: {put}"
        );
    }
    let deletes = grants("s3:DeleteObject");
    assert_eq!(deletes.len(), 3, "{deletes:?}");
    assert!(deletes.iter().any(|d| d.contains("/parquet/*\"]")));
    assert!(
        deletes
            .iter()
            .any(|d| d.trim_start().starts_with("= \"ClearForwardMarkers\"")
                && d.contains("/forward-pending/*\"]")),
        "the third clears forward markers only: {deletes:?}"
    );
    let clear = policy.find("\"ClearForwardMarkers\"").expect("statement");
    assert!(
        policy[..clear]
            .trim_end()
            .ends_with("content {\n      sid       =")
            && policy[..clear].contains("for_each = local.forwarding ? [1] : []"),
        "and exists only when forwarding"
    );
    // The raw delete is a dynamic statement that exists only with the variable.
    let at = policy
        .find("/year=*")
        .expect("a statement deleting raw objects");
    let before = &policy[..at];
    let dynamic = before
        .rfind("dynamic \"statement\"")
        .expect("dynamic statement");
    assert!(
        before
            .rfind("  statement {")
            .is_none_or(|plain| plain < dynamic)
            && before[dynamic..].contains("for_each = var.compaction_delete_raw"),
        "raw objects are deletable only with compaction_delete_raw"
    );
    assert!(
        policy.contains("\"s3:prefix\""),
        "listing is restricted to the prefix"
    );
}

/// The text of `resource "{kind}" "{name}"` in `tf`, to the next block.
fn resource_block<'a>(tf: &'a str, kind: &str, name: &str) -> &'a str {
    let start = tf
        .find(&format!("resource \"{kind}\" \"{name}\" {{"))
        .unwrap_or_else(|| panic!("resource {kind} {name}"));
    let block = &tf[start..];
    &block[..block[1..]
        .find("\nresource ")
        .map_or(block.len(), |end| end + 1)]
}

/// Fan-out least privilege: the compaction function may invoke only its
/// workers; the workers read the archive and write only under `parquet/`
/// (raw objects are deleted by the compaction function, with
/// compaction_delete_raw). Its retries and failure destination are checked
/// with the other functions' (terraform.rs).
#[test]
fn compaction_workers_are_invoked_by_the_compaction_function_only_and_write_only_parquet() {
    let tf = read("terraform/modules/otelvault/main.tf");
    let planner = policy_document(&tf, "compaction");
    let invoke = &planner[planner
        .find("\"InvokeCompactionWorkers\"")
        .expect("an invoke statement")..];
    let invoke = &invoke[..invoke.find('}').expect("statement end")];
    assert!(
        invoke.contains("actions   = [\"lambda:InvokeFunction\"]")
            && invoke.contains("resources = [aws_lambda_function.compaction_worker[0].arn]"),
        "{invoke}"
    );
    assert_eq!(
        planner.matches("lambda:").count(),
        1,
        "no other Lambda action"
    );

    let worker = policy_document(&tf, "compaction_worker");
    assert!(
        !worker.contains("\"*\""),
        "no wildcard resources or actions"
    );
    let expected: BTreeSet<String> = [
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ListBucket",
        "sqs:SendMessage",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "kms:GenerateDataKey",
        "kms:Decrypt",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(actions(worker), expected);
    for statement in worker.split("sid ").skip(1) {
        if statement.contains("\"s3:PutObject\"") || statement.contains("\"s3:DeleteObject\"") {
            assert!(
                statement.contains("resources = [\"${local.archive_arn}/parquet/*\"]"),
                "writes only under parquet/: {statement}"
            );
        }
    }

    // The planner names the worker; the worker never fans out itself.
    let compaction = resource_block(&tf, "aws_lambda_function", "compaction");
    assert!(
        compaction.contains("OTELVAULT_COMPACT_WORKERS   = local.worker_name"),
        "{compaction}"
    );
    let function = resource_block(&tf, "aws_lambda_function", "compaction_worker");
    assert!(function.contains("function_name                  = local.worker_name"));
    assert!(function.contains("OTELVAULT_FUNCTION        = \"compact\""));
    assert!(
        !function.contains("OTELVAULT_COMPACT_WORKERS"),
        "{function}"
    );
    assert!(
        function.contains("reserved_concurrent_executions = var.compaction_worker_concurrency")
    );
}

#[test]
fn the_xray_import_role_reads_xray_and_writes_the_archive_only() {
    let tf = read("terraform/modules/otelvault/xray.tf");
    let policy = policy_document(&tf, "xray_import");
    let actions = actions(policy);
    let expected: BTreeSet<String> = [
        "xray:GetTraceSummaries",
        "xray:BatchGetTraces",
        "s3:PutObject",
        "s3:GetObject",
        "s3:ListBucket",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        // Its failed runs go to the failure queue; the forward headers
        // may come from SSM.
        "sqs:SendMessage",
        "ssm:GetParameters",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(actions, expected, "no delete, no other X-Ray action");
    // The one wildcard resource is X-Ray's, whose reads take no other.
    let wildcard = policy
        .find("resources = [\"*\"]")
        .expect("X-Ray's resource");
    assert!(policy[..wildcard].contains("xray:BatchGetTraces"));
    assert_eq!(policy.matches("\"*\"").count(), 1);
    // Off unless scheduled.
    assert!(tf.contains("xray_import = var.xray_import_schedule != null"));
    let variables = read("terraform/modules/otelvault/variables.tf");
    let schedule = &variables[variables
        .find("variable \"xray_import_schedule\"")
        .expect("variable")..];
    assert!(schedule[..schedule.find("\n}").expect("end")].contains("default     = null"));
}
