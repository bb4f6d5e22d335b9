# A complete deployment: bucket, role, function, Function URL and logs.
#
#   make build-lambda                      # target/lambda/otelvault/bootstrap.zip
#   cd terraform/examples/basic
#   terraform init
#   terraform apply -var 'ingest_keys=["ci:'$(openssl rand -hex 24)'"]' \
#                   -var 'query_keys=["'$(openssl rand -hex 24)'"]'

provider "aws" {
  region = var.region
}

module "otelvault" {
  source = "../../modules/otelvault"

  name           = var.name
  lambda_zip     = var.lambda_zip
  architecture   = var.architecture
  retention_days = var.retention_days
  ingest_keys    = var.ingest_keys
  query_keys     = var.query_keys
  cursor_key     = var.cursor_key

  function_url_auth_type = var.function_url_auth_type
  auth                   = var.auth

  tags = {
    app = "otelvault"
  }
}
