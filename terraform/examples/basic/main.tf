# A complete deployment: bucket, roles, functions, Function URL and its
# permissions, logs, failure queue and alarms, SQL tables.
#
#   make build-lambda                      # target/lambda/otelvault/bootstrap.zip
#   aws ssm put-parameter --name /otelvault/ingest-keys --type SecureString --value "ci:$(openssl rand -hex 24)"
#   aws ssm put-parameter --name /otelvault/query-keys --type SecureString --value "$(openssl rand -hex 24)"
#   cd terraform/examples/basic
#   terraform init
#   terraform apply -var keys_ssm_parameter_prefix=/otelvault
#
# Every variable of the module is a variable here too (variables.tf).

provider "aws" {
  region = var.region
}

module "otelvault" {
  source = "../../modules/otelvault"

  name                           = var.name
  lambda_zip                     = var.lambda_zip
  architecture                   = var.architecture
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrency           = var.reserved_concurrency
  create_bucket                  = var.create_bucket
  bucket_name                    = var.bucket_name
  prefix                         = var.prefix
  retention_days                 = var.retention_days
  transition_days                = var.transition_days
  transition_storage_class       = var.transition_storage_class
  kms_key_arn                    = var.kms_key_arn
  function_url_auth_type         = var.function_url_auth_type
  auth                           = var.auth
  ingest_keys                    = var.ingest_keys
  query_keys                     = var.query_keys
  keys_ssm_parameter_prefix      = var.keys_ssm_parameter_prefix
  keys_ssm_kms_key_arn           = var.keys_ssm_kms_key_arn
  cursor_key                     = var.cursor_key
  format                         = var.format
  compression                    = var.compression
  partition                      = var.partition
  partition_time                 = var.partition_time
  s3_timeout                     = var.s3_timeout
  s3_attempt_timeout             = var.s3_attempt_timeout
  s3_max_attempts                = var.s3_max_attempts
  log_retention_days             = var.log_retention_days
  tags                           = var.tags
  max_request_mib                = var.max_request_mib
  raw_retention_days             = var.raw_retention_days
  compaction_schedule            = var.compaction_schedule
  compaction_delete_raw          = var.compaction_delete_raw
  compaction_memory_size         = var.compaction_memory_size
  compaction_memory_mib          = var.compaction_memory_mib
  compaction_timeout             = var.compaction_timeout
  compaction_workers             = var.compaction_workers
  compaction_shard_mib           = var.compaction_shard_mib
  compaction_worker_concurrency  = var.compaction_worker_concurrency
  sql_tables                     = var.sql_tables
  glue_database_name             = var.glue_database_name
  sql_projection_years           = var.sql_projection_years
  athena_bytes_scanned_cutoff    = var.athena_bytes_scanned_cutoff
  athena_results_retention_days  = var.athena_results_retention_days
  forward_endpoint               = var.forward_endpoint
  forward_traces_endpoint        = var.forward_traces_endpoint
  forward_metrics_endpoint       = var.forward_metrics_endpoint
  forward_logs_endpoint          = var.forward_logs_endpoint
  forward_headers                = var.forward_headers
  forward_protocol               = var.forward_protocol
  forward_compression            = var.forward_compression
  forward_timeout                = var.forward_timeout
  self_metrics                   = var.self_metrics
  emf_namespace                  = var.emf_namespace
  emf                            = var.emf
  emf_config                     = var.emf_config
  xray_import_schedule           = var.xray_import_schedule
  forward_pending_retention_days = var.forward_pending_retention_days
  alarms                         = var.alarms
  alarm_topic_arn                = var.alarm_topic_arn
  url_5xx_alarm_threshold        = var.url_5xx_alarm_threshold
  compaction_lag_alarm_hours     = var.compaction_lag_alarm_hours
}
