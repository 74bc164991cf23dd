# The stream change guard when attaching: pointing the module at another stream ARN (e.g. after
# the table's stream was disabled and re-enabled) needs an acknowledgement.

mock_provider "aws" {
  source = "./tests/mocks/apply"
}

variables {
  name                        = "test"
  create_table                = false
  stream_arn                  = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-05-01T10:00:00.000"
  deletion_protection_enabled = false
}

# The attached table as DescribeTable shows it; runs on the re-created stream override it.
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

run "initial_apply" {
  command = apply

  assert {
    condition     = terraform_data.stream_guard[0].output.stream_arn == var.stream_arn
    error_message = "The guard should record the attached stream."
  }
}

run "new_stream_is_blocked" {
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

  variables {
    stream_arn = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-06-01T08:00:00.000"
  }

  expect_failures = [terraform_data.stream_change_check]
}

run "new_stream_acknowledged" {
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

  variables {
    stream_arn                     = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-06-01T08:00:00.000"
    stream_arn_change_acknowledged = true
  }

  assert {
    condition     = aws_lambda_event_source_mapping.this["pipeline"].event_source_arn == "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-06-01T08:00:00.000"
    error_message = "The acknowledged change moves the mapping to the new stream."
  }
}
