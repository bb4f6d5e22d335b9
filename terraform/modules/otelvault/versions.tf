# terraform 1.9: validations that compare variables (transition_days against
# retention_days). AWS provider 6.29: invoked_via_function_url, which a
# Function URL with auth type NONE needs (main.tf).
terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.29, < 7.0"
    }
  }
}
