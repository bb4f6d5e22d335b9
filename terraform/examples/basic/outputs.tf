output "function_url" {
  description = "Point OTEL_EXPORTER_OTLP_ENDPOINT here."
  value       = module.otelvault.function_url
}

output "bucket" {
  description = "Archive bucket."
  value       = module.otelvault.bucket
}

output "storage" {
  description = "Archive location for otelvault replay --from."
  value       = module.otelvault.storage
}

output "role_arn" {
  description = "Function role."
  value       = module.otelvault.role_arn
}

output "log_group" {
  description = "Function log group."
  value       = module.otelvault.log_group
}

output "ingest_keys" {
  description = "The ingest keys given to apply (read them with: terraform output -json ingest_keys). Exporters send one in the Oteleport-Access-Key header: the secret, or the whole id:secret."
  value       = var.ingest_keys
  sensitive   = true
}

output "query_keys" {
  description = "The query keys given to apply (read them with: terraform output -json query_keys), for otelvault fetch/replay (OTELVAULT_ACCESS_KEY)."
  value       = var.query_keys
  sensitive   = true
}

output "exporter_environment" {
  description = "What an OpenTelemetry exporter needs; put a key from `terraform output -json ingest_keys` in place of <ingest key>."
  value       = "OTEL_EXPORTER_OTLP_ENDPOINT=${module.otelvault.function_url} OTEL_EXPORTER_OTLP_HEADERS=Oteleport-Access-Key=<ingest key>"
}

output "glue_database" {
  description = "Glue database of the compacted tier's tables; query them in the Athena workgroup below."
  value       = module.otelvault.glue_database
}

output "athena_workgroup" {
  description = "Athena workgroup with the named queries (trace by id, error spans by service, p99 duration by span name, log search, metric points)."
  value       = module.otelvault.athena_workgroup
}

output "function_name" {
  description = "API function (logs: /aws/lambda/<name>)."
  value       = module.otelvault.function_name
}

output "function_arn" {
  description = "API function ARN, for AWS_IAM callers' policies."
  value       = module.otelvault.function_arn
}

output "invoke_policy_json" {
  description = "IAM policy an AWS_IAM Function URL's callers need."
  value       = module.otelvault.invoke_policy_json
}

output "smoke_command" {
  description = "Proves the deployment end to end (set OTELVAULT_CHECK_INGEST_KEY and OTELVAULT_ACCESS_KEY first)."
  value       = module.otelvault.smoke_command
}

output "compaction_function_name" {
  description = "Scheduled compaction function; invoke it with {\"start\": …, \"end\": …} to compact older hours."
  value       = module.otelvault.compaction_function_name
}

output "compaction_worker_function_name" {
  description = "Compaction worker function (null without compaction_workers)."
  value       = module.otelvault.compaction_worker_function_name
}

output "xray_import_function_name" {
  description = "Scheduled X-Ray import function (null without xray_import_schedule)."
  value       = module.otelvault.xray_import_function_name
}

output "failures_queue_url" {
  description = "Queue of failed scheduled runs, with their errors."
  value       = module.otelvault.failures_queue_url
}

output "alarm_names" {
  description = "CloudWatch alarms (they notify alarm_topic_arn when set)."
  value       = module.otelvault.alarm_names
}

output "athena_named_queries" {
  description = "Named queries of the Athena workgroup, by name: their ids."
  value       = module.otelvault.athena_named_queries
}
