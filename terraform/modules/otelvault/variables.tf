variable "name" {
  description = "Name of the functions, roles, log groups, queue and alarms (and start of the bucket name when the module names the bucket)."
  type        = string
  default     = "otelvault"

  # Lambda function and IAM role names are at most 64 characters
  # ("<name>-xray-import" is the longest); bucket names are lowercase
  # letters, digits and hyphens, at most 63 ("<name>-<12-digit account>-
  # <region>", regions being at most 14 characters): see "Bucket naming
  # rules", https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html.
  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?$", var.name))
    error_message = "name must be 1-52 lowercase letters, digits and '-', starting and ending with a letter or digit: it names the bucket (lowercase only) and the functions (\"<name>-xray-import\" must fit Lambda's 64 characters)."
  }

  validation {
    condition     = var.bucket_name != null || length(var.name) <= 35
    error_message = "name is longer than 35 characters, so the bucket name \"<name>-<account id>-<region>\" could pass S3's 63: shorten name or set bucket_name."
  }
}

variable "lambda_zip" {
  description = "Path to the function package: a zip with the otelvault binary named bootstrap (make build-lambda writes target/lambda/otelvault/bootstrap.zip)."
  type        = string
}

variable "architecture" {
  description = "Lambda architecture the binary was built for: arm64 (cheaper per GB-second) or x86_64."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "memory_size" {
  description = "Function memory in MB. A 6 MB request peaks near 60 MB of RSS; more memory also buys CPU for compression."
  type        = number
  default     = 1024

  validation {
    condition     = var.memory_size >= 256 && var.memory_size <= 10240
    error_message = "memory_size must be between 256 and 10240 MB."
  }
}

variable "timeout" {
  description = "Function timeout in seconds. Ingest of a 6 MB request takes well under a second; query pages stop after 20 s of work."
  type        = number
  default     = 30

  validation {
    condition     = var.timeout >= 10 && var.timeout <= 900
    error_message = "timeout must be between 10 and 900 seconds."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions of the public function: the most requests it serves at once, which caps what a flood of requests (keyed or not) can cost and keeps it from starving the account's other functions. One instance serves one request at a time, in about 0.1 s for an ingest batch, so 50 serves about 500 requests/s. Lambda keeps 100 of the account's concurrency unreserved: an account whose quota is 10 (some new accounts) must set null or ask for more. null for no cap."
  type        = number
  default     = 50

  validation {
    condition     = var.reserved_concurrency == null || try(var.reserved_concurrency >= 1 && var.reserved_concurrency == floor(var.reserved_concurrency), false)
    error_message = "reserved_concurrency must be a whole number of at least 1 (0 would throttle every request), or null for no cap."
  }
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

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit (S3's bucket naming rules)."
  }

  validation {
    condition     = var.create_bucket || var.bucket_name != null
    error_message = "create_bucket = false needs bucket_name: the existing bucket to archive in."
  }
}

variable "prefix" {
  description = "Key prefix of the archive inside the bucket (no leading or trailing /)."
  type        = string
  default     = "otel"

  validation {
    condition     = can(regex("^[a-zA-Z0-9!_.*'()-]+(/[a-zA-Z0-9!_.*'()-]+)*$", var.prefix)) && length(var.prefix) <= 512
    error_message = "prefix must be one or more '/'-separated segments of safe characters, without leading or trailing '/'."
  }
}

variable "retention_days" {
  description = "Days after which archived objects expire (lifecycle rule): the Parquet tier, and raw objects unless raw_retention_days is set."
  type        = number
  default     = 400

  validation {
    condition     = var.retention_days >= 1
    error_message = "retention_days must be at least 1."
  }
}

variable "transition_days" {
  description = "Days after which objects move to transition_storage_class; null to keep them in STANDARD."
  type        = number
  default     = null

  # S3 refuses a lifecycle configuration that moves objects to STANDARD_IA or
  # ONEZONE_IA before 30 days, or expires them no later than it moves them
  # ("Transitioning objects using Amazon S3 Lifecycle", constraints,
  # https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html).
  validation {
    condition     = var.transition_days == null || try(var.transition_days >= (contains(["STANDARD_IA", "ONEZONE_IA"], var.transition_storage_class) ? 30 : 0), false)
    error_message = "transition_days must be at least 30 with STANDARD_IA or ONEZONE_IA: S3 refuses earlier transitions to those classes."
  }

  validation {
    condition     = var.transition_days == null || try(var.transition_days < var.retention_days && var.transition_days < coalesce(var.raw_retention_days, var.retention_days), false)
    error_message = "transition_days must be less than retention_days and raw_retention_days: S3 refuses a rule that expires objects no later than it moves them."
  }
}

variable "transition_storage_class" {
  description = "Storage class for the transition (STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR)."
  type        = string
  default     = "GLACIER_IR"

  validation {
    condition     = contains(["STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR"], var.transition_storage_class)
    error_message = "transition_storage_class must be STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING or GLACIER_IR (classes the query API can still read)."
  }
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

  validation {
    condition     = contains(["NONE", "AWS_IAM"], var.function_url_auth_type)
    error_message = "function_url_auth_type must be NONE or AWS_IAM."
  }
}

variable "auth" {
  description = "OTELVAULT_AUTH: keys (check ingest/query keys) or none (only with function_url_auth_type = AWS_IAM)."
  type        = string
  default     = "keys"

  validation {
    condition     = contains(["keys", "none"], var.auth)
    error_message = "auth must be keys or none."
  }
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

  validation {
    condition     = var.keys_ssm_parameter_prefix == null || can(regex("^(/[a-zA-Z0-9_.-]+)+$", var.keys_ssm_parameter_prefix))
    error_message = "keys_ssm_parameter_prefix must be an SSM path such as /otelvault or /prod/otelvault: '/'-separated segments of letters, digits, '_', '.' and '-', starting with '/' and not ending with one."
  }

  validation {
    condition     = var.keys_ssm_parameter_prefix == null || (length(var.ingest_keys) + length(var.query_keys) == 0 && var.cursor_key == null && var.forward_headers == null)
    error_message = "With keys_ssm_parameter_prefix, secrets come from SSM only: remove ingest_keys, query_keys, cursor_key and forward_headers (put them in the parameters <prefix>/ingest-keys, query-keys, cursor-key, forward-headers)."
  }
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

  validation {
    condition     = contains(["json", "proto"], var.format)
    error_message = "format must be json or proto."
  }
}

variable "compression" {
  description = "OTELVAULT_COMPRESSION: gzip, zstd or none."
  type        = string
  default     = "gzip"

  validation {
    condition     = contains(["gzip", "zstd", "none"], var.compression)
    error_message = "compression must be gzip, zstd or none."
  }
}

variable "partition" {
  description = "OTELVAULT_PARTITION: minute or hour partitions."
  type        = string
  default     = "minute"

  validation {
    condition     = contains(["minute", "hour"], var.partition)
    error_message = "partition must be minute or hour."
  }
}

variable "partition_time" {
  description = "OTELVAULT_PARTITION_TIME: event (each item's time) or receive (arrival time, as the Collector)."
  type        = string
  default     = "event"

  validation {
    condition     = contains(["event", "receive"], var.partition_time)
    error_message = "partition_time must be event or receive."
  }
}

variable "s3_timeout" {
  description = "OTELVAULT_S3_TIMEOUT: longest an S3 call may take, retries included (6s, 1500ms); a stalled store answers 503 by then."
  type        = string
  default     = "6s"

  validation {
    condition     = can(regex("^[0-9]+(ms|s|m)?$", var.s3_timeout))
    error_message = "s3_timeout must be a duration such as 6s or 1500ms."
  }
}

variable "s3_attempt_timeout" {
  description = "OTELVAULT_S3_ATTEMPT_TIMEOUT: longest one attempt of an S3 call may take; at most s3_timeout."
  type        = string
  default     = "3s"

  validation {
    condition     = can(regex("^[0-9]+(ms|s|m)?$", var.s3_attempt_timeout))
    error_message = "s3_attempt_timeout must be a duration such as 3s or 1500ms."
  }
}

variable "s3_max_attempts" {
  description = "OTELVAULT_S3_MAX_ATTEMPTS: attempts of an S3 call in all, within s3_timeout."
  type        = number
  default     = 3

  validation {
    condition     = var.s3_max_attempts >= 1 && var.s3_max_attempts <= 10
    error_message = "s3_max_attempts must be between 1 and 10."
  }
}

variable "log_retention_days" {
  description = "Retention of the functions' CloudWatch log groups, in days."
  type        = number
  default     = 30

  # The values CloudWatch Logs accepts (PutRetentionPolicy, retentionInDays).
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch Logs' values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "max_request_mib" {
  description = "OTELVAULT_MAX_REQUEST_MIB: memory one ingest request may take once decoded, in MiB; larger requests are answered 413. Unset: 128, or a quarter of memory_size when that is less."
  type        = number
  default     = null

  validation {
    condition     = var.max_request_mib == null ? true : (var.max_request_mib >= 8 && var.max_request_mib <= 16384)
    error_message = "max_request_mib must be between 8 and 16384."
  }
}

variable "raw_retention_days" {
  description = "Days after which raw objects (the Collector layout, year=…/) expire, when they should go before the Parquet tier (parquet/): the compacted tier keeps every item, and fetch, trace lookups and replay read it. null: retention_days."
  type        = number
  default     = null

  validation {
    condition     = var.raw_retention_days == null || try(var.raw_retention_days >= 1, false)
    error_message = "raw_retention_days must be at least 1 (or null)."
  }
}

variable "compaction_schedule" {
  description = "EventBridge schedule of the compaction function, which turns ended hours into the Parquet tier (\"rate(1 hour)\", \"cron(5 * * * ? *)\"); null for no compaction function."
  type        = string
  default     = "rate(1 hour)"

  validation {
    condition     = var.compaction_schedule == null || can(regex("^(rate|cron)\\(.+\\)$", var.compaction_schedule))
    error_message = "compaction_schedule must be a rate(...) or cron(...) expression, or null."
  }
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

  validation {
    condition     = var.compaction_memory_size >= 512 && var.compaction_memory_size <= 10240
    error_message = "compaction_memory_size must be between 512 and 10240 MB."
  }
}

variable "compaction_memory_mib" {
  description = "OTELVAULT_COMPACT_MEMORY_MIB: memory the compaction function's run may take for the items it holds and encodes, in MiB, whatever the hours' sizes. Unset: half of compaction_memory_size."
  type        = number
  default     = null

  validation {
    condition     = var.compaction_memory_mib == null ? true : (var.compaction_memory_mib >= 32 && var.compaction_memory_mib <= 10240)
    error_message = "compaction_memory_mib must be between 32 and 10240."
  }
}

variable "compaction_timeout" {
  description = "Timeout of the compaction function in seconds. Each hour is committed by its manifest, so a run cut short is continued by the next."
  type        = number
  default     = 900

  validation {
    condition     = var.compaction_timeout >= 60 && var.compaction_timeout <= 900
    error_message = "compaction_timeout must be between 60 and 900 seconds."
  }
}

variable "compaction_workers" {
  description = "Fan compaction out: the compaction function plans each hour's shards and hands each to a worker function (name-compaction-worker, the same package), one asynchronous invocation per shard, which Lambda retries and reports to the failures queue; false: the compaction function compacts every hour itself, within one invocation."
  type        = bool
  default     = true
}

variable "compaction_shard_mib" {
  description = "OTELVAULT_COMPACT_SHARD_MIB: stored raw MiB per worker shard; size it so that a worker finishes well within compaction_timeout (the performance page's capacity table gives MiB per second by memory size)."
  type        = number
  default     = 256

  validation {
    condition     = var.compaction_shard_mib > 0 && var.compaction_shard_mib <= 1048576
    error_message = "compaction_shard_mib must be more than 0 and at most 1048576."
  }
}

variable "compaction_worker_concurrency" {
  description = "Reserved concurrency of the compaction worker function: how many shards compact at once, at most (shards beyond wait in Lambda's queue)."
  type        = number
  default     = 10

  validation {
    condition     = var.compaction_worker_concurrency >= 1 && var.compaction_worker_concurrency <= 1000
    error_message = "compaction_worker_concurrency must be between 1 and 1000."
  }
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

  validation {
    condition     = var.glue_database_name == null || can(regex("^[a-z0-9_]{1,255}$", var.glue_database_name))
    error_message = "glue_database_name must be lowercase letters, digits and _ (what Athena accepts)."
  }
}

variable "sql_projection_years" {
  description = "First and last year (\"2025,2030\") of the tables' partition projection: the years a query without a year filter enumerates, 8,928 partitions a year (so keep the range near the data: extend it as years pass, or start it earlier for replayed archives)."
  type        = string
  default     = "2025,2030"

  validation {
    condition     = can(regex("^[0-9]{4},[0-9]{4}$", var.sql_projection_years)) && try(tonumber(split(",", var.sql_projection_years)[0]) <= tonumber(split(",", var.sql_projection_years)[1]), false)
    error_message = "sql_projection_years must be two years, first,last, with first <= last (\"2025,2030\")."
  }
}

variable "athena_bytes_scanned_cutoff" {
  description = "Bytes one Athena query of the workgroup may scan before it is cancelled (at least 10 MB); the default, 100 GiB, costs about 0.50 USD."
  type        = number
  default     = 107374182400

  validation {
    condition     = var.athena_bytes_scanned_cutoff >= 10485760
    error_message = "athena_bytes_scanned_cutoff must be at least 10485760 (10 MB), Athena's least."
  }
}

variable "athena_results_retention_days" {
  description = "Days after which Athena's query results (under {prefix}/athena-results/) expire."
  type        = number
  default     = 7

  validation {
    condition     = var.athena_results_retention_days >= 1
    error_message = "athena_results_retention_days must be at least 1."
  }
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

  validation {
    condition     = contains(["http/protobuf", "http/json", "grpc"], var.forward_protocol)
    error_message = "forward_protocol must be http/protobuf, http/json or grpc."
  }
}

variable "forward_compression" {
  description = "OTELVAULT_FORWARD_COMPRESSION: gzip or none."
  type        = string
  default     = "gzip"

  validation {
    condition     = contains(["gzip", "none"], var.forward_compression)
    error_message = "forward_compression must be gzip or none."
  }
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

  validation {
    condition     = var.emf_config == null || can(keys(var.emf_config))
    error_message = "emf_config must be an object, such as { namespace = \"Shop\", resource_dimensions = [\"service.name\"] }."
  }
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

  validation {
    condition     = var.forward_pending_retention_days >= 1
    error_message = "forward_pending_retention_days must be at least 1."
  }
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

  validation {
    condition     = var.alarm_topic_arn == null || can(regex("^arn:[a-z-]+:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be the ARN of an SNS topic (arn:aws:sns:<region>:<account>:<name>)."
  }
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

  validation {
    condition     = var.compaction_lag_alarm_hours >= 1 && var.compaction_lag_alarm_hours <= 24
    error_message = "compaction_lag_alarm_hours must be between 1 and 24."
  }
}
