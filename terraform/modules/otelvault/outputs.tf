output "function_url" {
  description = "Base URL for OTLP exporters (OTEL_EXPORTER_OTLP_ENDPOINT) and the query API."
  value       = aws_lambda_function_url.this.function_url
}

output "function_name" {
  description = "Lambda function name."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the API function: what an AWS_IAM caller's policy names (see invoke_policy_json)."
  value       = aws_lambda_function.this.arn
}

output "invoke_policy_json" {
  description = "IAM policy a caller of an AWS_IAM Function URL needs (lambda:InvokeFunctionUrl and lambda:InvokeFunction through the URL); attach it to the exporters' and the query users' roles."
  value       = data.aws_iam_policy_document.url_caller.json
}

output "smoke_command" {
  description = "Proves the deployment end to end: sends a span, fetches it back, one line per step (set OTELVAULT_CHECK_INGEST_KEY and OTELVAULT_ACCESS_KEY first)."
  value       = "otelvault check --url ${aws_lambda_function_url.this.function_url}"
}

output "failures_queue_url" {
  description = "SQS queue that receives the failed runs of the scheduled functions (compaction, X-Ray import), with their error; null without them."
  value       = local.scheduled ? aws_sqs_queue.failures[0].url : null
}

output "alarm_names" {
  description = "Names of the CloudWatch alarms."
  value = concat(
    [for alarm in aws_cloudwatch_metric_alarm.errors : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.throttles : alarm.alarm_name],
    aws_cloudwatch_metric_alarm.url_5xx[*].alarm_name,
    aws_cloudwatch_metric_alarm.failed_runs[*].alarm_name,
    aws_cloudwatch_metric_alarm.compaction_lag[*].alarm_name,
  )
}

output "bucket" {
  description = "Archive bucket name."
  value       = local.bucket_name
}

output "storage" {
  description = "The OTELVAULT_STORAGE location (for otelvault replay --from)."
  value       = "s3://${local.bucket_name}/${var.prefix}"
}

output "role_arn" {
  description = "ARN of the function's IAM role."
  value       = aws_iam_role.function.arn
}

output "log_group" {
  description = "CloudWatch log group of the function."
  value       = aws_cloudwatch_log_group.function.name
}

output "compaction_function_name" {
  description = "Name of the scheduled compaction function (null without one); invoke it with {\"start\": …, \"end\": …} to compact older hours after a replay."
  value       = local.compaction ? aws_lambda_function.compaction[0].function_name : null
}

output "compaction_worker_function_name" {
  description = "Name of the compaction worker function, which compacts the shards the compaction function hands out (null without compaction_workers)."
  value       = local.compaction_workers ? aws_lambda_function.compaction_worker[0].function_name : null
}

output "glue_database" {
  description = "Glue database of the compacted tier's tables (otel_traces, otel_logs, otel_metrics_*); null without sql_tables."
  value       = var.sql_tables ? aws_glue_catalog_database.archive[0].name : null
}

output "athena_workgroup" {
  description = "Athena workgroup to query the tables in (results under {prefix}/athena-results/); null without sql_tables."
  value       = var.sql_tables ? aws_athena_workgroup.archive[0].name : null
}

output "athena_named_queries" {
  description = "Named queries saved in the workgroup, by name: their ids."
  value       = { for name, query in aws_athena_named_query.archive : name => query.id }
}

output "xray_import_function_name" {
  description = "Name of the scheduled X-Ray import function (null without xray_import_schedule)."
  value       = local.xray_import ? aws_lambda_function.xray_import[0].function_name : null
}
