# Each processor switched off, in both layouts: its environment, permissions and sink disappear,
# and nothing else changes.

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name = "test"
}

run "analytics_off" {
  command = plan

  variables {
    create_analytics = false
  }

  assert {
    condition     = aws_lambda_function.this["pipeline"].environment[0].variables["PROCESSORS"] == "notification,etl"
    error_message = "PROCESSORS should list the remaining processors."
  }
  assert {
    condition     = !contains(keys(aws_lambda_function.this["pipeline"].environment[0].variables), "AGGREGATES_TABLE") && length(aws_dynamodb_table.aggregates) == 0
    error_message = "Without analytics there is no aggregates table nor AGGREGATES_TABLE."
  }
  assert {
    condition     = !contains([for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Sid], "WriteAggregates")
    error_message = "Without analytics the role must not write aggregates."
  }
  assert {
    condition     = length(aws_sns_topic.this) == 1 && length(aws_s3_bucket.this) == 1 && output.analytics_table_arn == null
    error_message = "The other sinks stay."
  }
}

run "notification_off" {
  command = plan

  variables {
    create_notification = false
  }

  assert {
    condition     = aws_lambda_function.this["pipeline"].environment[0].variables["PROCESSORS"] == "analytics,etl"
    error_message = "PROCESSORS should list the remaining processors."
  }
  assert {
    condition     = length([for k in keys(aws_lambda_function.this["pipeline"].environment[0].variables) : k if startswith(k, "NOTIFY_")]) == 0 && length(aws_sns_topic.this) == 0
    error_message = "Without notification there is no topic nor NOTIFY_* variable."
  }
  assert {
    condition     = !contains([for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Sid], "PublishNotifications")
    error_message = "Without notification the role must not publish."
  }
  assert {
    condition     = output.notification_topic_arn == null && length(aws_dynamodb_table.aggregates) == 1
    error_message = "Outputs and other sinks are wrong."
  }
}

run "etl_off" {
  command = plan

  variables {
    create_etl = false
  }

  assert {
    condition     = aws_lambda_function.this["pipeline"].environment[0].variables["PROCESSORS"] == "analytics,notification"
    error_message = "PROCESSORS should list the remaining processors."
  }
  assert {
    condition     = length([for k in keys(aws_lambda_function.this["pipeline"].environment[0].variables) : k if startswith(k, "ETL_")]) == 0 && length(aws_s3_bucket.this) == 0
    error_message = "Without ETL there is no bucket nor ETL_* variable."
  }
  assert {
    condition     = !contains([for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Sid], "WriteEtlObjects")
    error_message = "Without ETL the role must not write objects."
  }
  assert {
    condition     = output.etl_bucket_name == null && output.etl_prefix == null
    error_message = "ETL outputs should be null."
  }
}

run "only_notification_combined" {
  command = plan

  variables {
    create_analytics = false
    create_etl       = false
  }

  assert {
    condition = aws_lambda_function.this["pipeline"].environment[0].variables == tomap({
      PROCESSORS        = "notification"
      CHECKPOINT_TABLE  = "test-checkpoints"
      METRICS_NAMESPACE = "DynamoDBTriggers"
      LOG_LEVEL         = "INFO"
      NOTIFY_TOPIC_ARN  = "arn:aws:sns:us-east-1:123456789012:test-notifications"
      NOTIFY_EVENTS     = "INSERT,MODIFY,REMOVE"
    })
    error_message = "Environment: ${jsonencode(aws_lambda_function.this["pipeline"].environment[0].variables)}"
  }
}

run "separate_analytics_off" {
  command = plan

  variables {
    function_layout  = "separate"
    create_analytics = false
  }

  assert {
    condition     = keys(aws_lambda_function.this) == ["etl", "notification"] && keys(aws_lambda_event_source_mapping.this) == ["etl", "notification"]
    error_message = "One function and mapping per enabled processor."
  }
  assert {
    condition     = aws_lambda_function.this["etl"].handler == "handlers.etl.handler" && aws_lambda_function.this["notification"].handler == "handlers.notification.handler"
    error_message = "Separate functions use the processors' own entry points."
  }
  assert {
    condition     = !contains(keys(aws_lambda_function.this["etl"].environment[0].variables), "PROCESSORS") && !contains(keys(aws_lambda_function.this["etl"].environment[0].variables), "NOTIFY_TOPIC_ARN")
    error_message = "The ETL function gets only its own configuration."
  }
  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.this["notification"].policy).Statement : s.Sid] == ["WriteOwnLogs", "ReadTableStream", "ListStreams", "Checkpoints", "PublishNotifications", "SendToOwnDeadLetterQueue"]
    error_message = "Notification role: ${aws_iam_role_policy.this["notification"].policy}"
  }
  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.this["etl"].policy).Statement : s.Sid] == ["WriteOwnLogs", "ReadTableStream", "ListStreams", "Checkpoints", "WriteEtlObjects", "SendToOwnDeadLetterQueue"]
    error_message = "ETL role: ${aws_iam_role_policy.this["etl"].policy}"
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.this["etl"].policy).Statement : s.Resource if s.Sid == "SendToOwnDeadLetterQueue"]) == ["arn:aws:sqs:us-east-1:123456789012:test-etl-dlq"]
    error_message = "Each function may send only to its own DLQ."
  }
}

run "separate_notification_off" {
  command = plan

  variables {
    function_layout     = "separate"
    create_notification = false
  }

  assert {
    condition     = keys(aws_lambda_function.this) == ["analytics", "etl"] && length(aws_sns_topic.this) == 0
    error_message = "analytics and etl functions, no topic."
  }
  assert {
    condition     = aws_lambda_function.this["analytics"].environment[0].variables["AGGREGATES_TABLE"] == "test-aggregates" && !contains(keys(aws_lambda_function.this["analytics"].environment[0].variables), "ETL_BUCKET")
    error_message = "The analytics function gets only its own configuration."
  }
}

run "separate_etl_off" {
  command = plan

  variables {
    function_layout = "separate"
    create_etl      = false
  }

  assert {
    condition     = keys(aws_lambda_function.this) == ["analytics", "notification"] && length(aws_s3_bucket.this) == 0
    error_message = "analytics and notification functions, no bucket."
  }
  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.this["analytics"].policy).Statement : s.Sid] == ["WriteOwnLogs", "ReadTableStream", "ListStreams", "Checkpoints", "WriteAggregates", "SendToOwnDeadLetterQueue"]
    error_message = "Analytics role: ${aws_iam_role_policy.this["analytics"].policy}"
  }
}

run "all_processors_off" {
  command = plan

  variables {
    create_analytics    = false
    create_notification = false
    create_etl          = false
  }

  expect_failures = [terraform_data.check_processors]
}
