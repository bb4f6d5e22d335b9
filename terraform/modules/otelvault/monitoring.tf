# ---------------------------------------------------------------------------
# Telling the operator when something fails: the scheduled functions' failed
# runs land in a queue (never retried blindly: the next scheduled run
# continues where a failed one stopped), and CloudWatch alarms watch errors,
# throttles, the Function URL's 5xx answers and compaction. Alarms notify
# alarm_topic_arn when it is set; without it they still show in the console.

locals {
  scheduled     = local.compaction || local.xray_import
  alarm_actions = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
  # The functions whose errors and throttles are alarmed, by what they do.
  alarmed_functions = merge(
    { api = aws_lambda_function.this.function_name },
    local.compaction ? { compaction = aws_lambda_function.compaction[0].function_name } : {},
    local.compaction_workers ? { "compaction-worker" = aws_lambda_function.compaction_worker[0].function_name } : {},
    local.xray_import ? { "xray-import" = aws_lambda_function.xray_import[0].function_name } : {},
  )
}

resource "aws_sqs_queue" "failures" {
  count                     = local.scheduled ? 1 : 0
  name                      = "${var.name}-failures"
  message_retention_seconds = 1209600 # 14 days, SQS's longest.
  sqs_managed_sse_enabled   = var.kms_key_arn == null ? true : null
  kms_master_key_id         = var.kms_key_arn
  tags                      = var.tags
}

# Lambda retries a failed asynchronous invocation twice by default. A
# compaction or import run that failed is continued by the next scheduled
# run (each hour is committed by its manifest; the import by its
# checkpoint), so retries would only overlap it: none, and the failure goes
# to the queue with its error ("Configuring destinations for asynchronous
# invocation", https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
resource "aws_lambda_function_event_invoke_config" "compaction" {
  count                        = local.compaction ? 1 : 0
  function_name                = aws_lambda_function.compaction[0].function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 3600

  destination_config {
    on_failure {
      destination = aws_sqs_queue.failures[0].arn
    }
  }
}

# A worker's shard is different: nothing else redoes it until the next
# planner run, and compacting a shard again writes the same objects. Lambda
# retries it twice (after about one and two minutes), then sends the event
# and its error to the failures queue ("Error handling and automatic
# retries", https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html;
# destinations: invocation-async-retain-records.html, as above); the next
# planner run hands it out again.
resource "aws_lambda_function_event_invoke_config" "compaction_worker" {
  count                        = local.compaction_workers ? 1 : 0
  function_name                = aws_lambda_function.compaction_worker[0].function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 3600

  destination_config {
    on_failure {
      destination = aws_sqs_queue.failures[0].arn
    }
  }
}

resource "aws_lambda_function_event_invoke_config" "xray_import" {
  count                        = local.xray_import ? 1 : 0
  function_name                = aws_lambda_function.xray_import[0].function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 3600

  destination_config {
    on_failure {
      destination = aws_sqs_queue.failures[0].arn
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  for_each            = var.alarms ? local.alarmed_functions : {}
  alarm_name          = "${each.value}-errors"
  alarm_description   = "The ${each.key} function failed (crash, timeout or out of memory); its log group says why."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "throttles" {
  for_each            = var.alarms ? local.alarmed_functions : {}
  alarm_name          = "${each.value}-throttles"
  alarm_description   = "The ${each.key} function was throttled: raise reserved_concurrency (or the account's concurrency quota); throttled OTLP exports are retried by exporters, but not forever."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# 5xx answers of the Function URL: otelvault's 503 when the bucket cannot be
# written (exporters retry, so a few are expected during an S3 blip), and
# Lambda's own for errors and throttles. The FunctionName dimension
# aggregates the URL's metrics ("Monitoring Lambda function URLs",
# https://docs.aws.amazon.com/lambda/latest/dg/urls-monitoring.html).
resource "aws_cloudwatch_metric_alarm" "url_5xx" {
  count               = var.alarms ? 1 : 0
  alarm_name          = "${var.name}-url-5xx"
  alarm_description   = "The Function URL answered 5xx to more than url_5xx_alarm_threshold requests in 5 minutes, twice in a row: storage unavailable, errors or throttling; the function's log says which."
  namespace           = "AWS/Lambda"
  metric_name         = "Url5xxCount"
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.url_5xx_alarm_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "failed_runs" {
  count               = var.alarms && local.scheduled ? 1 : 0
  alarm_name          = "${var.name}-failed-runs"
  alarm_description   = "A scheduled run (compaction or X-Ray import) or a compaction worker's shard (after Lambda's two retries) failed; its event and error are in the ${var.name}-failures queue."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.failures[0].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# Compaction lag, from the figures each compaction run prints in the
# Embedded Metric Format (namespace emf_namespace, dimension route=compact,
# Failures = 1 for a failed run, 0 for a completed one): no completed run in
# compaction_lag_alarm_hours means ended hours are not reaching the Parquet
# tier (every run failing, or none reporting: schedule disabled, runs timing
# out or crashing).
resource "aws_cloudwatch_metric_alarm" "compaction_lag" {
  count               = var.alarms && local.compaction && var.self_metrics ? 1 : 0
  alarm_name          = "${var.name}-compaction-lag"
  alarm_description   = "No compaction run has completed for ${var.compaction_lag_alarm_hours} hours: ended hours are not being compacted. Check the ${var.name}-compaction log group and the ${var.name}-failures queue."
  namespace           = var.emf_namespace
  metric_name         = "Failures"
  dimensions          = { route = "compact" }
  statistic           = "Minimum"
  period              = 3600
  evaluation_periods  = var.compaction_lag_alarm_hours
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}
