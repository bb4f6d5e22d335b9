// lambroll function definition for otelvault.
//
// Values come from the terraform state of terraform/examples/basic (bucket,
// role, log group) and from the environment (keys and settings):
//
//   cd lambroll
//   OTELVAULT_INGEST_KEYS=... OTELVAULT_QUERY_KEYS=... \
//     lambroll deploy --tfstate ../terraform/examples/basic/terraform.tfstate \
//       --src ../target/lambda/otelvault
//
// The environment variable names are the binary's own (see the README);
// a test keeps them in step with terraform/ and the binary.
local tfstate = std.native('tfstate');
local env = std.native('env');
local must_env = std.native('must_env');
local memory = std.parseInt(env('OTELVAULT_MEMORY_SIZE', '1024'));

{
  FunctionName: tfstate('module.otelvault.aws_lambda_function.this.function_name'),
  Role: tfstate('module.otelvault.aws_iam_role.function.arn'),
  Handler: 'bootstrap',
  Runtime: 'provided.al2023',
  Architectures: [env('OTELVAULT_ARCHITECTURE', 'arm64')],
  MemorySize: memory,
  Timeout: 30,
  LoggingConfig: {
    LogFormat: 'JSON',
    LogGroup: tfstate('module.otelvault.aws_cloudwatch_log_group.function.name'),
  },
  Environment: {
    Variables: {
      OTELVAULT_STORAGE: 's3://%s/%s' % [
        tfstate('module.otelvault.aws_s3_bucket.archive[0].bucket'),
        env('OTELVAULT_PREFIX', 'otel'),
      ],
      OTELVAULT_FORMAT: env('OTELVAULT_FORMAT', 'json'),
      OTELVAULT_COMPRESSION: env('OTELVAULT_COMPRESSION', 'gzip'),
      OTELVAULT_PARTITION: env('OTELVAULT_PARTITION', 'minute'),
      OTELVAULT_PARTITION_TIME: env('OTELVAULT_PARTITION_TIME', 'event'),
      OTELVAULT_AUTH: env('OTELVAULT_AUTH', 'keys'),
      OTELVAULT_INGEST_KEYS: must_env('OTELVAULT_INGEST_KEYS'),
      OTELVAULT_QUERY_KEYS: must_env('OTELVAULT_QUERY_KEYS'),
      OTELVAULT_CURSOR_KEY: env('OTELVAULT_CURSOR_KEY', ''),
      OTELVAULT_S3_TIMEOUT: env('OTELVAULT_S3_TIMEOUT', '6s'),
      OTELVAULT_S3_ATTEMPT_TIMEOUT: env('OTELVAULT_S3_ATTEMPT_TIMEOUT', '3s'),
      OTELVAULT_S3_MAX_ATTEMPTS: env('OTELVAULT_S3_MAX_ATTEMPTS', '3'),
      // The binary's own default: 128, or a quarter of the memory when less.
      OTELVAULT_MAX_REQUEST_MIB: env('OTELVAULT_MAX_REQUEST_MIB', std.toString(std.min(128, std.floor(memory / 4)))),
      // Forwarding (dual export): empty endpoints forward nothing. Failed
      // forwards are re-sent by terraform's compaction function.
      OTELVAULT_FORWARD_ENDPOINT: env('OTELVAULT_FORWARD_ENDPOINT', ''),
      OTELVAULT_FORWARD_TRACES_ENDPOINT: env('OTELVAULT_FORWARD_TRACES_ENDPOINT', ''),
      OTELVAULT_FORWARD_METRICS_ENDPOINT: env('OTELVAULT_FORWARD_METRICS_ENDPOINT', ''),
      OTELVAULT_FORWARD_LOGS_ENDPOINT: env('OTELVAULT_FORWARD_LOGS_ENDPOINT', ''),
      OTELVAULT_FORWARD_HEADERS: env('OTELVAULT_FORWARD_HEADERS', ''),
      OTELVAULT_FORWARD_PROTOCOL: env('OTELVAULT_FORWARD_PROTOCOL', 'http/protobuf'),
      OTELVAULT_FORWARD_COMPRESSION: env('OTELVAULT_FORWARD_COMPRESSION', 'gzip'),
      OTELVAULT_FORWARD_TIMEOUT: env('OTELVAULT_FORWARD_TIMEOUT', '3s'),
      // CloudWatch Embedded Metric Format: otelvault's figures per
      // invocation, and (OTELVAULT_EMF=on) ingested OTLP metrics.
      OTELVAULT_SELF_METRICS: env('OTELVAULT_SELF_METRICS', 'on'),
      OTELVAULT_EMF_NAMESPACE: env('OTELVAULT_EMF_NAMESPACE', 'otelvault'),
      OTELVAULT_EMF: env('OTELVAULT_EMF', 'off'),
      OTELVAULT_EMF_CONFIG: env('OTELVAULT_EMF_CONFIG', ''),
    },
  },
  Tags: {
    app: 'otelvault',
  },
}
