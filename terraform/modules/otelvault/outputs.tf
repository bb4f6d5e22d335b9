output "function_url" {
  description = "Base URL for OTLP exporters (OTEL_EXPORTER_OTLP_ENDPOINT) and the query API."
  value       = aws_lambda_function_url.this.function_url
}

output "function_name" {
  description = "Lambda function name."
  value       = aws_lambda_function.this.function_name
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
