variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "eu-west-1"
}

variable "name" {
  description = "Name of the deployment."
  type        = string
  default     = "otelvault"
}

variable "lambda_zip" {
  description = "Function package built by `make build-lambda`."
  type        = string
  default     = "../../../target/lambda/otelvault/bootstrap.zip"
}

variable "architecture" {
  description = "arm64 or x86_64, matching the package."
  type        = string
  default     = "arm64"
}

variable "retention_days" {
  description = "Days to keep archived data."
  type        = number
  default     = 400
}

variable "ingest_keys" {
  description = "Keys allowed to ingest: secrets, or id:secret (clients may send either the secret or the whole id:secret)."
  type        = list(string)
  default     = []
  sensitive   = true
}

variable "query_keys" {
  description = "Keys allowed to query, as ingest_keys."
  type        = list(string)
  default     = []
  sensitive   = true
}

variable "function_url_auth_type" {
  description = "NONE (requests carry otelvault keys) or AWS_IAM (SigV4-signed requests; then auth may be none)."
  type        = string
  default     = "NONE"
}

variable "auth" {
  description = "keys (check ingest_keys/query_keys) or none (only with function_url_auth_type = AWS_IAM)."
  type        = string
  default     = "keys"
}

variable "cursor_key" {
  description = "Base64 of 32 random bytes for query cursors (optional)."
  type        = string
  default     = null
  sensitive   = true
}
