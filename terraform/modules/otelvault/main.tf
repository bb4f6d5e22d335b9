data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  bucket_name = coalesce(var.bucket_name, "${var.name}-${data.aws_caller_identity.current.account_id}-${data.aws_region.current.region}")
  bucket_arn  = "arn:${data.aws_partition.current.partition}:s3:::${local.bucket_name}"
  archive_arn = "${local.bucket_arn}/${var.prefix}"
  log_group   = "/aws/lambda/${var.name}"
  compaction  = var.compaction_schedule != null
  # The compaction function's workers (a function of their own).
  compaction_workers = local.compaction && var.compaction_workers
  worker_name        = "${var.name}-compaction-worker"
  forwarding         = anytrue([for e in [var.forward_endpoint, var.forward_traces_endpoint, var.forward_metrics_endpoint, var.forward_logs_endpoint] : e != null])

  # Secrets (keys, cursor key, forward headers): with keys_ssm_parameter_prefix
  # the functions read them from SSM SecureString parameters at start, so they
  # are never in the plan, the state or the function's environment; without
  # it, they come from the (sensitive) variables and do land in both.
  secrets_from_ssm = var.keys_ssm_parameter_prefix != null
  ssm_parameter_arn = local.secrets_from_ssm ? (
    "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:parameter${var.keys_ssm_parameter_prefix}"
  ) : null
  ssm_environment = local.secrets_from_ssm ? { OTELVAULT_SECRETS_SSM_PREFIX = var.keys_ssm_parameter_prefix } : {}
  ingest_keys     = join(",", var.ingest_keys)
  query_keys      = join(",", var.query_keys)

  # Forwarding (dual export), for the API function (which forwards) and the
  # compaction function (which re-sends what failed).
  forward_environment = merge(
    var.forward_endpoint == null ? {} : { OTELVAULT_FORWARD_ENDPOINT = var.forward_endpoint },
    var.forward_traces_endpoint == null ? {} : { OTELVAULT_FORWARD_TRACES_ENDPOINT = var.forward_traces_endpoint },
    var.forward_metrics_endpoint == null ? {} : { OTELVAULT_FORWARD_METRICS_ENDPOINT = var.forward_metrics_endpoint },
    var.forward_logs_endpoint == null ? {} : { OTELVAULT_FORWARD_LOGS_ENDPOINT = var.forward_logs_endpoint },
    var.forward_headers == null || local.secrets_from_ssm ? {} : { OTELVAULT_FORWARD_HEADERS = var.forward_headers },
    local.forwarding ? {
      OTELVAULT_FORWARD_PROTOCOL    = var.forward_protocol
      OTELVAULT_FORWARD_COMPRESSION = var.forward_compression
      OTELVAULT_FORWARD_TIMEOUT     = var.forward_timeout
    } : {},
  )

  # CloudWatch Embedded Metric Format: every function prints its own
  # figures to its log, where CloudWatch extracts them.
  emf_environment = {
    OTELVAULT_SELF_METRICS  = var.self_metrics ? "on" : "off"
    OTELVAULT_EMF_NAMESPACE = var.emf_namespace
  }

  # Exactly the variables the binary reads (see the README's configuration
  # table); a test keeps this list, the binary and lambroll/ in step.
  environment = merge(
    {
      OTELVAULT_STORAGE            = "s3://${local.bucket_name}/${var.prefix}"
      OTELVAULT_FORMAT             = var.format
      OTELVAULT_COMPRESSION        = var.compression
      OTELVAULT_PARTITION          = var.partition
      OTELVAULT_PARTITION_TIME     = var.partition_time
      OTELVAULT_AUTH               = var.auth
      OTELVAULT_S3_TIMEOUT         = var.s3_timeout
      OTELVAULT_S3_ATTEMPT_TIMEOUT = var.s3_attempt_timeout
      OTELVAULT_S3_MAX_ATTEMPTS    = tostring(var.s3_max_attempts)
    },
    local.secrets_from_ssm || local.ingest_keys == "" ? {} : { OTELVAULT_INGEST_KEYS = local.ingest_keys },
    local.secrets_from_ssm || local.query_keys == "" ? {} : { OTELVAULT_QUERY_KEYS = local.query_keys },
    var.cursor_key == null || local.secrets_from_ssm ? {} : { OTELVAULT_CURSOR_KEY = var.cursor_key },
    local.ssm_environment,
    var.max_request_mib == null ? {} : { OTELVAULT_MAX_REQUEST_MIB = tostring(var.max_request_mib) },
    local.forward_environment,
    local.emf_environment,
    {
      OTELVAULT_EMF = var.emf ? "on" : "off"
    },
    var.emf_config == null ? {} : { OTELVAULT_EMF_CONFIG = jsonencode(var.emf_config) },
  )
}

# ---------------------------------------------------------------------------
# Archive bucket

resource "aws_s3_bucket" "archive" {
  count  = var.create_bucket ? 1 : 0
  bucket = local.bucket_name
  tags   = var.tags

  #checkov:skip=CKV_AWS_18:Access logging needs a second bucket the user chooses; CloudTrail data events are the usual audit trail for an archive.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage cost; users who need it add a replication rule to this bucket.
  #checkov:skip=CKV_AWS_21:Objects are content-addressed and never rewritten with other content, so versioning only adds cost; enable it outside the module if required.
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket events; the query API lists partitions instead.
  #checkov:skip=CKV_AWS_145:SSE-S3 is the default to keep cost low; set kms_key_arn for SSE-KMS.
}

resource "aws_s3_bucket_public_access_block" "archive" {
  count                   = var.create_bucket ? 1 : 0
  bucket                  = aws_s3_bucket.archive[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "archive" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.archive[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "archive" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.archive[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = var.kms_key_arn != null
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "archive" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.archive[0].id

  # Raw objects (year=…/) and the Parquet tier (parquet/) expire apart:
  # once compacted, raw objects may go sooner.
  rule {
    id     = "otelvault-raw-retention"
    status = "Enabled"
    filter {
      prefix = "${var.prefix}/year="
    }
    expiration {
      days = coalesce(var.raw_retention_days, var.retention_days)
    }
    dynamic "transition" {
      for_each = var.transition_days == null ? [] : [var.transition_days]
      content {
        days          = transition.value
        storage_class = var.transition_storage_class
      }
    }
  }

  rule {
    id     = "otelvault-parquet-retention"
    status = "Enabled"
    filter {
      prefix = "${var.prefix}/parquet/"
    }
    expiration {
      days = var.retention_days
    }
    dynamic "transition" {
      for_each = var.transition_days == null ? [] : [var.transition_days]
      content {
        days          = transition.value
        storage_class = var.transition_storage_class
      }
    }
  }

  # A marker names the raw objects of a batch whose forwarding failed; the
  # compaction function re-sends and deletes it. One older than this is a
  # backend that never came back: the batch stays archived, unforwarded.
  rule {
    id     = "otelvault-forward-pending"
    status = "Enabled"
    filter {
      prefix = "${var.prefix}/forward-pending/"
    }
    expiration {
      days = var.forward_pending_retention_days
    }
  }

  rule {
    id     = "otelvault-athena-results"
    status = "Enabled"
    filter {
      prefix = "${var.prefix}/athena-results/"
    }
    expiration {
      days = var.athena_results_retention_days
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "tls_only" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      local.bucket_arn,
      "${local.bucket_arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "tls_only" {
  count  = var.create_bucket ? 1 : 0
  bucket = aws_s3_bucket.archive[0].id
  policy = data.aws_iam_policy_document.tls_only.json

  depends_on = [aws_s3_bucket_public_access_block.archive]
}

# ---------------------------------------------------------------------------
# Function role: exactly what the binary does

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  name               = var.name
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "function" {
  # It reads the whole archive (raw objects and the Parquet tier) and
  # writes only what it writes: raw objects, and the markers of failed
  # forwards. It can never overwrite a Parquet part or manifest.
  statement {
    sid       = "ReadArchiveObjects"
    actions   = ["s3:GetObject"]
    resources = ["${local.archive_arn}/*"]
  }

  statement {
    sid     = "WriteRawObjectsAndForwardMarkers"
    actions = ["s3:PutObject"]
    resources = [
      "${local.archive_arn}/year=*",
      "${local.archive_arn}/forward-pending/*",
    ]
  }

  statement {
    sid       = "ListArchivePartitions"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.prefix}/*"]
    }
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function.arn}:*"]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "UseArchiveKey"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
    }
  }

  # The secrets the API function reads at start (OTELVAULT_SECRETS_SSM_PREFIX).
  dynamic "statement" {
    for_each = local.secrets_from_ssm ? [1] : []
    content {
      sid     = "ReadSecretsFromSsm"
      actions = ["ssm:GetParameters"]
      resources = [
        for name in ["ingest-keys", "query-keys", "cursor-key", "forward-headers"] : "${local.ssm_parameter_arn}/${name}"
      ]
    }
  }

  dynamic "statement" {
    for_each = local.secrets_from_ssm && var.keys_ssm_kms_key_arn != null ? [var.keys_ssm_kms_key_arn] : []
    content {
      sid       = "DecryptSecrets"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ssm.${data.aws_region.current.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "function" {
  name   = "${var.name}-archive"
  role   = aws_iam_role.function.id
  policy = data.aws_iam_policy_document.function.json
}

# ---------------------------------------------------------------------------
# Function, URL and logs

resource "aws_cloudwatch_log_group" "function" {
  name              = local.log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags

  #checkov:skip=CKV_AWS_338:Retention is the log_retention_days variable; request logs are operational, the data itself lives in the archive.
  #checkov:skip=CKV_AWS_158:Log group KMS encryption follows kms_key_arn; logs never contain keys or telemetry payloads.
}

resource "aws_lambda_function" "this" {
  function_name                  = var.name
  role                           = aws_iam_role.function.arn
  filename                       = var.lambda_zip
  source_code_hash               = filebase64sha256(var.lambda_zip)
  handler                        = "bootstrap"
  runtime                        = "provided.al2023"
  architectures                  = [var.architecture]
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn
  tags                           = var.tags

  environment {
    variables = local.environment
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.function.name
  }

  lifecycle {
    precondition {
      condition     = !(var.function_url_auth_type == "NONE" && var.auth == "none")
      error_message = "A Function URL with auth type NONE must check otelvault keys: set auth = \"keys\", or function_url_auth_type = \"AWS_IAM\"."
    }
    precondition {
      condition     = var.auth == "none" || local.secrets_from_ssm || length(local.ingest_keys) + length(local.query_keys) > 0
      error_message = "auth = \"keys\" needs keys: create SSM SecureString parameters <prefix>/ingest-keys and <prefix>/query-keys and set keys_ssm_parameter_prefix (or set ingest_keys/query_keys, which land in the state); the function refuses to start without keys."
    }
  }

  depends_on = [aws_iam_role_policy.function]

  #checkov:skip=CKV_AWS_117:The function talks only to S3 and CloudWatch over AWS endpoints; a VPC would add NAT or endpoint cost without a benefit here.
  #checkov:skip=CKV_AWS_116:Function URL invocations are synchronous; failures are returned to the client (503 + Retry-After), there is nothing to dead-letter.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile the user owns; the package hash is pinned by source_code_hash.
  #checkov:skip=CKV_AWS_50:X-Ray would trace the telemetry pipeline itself; request logs carry latency and status.
  #checkov:skip=CKV_AWS_173:Environment variables are encrypted at rest with the Lambda service key, or kms_key_arn when set.
}

resource "aws_lambda_function_url" "this" {
  function_name      = aws_lambda_function.this.function_name
  authorization_type = var.function_url_auth_type

  #checkov:skip=CKV_AWS_258:With NONE, every request must carry an otelvault key (the function refuses to start without keys); AWS_IAM is available through function_url_auth_type.
}

# The Function URL's resource-based policy. With NONE, "your function's
# resource-based policy is always in effect and must grant public access
# before your function URL can receive requests", and new function URLs need
# both lambda:InvokeFunctionUrl and lambda:InvokeFunction (AWS Lambda
# Developer Guide, "Control access to Lambda function URLs",
# https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html). The second
# statement holds only for invocations through the URL
# (lambda:InvokedViaFunctionUrl), so the Invoke API stays closed to everyone
# but this account's principals that IAM allows. The statement ids differ
# from the one some provider versions add on their own
# (FunctionURLAllowPublicAccess), so both can exist; these are in the state.
# With AWS_IAM, callers need both actions in their own IAM policy instead
# (the invoke_policy_json output).
resource "aws_lambda_permission" "url_public_access" {
  count                  = var.function_url_auth_type == "NONE" ? 1 : 0
  statement_id           = "OtelvaultFunctionUrlPublicAccess"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.this.function_name
  principal              = "*"
  function_url_auth_type = "NONE"

  #checkov:skip=CKV_AWS_301:The Function URL is public by design with NONE: otelvault checks a key on every request, and the URL's permission is limited to auth type NONE.
}

resource "aws_lambda_permission" "url_invoke_function" {
  count                    = var.function_url_auth_type == "NONE" ? 1 : 0
  statement_id             = "OtelvaultFunctionUrlInvokeFunction"
  action                   = "lambda:InvokeFunction"
  function_name            = aws_lambda_function.this.function_name
  principal                = "*"
  invoked_via_function_url = true

  #checkov:skip=CKV_AWS_301:Public only through the Function URL (lambda:InvokedViaFunctionUrl); the Invoke API is not opened to anyone.
}

# What a caller of an AWS_IAM Function URL needs in its own policy (both
# actions since October 2025, the same page as above).
data "aws_iam_policy_document" "url_caller" {
  statement {
    sid       = "InvokeOtelvaultFunctionUrl"
    actions   = ["lambda:InvokeFunctionUrl"]
    resources = [aws_lambda_function.this.arn]
    condition {
      test     = "StringEquals"
      variable = "lambda:FunctionUrlAuthType"
      values   = ["AWS_IAM"]
    }
  }

  statement {
    sid       = "InvokeOtelvaultThroughItsUrl"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.this.arn]
    condition {
      test     = "Bool"
      variable = "lambda:InvokedViaFunctionUrl"
      values   = ["true"]
    }
  }
}

# ---------------------------------------------------------------------------
# Compaction: the same package as a second function, on a schedule, with a
# role of its own (it reads raw objects, writes the Parquet tier, removes
# parts no manifest names, and deletes raw objects only when told to).

resource "aws_iam_role" "compaction" {
  count              = local.compaction ? 1 : 0
  name               = "${var.name}-compaction"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "compaction" {
  count = local.compaction ? 1 : 0

  statement {
    sid       = "ReadArchiveObjects"
    actions   = ["s3:GetObject"]
    resources = ["${local.archive_arn}/*"]
  }

  statement {
    sid       = "ReportFailedRuns"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failures[0].arn]
  }

  dynamic "statement" {
    for_each = local.secrets_from_ssm ? [1] : []
    content {
      sid       = "ReadForwardHeadersFromSsm"
      actions   = ["ssm:GetParameters"]
      resources = ["${local.ssm_parameter_arn}/forward-headers"]
    }
  }

  dynamic "statement" {
    for_each = local.secrets_from_ssm && var.keys_ssm_kms_key_arn != null ? [var.keys_ssm_kms_key_arn] : []
    content {
      sid       = "DecryptSecrets"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ssm.${data.aws_region.current.region}.amazonaws.com"]
      }
    }
  }

  statement {
    sid       = "WriteAndReplaceParquetTier"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.archive_arn}/parquet/*"]
  }

  # Handing shards to the workers: that function only.
  dynamic "statement" {
    for_each = local.compaction_workers ? [1] : []
    content {
      sid       = "InvokeCompactionWorkers"
      actions   = ["lambda:InvokeFunction"]
      resources = [aws_lambda_function.compaction_worker[0].arn]
    }
  }

  dynamic "statement" {
    for_each = var.compaction_delete_raw ? [1] : []
    content {
      sid       = "DeleteCompactedRawObjects"
      actions   = ["s3:DeleteObject"]
      resources = ["${local.archive_arn}/year=*"]
    }
  }

  # Re-sending what forwarding failed to deliver: a marker goes once its
  # objects are delivered.
  dynamic "statement" {
    for_each = local.forwarding ? [1] : []
    content {
      sid       = "ClearForwardMarkers"
      actions   = ["s3:DeleteObject"]
      resources = ["${local.archive_arn}/forward-pending/*"]
    }
  }

  statement {
    sid       = "ListArchivePartitions"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.prefix}/*"]
    }
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.compaction[0].arn}:*"]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "UseArchiveKey"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "compaction" {
  count  = local.compaction ? 1 : 0
  name   = "${var.name}-compaction"
  role   = aws_iam_role.compaction[0].id
  policy = data.aws_iam_policy_document.compaction[0].json
}

resource "aws_cloudwatch_log_group" "compaction" {
  count             = local.compaction ? 1 : 0
  name              = "/aws/lambda/${var.name}-compaction"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags

  #checkov:skip=CKV_AWS_338:Retention is the log_retention_days variable; compaction logs are operational.
  #checkov:skip=CKV_AWS_158:Log group KMS encryption follows kms_key_arn; logs never contain keys or telemetry payloads.
}

resource "aws_lambda_function" "compaction" {
  count                          = local.compaction ? 1 : 0
  function_name                  = "${var.name}-compaction"
  role                           = aws_iam_role.compaction[0].arn
  filename                       = var.lambda_zip
  source_code_hash               = filebase64sha256(var.lambda_zip)
  handler                        = "bootstrap"
  runtime                        = "provided.al2023"
  architectures                  = [var.architecture]
  memory_size                    = var.compaction_memory_size
  timeout                        = var.compaction_timeout
  reserved_concurrent_executions = 1
  kms_key_arn                    = var.kms_key_arn
  tags                           = var.tags

  environment {
    variables = merge({
      OTELVAULT_FUNCTION           = "compact"
      OTELVAULT_STORAGE            = local.environment.OTELVAULT_STORAGE
      OTELVAULT_COMPACT_DELETE_RAW = tostring(var.compaction_delete_raw)
      OTELVAULT_S3_MAX_ATTEMPTS    = local.environment.OTELVAULT_S3_MAX_ATTEMPTS
      }, var.compaction_memory_mib == null ? {} : { OTELVAULT_COMPACT_MEMORY_MIB = tostring(var.compaction_memory_mib) },
      local.compaction_workers ? {
        OTELVAULT_COMPACT_WORKERS   = local.worker_name
        OTELVAULT_COMPACT_SHARD_MIB = tostring(var.compaction_shard_mib)
      } : {},
    local.forward_environment, local.emf_environment, local.ssm_environment)
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.compaction[0].name
  }

  depends_on = [aws_iam_role_policy.compaction]

  #checkov:skip=CKV_AWS_117:The function talks only to S3 and CloudWatch over AWS endpoints; a VPC would add NAT or endpoint cost without a benefit here.
  #checkov:skip=CKV_AWS_116:Asynchronous failures go to the failure queue through the event invoke config's on-failure destination (monitoring.tf), which is newer than a dead-letter queue and carries the error.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile the user owns; the package hash is pinned by source_code_hash.
  #checkov:skip=CKV_AWS_50:X-Ray would trace the telemetry pipeline itself; the function logs what each run did.
  #checkov:skip=CKV_AWS_173:Environment variables are encrypted at rest with the Lambda service key, or kms_key_arn when set; the only secret they may hold is forward_headers, which kms_key_arn covers.
}

# ---------------------------------------------------------------------------
# Compaction workers: the same package again, invoked asynchronously by the
# compaction function, one shard each. The role reads the archive and
# writes only under parquet/ (parts, shard markers, manifests, the lease);
# raw objects are deleted by the compaction function, never by a worker.

resource "aws_iam_role" "compaction_worker" {
  count              = local.compaction_workers ? 1 : 0
  name               = local.worker_name
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "compaction_worker" {
  count = local.compaction_workers ? 1 : 0

  statement {
    sid       = "ReadArchiveObjects"
    actions   = ["s3:GetObject"]
    resources = ["${local.archive_arn}/*"]
  }

  statement {
    sid       = "WriteParquetTierOnly"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.archive_arn}/parquet/*"]
  }

  statement {
    sid       = "ReportFailedShards"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failures[0].arn]
  }

  statement {
    sid       = "ListArchivePartitions"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.prefix}/*"]
    }
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.compaction_worker[0].arn}:*"]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "UseArchiveKey"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "compaction_worker" {
  count  = local.compaction_workers ? 1 : 0
  name   = local.worker_name
  role   = aws_iam_role.compaction_worker[0].id
  policy = data.aws_iam_policy_document.compaction_worker[0].json
}

resource "aws_cloudwatch_log_group" "compaction_worker" {
  count             = local.compaction_workers ? 1 : 0
  name              = "/aws/lambda/${local.worker_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags

  #checkov:skip=CKV_AWS_338:Retention is the log_retention_days variable; compaction logs are operational.
  #checkov:skip=CKV_AWS_158:Log group KMS encryption follows kms_key_arn; logs never contain keys or telemetry payloads.
}

resource "aws_lambda_function" "compaction_worker" {
  count                          = local.compaction_workers ? 1 : 0
  function_name                  = local.worker_name
  role                           = aws_iam_role.compaction_worker[0].arn
  filename                       = var.lambda_zip
  source_code_hash               = filebase64sha256(var.lambda_zip)
  handler                        = "bootstrap"
  runtime                        = "provided.al2023"
  architectures                  = [var.architecture]
  memory_size                    = var.compaction_memory_size
  timeout                        = var.compaction_timeout
  reserved_concurrent_executions = var.compaction_worker_concurrency
  kms_key_arn                    = var.kms_key_arn
  tags                           = var.tags

  environment {
    variables = merge({
      OTELVAULT_FUNCTION        = "compact"
      OTELVAULT_STORAGE         = local.environment.OTELVAULT_STORAGE
      OTELVAULT_S3_MAX_ATTEMPTS = local.environment.OTELVAULT_S3_MAX_ATTEMPTS
      }, var.compaction_memory_mib == null ? {} : { OTELVAULT_COMPACT_MEMORY_MIB = tostring(var.compaction_memory_mib) },
    local.emf_environment)
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.compaction_worker[0].name
  }

  depends_on = [aws_iam_role_policy.compaction_worker]

  #checkov:skip=CKV_AWS_117:The function talks only to S3 and CloudWatch over AWS endpoints; a VPC would add NAT or endpoint cost without a benefit here.
  #checkov:skip=CKV_AWS_116:Asynchronous failures go to the failure queue through the event invoke config's on-failure destination (monitoring.tf), which is newer than a dead-letter queue and carries the error.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile the user owns; the package hash is pinned by source_code_hash.
  #checkov:skip=CKV_AWS_50:X-Ray would trace the telemetry pipeline itself; the function logs what each shard did.
  #checkov:skip=CKV_AWS_173:Environment variables are encrypted at rest with the Lambda service key, or kms_key_arn when set; they hold no secret.
}

resource "aws_cloudwatch_event_rule" "compaction" {
  count               = local.compaction ? 1 : 0
  name                = "${var.name}-compaction"
  description         = "Compacts ended hours of the otelvault archive into its Parquet tier."
  schedule_expression = var.compaction_schedule
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "compaction" {
  count = local.compaction ? 1 : 0
  rule  = aws_cloudwatch_event_rule.compaction[0].name
  arn   = aws_lambda_function.compaction[0].arn
}

resource "aws_lambda_permission" "compaction" {
  count         = local.compaction ? 1 : 0
  statement_id  = "AllowEventBridgeSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.compaction[0].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.compaction[0].arn
}
