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

run "created_cache_in_the_vpc" {
  command = plan

  variables {
    create_cache            = true
    cache_subnet_ids        = ["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"]
    cache_attributes        = ["status", "score"]
    cache_ttl_seconds       = 3600
    cache_version_attribute = "rev"
    cache_kms_key_arn       = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  }

  assert {
    condition     = aws_elasticache_serverless_cache.this[0].engine == "valkey" && aws_elasticache_serverless_cache.this[0].kms_key_id == var.cache_kms_key_arn && toset(aws_elasticache_serverless_cache.this[0].subnet_ids) == toset(var.cache_subnet_ids)
    error_message = "The module creates a Valkey serverless cache, encrypted with the given key, in the given subnets."
  }
  assert {
    condition     = toset(aws_elasticache_serverless_cache.this[0].security_group_ids) == toset([aws_security_group.cache[0].id]) && aws_vpc_security_group_ingress_rule.cache_from_functions[0].referenced_security_group_id == aws_security_group.cache_functions[0].id
    error_message = "The created cache admits the functions' security group alone."
  }
  assert {
    condition     = aws_lambda_function.this["pipeline"].environment[0].variables["CACHE_ENDPOINT"] == "test-cache-abc123.serverless.use1.cache.amazonaws.com:6379" && aws_lambda_function.this["pipeline"].environment[0].variables["CACHE_TLS"] == "true" && aws_lambda_function.this["pipeline"].environment[0].variables["CACHE_ATTRIBUTES"] == "status,score" && aws_lambda_function.this["pipeline"].environment[0].variables["CACHE_TTL_SECONDS"] == "3600" && aws_lambda_function.this["pipeline"].environment[0].variables["CACHE_VERSION_ATTRIBUTE"] == "rev" && endswith(aws_lambda_function.this["pipeline"].environment[0].variables["PROCESSORS"], ",cache")
    error_message = "The function gets the created cache's endpoint and the CACHE_* settings."
  }
  assert {
    condition     = toset(aws_lambda_function.this["pipeline"].vpc_config[0].subnet_ids) == toset(var.cache_subnet_ids) && toset(aws_lambda_function.this["pipeline"].vpc_config[0].security_group_ids) == toset([aws_security_group.cache_functions[0].id])
    error_message = "The function that runs cache is attached to the cache's subnets with the created security group."
  }
  assert {
    condition     = toset(flatten([for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Action if startswith(s.Sid, "CreateCacheNetwork") || startswith(s.Sid, "ManageCacheNetwork") || startswith(s.Sid, "DescribeCacheNetwork")])) == toset(["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"])
    error_message = "The role holds exactly AWSLambdaVPCAccessExecutionRole's EC2 actions."
  }
  assert {
    condition     = !contains([for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Sid], "ReadCacheAuthSecret")
    error_message = "Without a secret, no Secrets Manager permission."
  }
  assert {
    condition     = output.cache_arn == aws_elasticache_serverless_cache.this[0].arn && output.cache_endpoint == "test-cache-abc123.serverless.use1.cache.amazonaws.com:6379"
    error_message = "The outputs name the created cache."
  }
  assert {
    condition     = contains(keys(aws_cloudwatch_metric_alarm.records_failed), "pipeline/cache")
    error_message = "The cache processor gets its RecordsFailed alarm like the others."
  }
}

run "brought_cache_without_a_vpc" {
  command = plan

  variables {
    create_cache          = true
    cache_endpoint        = "cache.example.com:6380"
    cache_tls             = false
    cache_key_prefix      = "app:"
    cache_auth_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cache-auth-AbCdEf"
  }

  assert {
    condition     = length(aws_elasticache_serverless_cache.this) == 0 && length(aws_security_group.cache_functions) == 0 && length(aws_lambda_function.this["pipeline"].vpc_config) == 0
    error_message = "A brought cache without subnets: nothing created, no VPC."
  }
  assert {
    condition     = aws_lambda_function.this["pipeline"].environment[0].variables["CACHE_ENDPOINT"] == "cache.example.com:6380" && aws_lambda_function.this["pipeline"].environment[0].variables["CACHE_TLS"] == "false" && aws_lambda_function.this["pipeline"].environment[0].variables["CACHE_KEY_PREFIX"] == "app:" && aws_lambda_function.this["pipeline"].environment[0].variables["CACHE_AUTH_SECRET_ARN"] == var.cache_auth_secret_arn
    error_message = "The function runs the cache processor with the brought endpoint."
  }
  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Resource if s.Sid == "ReadCacheAuthSecret"] == [[var.cache_auth_secret_arn]] && length([for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s if startswith(s.Sid, "CreateCacheNetwork")]) == 0
    error_message = "GetSecretValue on the secret alone; no ENI permissions outside a VPC."
  }
}

run "brought_cache_in_your_vpc_and_groups" {
  command = plan

  variables {
    create_cache             = true
    function_layout          = "groups"
    function_groups          = { main = ["analytics", "notification", "etl"], cache = ["cache"] }
    cache_endpoint           = "10.0.0.12:6379"
    cache_subnet_ids         = ["subnet-0a1b2c3d4e5f60718"]
    cache_security_group_ids = ["sg-0123456789abcdef0"]
  }

  assert {
    condition     = length(aws_security_group.cache_functions) == 0 && toset(aws_lambda_function.this["cache"].vpc_config[0].security_group_ids) == toset(["sg-0123456789abcdef0"]) && length(aws_lambda_function.this["main"].vpc_config) == 0
    error_message = "Your security groups are used as they are; only the cache function joins the VPC."
  }
  assert {
    condition     = aws_lambda_function.this["cache"].environment[0].variables["PROCESSORS"] == "cache" && !contains(keys(aws_lambda_function.this["main"].environment[0].variables), "CACHE_ENDPOINT")
    error_message = "The cache group's function alone runs the cache processor."
  }
}

run "created_cache_refuses_plaintext" {
  command = plan

  variables {
    create_cache     = true
    cache_subnet_ids = ["subnet-0a1b2c3d4e5f60718"]
    cache_tls        = false
  }

  expect_failures = [terraform_data.check_cache]
}

run "your_security_groups_scope_the_network_interfaces" {
  command = plan

  variables {
    create_cache             = true
    cache_endpoint           = "10.0.0.12:6379"
    cache_subnet_ids         = ["subnet-0a1b2c3d4e5f60718"]
    cache_security_group_ids = ["sg-0123456789abcdef0"]
  }

  assert {
    condition     = toset(flatten([for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Resource if s.Sid == "CreateCacheNetworkInterfaces"])) == toset(["arn:aws:ec2:us-east-1:123456789012:network-interface/*", "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0a1b2c3d4e5f60718", "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0123456789abcdef0"])
    error_message = "CreateNetworkInterface is scoped to your subnets and security groups."
  }
}
