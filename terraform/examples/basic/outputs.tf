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
