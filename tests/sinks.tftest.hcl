# Sinks and destinations brought by the caller or configured differently: existing bucket,
# topic, aggregates and checkpoint tables; customer managed keys; FIFO topic; S3 on-failure
# destination; alias; filters; code from S3.

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name = "test"
}

run "user_given_sinks" {
  command = plan

  variables {
    create_etl_bucket              = false
    etl_bucket_arn                 = "arn:aws:s3:::company-lake"
    etl_bucket_kms_key_arn         = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-00000000e7e7"
    etl_prefix                     = "raw/applications/"
    create_notification_topic      = false
    notification_topic_arn         = "arn:aws:sns:us-east-1:123456789012:hr-events"
    notification_topic_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-0000000005a5"
    create_analytics_table         = false
    analytics_table_arn            = "arn:aws:dynamodb:us-east-1:123456789012:table/shared-aggregates"
    create_checkpoint_table        = false
    checkpoint_table_arn           = "arn:aws:dynamodb:us-east-1:123456789012:table/shared-checkpoints"
    checkpoint_table_kms_key_arn   = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-0000000c4ec4"
  }

  assert {
    condition     = length(aws_s3_bucket.this) + length(aws_sns_topic.this) + length(aws_dynamodb_table.aggregates) + length(aws_dynamodb_table.checkpoint) == 0
    error_message = "Brought sinks must not be created."
  }
  assert {
    condition = aws_lambda_function.this["pipeline"].environment[0].variables == tomap({
      PROCESSORS        = "analytics,notification,etl"
      CHECKPOINT_TABLE  = "shared-checkpoints"
      METRICS_NAMESPACE = "DynamoDBTriggers"
      LOG_LEVEL         = "INFO"
      ETL_BUCKET        = "company-lake"
      ETL_PREFIX        = "raw/applications/"
      NOTIFY_TOPIC_ARN  = "arn:aws:sns:us-east-1:123456789012:hr-events"
      NOTIFY_EVENTS     = "INSERT,MODIFY,REMOVE"
      AGGREGATES_TABLE  = "shared-aggregates"
    })
    error_message = "Environment: ${jsonencode(aws_lambda_function.this["pipeline"].environment[0].variables)}"
  }
  assert {
    condition = { for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Sid => [s.Action, s.Resource] if s.Sid != "WriteOwnLogs" && s.Sid != "ReadTableStream" && s.Sid != "ListStreams" } == {
      Checkpoints              = [["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], ["arn:aws:dynamodb:us-east-1:123456789012:table/shared-checkpoints"]]
      WriteAggregates          = [["dynamodb:UpdateItem"], ["arn:aws:dynamodb:us-east-1:123456789012:table/shared-aggregates"]]
      PublishNotifications     = [["sns:Publish"], ["arn:aws:sns:us-east-1:123456789012:hr-events"]]
      WriteEtlObjects          = [["s3:PutObject"], ["arn:aws:s3:::company-lake/raw/applications/*"]]
      SendToOwnDeadLetterQueue = [["sqs:SendMessage"], ["arn:aws:sqs:us-east-1:123456789012:test-pipeline-dlq"]]
      UseCheckpointTableKey    = [["kms:Decrypt"], ["arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-0000000c4ec4"]]
      UseEtlBucketKey          = [["kms:GenerateDataKey"], ["arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-00000000e7e7"]]
      UseNotificationTopicKey  = [["kms:GenerateDataKey", "kms:Decrypt"], ["arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-0000000005a5"]]
    }
    error_message = "Policy: ${aws_iam_role_policy.this["pipeline"].policy}"
  }
  assert {
    condition     = output.etl_bucket_arn == "arn:aws:s3:::company-lake" && output.notification_topic_arn == var.notification_topic_arn && output.analytics_table_name == "shared-aggregates" && output.checkpoint_table_arn == var.checkpoint_table_arn
    error_message = "Outputs should pass the brought sinks through."
  }
}

run "brought_etl_bucket_needs_arn" {
  command = plan

  variables {
    create_etl_bucket = false
  }

  expect_failures = [terraform_data.check_sinks]
}

run "brought_topic_needs_arn" {
  command = plan

  variables {
    create_notification_topic = false
  }

  expect_failures = [terraform_data.check_sinks]
}

run "brought_aggregates_table_needs_arn" {
  command = plan

  variables {
    create_analytics_table = false
  }

  expect_failures = [terraform_data.check_sinks]
}

run "brought_checkpoint_table_needs_arn" {
  command = plan

  variables {
    create_checkpoint_table = false
  }

  expect_failures = [terraform_data.check_sinks]
}

run "created_sinks_with_keys" {
  command = plan

  variables {
    etl_bucket_kms_key_arn         = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-00000000e7e7"
    etl_bucket_expiration_days     = 90
    analytics_table_kms_key_arn    = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-0000000a9a9a"
    notification_topic_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-0000000005a5"
    dlq_kms_key_arn                = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000d1d"
    log_kms_key_arn                = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000106"
    function_kms_key_arn           = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-0000000000fe"
  }

  assert {
    condition = alltrue([
      one(one(aws_s3_bucket_server_side_encryption_configuration.this["etl"].rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms",
      one(one(aws_s3_bucket_server_side_encryption_configuration.this["etl"].rule).apply_server_side_encryption_by_default).kms_master_key_id == var.etl_bucket_kms_key_arn,
      one(aws_s3_bucket_server_side_encryption_configuration.this["etl"].rule).bucket_key_enabled,
      aws_dynamodb_table.aggregates[0].server_side_encryption[0].kms_key_arn == var.analytics_table_kms_key_arn,
      aws_sns_topic.this[0].kms_master_key_id == var.notification_topic_kms_key_arn,
      aws_sqs_queue.dlq["pipeline"].kms_master_key_id == var.dlq_kms_key_arn,
      aws_sqs_queue.dlq["pipeline"].sqs_managed_sse_enabled != true,
      aws_cloudwatch_log_group.this["pipeline"].kms_key_id == var.log_kms_key_arn,
      aws_lambda_function.this["pipeline"].kms_key_arn == var.function_kms_key_arn,
    ])
    error_message = "Customer managed keys should be applied to the created resources."
  }
  assert {
    condition     = [for r in aws_s3_bucket_lifecycle_configuration.this["etl"].rule : [r.filter[0].prefix, r.expiration[0].days] if r.id == "expire-objects"] == [["changes/", 90]]
    error_message = "ETL expiry should apply to the ETL prefix."
  }
  assert {
    condition = toset([for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Sid if startswith(s.Action[0], "kms:")]) == toset([
      "UseAggregatesTableKey", "UseEtlBucketKey", "UseNotificationTopicKey", "UseDeadLetterQueueKey"
    ])
    error_message = "KMS permissions only on the keys the function uses (not the log or environment keys)."
  }
}

run "fifo_topic" {
  command = plan

  variables {
    create_analytics                               = false
    create_etl                                     = false
    notification_topic_fifo                        = true
    notification_topic_content_based_deduplication = true
  }

  override_resource {
    target          = aws_sns_topic.this[0]
    override_during = plan
    values = {
      arn = "arn:aws:sns:us-east-1:123456789012:test-notifications.fifo"
    }
  }

  assert {
    condition     = aws_sns_topic.this[0].name == "test-notifications.fifo" && aws_sns_topic.this[0].fifo_topic && aws_sns_topic.this[0].content_based_deduplication
    error_message = "A FIFO topic should be named .fifo and be FIFO."
  }
  assert {
    condition     = aws_sns_topic.this[0].kms_master_key_id == "alias/aws/sns"
    error_message = "The FIFO topic is encrypted too."
  }
  assert {
    condition     = aws_lambda_function.this["pipeline"].environment[0].variables["NOTIFY_TOPIC_ARN"] == "arn:aws:sns:us-east-1:123456789012:test-notifications.fifo"
    error_message = "The function should publish to the FIFO topic."
  }
}

run "s3_failure_destination" {
  command = plan

  variables {
    on_failure_destination         = "s3"
    failure_bucket_expiration_days = 30
  }

  assert {
    condition     = length(aws_sqs_queue.dlq) == 0 && length(aws_cloudwatch_metric_alarm.dlq) == 0
    error_message = "No dead-letter queue with an S3 destination."
  }
  assert {
    condition     = keys(aws_s3_bucket.this) == ["etl", "failures"] && aws_s3_bucket.this["failures"].bucket == "test-failures-123456789012"
    error_message = "A failure bucket should be created."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this["pipeline"].destination_config[0].on_failure[0].destination_arn == "arn:aws:s3:::test-failures-123456789012"
    error_message = "The mapping should send failed batches to the bucket."
  }
  assert {
    condition = { for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Sid => [s.Action, s.Resource] if contains(["WriteFailedBatches", "ListFailureBucket"], s.Sid) } == {
      WriteFailedBatches = [["s3:PutObject"], ["arn:aws:s3:::test-failures-123456789012/*"]]
      ListFailureBucket  = [["s3:ListBucket"], ["arn:aws:s3:::test-failures-123456789012"]]
    }
    error_message = "Policy: ${aws_iam_role_policy.this["pipeline"].policy}"
  }
  assert {
    condition     = aws_s3_bucket_public_access_block.this["failures"].block_public_policy && jsondecode(aws_s3_bucket_policy.this["failures"].policy).Statement[0].Effect == "Deny"
    error_message = "The failure bucket is hardened like the ETL bucket."
  }
  assert {
    condition     = output.failure_bucket_name == "test-failures-123456789012" && length(output.dlq_urls) == 0
    error_message = "Outputs are wrong."
  }
}

run "s3_failure_destination_brought" {
  command = plan

  variables {
    on_failure_destination     = "s3"
    create_failure_bucket      = false
    failure_bucket_arn         = "arn:aws:s3:::central-failures"
    failure_bucket_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-00000000fa11"
  }

  assert {
    condition     = keys(aws_s3_bucket.this) == ["etl"] && aws_lambda_event_source_mapping.this["pipeline"].destination_config[0].on_failure[0].destination_arn == "arn:aws:s3:::central-failures"
    error_message = "The brought bucket should be the destination."
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Action if s.Sid == "UseFailureBucketKey"]) == ["kms:GenerateDataKey"]
    error_message = "The failure bucket key should be usable for SSE-KMS writes (kms:GenerateDataKey only)."
  }
}

run "s3_failure_destination_brought_needs_arn" {
  command = plan

  variables {
    on_failure_destination = "s3"
    create_failure_bucket  = false
  }

  expect_failures = [terraform_data.check_sinks]
}

run "no_failure_destination" {
  command = plan

  variables {
    on_failure_destination = "none"
  }

  assert {
    condition     = length(aws_lambda_event_source_mapping.this["pipeline"].destination_config) == 0 && length(aws_sqs_queue.dlq) == 0
    error_message = "No destination when none is chosen."
  }
  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s if startswith(s.Action[0], "sqs:") || s.Sid == "WriteFailedBatches"]) == 0
    error_message = "No destination permissions."
  }
}

run "alias_and_publish" {
  command = plan

  variables {
    publish                 = true
    create_alias            = true
    alias_function_versions = { pipeline = "3" }
  }

  assert {
    condition     = aws_lambda_function.this["pipeline"].publish && aws_lambda_alias.this["pipeline"].name == "live" && aws_lambda_alias.this["pipeline"].function_version == "3"
    error_message = "The alias should point at the pinned version."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this["pipeline"].function_name == "arn:aws:lambda:us-east-1:123456789012:function:test-pipeline:live"
    error_message = "The mapping should invoke the alias."
  }
  assert {
    condition     = output.function_alias_arns == { pipeline = "arn:aws:lambda:us-east-1:123456789012:function:test-pipeline:live" }
    error_message = "The alias ARN should be an output."
  }
}

run "alias_latest_published_version" {
  command = plan

  variables {
    publish      = true
    create_alias = true
  }

  assert {
    condition     = aws_lambda_alias.this["pipeline"].function_version == "1"
    error_message = "Without a pin the alias follows the latest published version."
  }
}

run "alias_needs_publish" {
  command = plan

  variables {
    create_alias = true
  }

  expect_failures = [terraform_data.check_code]
}

run "mapping_options" {
  command = plan

  variables {
    # Analytics' tumbling windows are refused at parallelization_factor > 1
    # (parallel.tftest.hcl).
    create_analytics                     = false
    batch_size                           = 500
    maximum_batching_window_in_seconds   = 5
    parallelization_factor               = 4
    bisect_batch_on_function_error       = false
    maximum_retry_attempts               = 2
    maximum_record_age_in_seconds        = 600
    tumbling_window_in_seconds           = 60
    event_source_mapping_enabled         = false
    event_source_mapping_metrics_enabled = true
    filter_patterns = [
      jsonencode({ eventName = ["MODIFY"], dynamodb = { NewImage = { status = { S = ["OFFER"] } } } }),
      jsonencode({ eventName = ["INSERT"] }),
    ]
    filter_criteria_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-00000000f117"
  }

  assert {
    condition = alltrue([
      aws_lambda_event_source_mapping.this["pipeline"].batch_size == 500,
      aws_lambda_event_source_mapping.this["pipeline"].maximum_batching_window_in_seconds == 5,
      aws_lambda_event_source_mapping.this["pipeline"].parallelization_factor == 4,
      aws_lambda_event_source_mapping.this["pipeline"].bisect_batch_on_function_error == false,
      aws_lambda_event_source_mapping.this["pipeline"].maximum_retry_attempts == 2,
      aws_lambda_event_source_mapping.this["pipeline"].maximum_record_age_in_seconds == 600,
      aws_lambda_event_source_mapping.this["pipeline"].tumbling_window_in_seconds == 60,
      aws_lambda_event_source_mapping.this["pipeline"].enabled == false,
      aws_lambda_event_source_mapping.this["pipeline"].metrics_config[0].metrics == toset(["EventCount"]),
      aws_lambda_event_source_mapping.this["pipeline"].kms_key_arn == var.filter_criteria_kms_key_arn,
      aws_lambda_event_source_mapping.this["pipeline"].function_response_types == toset(["ReportBatchItemFailures"]),
    ])
    error_message = "Mapping options are not applied."
  }
  assert {
    condition     = toset([for f in aws_lambda_event_source_mapping.this["pipeline"].filter_criteria[0].filter : f.pattern]) == toset(var.filter_patterns)
    error_message = "Filter patterns should be passed as given."
  }
}

run "function_overrides" {
  command = plan

  variables {
    function_layout = "separate"
    create_etl      = false
    function_overrides = {
      analytics = { memory_size = 1024, batch_size = 1000, reserved_concurrent_executions = 5 }
    }
  }

  assert {
    condition     = aws_lambda_function.this["analytics"].memory_size == 1024 && aws_lambda_function.this["analytics"].reserved_concurrent_executions == 5 && aws_lambda_event_source_mapping.this["analytics"].batch_size == 1000
    error_message = "Overrides should apply to their function."
  }
  assert {
    condition     = aws_lambda_function.this["notification"].memory_size == 256 && aws_lambda_function.this["notification"].reserved_concurrent_executions == -1 && aws_lambda_event_source_mapping.this["notification"].batch_size == 100
    error_message = "Other functions keep the module-wide settings."
  }
}

run "function_overrides_for_missing_function" {
  command = plan

  variables {
    function_overrides = { etl = { memory_size = 512 } }
  }

  expect_failures = [terraform_data.check_processors]
}

run "function_settings_and_extra_environment" {
  command = plan

  variables {
    runtime                        = "python3.13"
    architecture                   = "x86_64"
    memory_size                    = 512
    timeout                        = 120
    reserved_concurrent_executions = 2
    log_level                      = "DEBUG"
    metrics_namespace              = "Hiring/Streams"
    log_retention_in_days          = 90
    environment_variables          = { TEAM = "hiring" }
    analytics_group_by             = ["job_id", "status"]
    notification_events            = ["MODIFY"]
    notification_attributes        = ["status"]
    notification_redact            = ["email", "phone"]
  }

  assert {
    condition = alltrue([
      aws_lambda_function.this["pipeline"].runtime == "python3.13",
      aws_lambda_function.this["pipeline"].architectures == tolist(["x86_64"]),
      aws_lambda_function.this["pipeline"].memory_size == 512,
      aws_lambda_function.this["pipeline"].timeout == 120,
      aws_lambda_function.this["pipeline"].reserved_concurrent_executions == 2,
      aws_cloudwatch_log_group.this["pipeline"].retention_in_days == 90,
    ])
    error_message = "Function settings are not applied."
  }
  assert {
    condition = aws_lambda_function.this["pipeline"].environment[0].variables == tomap({
      TEAM               = "hiring"
      PROCESSORS         = "analytics,notification,etl"
      CHECKPOINT_TABLE   = "test-checkpoints"
      METRICS_NAMESPACE  = "Hiring/Streams"
      LOG_LEVEL          = "DEBUG"
      ETL_BUCKET         = "test-etl-123456789012"
      ETL_PREFIX         = "changes/"
      NOTIFY_TOPIC_ARN   = "arn:aws:sns:us-east-1:123456789012:test-notifications"
      NOTIFY_EVENTS      = "MODIFY"
      NOTIFY_ATTRIBUTES  = "status"
      NOTIFY_REDACT      = "email,phone"
      AGGREGATES_TABLE   = "test-aggregates"
      ANALYTICS_GROUP_BY = "job_id,status"
    })
    error_message = "Environment: ${jsonencode(aws_lambda_function.this["pipeline"].environment[0].variables)}"
  }
  assert {
    condition     = contains(flatten([for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w.properties.metrics]), "Hiring/Streams")
    error_message = "The dashboard should read the configured metrics namespace."
  }
}

run "code_from_s3" {
  command = plan

  variables {
    s3_package = { bucket = "artifacts-bucket", key = "dynamodb-triggers/1.2.3/handlers.zip", version_id = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY" }
  }

  assert {
    condition = alltrue([
      aws_lambda_function.this["pipeline"].filename == null,
      aws_lambda_function.this["pipeline"].s3_bucket == "artifacts-bucket",
      aws_lambda_function.this["pipeline"].s3_key == "dynamodb-triggers/1.2.3/handlers.zip",
      aws_lambda_function.this["pipeline"].s3_object_version == "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
    ])
    error_message = "Code should come from the S3 object."
  }
}

run "code_from_local_path" {
  command = plan

  variables {
    local_package_path = "dist/handlers.zip"
  }

  assert {
    condition     = aws_lambda_function.this["pipeline"].filename == "dist/handlers.zip" && aws_lambda_function.this["pipeline"].source_code_hash == filebase64sha256("dist/handlers.zip")
    error_message = "Code should come from the given zip."
  }
}

run "missing_code_is_a_plan_time_error" {
  command = plan

  variables {
    local_package_path = "no/such/handlers.zip"
  }

  expect_failures = [terraform_data.check_code]
}
