# One rule for every part the module creates unless the caller brings it (checkpoint table,
# aggregates table, topic, ETL bucket, failure bucket, event bus, view table): a given ARN
# means "bring your own". The create switch left null uses the ARN when one is given and
# creates the part otherwise; true together with an ARN fails the plan instead of creating a
# second resource and ignoring the caller's. (Explicit false with an ARN: sinks.tftest.hcl.)

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name = "test"
}

run "arns_alone_bring_every_sink" {
  command = plan

  variables {
    create_eventbus        = true
    create_view            = true
    view_partition_key     = "pk"
    on_failure_destination = "s3"

    checkpoint_table_arn   = "arn:aws:dynamodb:us-east-1:123456789012:table/shared-checkpoints"
    analytics_table_arn    = "arn:aws:dynamodb:us-east-1:123456789012:table/shared-aggregates"
    notification_topic_arn = "arn:aws:sns:us-east-1:123456789012:hr-events"
    etl_bucket_arn         = "arn:aws:s3:::company-lake"
    failure_bucket_arn     = "arn:aws:s3:::central-failures"
    eventbus_bus_arn       = "arn:aws:events:us-east-1:123456789012:event-bus/default"
    view_table_arn         = "arn:aws:dynamodb:us-east-1:123456789012:table/shared-view"
  }

  assert {
    condition     = length(aws_dynamodb_table.checkpoint) == 0 && output.checkpoint_table_arn == var.checkpoint_table_arn && aws_lambda_function.this["pipeline"].environment[0].variables["CHECKPOINT_TABLE"] == "shared-checkpoints"
    error_message = "checkpoint_table_arn alone should be used, and no checkpoint table created."
  }
  assert {
    condition     = length(aws_dynamodb_table.aggregates) == 0 && output.analytics_table_arn == var.analytics_table_arn && aws_lambda_function.this["pipeline"].environment[0].variables["AGGREGATES_TABLE"] == "shared-aggregates"
    error_message = "analytics_table_arn alone should be used, and no aggregates table created."
  }
  assert {
    condition     = length(aws_sns_topic.this) == 0 && output.notification_topic_arn == var.notification_topic_arn && aws_lambda_function.this["pipeline"].environment[0].variables["NOTIFY_TOPIC_ARN"] == var.notification_topic_arn
    error_message = "notification_topic_arn alone should be used, and no topic created."
  }
  assert {
    condition     = !contains(keys(aws_s3_bucket.this), "etl") && output.etl_bucket_arn == var.etl_bucket_arn && aws_lambda_function.this["pipeline"].environment[0].variables["ETL_BUCKET"] == "company-lake"
    error_message = "etl_bucket_arn alone should be used, and no ETL bucket created."
  }
  assert {
    condition     = length(aws_s3_bucket.this) == 0 && output.failure_bucket_arn == var.failure_bucket_arn && aws_lambda_event_source_mapping.this["pipeline"].destination_config[0].on_failure[0].destination_arn == var.failure_bucket_arn
    error_message = "failure_bucket_arn alone should be the destination, and no failure bucket created."
  }
  assert {
    condition     = length(aws_cloudwatch_event_bus.this) == 0 && output.eventbus_bus_arn == var.eventbus_bus_arn && aws_lambda_function.this["pipeline"].environment[0].variables["EVENTBUS_NAME"] == var.eventbus_bus_arn
    error_message = "eventbus_bus_arn alone should be published to, and no bus created."
  }
  assert {
    condition     = length(aws_dynamodb_table.view) == 0 && output.view_table_arn == var.view_table_arn && aws_lambda_function.this["pipeline"].environment[0].variables["VIEW_TABLE"] == "shared-view"
    error_message = "view_table_arn alone should be used, and no view table created."
  }
  assert {
    condition = { for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Sid => s.Resource if contains(["Checkpoints", "WriteAggregates", "PublishNotifications", "WriteEtlObjects", "WriteFailedBatches", "PublishEvents", "WriteView"], s.Sid) } == {
      Checkpoints          = ["arn:aws:dynamodb:us-east-1:123456789012:table/shared-checkpoints"]
      WriteAggregates      = ["arn:aws:dynamodb:us-east-1:123456789012:table/shared-aggregates"]
      PublishNotifications = ["arn:aws:sns:us-east-1:123456789012:hr-events"]
      WriteEtlObjects      = ["arn:aws:s3:::company-lake/changes/*"]
      WriteFailedBatches   = ["arn:aws:s3:::central-failures/*"]
      PublishEvents        = ["arn:aws:events:us-east-1:123456789012:event-bus/default"]
      WriteView            = ["arn:aws:dynamodb:us-east-1:123456789012:table/shared-view"]
    }
    error_message = "The role should reach exactly the brought sinks: ${aws_iam_role_policy.this["pipeline"].policy}"
  }
}

# Without an ARN the null switch creates, as true did before (defaults.tftest.hcl covers the
# rest of the default plan).
run "no_arns_create_every_sink" {
  command = plan

  variables {
    create_eventbus        = true
    create_view            = true
    view_partition_key     = "pk"
    on_failure_destination = "s3"
  }

  assert {
    condition = alltrue([
      length(aws_dynamodb_table.checkpoint) == 1,
      length(aws_dynamodb_table.aggregates) == 1,
      length(aws_sns_topic.this) == 1,
      keys(aws_s3_bucket.this) == ["etl", "failures"],
      length(aws_cloudwatch_event_bus.this) == 1,
      length(aws_dynamodb_table.view) == 1,
    ])
    error_message = "Every sink should be created when no ARN is given."
  }
}

# A switch set to true as well as an ARN contradicts itself: the plan fails and names both.

run "checkpoint_table_true_with_arn_fails" {
  command = plan

  variables {
    create_checkpoint_table = true
    checkpoint_table_arn    = "arn:aws:dynamodb:us-east-1:123456789012:table/shared-checkpoints"
  }

  expect_failures = [terraform_data.check_sinks]
}

run "analytics_table_true_with_arn_fails" {
  command = plan

  variables {
    create_analytics_table = true
    analytics_table_arn    = "arn:aws:dynamodb:us-east-1:123456789012:table/shared-aggregates"
  }

  expect_failures = [terraform_data.check_sinks]
}

run "notification_topic_true_with_arn_fails" {
  command = plan

  variables {
    create_notification_topic = true
    notification_topic_arn    = "arn:aws:sns:us-east-1:123456789012:hr-events"
  }

  expect_failures = [terraform_data.check_sinks]
}

run "etl_bucket_true_with_arn_fails" {
  command = plan

  variables {
    create_etl_bucket = true
    etl_bucket_arn    = "arn:aws:s3:::company-lake"
  }

  expect_failures = [terraform_data.check_sinks]
}

run "failure_bucket_true_with_arn_fails" {
  command = plan

  variables {
    on_failure_destination = "s3"
    create_failure_bucket  = true
    failure_bucket_arn     = "arn:aws:s3:::central-failures"
  }

  expect_failures = [terraform_data.check_sinks]
}

run "eventbus_bus_true_with_arn_fails" {
  command = plan

  variables {
    create_eventbus     = true
    create_eventbus_bus = true
    eventbus_bus_arn    = "arn:aws:events:us-east-1:123456789012:event-bus/default"
  }

  expect_failures = [terraform_data.check_sinks]
}

run "view_table_true_with_arn_fails" {
  command = plan

  variables {
    create_view        = true
    view_partition_key = "pk"
    create_view_table  = true
    view_table_arn     = "arn:aws:dynamodb:us-east-1:123456789012:table/shared-view"
  }

  expect_failures = [terraform_data.check_sinks]
}

# An ARN for a sink whose processor is off is not a contradiction worth failing for.
run "unused_sink_arn_is_ignored_with_its_processor" {
  command = plan

  variables {
    create_etl        = false
    create_etl_bucket = true
    etl_bucket_arn    = "arn:aws:s3:::company-lake"
  }

  assert {
    condition     = !contains(keys(aws_s3_bucket.this), "etl") && output.etl_bucket_arn == null
    error_message = "Without the ETL processor there is no ETL bucket, created or brought."
  }
}
