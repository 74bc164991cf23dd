# Customer managed keys (issue 19, docs/permissions.md): the key policy statements each KMS input
# needs, rendered for this stack; the deployer's KMS rights; statements scoped with
# kms:ViaService; keys refused at plan when they are in another region than what they encrypt;
# the policy a reader of the ETL table needs.

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name = "test"
}

# The attached table of attached_table_and_archiver as DescribeTable shows it (read at plan).
override_data {
  target = data.aws_dynamodb_table.attached[0]
  values = {
    arn              = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
    hash_key         = "order_id"
    range_key        = ""
    billing_mode     = "PAY_PER_REQUEST"
    stream_enabled   = true
    stream_view_type = "NEW_AND_OLD_IMAGES"
    stream_arn       = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-01-01T00:00:00.000"
    stream_label     = "2024-01-01T00:00:00.000"
  }
}

run "no_keys" {
  command = plan

  assert {
    condition     = output.kms_key_policy_statements == {} && output.deployer_kms_policy_json == null && output.etl_reader_policy_json == null
    error_message = "Without customer managed keys (and without the Glue table) there is nothing to render."
  }
}

run "keys_of_a_combined_stack" {
  command = plan

  variables {
    table_kms_key_arn            = "arn:aws:kms:us-east-1:123456789012:key/0000000a-0000-0000-0000-00000000ab1e"
    checkpoint_table_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/0000000a-0000-0000-0000-00000000c4ec"
    etl_bucket_kms_key_arn       = "arn:aws:kms:us-east-1:123456789012:key/0000000a-0000-0000-0000-00000000e7e7"
    dlq_kms_key_arn              = "arn:aws:kms:us-east-1:123456789012:key/0000000a-0000-0000-0000-000000000d1d"
    log_kms_key_arn              = "arn:aws:kms:us-east-1:123456789012:key/0000000a-0000-0000-0000-000000000106"
    function_kms_key_arn         = "arn:aws:kms:us-east-1:123456789012:key/0000000a-0000-0000-0000-0000000000fe"
    filter_patterns              = [jsonencode({ eventName = ["INSERT"] })]
    filter_criteria_kms_key_arn  = "arn:aws:kms:us-east-1:123456789012:key/0000000a-0000-0000-0000-00000000f117"
  }

  assert {
    condition = keys(output.kms_key_policy_statements) == [
      "checkpoint_table_kms_key_arn", "dlq_kms_key_arn", "etl_bucket_kms_key_arn", "filter_criteria_kms_key_arn",
      "function_kms_key_arn", "log_kms_key_arn", "table_kms_key_arn",
    ]
    error_message = "One entry per KMS input that is set: ${jsonencode(keys(output.kms_key_policy_statements))}"
  }

  # The roles: the account delegates to exactly these roles' IAM policies (aws:PrincipalArn,
  # built from the role names so it can be put before the roles exist), through the service
  # holding the data. The deployer: CreateGrant on the key of a table the module creates.
  assert {
    condition = jsondecode(output.kms_key_policy_statements["table_kms_key_arn"]) == [
      {
        Sid       = "DdbttestTableRolesDecrypt"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::123456789012:root" }
        Action    = ["kms:Decrypt"]
        Resource  = "*"
        Condition = {
          ArnEquals    = { "aws:PrincipalArn" = ["arn:aws:iam::123456789012:role/test-pipeline"] }
          StringEquals = { "kms:ViaService" = "dynamodb.us-east-1.amazonaws.com" }
        }
      },
      {
        Sid       = "DdbttestTableDeployer"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::123456789012:root" }
        Action    = ["kms:CreateGrant", "kms:DescribeKey"]
        Resource  = "*"
        Condition = { StringEquals = { "kms:ViaService" = "dynamodb.us-east-1.amazonaws.com" } }
      },
    ]
    error_message = "Table key statements: ${output.kms_key_policy_statements["table_kms_key_arn"]}"
  }

  # S3 SSE-KMS writes need kms:GenerateDataKey only (no kms:Encrypt); SQS producers
  # kms:GenerateDataKey and kms:Decrypt.
  assert {
    condition = alltrue([
      [for s in jsondecode(output.kms_key_policy_statements["etl_bucket_kms_key_arn"]) : s.Action] == [["kms:GenerateDataKey"]],
      [for s in jsondecode(output.kms_key_policy_statements["etl_bucket_kms_key_arn"]) : s.Condition.StringEquals["kms:ViaService"]] == ["s3.us-east-1.amazonaws.com"],
      [for s in jsondecode(output.kms_key_policy_statements["dlq_kms_key_arn"]) : s.Action] == [["kms:GenerateDataKey", "kms:Decrypt"]],
      [for s in jsondecode(output.kms_key_policy_statements["dlq_kms_key_arn"]) : s.Condition.StringEquals["kms:ViaService"]] == ["sqs.us-east-1.amazonaws.com"],
      [for s in jsondecode(output.kms_key_policy_statements["checkpoint_table_kms_key_arn"]) : s.Sid] == ["DdbttestCheckpointTableRolesDecrypt", "DdbttestCheckpointTableDeployer"],
    ])
    error_message = "ETL, DLQ and checkpoint key statements are wrong."
  }

  # CloudWatch Logs uses the log key for exactly the stack's log groups.
  assert {
    condition = jsondecode(output.kms_key_policy_statements["log_kms_key_arn"]) == [{
      Sid       = "DdbttestLogGroups"
      Effect    = "Allow"
      Principal = { Service = "logs.us-east-1.amazonaws.com" }
      Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
      Resource  = "*"
      Condition = { ArnEquals = { "kms:EncryptionContext:aws:logs:arn" = ["arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/test-pipeline"] } }
    }]
    error_message = "Log key statement: ${output.kms_key_policy_statements["log_kms_key_arn"]}"
  }

  # The deployer's own policy: CreateGrant on the created tables' keys and the function key,
  # Decrypt on the filter-criteria key.
  assert {
    condition = { for s in jsondecode(output.deployer_kms_policy_json).Statement : s.Sid => [s.Action, s.Resource, s.Condition.StringEquals["kms:ViaService"]] } == {
      DeployerTableKey           = [["kms:CreateGrant", "kms:DescribeKey"], [var.table_kms_key_arn], "dynamodb.us-east-1.amazonaws.com"]
      DeployerCheckpointTableKey = [["kms:CreateGrant", "kms:DescribeKey"], [var.checkpoint_table_kms_key_arn], "dynamodb.us-east-1.amazonaws.com"]
      DeployerFunctionKey        = [["kms:CreateGrant", "kms:Decrypt", "kms:Encrypt"], [var.function_kms_key_arn], "lambda.us-east-1.amazonaws.com"]
      DeployerFilterCriteriaKey  = [["kms:Decrypt", "kms:GenerateDataKey"], [var.filter_criteria_kms_key_arn], "lambda.us-east-1.amazonaws.com"]
    }
    error_message = "Deployer policy: ${output.deployer_kms_policy_json}"
  }

  # The execution role's own KMS statements carry the same kms:ViaService scope.
  assert {
    condition = { for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Sid => s.Condition.StringEquals["kms:ViaService"] if startswith(s.Action[0], "kms:") } == {
      DecryptSourceTableStream = "dynamodb.us-east-1.amazonaws.com"
      UseCheckpointTableKey    = "dynamodb.us-east-1.amazonaws.com"
      UseEtlBucketKey          = "s3.us-east-1.amazonaws.com"
      UseDeadLetterQueueKey    = "sqs.us-east-1.amazonaws.com"
    }
    error_message = "Every KMS statement of the role is scoped to its service."
  }
}

# An attached table: the deployer creates no grant on its key; the archiver shares the table
# and queue keys, with its own actions.
run "attached_table_and_archiver" {
  command = plan

  variables {
    create_table        = false
    stream_arn          = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-01-01T00:00:00.000"
    table_kms_key_arn   = "arn:aws:kms:us-east-1:123456789012:key/0000000a-0000-0000-0000-00000000ab1e"
    dlq_kms_key_arn     = "arn:aws:kms:us-east-1:123456789012:key/0000000a-0000-0000-0000-000000000d1d"
    create_dlq_archiver = true
  }

  assert {
    condition = alltrue([
      [for s in jsondecode(output.kms_key_policy_statements["table_kms_key_arn"]) : s.Condition.ArnEquals["aws:PrincipalArn"]] == [[
        "arn:aws:iam::123456789012:role/test-dlq-archiver", "arn:aws:iam::123456789012:role/test-pipeline",
      ]],
      { for s in jsondecode(output.kms_key_policy_statements["dlq_kms_key_arn"]) : s.Sid => [s.Action, s.Condition.ArnEquals["aws:PrincipalArn"]] } == {
        DdbttestDlqRolesDecrypt                = [["kms:Decrypt"], ["arn:aws:iam::123456789012:role/test-dlq-archiver"]]
        DdbttestDlqRolesGenerateDataKeyDecrypt = [["kms:GenerateDataKey", "kms:Decrypt"], ["arn:aws:iam::123456789012:role/test-pipeline"]]
      },
      output.deployer_kms_policy_json == null,
    ])
    error_message = "Attached table and archiver: ${jsonencode(output.kms_key_policy_statements)}"
  }
}

run "replica_key_in_the_replica_region" {
  command = plan

  variables {
    create_replicate          = true
    replica_table_arn         = "arn:aws:dynamodb:us-west-2:123456789012:table/test-replica"
    replica_table_kms_key_arn = "arn:aws:kms:us-west-2:123456789012:key/0000000a-0000-0000-0000-0000000e91ca"
  }

  assert {
    condition     = [for s in jsondecode(output.kms_key_policy_statements["replica_table_kms_key_arn"]) : s.Condition.StringEquals["kms:ViaService"]] == ["dynamodb.us-west-2.amazonaws.com"]
    error_message = "The replica key is used through DynamoDB of the replica's region."
  }
}

run "replica_key_in_another_region_is_refused" {
  command = plan

  variables {
    create_replicate          = true
    replica_table_arn         = "arn:aws:dynamodb:us-west-2:123456789012:table/test-replica"
    replica_table_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/0000000a-0000-0000-0000-0000000e91ca"
  }

  expect_failures = [terraform_data.check_keys]
}

run "key_in_another_region_is_refused" {
  command = plan

  variables {
    dlq_kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/0000000a-0000-0000-0000-000000000d1d"
  }

  expect_failures = [terraform_data.check_keys]
}

# A reader of the ETL output: S3 read under the table's prefix, kms:Decrypt on the bucket key,
# Glue read of the table, Athena in its workgroup.
run "etl_reader_policy" {
  command = plan

  variables {
    create_etl_glue_table          = true
    etl_glue_projection_start_date = "2026-01-01"
    etl_bucket_kms_key_arn         = "arn:aws:kms:us-east-1:123456789012:key/0000000a-0000-0000-0000-00000000e7e7"
    etl_reader_athena_workgroup    = "analysts"
  }

  assert {
    condition = { for s in jsondecode(output.etl_reader_policy_json).Statement : s.Sid => [s.Action, s.Resource] } == {
      ReadEtlObjects    = [["s3:GetObject"], ["arn:aws:s3:::test-etl-123456789012/changes/table=test/*"]]
      ListEtlObjects    = [["s3:ListBucket"], ["arn:aws:s3:::test-etl-123456789012"]]
      LocateEtlBucket   = [["s3:GetBucketLocation"], ["arn:aws:s3:::test-etl-123456789012"]]
      ReadGlueTable     = [["glue:GetDatabase", "glue:GetPartition", "glue:GetPartitions", "glue:GetTable"], ["arn:aws:glue:us-east-1:123456789012:catalog", "arn:aws:glue:us-east-1:123456789012:database/test_etl", "arn:aws:glue:us-east-1:123456789012:table/test_etl/changes"]]
      RunAthenaQueries  = [["athena:GetQueryExecution", "athena:GetQueryResults", "athena:GetWorkGroup", "athena:StartQueryExecution", "athena:StopQueryExecution"], ["arn:aws:athena:us-east-1:123456789012:workgroup/analysts"]]
      DecryptEtlObjects = [["kms:Decrypt"], [var.etl_bucket_kms_key_arn]]
    }
    error_message = "Reader policy: ${output.etl_reader_policy_json}"
  }
  assert {
    condition = alltrue([
      one([for s in jsondecode(output.etl_reader_policy_json).Statement : s.Condition if s.Sid == "ListEtlObjects"]) == { StringLike = { "s3:prefix" = ["changes/table=test/*"] } },
      one([for s in jsondecode(output.etl_reader_policy_json).Statement : s.Condition if s.Sid == "DecryptEtlObjects"]) == { StringEquals = { "kms:ViaService" = "s3.us-east-1.amazonaws.com" } },
    ])
    error_message = "Listing is limited to the table's prefix and decryption to S3."
  }
}

run "athena_workgroup_name" {
  command = plan

  variables {
    etl_reader_athena_workgroup = "no spaces"
  }

  expect_failures = [var.etl_reader_athena_workgroup]
}
