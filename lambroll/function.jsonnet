// lambroll function definition for otelvault's API function.
//
// terraform owns the function's configuration; lambroll deploys new code.
// Every setting below is read from the terraform state of the function
// terraform created (terraform/modules/otelvault, aws_lambda_function.this),
// so a `make deploy` never reverts what `terraform apply` set, and the next
// `terraform apply` finds nothing to change but the code. To change a
// setting (memory, timeout, KMS key, environment, keys), change the terraform
// variable and apply; then deploy code with:
//
//   make build-lambda && make deploy      # TF_DIR=terraform/examples/basic
//
// The Function URL, its permissions, the concurrency cap, the scheduled
// functions and the alarms are terraform's alone: lambroll does not touch them.
local tfstate = std.native('tfstate');
local fn = tfstate('module.otelvault.aws_lambda_function.this');

{
  FunctionName: fn.function_name,
  Description: fn.description,
  Role: fn.role,
  Handler: fn.handler,
  Runtime: fn.runtime,
  Architectures: fn.architectures,
  MemorySize: fn.memory_size,
  Timeout: fn.timeout,
  KMSKeyArn: fn.kms_key_arn,
  EphemeralStorage: {
    Size: fn.ephemeral_storage[0].size,
  },
  LoggingConfig: {
    LogFormat: fn.logging_config[0].log_format,
    LogGroup: fn.logging_config[0].log_group,
  },
  Environment: {
    Variables: fn.environment[0].variables,
  },
  Tags: fn.tags,
}
