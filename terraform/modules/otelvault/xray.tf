# ---------------------------------------------------------------------------
# X-Ray import: the same package as a third function, on a schedule, that
# imports AWS X-Ray traces into the archive as OTLP (off by default). It
# may read X-Ray and write (never delete) archive objects.

locals {
  xray_import = var.xray_import_schedule != null
}

resource "aws_iam_role" "xray_import" {
  count              = local.xray_import ? 1 : 0
  name               = "${var.name}-xray-import"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "xray_import" {
  count = local.xray_import ? 1 : 0

  statement {
    sid = "ReadXRayTraces"
    # These X-Ray actions have no resource-level permissions.
    actions   = ["xray:GetTraceSummaries", "xray:BatchGetTraces"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadArchiveObjects"
    actions   = ["s3:GetObject"]
    resources = ["${local.archive_arn}/*"]
  }

  # Imported traces are raw objects; its checkpoint and the markers of
  # failed forwards are its only other writes.
  statement {
    sid     = "WriteRawObjectsCheckpointAndForwardMarkers"
    actions = ["s3:PutObject"]
    resources = [
      "${local.archive_arn}/year=*",
      "${local.archive_arn}/xray-import/*",
      "${local.archive_arn}/forward-pending/*",
    ]
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
    resources = ["${aws_cloudwatch_log_group.xray_import[0].arn}:*"]
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

resource "aws_iam_role_policy" "xray_import" {
  count  = local.xray_import ? 1 : 0
  name   = "${var.name}-xray-import"
  role   = aws_iam_role.xray_import[0].id
  policy = data.aws_iam_policy_document.xray_import[0].json
}

resource "aws_cloudwatch_log_group" "xray_import" {
  count             = local.xray_import ? 1 : 0
  name              = "/aws/lambda/${var.name}-xray-import"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags

  #checkov:skip=CKV_AWS_338:Retention is the log_retention_days variable; import logs are operational.
  #checkov:skip=CKV_AWS_158:Log group KMS encryption follows kms_key_arn; logs never contain keys or telemetry payloads.
}

resource "aws_lambda_function" "xray_import" {
  count                          = local.xray_import ? 1 : 0
  function_name                  = "${var.name}-xray-import"
  role                           = aws_iam_role.xray_import[0].arn
  filename                       = var.lambda_zip
  source_code_hash               = filebase64sha256(var.lambda_zip)
  handler                        = "bootstrap"
  runtime                        = "provided.al2023"
  architectures                  = [var.architecture]
  memory_size                    = 512
  timeout                        = 300
  reserved_concurrent_executions = 1
  kms_key_arn                    = var.kms_key_arn
  tags                           = var.tags

  environment {
    variables = merge({
      OTELVAULT_FUNCTION        = "xray-import"
      OTELVAULT_STORAGE         = local.environment.OTELVAULT_STORAGE
      OTELVAULT_FORMAT          = local.environment.OTELVAULT_FORMAT
      OTELVAULT_COMPRESSION     = local.environment.OTELVAULT_COMPRESSION
      OTELVAULT_PARTITION       = local.environment.OTELVAULT_PARTITION
      OTELVAULT_S3_MAX_ATTEMPTS = local.environment.OTELVAULT_S3_MAX_ATTEMPTS
    }, local.forward_environment, local.emf_environment, local.ssm_environment)
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.xray_import[0].name
  }

  depends_on = [aws_iam_role_policy.xray_import]

  lifecycle {
    precondition {
      condition     = length("${var.name}-xray-import") <= 64
      error_message = "name makes the function name ${var.name}-xray-import longer than Lambda's 64 characters: shorten name to at most 52."
    }
  }

  #checkov:skip=CKV_AWS_117:The function talks only to X-Ray, S3 and CloudWatch over AWS endpoints; a VPC would add NAT or endpoint cost without a benefit here.
  #checkov:skip=CKV_AWS_116:Asynchronous failures go to the failure queue through the event invoke config's on-failure destination (monitoring.tf), which is newer than a dead-letter queue and carries the error.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile the user owns; the package hash is pinned by source_code_hash.
  #checkov:skip=CKV_AWS_50:Tracing the importer into X-Ray would import its own traces.
  #checkov:skip=CKV_AWS_173:Environment variables are encrypted at rest with the Lambda service key, or kms_key_arn when set; the only secret they may hold is forward_headers, which kms_key_arn covers.
}

resource "aws_cloudwatch_event_rule" "xray_import" {
  count               = local.xray_import ? 1 : 0
  name                = "${var.name}-xray-import"
  description         = "Imports AWS X-Ray traces into the otelvault archive as OTLP."
  schedule_expression = var.xray_import_schedule
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "xray_import" {
  count = local.xray_import ? 1 : 0
  rule  = aws_cloudwatch_event_rule.xray_import[0].name
  arn   = aws_lambda_function.xray_import[0].arn
}

resource "aws_lambda_permission" "xray_import" {
  count         = local.xray_import ? 1 : 0
  statement_id  = "AllowEventBridgeSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.xray_import[0].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.xray_import[0].arn
}
