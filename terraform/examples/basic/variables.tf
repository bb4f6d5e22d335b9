# Every variable of the module, passed through as is (the module validates
# them); defaults are the module's, except lambda_zip (the package that
# `make build-lambda` writes) and tags. A test keeps this file in step.

variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Name of the functions, roles, log groups, queue and alarms (and start of the bucket name when the module names the bucket)."
  type        = string
  default     = "otelvault"
}

variable "lambda_zip" {
  description = "Path to the function package: a zip with the otelvault binary named bootstrap (make build-lambda writes target/lambda/otelvault/bootstrap.zip)."
  type        = string
  default     = "../../../target/lambda/otelvault/bootstrap.zip"
}

variable "architecture" {
  description = "Lambda architecture the binary was built for: arm64 (cheaper per GB-second) or x86_64."
  type        = string
  default     = "arm64"
}

variable "memory_size" {
  description = "Function memory in MB. A 6 MB request peaks near 60 MB of RSS; more memory also buys CPU for compression."
  type        = number
  default     = 1024
}

variable "timeout" {
  description = "Function timeout in seconds. Ingest of a 6 MB request takes well under a second; query pages stop after 20 s of work."
  type        = number
  default     = 30
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions of the public function: the most requests it serves at once, which caps what a flood of requests (keyed or not) can cost and keeps it from starving the account's other functions. One instance serves one request at a time, in about 0.1 s for an ingest batch, so 50 serves about 500 requests/s. Lambda keeps 100 of the account's concurrency unreserved: an account whose quota is 10 (some new accounts) must set null or ask for more. null for no cap."
  type        = number
  default     = 50
}

variable "create_bucket" {
  description = "Create the archive bucket (true) or use an existing one named by bucket_name (false)."
  type        = bool
  default     = true
}

variable "bucket_name" {
  description = "Name of the archive bucket. Required when create_bucket is false; when creating, defaults to \"<name>-<account id>-<region>\"."
  type        = string
  default     = null
}

variable "prefix" {
  description = "Key prefix of the archive inside the bucket (no leading or trailing /)."
  type        = string
  default     = "otel"
}

variable "retention_days" {
  description = "Days after which archived objects expire (lifecycle rule): the Parquet tier, and raw objects unless raw_retention_days is set."
  type        = number
  default     = 400
}

variable "transition_days" {
  description = "Days after which objects move to transition_storage_class; null to keep them in STANDARD."
  type        = number
  default     = null
}

variable "transition_storage_class" {
  description = "Storage class for the transition (STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR)."
  type        = string
  default     = "GLACIER_IR"
}

variable "kms_key_arn" {
  description = "KMS key for bucket encryption (SSE-KMS) and the log group; null for S3-managed keys (SSE-S3)."
  type        = string
  default     = null
}

variable "function_url_auth_type" {
  description = "Function URL auth: NONE (requests carry otelvault keys) or AWS_IAM (SigV4-signed requests)."
  type        = string
  default     = "NONE"
}

variable "auth" {
  description = "OTELVAULT_AUTH: keys (check ingest/query keys) or none (only with function_url_auth_type = AWS_IAM)."
  type        = string
  default     = "keys"
}

variable "ingest_keys" {
  description = "OTELVAULT_INGEST_KEYS: secrets (or id:secret) allowed to send OTLP data."
  type        = list(string)
  default     = []
  sensitive   = true
}

variable "query_keys" {
  description = "OTELVAULT_QUERY_KEYS: secrets (or id:secret) allowed to query the archive."
  type        = list(string)
  default     = []
  sensitive   = true
}

variable "keys_ssm_parameter_prefix" {
  description = "Path of the SSM parameters the functions read their secrets from at start (OTELVAULT_SECRETS_SSM_PREFIX), such as /otelvault: SecureString <prefix>/ingest-keys and <prefix>/query-keys (comma-separated keys), <prefix>/cursor-key and <prefix>/forward-headers, each optional. The secrets are then never in the plan, the state or the functions' environment. null to take them from ingest_keys, query_keys, cursor_key and forward_headers, which do land in the state."
  type        = string
  default     = null
}

variable "keys_ssm_kms_key_arn" {
  description = "KMS key of the SecureString parameters under keys_ssm_parameter_prefix, when it is not the account's default aws/ssm key: the functions may then decrypt with it, through SSM only."
  type        = string
  default     = null
}

variable "cursor_key" {
  description = "OTELVAULT_CURSOR_KEY: base64 of 32 random bytes sealing query cursors (`openssl rand -base64 32`); null to derive it from the query keys."
  type        = string
  default     = null
  sensitive   = true
}

variable "format" {
  description = "OTELVAULT_FORMAT: stored objects as json (OTLP/JSON) or proto."
  type        = string
  default     = "json"
}

variable "compression" {
  description = "OTELVAULT_COMPRESSION: gzip, zstd or none."
  type        = string
  default     = "gzip"
}

variable "partition" {
  description = "OTELVAULT_PARTITION: minute or hour partitions."
  type        = string
  default     = "minute"
}

variable "partition_time" {
  description = "OTELVAULT_PARTITION_TIME: event (each item's time) or receive (arrival time, as the Collector)."
  type        = string
  default     = "event"
}

variable "s3_timeout" {
  description = "OTELVAULT_S3_TIMEOUT: longest an S3 call may take, retries included (6s, 1500ms); a stalled store answers 503 by then."
  type        = string
  default     = "6s"
}

variable "s3_attempt_timeout" {
  description = "OTELVAULT_S3_ATTEMPT_TIMEOUT: longest one attempt of an S3 call may take; at most s3_timeout."
  type        = string
  default     = "3s"
}

variable "s3_max_attempts" {
  description = "OTELVAULT_S3_MAX_ATTEMPTS: attempts of an S3 call in all, within s3_timeout."
  type        = number
  default     = 3
}

variable "log_retention_days" {
  description = "Retention of the functions' CloudWatch log groups, in days."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = { app = "otelvault" }
}

variable "max_request_mib" {
  description = "OTELVAULT_MAX_REQUEST_MIB: memory one ingest request may take once decoded, in MiB; larger requests are answered 413. Unset: 128, or a quarter of memory_size when that is less."
  type        = number
  default     = null
}

variable "raw_retention_days" {
  description = "Days after which raw objects (the Collector layout, year=…/) expire, when they should go before the Parquet tier (parquet/): the compacted tier keeps every item, and fetch, trace lookups and replay read it. null: retention_days."
  type        = number
  default     = null
}

variable "compaction_schedule" {
  description = "EventBridge schedule of the compaction function, which turns ended hours into the Parquet tier (\"rate(1 hour)\", \"cron(5 * * * ? *)\"); null for no compaction function."
  type        = string
  default     = "rate(1 hour)"
}

variable "compaction_delete_raw" {
  description = "The compaction function deletes an hour's raw objects once its manifest is written (and its role may then delete them). Keep false while anything reads the Collector layout."
  type        = bool
  default     = false
}

variable "compaction_memory_size" {
  description = "Memory of the compaction function in MB; a compaction takes at most half of it for the items it holds (OTELVAULT_COMPACT_MEMORY_MIB), whatever the hours' sizes, and more memory buys more CPU."
  type        = number
  default     = 1024
}

variable "compaction_memory_mib" {
  description = "OTELVAULT_COMPACT_MEMORY_MIB: memory the compaction function's run may take for the items it holds and encodes, in MiB. Unset: half of compaction_memory_size."
  type        = number
  default     = null
}

variable "compaction_workers" {
  description = "The compaction function hands each hour's shards to a worker function; false: it compacts every hour itself."
  type        = bool
  default     = true
}

variable "compaction_shard_mib" {
  description = "OTELVAULT_COMPACT_SHARD_MIB: stored raw MiB per worker shard."
  type        = number
  default     = 256
}

variable "compaction_worker_concurrency" {
  description = "Reserved concurrency of the compaction worker function: shards compacting at once, at most."
  type        = number
  default     = 10
}

variable "compaction_timeout" {
  description = "Timeout of the compaction function in seconds. Each hour is committed by its manifest, so a run cut short is continued by the next."
  type        = number
  default     = 900
}

variable "sql_tables" {
  description = "Create the Glue database and tables over the compacted tier (parquet/), an Athena workgroup and the named queries."
  type        = bool
  default     = true
}

variable "glue_database_name" {
  description = "Name of the Glue database; null: name with - replaced by _."
  type        = string
  default     = null
}

variable "sql_projection_years" {
  description = "First and last year (\"2025,2030\") of the tables' partition projection: the years a query without a year filter enumerates, 8,928 partitions a year (so keep the range near the data: extend it as years pass, or start it earlier for replayed archives)."
  type        = string
  default     = "2025,2030"
}

variable "athena_bytes_scanned_cutoff" {
  description = "Bytes one Athena query of the workgroup may scan before it is cancelled (at least 10 MB); the default, 100 GiB, costs about 0.50 USD."
  type        = number
  default     = 107374182400
}

variable "athena_results_retention_days" {
  description = "Days after which Athena's query results (under {prefix}/athena-results/) expire."
  type        = number
  default     = 7
}

variable "forward_endpoint" {
  description = "OTELVAULT_FORWARD_ENDPOINT: base URL of a live OTLP backend that every accepted batch is also sent to (dual export), such as https://api.honeycomb.io; null for no forwarding. Failed forwards are re-sent by the compaction function (compaction_schedule)."
  type        = string
  default     = null
}

variable "forward_traces_endpoint" {
  description = "OTELVAULT_FORWARD_TRACES_ENDPOINT: URL traces are forwarded to, as is."
  type        = string
  default     = null
}

variable "forward_metrics_endpoint" {
  description = "OTELVAULT_FORWARD_METRICS_ENDPOINT: URL metrics are forwarded to, as is."
  type        = string
  default     = null
}

variable "forward_logs_endpoint" {
  description = "OTELVAULT_FORWARD_LOGS_ENDPOINT: URL logs are forwarded to, as is."
  type        = string
  default     = null
}

variable "forward_headers" {
  description = "OTELVAULT_FORWARD_HEADERS: headers of every forwarded request, key=value pairs separated by commas (x-honeycomb-team=KEY)."
  type        = string
  default     = null
  sensitive   = true
}

variable "forward_protocol" {
  description = "OTELVAULT_FORWARD_PROTOCOL: http/protobuf, http/json or grpc."
  type        = string
  default     = "http/protobuf"
}

variable "forward_compression" {
  description = "OTELVAULT_FORWARD_COMPRESSION: gzip or none."
  type        = string
  default     = "gzip"
}

variable "forward_timeout" {
  description = "OTELVAULT_FORWARD_TIMEOUT: longest forwarding one request may take, retries included (3s, 1500ms); the ingest answer waits for it, so keep it well inside the function's timeout and your exporters' (10 s)."
  type        = string
  default     = "3s"
}

variable "self_metrics" {
  description = "OTELVAULT_SELF_METRICS: every invocation of every function prints one CloudWatch Embedded Metric Format event of its figures (items accepted and rejected, bytes, objects, storage and forward latency; compaction and import figures), which CloudWatch turns into metrics with no API call."
  type        = bool
  default     = true
}

variable "emf_namespace" {
  description = "OTELVAULT_EMF_NAMESPACE: CloudWatch namespace of otelvault's own figures."
  type        = string
  default     = "otelvault"
}

variable "emf" {
  description = "OTELVAULT_EMF: also convert every ingested OTLP metrics batch to EMF events in the function's log, as ADOT's awsemfexporter does, so the metrics appear in CloudWatch."
  type        = bool
  default     = false
}

variable "emf_config" {
  description = "OTELVAULT_EMF_CONFIG: settings of the OTLP-to-EMF conversion, an object with the awsemfexporter's keys: namespace, dimension_rollup_option, metric_declarations, metric_descriptors, retain_initial_value_of_delta_metric; and resource_dimensions (resource attributes that become dimensions). null for the exporter's defaults."
  type        = any
  default     = null
}

variable "xray_import_schedule" {
  description = "EventBridge schedule of the X-Ray import function, which imports AWS X-Ray traces into the archive as OTLP (\"rate(5 minutes)\"); null (the default) for none."
  type        = string
  default     = null
}

variable "forward_pending_retention_days" {
  description = "Days after which a marker of a failed forward (forward-pending/) expires: a batch whose backend stayed unreachable that long stays archived but is no longer re-sent."
  type        = number
  default     = 14
}

variable "alarms" {
  description = "Create CloudWatch alarms: errors and throttles of every function, the Function URL's 5xx answers, failed scheduled runs and compaction lag."
  type        = bool
  default     = true
}

variable "alarm_topic_arn" {
  description = "SNS topic the alarms notify (when they fire and when they clear); null: the alarms show in the CloudWatch console only."
  type        = string
  default     = null
}

variable "url_5xx_alarm_threshold" {
  description = "5xx answers of the Function URL in 5 minutes, twice in a row, above which the url-5xx alarm fires."
  type        = number
  default     = 5
}

variable "compaction_lag_alarm_hours" {
  description = "Hours without a completed compaction run after which the compaction-lag alarm fires; keep it above the compaction_schedule's interval."
  type        = number
  default     = 3
}
