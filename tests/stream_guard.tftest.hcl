# The stream change guard: a change that gives the mappings a new stream (view type, table name,
# attached stream ARN) fails the plan unless stream_arn_change_acknowledged = true.
# These runs apply (against the mocked provider) so that the guard has prior state.

mock_provider "aws" {
  source = "./tests/mocks/apply"
}

variables {
  name                        = "test"
  stream_view_type            = "NEW_AND_OLD_IMAGES"
  deletion_protection_enabled = false
}

run "initial_apply" {
  command = apply

  assert {
    condition     = terraform_data.stream_guard[0].output.stream_view_type == "NEW_AND_OLD_IMAGES"
    error_message = "The guard should record the stream view type."
  }
}

run "same_stream_plans_cleanly" {
  command = plan

  variables {
    batch_size = 200
  }

  assert {
    condition     = aws_lambda_event_source_mapping.this["pipeline"].batch_size == 200
    error_message = "Unrelated changes are not blocked."
  }
}

run "view_type_change_is_blocked" {
  command = plan

  variables {
    stream_view_type = "NEW_IMAGE"
  }

  expect_failures = [terraform_data.stream_change_check]
}

run "table_rename_is_blocked" {
  command = plan

  variables {
    table_name = "test-renamed"
  }

  expect_failures = [terraform_data.stream_change_check]
}

run "acknowledged_view_type_change" {
  command = apply

  variables {
    stream_view_type               = "NEW_IMAGE"
    stream_arn_change_acknowledged = true
  }

  assert {
    condition     = aws_dynamodb_table.this[0].stream_view_type == "NEW_IMAGE" && terraform_data.stream_guard[0].output.stream_view_type == "NEW_IMAGE"
    error_message = "An acknowledged change is applied and recorded."
  }
}

run "acknowledgement_reset" {
  command = apply

  variables {
    stream_view_type               = "NEW_IMAGE"
    stream_arn_change_acknowledged = false
  }

  assert {
    condition     = terraform_data.stream_guard[0].output.stream_view_type == "NEW_IMAGE"
    error_message = "Resetting the flag keeps the new view type as the reference."
  }
}

run "changing_back_is_blocked_again" {
  command = plan

  variables {
    stream_view_type = "NEW_AND_OLD_IMAGES"
  }

  expect_failures = [terraform_data.stream_change_check]
}
