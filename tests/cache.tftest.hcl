# The cache processor's module part (cache.tf): inputs validated, the cross-input check, the
# ElastiCache Serverless cache created or an endpoint brought, the functions' VPC attachment,
# their least-privilege policy (the secret, the network interfaces) and alarms.

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name = "test"
}

run "invalid_cache_inputs_1" {
  command = plan

  variables {
    create_cache                  = true
    cache_endpoint                = "not an endpoint:6379"
    cache_auth_secret_arn         = "arn:aws:ssm:us-east-1:123456789012:parameter/token"
    cache_auth_secret_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:alias/not-a-key"
    cache_key_prefix              = "tab\there"
    cache_attributes              = ["status", "status"]
    cache_ttl_seconds             = 0
    cache_version_attribute       = ""
    cache_subnet_ids              = ["subnet-1"]
    cache_security_group_ids      = ["default"]
    cache_kms_key_arn             = "arn:aws:kms:us-east-1:123456789012:alias/not-a-key"
    cache_major_engine_version    = "latest"
  }

  expect_failures = [
    var.cache_endpoint,
    var.cache_auth_secret_arn,
    var.cache_auth_secret_kms_key_arn,
    var.cache_key_prefix,
    var.cache_attributes,
    var.cache_ttl_seconds,
    var.cache_version_attribute,
    var.cache_subnet_ids,
    var.cache_security_group_ids,
    var.cache_kms_key_arn,
    var.cache_major_engine_version,
  ]
}

run "invalid_cache_port" {
  command = plan

  variables {
    create_cache   = true
    cache_endpoint = "cache.example.com:70000"
  }

  expect_failures = [var.cache_endpoint]
}

run "created_cache_needs_subnets" {
  command = plan

  variables {
    create_cache = true
  }

  expect_failures = [terraform_data.check_cache]
}

run "brought_cache_settings_for_a_created_one" {
  command = plan

  variables {
    create_cache      = true
    cache_endpoint    = "cache.example.com:6379"
    cache_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  }

  expect_failures = [terraform_data.check_cache]
}
