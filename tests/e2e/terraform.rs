//! The terraform module, parsed (HCL) and held to what the AWS documentation
//! requires of a deployment that serves, reports and stays safe: the
//! Function URL's resource-based policy, failure reporting of the scheduled
//! functions, the concurrency cap, each role's write scope, lifecycle rules,
//! and validations that refuse what AWS would refuse at apply (run through
//! the real terraform binary). No provider can be downloaded here, so
//! nothing is applied: these tests are the check.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use hcl::{Block, Expression};

use crate::support::script;

const MODULE: &str = "terraform/modules/otelvault";
const EXAMPLE: &str = "terraform/examples/basic";

/// The top-level blocks of every `.tf` file of a directory.
fn blocks(dir: &str) -> Vec<Block> {
    let mut files: Vec<_> = std::fs::read_dir(script(dir))
        .expect("terraform dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "tf"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(path).expect("read .tf");
            let body = hcl::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            body.blocks().cloned().collect::<Vec<_>>()
        })
        .collect()
}

fn labels(block: &Block) -> Vec<&str> {
    block.labels().iter().map(|l| l.as_str()).collect()
}

/// The blocks `kind "type" "name"` (resource, data), by name.
fn of_type<'a>(blocks: &'a [Block], kind: &str, ty: &str) -> BTreeMap<&'a str, &'a Block> {
    blocks
        .iter()
        .filter(|b| b.identifier() == kind && labels(b).first() == Some(&ty))
        .map(|b| (b.labels()[1].as_str(), b))
        .collect()
}

fn one<'a>(blocks: &'a [Block], kind: &str, ty: &str, name: &str) -> &'a Block {
    of_type(blocks, kind, ty)
        .remove(name)
        .unwrap_or_else(|| panic!("{kind} {ty}.{name}"))
}

fn attr<'a>(block: &'a Block, key: &str) -> Option<&'a Expression> {
    block
        .body()
        .attributes()
        .find(|a| a.key() == key)
        .map(|a| a.expr())
}

/// An attribute's expression as HCL text.
fn text(block: &Block, key: &str) -> String {
    attr(block, key)
        .map(ToString::to_string)
        .unwrap_or_default()
}

fn nested<'a>(block: &'a Block, ident: &str) -> Vec<&'a Block> {
    block
        .body()
        .blocks()
        .filter(|b| b.identifier() == ident)
        .collect()
}

/// One statement of an `aws_iam_policy_document`, static or `dynamic`.
#[derive(Debug)]
struct Statement {
    sid: String,
    actions: BTreeSet<String>,
    resources: Vec<String>,
    text: String,
}

fn statements(document: &Block) -> Vec<Statement> {
    let statics = nested(document, "statement");
    let dynamics = document
        .body()
        .blocks()
        .filter(|b| b.identifier() == "dynamic" && labels(b) == ["statement"])
        .flat_map(|d| nested(d, "content"));
    statics
        .into_iter()
        .chain(dynamics)
        .map(|s| Statement {
            sid: text(s, "sid").trim_matches('"').to_owned(),
            actions: match attr(s, "actions") {
                Some(Expression::Array(items)) => items
                    .iter()
                    .map(|a| a.to_string().trim_matches('"').to_owned())
                    .collect(),
                other => panic!("actions of {}: {other:?}", text(s, "sid")),
            },
            resources: match attr(s, "resources") {
                Some(Expression::Array(items)) => items.iter().map(ToString::to_string).collect(),
                Some(other) => vec![other.to_string()],
                None => Vec::new(),
            },
            text: format!("{:?}", s.body()),
        })
        .collect()
}

#[test]
fn a_none_function_url_carries_both_permissions_aws_requires() {
    let module = blocks(MODULE);
    let url = one(&module, "resource", "aws_lambda_function_url", "this");
    assert_eq!(
        text(url, "authorization_type"),
        "var.function_url_auth_type"
    );

    // "Control access to Lambda function URLs"
    // (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html): with
    // NONE the resource-based policy must grant lambda:InvokeFunctionUrl
    // (condition lambda:FunctionUrlAuthType = NONE) and, for URLs created
    // since October 2025, lambda:InvokeFunction (condition
    // lambda:InvokedViaFunctionUrl = true).
    let permissions = of_type(&module, "resource", "aws_lambda_permission");
    let public: Vec<_> = permissions
        .values()
        .filter(|p| text(p, "principal") == "\"*\"")
        .collect();
    let url_permission = public
        .iter()
        .find(|p| text(p, "action") == "\"lambda:InvokeFunctionUrl\"")
        .expect("a public lambda:InvokeFunctionUrl permission");
    assert_eq!(text(url_permission, "function_url_auth_type"), "\"NONE\"");
    let invoke_permission = public
        .iter()
        .find(|p| text(p, "action") == "\"lambda:InvokeFunction\"")
        .expect("a public lambda:InvokeFunction permission");
    assert_eq!(
        attr(invoke_permission, "invoked_via_function_url"),
        Some(&Expression::Bool(true)),
        "lambda:InvokeFunction is granted to everyone only through the URL, never through the Invoke API"
    );
    for p in [url_permission, invoke_permission] {
        assert_eq!(
            text(p, "function_name"),
            "aws_lambda_function.this.function_name"
        );
        assert!(
            text(p, "count").contains("var.function_url_auth_type == \"NONE\""),
            "public only when the URL's auth type is NONE: {}",
            text(p, "count")
        );
        // The statement id some provider versions add by themselves.
        assert_ne!(text(p, "statement_id"), "\"FunctionURLAllowPublicAccess\"");
    }
    // Every public permission is one of these two.
    assert_eq!(public.len(), 2, "{public:?}");

    // invoked_via_function_url came with AWS provider 6.29.
    for dir in [MODULE, EXAMPLE] {
        let versions =
            std::fs::read_to_string(script(&format!("{dir}/versions.tf"))).expect("versions.tf");
        assert!(
            versions.contains("version = \">= 6.29, < 7.0\""),
            "{dir}/versions.tf"
        );
    }

    // AWS_IAM callers: the function ARN and the policy they need.
    let outputs = of_type_outputs(&module);
    assert!(outputs.contains("function_arn") && outputs.contains("invoke_policy_json"));
    let caller = one(&module, "data", "aws_iam_policy_document", "url_caller");
    let caller = statements(caller);
    let actions: BTreeSet<_> = caller.iter().flat_map(|s| s.actions.clone()).collect();
    assert_eq!(
        actions,
        ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]
            .map(String::from)
            .into()
    );
    assert!(
        caller
            .iter()
            .any(|s| s.text.contains("lambda:InvokedViaFunctionUrl"))
    );
}

fn of_type_outputs(blocks: &[Block]) -> BTreeSet<String> {
    blocks
        .iter()
        .filter(|b| b.identifier() == "output")
        .map(|b| b.labels()[0].as_str().to_owned())
        .collect()
}

#[test]
fn scheduled_functions_report_failures_and_alarms_watch_every_function() {
    let module = blocks(MODULE);
    let functions = of_type(&module, "resource", "aws_lambda_function");
    assert_eq!(
        functions.keys().copied().collect::<Vec<_>>(),
        ["compaction", "compaction_worker", "this", "xray_import"]
    );
    let configs = of_type(
        &module,
        "resource",
        "aws_lambda_function_event_invoke_config",
    );
    let queue = one(&module, "resource", "aws_sqs_queue", "failures");
    assert!(
        attr(queue, "sqs_managed_sse_enabled").is_some()
            && attr(queue, "kms_master_key_id").is_some(),
        "the failure queue is encrypted"
    );
    // The next scheduled run continues a failed one; Lambda's default of
    // two retries would only overlap it. A worker's shard is redone only
    // by the next planner run: Lambda retries it twice, as by default.
    for (scheduled, retries) in [
        ("compaction", "0"),
        ("xray_import", "0"),
        ("compaction_worker", "2"),
    ] {
        let config = configs
            .get(scheduled)
            .unwrap_or_else(|| panic!("an event invoke config for {scheduled}"));
        assert_eq!(
            text(config, "function_name"),
            format!("aws_lambda_function.{scheduled}[0].function_name")
        );
        assert_eq!(
            text(config, "maximum_retry_attempts"),
            retries,
            "{scheduled}"
        );
        let destination = nested(config, "destination_config")
            .into_iter()
            .flat_map(|d| nested(d, "on_failure"))
            .map(|f| text(f, "destination"))
            .next()
            .expect("an on-failure destination");
        assert_eq!(destination, "aws_sqs_queue.failures[0].arn");
        // Destinations are written with the function's own role.
        let policy = one(&module, "data", "aws_iam_policy_document", scheduled);
        assert!(
            statements(policy)
                .iter()
                .any(|s| s.actions.contains("sqs:SendMessage")
                    && s.resources == ["aws_sqs_queue.failures[0].arn"]),
            "{scheduled} may send to the failure queue"
        );
    }

    let alarms = of_type(&module, "resource", "aws_cloudwatch_metric_alarm");
    let metric = |name: &str| {
        alarms
            .values()
            .find(|a| text(a, "metric_name") == format!("\"{name}\""))
            .unwrap_or_else(|| panic!("an alarm on {name}"))
    };
    for name in ["Errors", "Throttles"] {
        let alarm = metric(name);
        assert!(text(alarm, "for_each").contains("local.alarmed_functions"));
    }
    let alarmed =
        std::fs::read_to_string(script(&format!("{MODULE}/monitoring.tf"))).expect("monitoring.tf");
    for function in [
        "aws_lambda_function.this",
        "aws_lambda_function.compaction",
        "aws_lambda_function.compaction_worker",
        "aws_lambda_function.xray_import",
    ] {
        assert!(
            alarmed.contains(function),
            "errors and throttles of {function} are alarmed"
        );
    }
    assert_eq!(text(metric("Url5xxCount"), "namespace"), "\"AWS/Lambda\"");
    assert_eq!(
        text(metric("ApproximateNumberOfMessagesVisible"), "dimensions"),
        "{\n  QueueName = aws_sqs_queue.failures[0].name\n}"
    );
    // Compaction lag, from the figures the compaction function prints:
    // the metric and its dimension are the binary's own.
    let lag = metric("Failures");
    assert_eq!(text(lag, "namespace"), "var.emf_namespace");
    assert_eq!(
        text(lag, "treat_missing_data"),
        "\"breaching\"",
        "no run at all is lag too"
    );
    let compaction = std::fs::read_to_string(script("functions/otelvault/src/commands/lambda.rs"))
        .expect("source");
    assert!(compaction.contains("(\"Failures\", COUNT,") && compaction.contains("\"compact\","));
    assert!(text(lag, "dimensions").contains("route = \"compact\""));
    // Every alarm notifies the optional topic.
    for (name, alarm) in &alarms {
        assert_eq!(
            text(alarm, "alarm_actions"),
            "local.alarm_actions",
            "{name}"
        );
    }
}

#[test]
fn the_public_function_has_a_concurrency_cap_by_default() {
    let module = blocks(MODULE);
    let this = one(&module, "resource", "aws_lambda_function", "this");
    assert_eq!(
        text(this, "reserved_concurrent_executions"),
        "var.reserved_concurrency"
    );
    let variable = variables(&module)["reserved_concurrency"];
    let Some(Expression::Number(default)) = attr(variable, "default") else {
        panic!("reserved_concurrency has a numeric default");
    };
    let default = default.as_u64().expect("a whole number");
    assert!((1..=900).contains(&default), "{default}");
}

fn variables(blocks: &[Block]) -> BTreeMap<&str, &Block> {
    blocks
        .iter()
        .filter(|b| b.identifier() == "variable")
        .map(|b| (b.labels()[0].as_str(), b))
        .collect()
}

#[test]
fn each_role_writes_only_what_its_function_writes() {
    let module = blocks(MODULE);
    let writes = |document: &str| -> BTreeSet<String> {
        let policy = one(&module, "data", "aws_iam_policy_document", document);
        // Every statement says what it is for (the sid shows in IAM's console).
        for s in statements(policy) {
            assert!(
                !s.sid.is_empty(),
                "{document}: a statement without a sid: {s:?}"
            );
        }
        statements(policy)
            .into_iter()
            .filter(|s| s.actions.contains("s3:PutObject"))
            .flat_map(|s| s.resources)
            .collect()
    };
    let set = |items: &[&str]| -> BTreeSet<String> {
        items
            .iter()
            .map(|i| format!("\"${{local.archive_arn}}/{i}\""))
            .collect()
    };
    // The API function writes raw objects and forward markers: it can
    // never overwrite a Parquet part or manifest.
    assert_eq!(writes("function"), set(&["year=*", "forward-pending/*"]));
    assert_eq!(writes("compaction"), set(&["parquet/*"]));
    assert_eq!(
        writes("xray_import"),
        set(&["year=*", "xray-import/*", "forward-pending/*"])
    );
    // Those are the only places the binary writes to.
    let markers = std::fs::read_to_string(script("crates/archive/src/marker.rs")).expect("source");
    assert!(markers.contains("pub const FORWARD_PENDING_PREFIX: &str = \"forward-pending/\";"));
    let checkpoint = std::fs::read_to_string(script("crates/xray/src/import.rs")).expect("source");
    assert!(checkpoint.contains("pub const CHECKPOINT: &str = \"xray-import/checkpoint.json\";"));

    // Secrets: the API function reads its four parameters, the scheduled
    // functions only the forward headers.
    let reads = |document: &str| -> Vec<String> {
        let policy = one(&module, "data", "aws_iam_policy_document", document);
        statements(policy)
            .into_iter()
            .filter(|s| s.actions.contains("ssm:GetParameters"))
            .flat_map(|s| s.resources)
            .collect()
    };
    let api = reads("function").join(" ");
    for name in ["ingest-keys", "query-keys", "cursor-key", "forward-headers"] {
        assert!(api.contains(name), "{api}");
    }
    for scheduled in ["compaction", "xray_import"] {
        assert_eq!(
            reads(scheduled),
            ["\"${local.ssm_parameter_arn}/forward-headers\""],
            "{scheduled}"
        );
    }
    let secrets =
        std::fs::read_to_string(script("functions/otelvault/src/secrets.rs")).expect("source");
    assert!(secrets.contains("pub const SCHEDULED: &[Secret] = &[Secret::ForwardHeaders];"));
}

#[test]
fn lifecycle_rules_expire_each_part_of_the_archive() {
    let module = blocks(MODULE);
    let lifecycle = one(
        &module,
        "resource",
        "aws_s3_bucket_lifecycle_configuration",
        "archive",
    );
    let rules: BTreeMap<String, (String, String)> = nested(lifecycle, "rule")
        .into_iter()
        .map(|r| {
            let prefix = nested(r, "filter")
                .first()
                .map(|f| text(f, "prefix"))
                .unwrap_or_default();
            let expiration = nested(r, "expiration")
                .first()
                .map(|e| text(e, "days"))
                .unwrap_or_default();
            (
                text(r, "id").trim_matches('"').to_owned(),
                (prefix, expiration),
            )
        })
        .collect();
    let expect = |id: &str, prefix: &str, days: &str| {
        assert_eq!(
            rules.get(id),
            Some(&(format!("\"${{var.prefix}}/{prefix}\""), days.to_owned())),
            "{id}"
        );
    };
    expect(
        "otelvault-raw-retention",
        "year=",
        "coalesce(var.raw_retention_days, var.retention_days)",
    );
    expect(
        "otelvault-parquet-retention",
        "parquet/",
        "var.retention_days",
    );
    expect(
        "otelvault-forward-pending",
        "forward-pending/",
        "var.forward_pending_retention_days",
    );
    expect(
        "otelvault-athena-results",
        "athena-results/",
        "var.athena_results_retention_days",
    );
}

/// Runs `terraform plan` on a root module holding only the module's
/// variable blocks (no provider to download), with `vars` (HCL values, in a
/// tfvars file): the validation message, or None when every value is
/// accepted.
fn refusal(vars: &[(&str, &str)]) -> Option<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(
        script(&format!("{MODULE}/variables.tf")),
        dir.path().join("variables.tf"),
    )
    .expect("copy variables.tf");
    let terraform = |args: &[&str]| {
        Command::new("terraform")
            .args(args)
            .current_dir(dir.path())
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_CLI_CONFIG_FILE", "/dev/null")
            .output()
            .expect("terraform is installed (the machine image has /usr/local/bin/terraform)")
    };
    let init = terraform(&["init", "-input=false", "-backend=false"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let tfvars: String = vars.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
    std::fs::write(
        dir.path().join("test.tfvars"),
        format!("lambda_zip = \"bootstrap.zip\"\n{tfvars}"),
    )
    .expect("tfvars");
    let plan = terraform(&["plan", "-input=false", "-no-color", "-var-file=test.tfvars"]);
    if plan.status.success() {
        None
    } else {
        let stderr = String::from_utf8_lossy(&plan.stderr).into_owned();
        assert!(
            stderr.contains("Invalid value for variable"),
            "not a validation: {stderr}"
        );
        Some(stderr.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

#[test]
fn validations_refuse_what_aws_would_refuse_at_apply() {
    assert_eq!(refusal(&[]), None, "the defaults are valid");
    let long = format!("\"{}\"", "a".repeat(40));
    let too_long = format!("\"{}\"", "a".repeat(53));
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("name", "\"OtelVault\"")], "lowercase"),
        (&[("name", "\"otel_vault\"")], "lowercase"),
        (&[("name", "\"-otelvault\"")], "starting and ending"),
        (&[("name", &too_long)], "64 characters"),
        (&[("name", &long)], "S3's 63"),
        (&[("bucket_name", "\"My_Bucket\"")], "bucket naming rules"),
        (&[("create_bucket", "false")], "needs bucket_name"),
        (
            &[
                ("transition_days", "10"),
                ("transition_storage_class", "\"STANDARD_IA\""),
            ],
            "at least 30",
        ),
        (&[("transition_days", "400")], "less than retention_days"),
        (
            &[("transition_days", "100"), ("raw_retention_days", "90")],
            "less than retention_days and raw_retention_days",
        ),
        (&[("log_retention_days", "10")], "CloudWatch Logs' values"),
        (&[("reserved_concurrency", "0")], "at least 1"),
        (
            &[("keys_ssm_parameter_prefix", "\"otelvault/\"")],
            "SSM path",
        ),
        (
            &[
                ("keys_ssm_parameter_prefix", "\"/otelvault\""),
                ("ingest_keys", "[\"ci:0123456789abcdef\"]"),
            ],
            "secrets come from SSM only",
        ),
        (
            &[("sql_projection_years", "\"2030,2025\"")],
            "first <= last",
        ),
        (
            &[("alarm_topic_arn", "\"my-topic\"")],
            "ARN of an SNS topic",
        ),
    ];
    for (vars, message) in cases {
        let refused = refusal(vars).unwrap_or_else(|| panic!("{vars:?} must be refused"));
        assert!(refused.contains(message), "{vars:?}: {refused}");
    }
    // What AWS accepts is accepted.
    for vars in [
        &[("name", long.as_str()), ("bucket_name", "\"my-archive\"")][..],
        &[
            ("transition_days", "30"),
            ("transition_storage_class", "\"STANDARD_IA\""),
        ],
        &[
            ("transition_days", "0"),
            ("transition_storage_class", "\"GLACIER_IR\""),
        ],
        &[("keys_ssm_parameter_prefix", "\"/prod/otelvault\"")],
        &[("reserved_concurrency", "null")],
    ] {
        assert_eq!(refusal(vars), None, "{vars:?}");
    }
}

#[test]
fn the_example_passes_every_module_variable_and_output_through() {
    let module = blocks(MODULE);
    let example = blocks(EXAMPLE);
    let module_vars = variables(&module);
    let example_vars = variables(&example);
    let mut expected: BTreeSet<&str> = module_vars.keys().copied().collect();
    expected.insert("region");
    assert_eq!(
        example_vars.keys().copied().collect::<BTreeSet<_>>(),
        expected
    );

    let call = example
        .iter()
        .find(|b| b.identifier() == "module" && labels(b) == ["otelvault"])
        .expect("module \"otelvault\"");
    for (name, variable) in &module_vars {
        assert_eq!(
            text(call, name),
            format!("var.{name}"),
            "{name} is passed through"
        );
        let own = example_vars[name];
        if !["lambda_zip", "tags"].contains(name) {
            assert_eq!(
                text(own, "default"),
                text(variable, "default"),
                "default of {name}"
            );
        }
        assert_eq!(
            text(own, "sensitive"),
            text(variable, "sensitive"),
            "{name} stays sensitive"
        );
    }
    let outputs = of_type_outputs(&example);
    for output in of_type_outputs(&module) {
        assert!(outputs.contains(&output), "the example shows {output}");
    }
}

#[test]
fn lambroll_reads_every_setting_terraform_sets_from_the_state() {
    let module = blocks(MODULE);
    let function = one(&module, "resource", "aws_lambda_function", "this");
    let jsonnet =
        std::fs::read_to_string(script("lambroll/function.jsonnet")).expect("function.jsonnet");
    assert!(jsonnet.contains("local fn = tfstate('module.otelvault.aws_lambda_function.this');"));
    // Each setting terraform gives the function, and where lambroll's
    // definition reads it from the state.
    let read_by_lambroll: BTreeMap<&str, &str> = [
        ("function_name", "FunctionName: fn.function_name"),
        ("role", "Role: fn.role"),
        ("handler", "Handler: fn.handler"),
        ("runtime", "Runtime: fn.runtime"),
        ("architectures", "Architectures: fn.architectures"),
        ("memory_size", "MemorySize: fn.memory_size"),
        ("timeout", "Timeout: fn.timeout"),
        ("kms_key_arn", "KMSKeyArn: fn.kms_key_arn"),
        ("tags", "Tags: fn.tags"),
        ("environment", "Variables: fn.environment[0].variables"),
        ("logging_config", "LogGroup: fn.logging_config[0].log_group"),
    ]
    .into();
    // terraform's alone: the code is lambroll's --src, and concurrency is
    // not part of a function's configuration in lambroll.
    let terraform_only = [
        "filename",
        "source_code_hash",
        "reserved_concurrent_executions",
        "depends_on",
        "lifecycle",
    ];
    let attributes = function.body().attributes().map(|a| a.key().to_owned());
    let blocks = function.body().blocks().map(|b| b.identifier().to_owned());
    for setting in attributes.chain(blocks) {
        if terraform_only.contains(&setting.as_str()) {
            continue;
        }
        let line = read_by_lambroll.get(setting.as_str()).unwrap_or_else(|| {
            panic!(
                "terraform sets {setting}: lambroll/function.jsonnet must read it from the state"
            )
        });
        assert!(
            jsonnet.contains(line),
            "function.jsonnet reads {setting} with `{line}`"
        );
    }
    // No setting of lambroll's own that terraform would revert.
    assert!(!jsonnet.contains("std.native('env')") && !jsonnet.contains("must_env"));
    assert!(
        !script("lambroll/function_url.jsonnet").exists(),
        "the URL is terraform's alone"
    );
}

#[test]
fn make_deploy_hands_lambroll_the_package_zip() {
    // The package as `cargo lambda build --output-format zip` lays it out:
    // the binary, named bootstrap, at the root of the zip.
    let dir = tempfile::tempdir().expect("temp dir");
    let zip = dir.path().join("bootstrap.zip");
    let python = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], 'w'); z.writestr('bootstrap', '#!/bin/sh\\n'); z.close()",
        ])
        .arg(&zip)
        .status()
        .expect("python3");
    assert!(python.success());
    // lambroll itself cannot reach AWS here: a stand-in on PATH records how
    // make calls it, and from where.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("bin");
    let record = dir.path().join("lambroll.args");
    let stand_in = bin.join("lambroll");
    std::fs::write(
        &stand_in,
        format!(
            "#!/bin/sh\npwd > {0}\nfor a in \"$@\"; do echo \"$a\" >> {0}; done\n",
            record.display()
        ),
    )
    .expect("write");
    Command::new("chmod")
        .arg("+x")
        .arg(&stand_in)
        .status()
        .expect("chmod");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let make = Command::new("make")
        .args(["-s", "deploy"])
        .arg(format!("LAMBDA_ZIP={}", zip.display()))
        .current_dir(script("."))
        .env("PATH", path)
        .output()
        .expect("make");
    assert!(
        make.status.success(),
        "{}",
        String::from_utf8_lossy(&make.stderr)
    );
    let recorded = std::fs::read_to_string(&record).expect("lambroll was called");
    let mut lines = recorded.lines();
    let cwd = std::path::PathBuf::from(lines.next().expect("cwd"));
    let args: Vec<&str> = lines.collect();
    let value = |flag: &str| -> &str {
        let i = args
            .iter()
            .position(|a| *a == flag)
            .unwrap_or_else(|| panic!("{flag} in {args:?}"));
        args[i + 1]
    };
    assert_eq!(args[0], "deploy");
    let src = cwd.join(value("--src"));
    assert!(
        src.is_file(),
        "--src is the zip, not a directory lambroll would zip again: {}",
        src.display()
    );
    let listing = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; print(' '.join(zipfile.ZipFile(sys.argv[1]).namelist()))",
        ])
        .arg(&src)
        .output()
        .expect("python3");
    assert_eq!(String::from_utf8_lossy(&listing.stdout).trim(), "bootstrap");
    assert_eq!(value("--function"), "function.jsonnet");
    assert!(
        cwd.join(value("--tfstate"))
            .ends_with("terraform/examples/basic/terraform.tfstate")
    );
    assert!(!args.contains(&"--function-url"), "the URL is terraform's");

    // By default make deploys what make build-lambda writes.
    let makefile = std::fs::read_to_string(script("Makefile")).expect("Makefile");
    assert!(makefile.contains("LAMBDA_ZIP ?= target/lambda/otelvault/bootstrap.zip"));
    assert!(makefile.contains("lambda build --release --locked -p otelvault --output-format zip"));
}
