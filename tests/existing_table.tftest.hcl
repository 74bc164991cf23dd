# Attaching to the stream of an existing table (create_table = false).

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name         = "test"
  create_table = false
  stream_arn   = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-05-01T10:00:00.000"
}

# The attached table as DescribeTable shows it (read at plan time: read_attached_table).
override_data {
  target = data.aws_dynamodb_table.attached[0]
  values = {
    arn              = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
    hash_key         = "order_id"
    range_key        = ""
    billing_mode     = "PAY_PER_REQUEST"
    stream_enabled   = true
    stream_view_type = "NEW_AND_OLD_IMAGES"
    stream_arn       = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-05-01T10:00:00.000"
    stream_label     = "2024-05-01T10:00:00.000"
  }
}

run "attach" {
  command = plan

  assert {
    condition     = length(aws_dynamodb_table.this) == 0
    error_message = "No source table should be created when attaching."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this["pipeline"].event_source_arn == var.stream_arn
    error_message = "The mapping should read the given stream."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this["pipeline"].starting_position == "LATEST"
    error_message = "Attaching should default to LATEST so old changes are not replayed."
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Resource if s.Sid == "ReadTableStream"]) == [var.stream_arn]
    error_message = "Stream read permission should cover exactly the given stream."
  }
  assert {
    condition     = output.table_name == "orders" && output.table_arn == "arn:aws:dynamodb:us-east-1:123456789012:table/orders" && output.table_stream_arn == var.stream_arn && output.table_stream_label == null
    error_message = "Outputs should describe the attached table."
  }
  assert {
    condition     = length(aws_dynamodb_table.checkpoint) == 1 && aws_lambda_function.this["pipeline"].environment[0].variables["CHECKPOINT_TABLE"] == "test-checkpoints"
    error_message = "The checkpoint table is still created and passed."
  }
  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s if startswith(s.Action[0], "kms:")]) == 0
    error_message = "No KMS permission without a customer managed key."
  }
}

# A given stream_arn means attaching: create_table left null does not create a table (the one
# rule of every created-or-brought part; brought_sinks.tftest.hcl has the sinks).
run "stream_arn_alone_attaches" {
  command = plan

  variables {
    create_table = null
  }

  assert {
    condition     = length(aws_dynamodb_table.this) == 0 && aws_lambda_event_source_mapping.this["pipeline"].event_source_arn == var.stream_arn
    error_message = "stream_arn alone should attach to that stream and create no table."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this["pipeline"].starting_position == "LATEST" && output.table_name == "orders"
    error_message = "Attached by stream_arn alone, the module behaves as with create_table = false."
  }
}

run "attach_explicit_trim_horizon_and_table_key" {
  command = plan

  variables {
    starting_position = "TRIM_HORIZON"
    table_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
  }

  assert {
    condition     = aws_lambda_event_source_mapping.this["pipeline"].starting_position == "TRIM_HORIZON"
    error_message = "An explicit starting position wins."
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Resource if s.Sid == "DecryptSourceTableStream"]) == ["arn:aws:kms:us-east-1:123456789012:key/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"]
    error_message = "The stream of a CMK-encrypted table needs kms:Decrypt on that key."
  }
}

# The table is read through stream_arn, so the read fails first, with the same message.
run "attach_needs_stream_arn" {
  command = plan

  variables {
    stream_arn = null
  }

  expect_failures = [data.aws_dynamodb_table.attached]
}

run "attach_needs_stream_arn_without_reading" {
  command = plan

  variables {
    stream_arn          = null
    read_attached_table = false
  }

  expect_failures = [terraform_data.check_stream]
}

# create_table = true with a stream_arn contradicts itself: the plan fails rather than ignore one.
run "stream_arn_only_when_attaching" {
  command = plan

  variables {
    create_table = true
  }

  expect_failures = [terraform_data.check_stream]
}

run "range_key_only_when_creating" {
  command = plan

  variables {
    table_range_key = "sk"
  }

  expect_failures = [terraform_data.check_stream]
}
