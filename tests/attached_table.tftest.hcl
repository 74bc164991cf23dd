# Attaching (stream_arn): the module reads the table at plan time (data.aws_dynamodb_table
# .attached, read_attached_table = true by default) and checks the stream itself instead of
# trusting the declared stream_view_type: a disabled stream, a stream that is no longer the
# table's current one, and a view type the enabled processors cannot use fail the plan.
# The data source is overridden with what DescribeTable returns for such tables (the AWS
# provider's data source maps StreamSpecification to stream_enabled / stream_view_type,
# LatestStreamArn to stream_arn, KeySchema to hash_key / range_key).

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name         = "test"
  create_table = false
  stream_arn   = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-05-01T10:00:00.000"
}

run "reads_the_attached_table_by_its_arn" {
  command = plan

  override_data {
    target = data.aws_dynamodb_table.attached[0]
    values = {
      arn              = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
      hash_key         = "order_id"
      range_key        = ""
      stream_enabled   = true
      stream_view_type = "NEW_AND_OLD_IMAGES"
      stream_arn       = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-05-01T10:00:00.000"
      stream_label     = "2024-05-01T10:00:00.000"
    }
  }

  variables {
    create_eventbus         = true
    create_view             = true
    view_partition_key      = "customer_id"
    create_replicate        = true
    replica_table_arn       = "arn:aws:dynamodb:us-west-2:123456789012:table/orders-replica"
    notification_attributes = ["status"]
  }

  assert {
    condition     = length(data.aws_dynamodb_table.attached) == 1 && data.aws_dynamodb_table.attached[0].name == "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
    error_message = "The attached table should be read by the table ARN of stream_arn (DescribeTable accepts an ARN)."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this["pipeline"].event_source_arn == var.stream_arn
    error_message = "Every processor can use a NEW_AND_OLD_IMAGES stream: the plan goes on."
  }
}

run "created_table_is_not_read" {
  command = plan

  variables {
    create_table = null
    stream_arn   = null
  }

  assert {
    condition     = length(data.aws_dynamodb_table.attached) == 0 && length(aws_dynamodb_table.this) == 1
    error_message = "Only an attached table is read."
  }
}

# The issue's case: a view attached to a KEYS_ONLY stream, stream_view_type left at its
# default, used to plan and apply, then sent every record to the failure destination.
run "view_on_keys_only_stream_fails" {
  command = plan

  override_data {
    target = data.aws_dynamodb_table.attached[0]
    values = {
      arn              = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
      hash_key         = "order_id"
      range_key        = ""
      stream_enabled   = true
      stream_view_type = "KEYS_ONLY"
      stream_arn       = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-05-01T10:00:00.000"
      stream_label     = "2024-05-01T10:00:00.000"
    }
  }

  variables {
    create_view        = true
    view_partition_key = "order_id"
  }

  expect_failures = [terraform_data.check_stream]
}

run "replica_on_keys_only_stream_fails" {
  command = plan

  override_data {
    target = data.aws_dynamodb_table.attached[0]
    values = {
      arn              = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
      hash_key         = "order_id"
      range_key        = ""
      stream_enabled   = true
      stream_view_type = "KEYS_ONLY"
      stream_arn       = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-05-01T10:00:00.000"
      stream_label     = "2024-05-01T10:00:00.000"
    }
  }

  variables {
    create_replicate  = true
    replica_table_arn = "arn:aws:dynamodb:us-west-2:123456789012:table/orders-replica"
  }

  expect_failures = [terraform_data.check_stream]
}

run "replica_on_old_image_stream_fails" {
  command = plan

  override_data {
    target = data.aws_dynamodb_table.attached[0]
    values = {
      arn              = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
      hash_key         = "order_id"
      range_key        = ""
      stream_enabled   = true
      stream_view_type = "OLD_IMAGE"
      stream_arn       = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-05-01T10:00:00.000"
      stream_label     = "2024-05-01T10:00:00.000"
    }
  }

  variables {
    create_replicate  = true
    replica_table_arn = "arn:aws:dynamodb:us-west-2:123456789012:table/orders-replica"
  }

  expect_failures = [terraform_data.check_stream]
}

run "notification_attributes_on_new_image_stream_fails" {
  command = plan

  override_data {
    target = data.aws_dynamodb_table.attached[0]
    values = {
      arn              = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
      hash_key         = "order_id"
      range_key        = ""
      stream_enabled   = true
      stream_view_type = "NEW_IMAGE"
      stream_arn       = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-05-01T10:00:00.000"
      stream_label     = "2024-05-01T10:00:00.000"
    }
  }

  variables {
    notification_attributes = ["status"]
  }

  expect_failures = [terraform_data.check_stream]
}

# With NEW_IMAGE a REMOVE carries only the keys: the view key must be part of the table's key,
# which is now known for an attached table too (KeySchema as read).
run "view_on_new_image_stream_keyed_by_table_key_plans" {
  command = plan

  override_data {
    target = data.aws_dynamodb_table.attached[0]
    values = {
      arn              = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
      hash_key         = "customer_id"
      range_key        = "order_id"
      stream_enabled   = true
      stream_view_type = "NEW_IMAGE"
      stream_arn       = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-05-01T10:00:00.000"
      stream_label     = "2024-05-01T10:00:00.000"
    }
  }

  variables {
    create_view        = true
    view_partition_key = "customer_id"
    view_sort_key      = "order_id"
  }

  assert {
    condition     = aws_lambda_function.this["pipeline"].environment[0].variables["VIEW_PARTITION_KEY"] == "customer_id"
    error_message = "A NEW_IMAGE stream serves a view keyed by the table's key."
  }
}

run "view_on_new_image_stream_keyed_by_other_attribute_fails" {
  command = plan

  override_data {
    target = data.aws_dynamodb_table.attached[0]
    values = {
      arn              = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
      hash_key         = "order_id"
      range_key        = ""
      stream_enabled   = true
      stream_view_type = "NEW_IMAGE"
      stream_arn       = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-05-01T10:00:00.000"
      stream_label     = "2024-05-01T10:00:00.000"
    }
  }

  variables {
    create_view        = true
    view_partition_key = "customer_id"
  }

  expect_failures = [terraform_data.check_stream]
}

# DescribeTable of a table whose stream is off has no StreamSpecification (the provider then
# reports stream_enabled = false and an empty view type); LatestStreamArn stays the last one.
run "stream_disabled_fails" {
  command = plan

  override_data {
    target = data.aws_dynamodb_table.attached[0]
    values = {
      arn              = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
      hash_key         = "order_id"
      range_key        = ""
      stream_enabled   = false
      stream_view_type = ""
      stream_arn       = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-05-01T10:00:00.000"
      stream_label     = "2024-05-01T10:00:00.000"
    }
  }

  expect_failures = [terraform_data.check_stream]
}

run "stream_of_a_table_that_never_had_one_fails" {
  command = plan

  override_data {
    target = data.aws_dynamodb_table.attached[0]
    values = {
      arn              = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
      hash_key         = "order_id"
      range_key        = ""
      stream_enabled   = false
      stream_view_type = ""
      stream_arn       = ""
      stream_label     = ""
    }
  }

  expect_failures = [terraform_data.check_stream]
}

# The stream was disabled and enabled again: stream_arn names the old one, which receives no
# new changes.
run "stream_that_is_no_longer_current_fails" {
  command = plan

  override_data {
    target = data.aws_dynamodb_table.attached[0]
    values = {
      arn              = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
      hash_key         = "order_id"
      range_key        = ""
      stream_enabled   = true
      stream_view_type = "NEW_AND_OLD_IMAGES"
      stream_arn       = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-06-01T08:00:00.000"
      stream_label     = "2024-06-01T08:00:00.000"
    }
  }

  expect_failures = [terraform_data.check_stream]
}

# The checks use the stream as read: a declaration that understates it does not block a
# processor the stream serves; the contradiction is a warning (check block).
run "declared_view_type_contradicted_by_table_warns" {
  command = plan

  override_data {
    target = data.aws_dynamodb_table.attached[0]
    values = {
      arn              = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
      hash_key         = "order_id"
      range_key        = ""
      stream_enabled   = true
      stream_view_type = "NEW_AND_OLD_IMAGES"
      stream_arn       = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-05-01T10:00:00.000"
      stream_label     = "2024-05-01T10:00:00.000"
    }
  }

  variables {
    stream_view_type   = "KEYS_ONLY"
    create_view        = true
    view_partition_key = "order_id"
  }

  expect_failures = [check.attached_stream_view_type]

  assert {
    condition     = aws_lambda_function.this["pipeline"].environment[0].variables["VIEW_TABLE"] == "test-view"
    error_message = "The view runs: the stream as read serves it."
  }
}

# read_attached_table = false (Terraform's credentials may not describe the table, e.g. in
# another account): nothing is read and the declared view type is trusted, as before.
run "not_reading_trusts_the_declared_view_type" {
  command = plan

  variables {
    read_attached_table = false
    create_view         = true
    view_partition_key  = "order_id"
  }

  assert {
    condition     = length(data.aws_dynamodb_table.attached) == 0 && length(aws_lambda_function.this) == 1
    error_message = "Without reading, the declared (default NEW_AND_OLD_IMAGES) view type is trusted."
  }
}

run "not_reading_still_checks_the_declared_view_type" {
  command = plan

  variables {
    read_attached_table = false
    stream_view_type    = "KEYS_ONLY"
    create_view         = true
    view_partition_key  = "order_id"
  }

  expect_failures = [terraform_data.check_stream]
}
