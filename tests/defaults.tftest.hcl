# The module's defaults: a new table, the combined layout (one function, one stream reader),
# every processor on, sinks and checkpoint table created, an SQS dead-letter queue, alarms and a
# dashboard. Asserts the planned configuration against the handlers' contract.

mock_provider "aws" {
  override_during = plan
  source          = "./tests/mocks/plan"
}

variables {
  name = "test"
}

run "defaults" {
  command = plan

  # Source table and stream
  assert {
    condition     = length(aws_dynamodb_table.this) == 1 && aws_dynamodb_table.this[0].name == "test"
    error_message = "The module should create the source table named after var.name."
  }
  assert {
    condition     = aws_dynamodb_table.this[0].stream_enabled && aws_dynamodb_table.this[0].stream_view_type == "NEW_AND_OLD_IMAGES"
    error_message = "The table should have a NEW_AND_OLD_IMAGES stream by default."
  }
  assert {
    condition     = aws_dynamodb_table.this[0].hash_key == "pk" && aws_dynamodb_table.this[0].range_key == null && aws_dynamodb_table.this[0].billing_mode == "PAY_PER_REQUEST"
    error_message = "Default keys and billing mode are wrong."
  }
  assert {
    condition     = aws_dynamodb_table.this[0].point_in_time_recovery[0].enabled && aws_dynamodb_table.this[0].server_side_encryption[0].enabled
    error_message = "PITR and server-side encryption should be on."
  }
  assert {
    condition     = aws_dynamodb_table.this[0].deletion_protection_enabled && length(aws_dynamodb_table.this[0].ttl) == 0
    error_message = "Deletion protection should be on and TTL off by default."
  }

  # One function running every processor
  assert {
    condition     = keys(aws_lambda_function.this) == ["pipeline"]
    error_message = "The combined layout should create exactly one function."
  }
  assert {
    condition = alltrue([
      aws_lambda_function.this["pipeline"].function_name == "test-pipeline",
      aws_lambda_function.this["pipeline"].handler == "handlers.pipeline.handler",
      aws_lambda_function.this["pipeline"].runtime == "python3.12",
      aws_lambda_function.this["pipeline"].architectures == tolist(["arm64"]),
      aws_lambda_function.this["pipeline"].memory_size == 256,
      aws_lambda_function.this["pipeline"].timeout == 60,
      aws_lambda_function.this["pipeline"].reserved_concurrent_executions == -1,
      aws_lambda_function.this["pipeline"].publish == false,
    ])
    error_message = "The pipeline function settings are wrong."
  }
  assert {
    condition     = aws_lambda_function.this["pipeline"].filename == "./dist/handlers.zip" && aws_lambda_function.this["pipeline"].source_code_hash == filebase64sha256("dist/handlers.zip")
    error_message = "The default code should be the committed dist/handlers.zip with its hash."
  }
  assert {
    condition     = aws_lambda_function.this["pipeline"].role == "arn:aws:iam::123456789012:role/test-pipeline"
    error_message = "The function should run with its own role."
  }

  # The handlers' environment contract
  assert {
    condition = aws_lambda_function.this["pipeline"].environment[0].variables == tomap({
      PROCESSORS        = "analytics,notification,etl"
      CHECKPOINT_TABLE  = "test-checkpoints"
      METRICS_NAMESPACE = "DynamoDBTriggers"
      LOG_LEVEL         = "INFO"
      ETL_BUCKET        = "test-etl-123456789012"
      ETL_PREFIX        = "changes/"
      NOTIFY_TOPIC_ARN  = "arn:aws:sns:us-east-1:123456789012:test-notifications"
      NOTIFY_EVENTS     = "INSERT,MODIFY,REMOVE"
      AGGREGATES_TABLE  = "test-aggregates"
    })
    error_message = "Environment: ${jsonencode(aws_lambda_function.this["pipeline"].environment[0].variables)}"
  }

  # Log group
  assert {
    condition     = aws_cloudwatch_log_group.this["pipeline"].name == "/aws/lambda/test-pipeline" && aws_cloudwatch_log_group.this["pipeline"].retention_in_days == 30
    error_message = "Each function should have its own log group with retention."
  }

  # Event source mapping
  assert {
    condition     = keys(aws_lambda_event_source_mapping.this) == ["pipeline"]
    error_message = "One mapping (one stream reader) is expected."
  }
  assert {
    condition = alltrue([
      aws_lambda_event_source_mapping.this["pipeline"].event_source_arn == "arn:aws:dynamodb:us-east-1:123456789012:table/test/stream/2024-01-01T00:00:00.000",
      aws_lambda_event_source_mapping.this["pipeline"].function_name == "arn:aws:lambda:us-east-1:123456789012:function:test-pipeline",
      aws_lambda_event_source_mapping.this["pipeline"].starting_position == "TRIM_HORIZON",
      aws_lambda_event_source_mapping.this["pipeline"].function_response_types == toset(["ReportBatchItemFailures"]),
      aws_lambda_event_source_mapping.this["pipeline"].bisect_batch_on_function_error == true,
      aws_lambda_event_source_mapping.this["pipeline"].maximum_retry_attempts == 10,
      aws_lambda_event_source_mapping.this["pipeline"].maximum_record_age_in_seconds == 3600,
      aws_lambda_event_source_mapping.this["pipeline"].batch_size == 100,
      aws_lambda_event_source_mapping.this["pipeline"].maximum_batching_window_in_seconds == 0,
      aws_lambda_event_source_mapping.this["pipeline"].parallelization_factor == 1,
      aws_lambda_event_source_mapping.this["pipeline"].tumbling_window_in_seconds == null,
      aws_lambda_event_source_mapping.this["pipeline"].enabled == true,
      length(aws_lambda_event_source_mapping.this["pipeline"].filter_criteria) == 0,
      aws_lambda_event_source_mapping.this["pipeline"].metrics_config[0].metrics == toset(["EventCount"]),
    ])
    error_message = "The mapping settings are wrong (bounded retries, bisect, ReportBatchItemFailures, TRIM_HORIZON for a new table, EventCount metrics on)."
  }
  assert {
    condition     = aws_lambda_event_source_mapping.this["pipeline"].destination_config[0].on_failure[0].destination_arn == "arn:aws:sqs:us-east-1:123456789012:test-pipeline-dlq"
    error_message = "The mapping should send failed batches to its own dead-letter queue."
  }

  # Dead-letter queue
  assert {
    condition     = aws_sqs_queue.dlq["pipeline"].name == "test-pipeline-dlq" && aws_sqs_queue.dlq["pipeline"].message_retention_seconds == 1209600 && aws_sqs_queue.dlq["pipeline"].sqs_managed_sse_enabled == true
    error_message = "The DLQ should keep messages 14 days and be encrypted."
  }
  assert {
    condition = jsondecode(aws_sqs_queue_policy.dlq["pipeline"].policy).Statement[0] == {
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "sqs:*"
      Resource  = "arn:aws:sqs:us-east-1:123456789012:test-pipeline-dlq"
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }
    error_message = "The DLQ policy should deny non-HTTPS access."
  }

  # IAM: least privilege
  assert {
    condition = { for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Sid => [s.Action, s.Resource] } == {
      WriteOwnLogs             = [["logs:CreateLogStream", "logs:PutLogEvents"], ["arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/test-pipeline:log-stream:*"]]
      ReadTableStream          = [["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"], ["arn:aws:dynamodb:us-east-1:123456789012:table/test/stream/2024-01-01T00:00:00.000"]]
      ListStreams              = [["dynamodb:ListStreams"], ["*"]]
      Checkpoints              = [["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], ["arn:aws:dynamodb:us-east-1:123456789012:table/test-checkpoints"]]
      WriteAggregates          = [["dynamodb:UpdateItem"], ["arn:aws:dynamodb:us-east-1:123456789012:table/test-aggregates"]]
      PublishNotifications     = [["sns:Publish"], ["arn:aws:sns:us-east-1:123456789012:test-notifications"]]
      WriteEtlObjects          = [["s3:PutObject"], ["arn:aws:s3:::test-etl-123456789012/changes/*"]]
      SendToOwnDeadLetterQueue = [["sqs:SendMessage"], ["arn:aws:sqs:us-east-1:123456789012:test-pipeline-dlq"]]
    }
    error_message = "Policy: ${aws_iam_role_policy.this["pipeline"].policy}"
  }
  assert {
    condition     = jsondecode(aws_iam_role.this["pipeline"].assume_role_policy).Statement[0].Principal.Service == "lambda.amazonaws.com"
    error_message = "The role should be assumable by Lambda only."
  }

  # Sinks and checkpoint table
  assert {
    condition = alltrue([
      aws_dynamodb_table.checkpoint[0].name == "test-checkpoints",
      aws_dynamodb_table.checkpoint[0].hash_key == "pk",
      aws_dynamodb_table.checkpoint[0].billing_mode == "PAY_PER_REQUEST",
      aws_dynamodb_table.checkpoint[0].ttl[0].attribute_name == "expires_at",
      aws_dynamodb_table.checkpoint[0].ttl[0].enabled,
      aws_dynamodb_table.checkpoint[0].point_in_time_recovery[0].enabled == false,
      aws_dynamodb_table.checkpoint[0].server_side_encryption[0].enabled,
    ])
    error_message = "The checkpoint table should have hash key pk, TTL on expires_at, SSE, on-demand billing."
  }
  assert {
    condition = alltrue([
      aws_dynamodb_table.aggregates[0].name == "test-aggregates",
      aws_dynamodb_table.aggregates[0].hash_key == "pk",
      aws_dynamodb_table.aggregates[0].ttl[0].attribute_name == "expires_at",
      aws_dynamodb_table.aggregates[0].ttl[0].enabled,
      aws_dynamodb_table.aggregates[0].point_in_time_recovery[0].enabled,
      aws_dynamodb_table.aggregates[0].server_side_encryption[0].enabled,
    ])
    error_message = "The aggregates table should have hash key pk, TTL, PITR and SSE."
  }
  assert {
    condition     = aws_sns_topic.this[0].name == "test-notifications" && aws_sns_topic.this[0].kms_master_key_id == "alias/aws/sns" && aws_sns_topic.this[0].fifo_topic != true
    error_message = "The topic should be a KMS-encrypted standard topic."
  }
  assert {
    condition     = keys(aws_s3_bucket.this) == ["etl"] && aws_s3_bucket.this["etl"].bucket == "test-etl-123456789012" && aws_s3_bucket.this["etl"].force_destroy == false
    error_message = "Only the ETL bucket should be created."
  }
  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.this["etl"].block_public_acls,
      aws_s3_bucket_public_access_block.this["etl"].block_public_policy,
      aws_s3_bucket_public_access_block.this["etl"].ignore_public_acls,
      aws_s3_bucket_public_access_block.this["etl"].restrict_public_buckets,
      one(aws_s3_bucket_ownership_controls.this["etl"].rule).object_ownership == "BucketOwnerEnforced",
      one(one(aws_s3_bucket_server_side_encryption_configuration.this["etl"].rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256",
      one(aws_s3_bucket_versioning.this["etl"].versioning_configuration).status == "Enabled",
    ])
    error_message = "The ETL bucket should block public access, enforce ownership, use SSE and versioning."
  }
  assert {
    condition     = [for r in aws_s3_bucket_lifecycle_configuration.this["etl"].rule : r.abort_incomplete_multipart_upload[0].days_after_initiation if length(r.abort_incomplete_multipart_upload) > 0] == [7]
    error_message = "The lifecycle should abort incomplete uploads."
  }
  assert {
    condition     = jsondecode(aws_s3_bucket_policy.this["etl"].policy).Statement[0].Condition.Bool["aws:SecureTransport"] == "false" && jsondecode(aws_s3_bucket_policy.this["etl"].policy).Statement[0].Effect == "Deny"
    error_message = "The bucket policy should deny non-TLS access."
  }

  # Operations
  assert {
    condition = alltrue([
      keys(aws_cloudwatch_metric_alarm.iterator_age) == ["pipeline"],
      aws_cloudwatch_metric_alarm.iterator_age["pipeline"].metric_name == "IteratorAge",
      aws_cloudwatch_metric_alarm.iterator_age["pipeline"].threshold == 60000,
      aws_cloudwatch_metric_alarm.iterator_age["pipeline"].dimensions == tomap({ FunctionName = "test-pipeline" }),
      aws_cloudwatch_metric_alarm.errors["pipeline"].metric_name == "Errors",
      aws_cloudwatch_metric_alarm.throttles["pipeline"].metric_name == "Throttles",
      aws_cloudwatch_metric_alarm.dlq["pipeline"].metric_name == "ApproximateNumberOfMessagesVisible",
      aws_cloudwatch_metric_alarm.dlq["pipeline"].threshold == 0,
      aws_cloudwatch_metric_alarm.dlq["pipeline"].dimensions == tomap({ QueueName = "test-pipeline-dlq" }),
    ])
    error_message = "Alarms on IteratorAge, Errors, Throttles and DLQ depth are expected."
  }
  assert {
    condition     = length(jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets) == 8
    error_message = "The dashboard should have 8 widgets (the mappings' event counts among them)."
  }
  assert {
    condition = contains(
      flatten([for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w.properties.metrics]),
      "RecordsProcessed"
    )
    error_message = "The dashboard should show the handlers' RecordsProcessed metric."
  }
  assert {
    condition = contains(
      [for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w.properties.metrics[0] if w.properties.title == "Records processed (handlers)"],
      ["DynamoDBTriggers", "RecordsProcessed", "Function", "test-pipeline", "Processor", "analytics"]
    )
    error_message = "The handler metrics should use the Function and Processor dimensions."
  }

  # Outputs
  assert {
    condition = alltrue([
      output.table_name == "test",
      output.table_stream_arn == "arn:aws:dynamodb:us-east-1:123456789012:table/test/stream/2024-01-01T00:00:00.000",
      output.function_names == { pipeline = "test-pipeline" },
      output.dlq_arns == { pipeline = "arn:aws:sqs:us-east-1:123456789012:test-pipeline-dlq" },
      output.etl_bucket_name == "test-etl-123456789012",
      output.analytics_table_name == "test-aggregates",
      output.checkpoint_table_name == "test-checkpoints",
      output.starting_position == "TRIM_HORIZON",
      output.processors == tolist(["analytics", "notification", "etl"]),
      output.failure_bucket_arn == null,
    ])
    error_message = "Outputs are wrong."
  }
}

run "create_false_is_a_no_op" {
  command = plan

  variables {
    create = false
  }

  assert {
    condition = alltrue([
      length(aws_dynamodb_table.this) == 0,
      length(aws_dynamodb_table.checkpoint) == 0,
      length(aws_lambda_function.this) == 0,
      length(aws_lambda_event_source_mapping.this) == 0,
      length(aws_s3_bucket.this) == 0,
      length(aws_sns_topic.this) == 0,
      length(aws_sqs_queue.dlq) == 0,
      length(aws_cloudwatch_dashboard.this) == 0,
      length(terraform_data.check_stream) == 0,
    ])
    error_message = "create = false should create nothing."
  }
  assert {
    condition     = output.table_arn == null && length(output.function_names) == 0 && output.notification_topic_arn == null
    error_message = "Outputs should be null or empty when nothing is created."
  }
}

run "alarms_and_dashboard_off" {
  command = plan

  variables {
    create_alarms    = false
    create_dashboard = false
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.iterator_age) + length(aws_cloudwatch_metric_alarm.errors) + length(aws_cloudwatch_metric_alarm.throttles) + length(aws_cloudwatch_metric_alarm.dlq) == 0 && length(aws_cloudwatch_dashboard.this) == 0
    error_message = "create_alarms/create_dashboard = false should create no alarm and no dashboard."
  }
}

run "table_options" {
  command = plan

  variables {
    table_name                           = "applications"
    table_hash_key                       = "application_id"
    table_range_key                      = "version"
    table_range_key_type                 = "N"
    table_billing_mode                   = "PROVISIONED"
    table_read_capacity                  = 5
    table_write_capacity                 = 10
    table_point_in_time_recovery_enabled = false
    table_kms_key_arn                    = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    table_ttl_attribute_name             = "expires_at"
    deletion_protection_enabled          = false
  }

  assert {
    condition = alltrue([
      aws_dynamodb_table.this[0].name == "applications",
      aws_dynamodb_table.this[0].hash_key == "application_id",
      aws_dynamodb_table.this[0].range_key == "version",
      aws_dynamodb_table.this[0].attribute == toset([{ name = "application_id", type = "S" }, { name = "version", type = "N" }]),
      aws_dynamodb_table.this[0].billing_mode == "PROVISIONED",
      aws_dynamodb_table.this[0].read_capacity == 5,
      aws_dynamodb_table.this[0].write_capacity == 10,
      aws_dynamodb_table.this[0].point_in_time_recovery[0].enabled == false,
      aws_dynamodb_table.this[0].server_side_encryption[0].kms_key_arn == "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555",
      aws_dynamodb_table.this[0].ttl[0].attribute_name == "expires_at",
      aws_dynamodb_table.this[0].deletion_protection_enabled == false,
      aws_dynamodb_table.checkpoint[0].deletion_protection_enabled == false,
      aws_dynamodb_table.aggregates[0].deletion_protection_enabled == false,
    ])
    error_message = "Table options are not applied."
  }
  assert {
    condition = { for s in jsondecode(aws_iam_role_policy.this["pipeline"].policy).Statement : s.Sid => [s.Action, s.Resource] if startswith(s.Action[0], "kms:") } == {
      DecryptSourceTableStream = [["kms:Decrypt"], ["arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"]]
    }
    error_message = "A customer managed table key should give kms:Decrypt on exactly that key."
  }
}

run "provisioned_table_needs_capacity" {
  command = plan

  variables {
    table_billing_mode = "PROVISIONED"
  }

  expect_failures = [terraform_data.check_stream]
}
