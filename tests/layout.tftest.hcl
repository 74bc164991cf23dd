# Combined vs separate functions and the stream reader limit (2 per shard, 1 on global tables).

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name = "test"
}

run "separate_two_processors" {
  command = plan

  variables {
    function_layout = "separate"
    create_etl      = false
  }

  assert {
    condition = alltrue([
      keys(aws_lambda_function.this) == ["analytics", "notification"],
      keys(aws_lambda_event_source_mapping.this) == ["analytics", "notification"],
      keys(aws_sqs_queue.dlq) == ["analytics", "notification"],
      keys(aws_iam_role.this) == ["analytics", "notification"],
      keys(aws_cloudwatch_log_group.this) == ["analytics", "notification"],
      keys(aws_cloudwatch_metric_alarm.iterator_age) == ["analytics", "notification"],
    ])
    error_message = "Each processor should get its own function, role, log group, mapping, DLQ and alarms."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this["analytics"].destination_config[0].on_failure[0].destination_arn == "arn:aws:sqs:us-east-1:123456789012:test-analytics-dlq" && aws_lambda_event_source_mapping.this["notification"].destination_config[0].on_failure[0].destination_arn == "arn:aws:sqs:us-east-1:123456789012:test-notification-dlq"
    error_message = "Each mapping has its own DLQ."
  }
  assert {
    condition     = aws_iam_role.this["analytics"].name == "test-analytics" && aws_lambda_function.this["analytics"].role == "arn:aws:iam::123456789012:role/test-analytics"
    error_message = "One role per function."
  }
}

run "separate_three_processors_rejected" {
  command = plan

  variables {
    function_layout = "separate"
  }

  expect_failures = [terraform_data.check_stream_readers]
}

run "separate_three_processors_explicitly_allowed" {
  command = plan

  variables {
    function_layout             = "separate"
    allow_excess_stream_readers = true
  }

  assert {
    condition     = length(aws_lambda_event_source_mapping.this) == 3
    error_message = "With the override, three mappings are planned."
  }
}

run "other_readers_count" {
  command = plan

  variables {
    additional_stream_readers = 2
  }

  expect_failures = [terraform_data.check_stream_readers]
}

run "one_other_reader_is_fine" {
  command = plan

  variables {
    additional_stream_readers = 1
  }

  assert {
    condition     = length(aws_lambda_event_source_mapping.this) == 1
    error_message = "Combined layout plus one other reader is within the limit."
  }
}

run "global_table_allows_one_reader" {
  command = plan

  variables {
    global_table    = true
    function_layout = "separate"
    create_etl      = false
  }

  expect_failures = [terraform_data.check_stream_readers]
}

run "global_table_combined" {
  command = plan

  variables {
    global_table = true
  }

  assert {
    condition     = length(aws_lambda_event_source_mapping.this) == 1
    error_message = "The combined layout is one reader, fine on a global table."
  }
}
