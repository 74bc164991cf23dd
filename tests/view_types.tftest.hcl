# Each stream view type: the created table streams it and the mapping reads that stream.

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name = "test"
}

run "keys_only" {
  command = plan

  variables {
    stream_view_type = "KEYS_ONLY"
  }

  assert {
    condition     = aws_dynamodb_table.this[0].stream_enabled && aws_dynamodb_table.this[0].stream_view_type == "KEYS_ONLY"
    error_message = "The table should stream KEYS_ONLY."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this["pipeline"].event_source_arn == aws_dynamodb_table.this[0].stream_arn
    error_message = "The mapping should read the table's stream."
  }
}

run "new_image" {
  command = plan

  variables {
    stream_view_type = "NEW_IMAGE"
  }

  assert {
    condition     = aws_dynamodb_table.this[0].stream_enabled && aws_dynamodb_table.this[0].stream_view_type == "NEW_IMAGE"
    error_message = "The table should stream NEW_IMAGE."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this["pipeline"].event_source_arn == aws_dynamodb_table.this[0].stream_arn
    error_message = "The mapping should read the table's stream."
  }
}

run "old_image" {
  command = plan

  variables {
    stream_view_type = "OLD_IMAGE"
  }

  assert {
    condition     = aws_dynamodb_table.this[0].stream_enabled && aws_dynamodb_table.this[0].stream_view_type == "OLD_IMAGE"
    error_message = "The table should stream OLD_IMAGE."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this["pipeline"].event_source_arn == aws_dynamodb_table.this[0].stream_arn
    error_message = "The mapping should read the table's stream."
  }
}

run "new_and_old_images" {
  command = plan

  variables {
    stream_view_type        = "NEW_AND_OLD_IMAGES"
    notification_attributes = ["status"]
  }

  assert {
    condition     = aws_dynamodb_table.this[0].stream_enabled && aws_dynamodb_table.this[0].stream_view_type == "NEW_AND_OLD_IMAGES"
    error_message = "The table should stream NEW_AND_OLD_IMAGES."
  }
  assert {
    condition     = aws_lambda_function.this["pipeline"].environment[0].variables["NOTIFY_ATTRIBUTES"] == "status"
    error_message = "NOTIFY_ATTRIBUTES should be passed."
  }
}

run "attribute_changes_need_both_images" {
  command = plan

  variables {
    stream_view_type        = "NEW_IMAGE"
    notification_attributes = ["status"]
  }

  expect_failures = [terraform_data.check_stream]
}
