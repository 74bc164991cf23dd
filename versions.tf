terraform {
  # terraform_data (1.4) and optional() object attributes with defaults (1.3); the test suite
  # (tests/*.tftest.hcl with override_during) needs 1.11 or newer.
  required_version = ">= 1.5.7"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Tested with 5.100.0. The lower bound is the first 5.x line with
      # aws_lambda_event_source_mapping.metrics_config (and kms_key_arn, added in 5.65).
      version = ">= 5.80"
    }
  }
}
